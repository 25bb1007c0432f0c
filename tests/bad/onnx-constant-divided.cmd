summary tests/bad/onnx-constant-divided.onnx
