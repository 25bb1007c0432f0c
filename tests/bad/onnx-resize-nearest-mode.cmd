summary tests/bad/onnx-resize-nearest-mode.onnx
