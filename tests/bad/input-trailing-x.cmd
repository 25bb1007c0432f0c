summary examples/lenet5.yaml --input 3x
