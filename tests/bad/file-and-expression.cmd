summary examples/lenet5.yaml -e 'input 4 | relu'
