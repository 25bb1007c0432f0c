summary tests/bad/onnx-constant-as-data.onnx
