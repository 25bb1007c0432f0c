summary tests/bad/onnx-no-input.onnx
