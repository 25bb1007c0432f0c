run examples/lenet5.yaml --max-memory 9999999999999999999999999
