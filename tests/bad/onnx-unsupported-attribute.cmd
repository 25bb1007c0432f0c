summary tests/bad/onnx-unsupported-attribute.onnx
