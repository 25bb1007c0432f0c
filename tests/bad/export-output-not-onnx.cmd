export examples/lenet5.yaml --to pytorch -o lenet5.onnx
