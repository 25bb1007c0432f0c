summary tests/bad/onnx-mul-weight-shape.onnx
