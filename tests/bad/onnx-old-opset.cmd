summary tests/bad/onnx-old-opset.onnx
