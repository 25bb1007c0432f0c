train examples/lenet5.yaml --memory 512K
