run -e 'input 1x8x8 | conv2d 2 k=3' --target 0
