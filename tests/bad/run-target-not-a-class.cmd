run -e 'input 6 | softmax' --target 7
