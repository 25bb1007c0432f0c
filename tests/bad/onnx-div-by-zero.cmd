summary tests/bad/onnx-div-by-zero.onnx
