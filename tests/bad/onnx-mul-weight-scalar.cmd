summary tests/bad/onnx-mul-weight-scalar.onnx
