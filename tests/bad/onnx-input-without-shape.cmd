summary tests/bad/onnx-input-without-shape.onnx
