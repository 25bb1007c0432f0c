summary tests/bad/onnx-foreign-domain.onnx
