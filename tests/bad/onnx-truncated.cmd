summary tests/bad/onnx-truncated.onnx
