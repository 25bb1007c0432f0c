export examples/lenet5.yaml --to keras --opset 17
