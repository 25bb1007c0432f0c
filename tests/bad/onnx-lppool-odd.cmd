summary tests/bad/onnx-lppool-odd.onnx
