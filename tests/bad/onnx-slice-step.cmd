summary tests/bad/onnx-slice-step.onnx
