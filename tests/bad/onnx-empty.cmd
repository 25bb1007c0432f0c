summary tests/bad/onnx-empty.onnx
