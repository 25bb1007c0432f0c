summary tests/bad/onnx-input-differs.onnx --input 3x16x16
