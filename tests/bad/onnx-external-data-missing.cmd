summary tests/bad/onnx-external-data-missing.onnx
