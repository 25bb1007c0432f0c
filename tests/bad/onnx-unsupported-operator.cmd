summary tests/bad/onnx-unsupported-operator.onnx
