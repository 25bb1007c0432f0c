summary tests/bad/onnx-reduce-channels.onnx
