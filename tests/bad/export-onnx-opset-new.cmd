export examples/lenet5.yaml --to onnx -o never-written.onnx --opset 29
