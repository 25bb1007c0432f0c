run examples/lenet5.yaml --save ''
