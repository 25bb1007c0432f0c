summary tests/bad/onnx-depth-to-space-dcr.onnx
