summary tests/bad/onnx-squeeze-no-axes.onnx
