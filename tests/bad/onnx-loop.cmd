summary tests/bad/onnx-loop.onnx
