import examples/lenet5.yaml
