train examples/lenet5.yaml --plot ''
