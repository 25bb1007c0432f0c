summary tests/bad/onnx-two-inputs-one-shape.onnx --input 3x8x8
