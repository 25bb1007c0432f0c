train examples/lenet5.yaml --precision bf61
