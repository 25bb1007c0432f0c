export examples/lenet5.yaml --to onnx
