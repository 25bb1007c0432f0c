summary tests/bad/onnx-input-one-axis.onnx
