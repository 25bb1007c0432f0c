train examples/lenet5.yaml --optimizer adamm
