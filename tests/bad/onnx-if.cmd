summary tests/bad/onnx-if.onnx
