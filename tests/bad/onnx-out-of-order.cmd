summary tests/bad/onnx-out-of-order.onnx
