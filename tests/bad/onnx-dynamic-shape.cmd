summary tests/bad/onnx-dynamic-shape.onnx
