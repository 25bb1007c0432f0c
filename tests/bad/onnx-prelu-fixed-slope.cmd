summary tests/bad/onnx-prelu-fixed-slope.onnx
