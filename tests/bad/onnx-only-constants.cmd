summary tests/bad/onnx-only-constants.onnx
