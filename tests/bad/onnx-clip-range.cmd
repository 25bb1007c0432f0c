summary tests/bad/onnx-clip-range.onnx
