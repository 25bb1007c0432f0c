summary tests/bad/onnx-erf-alone.onnx
