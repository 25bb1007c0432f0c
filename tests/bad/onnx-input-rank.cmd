summary tests/bad/onnx-input-rank.onnx --input 3x16
