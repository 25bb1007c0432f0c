summary tests/bad/onnx-slice-two-axes.onnx
