train examples/lenet5.yaml --batch 8,x
