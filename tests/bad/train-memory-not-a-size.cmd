train examples/lenet5.yaml --memory 24Q
