summary tests/bad/onnx-transpose-batch.onnx
