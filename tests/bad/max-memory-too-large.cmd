run examples/lenet5.yaml --max-memory 999999999999999999E
