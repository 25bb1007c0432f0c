input 3x8x8 | conv2d 4 k=3 | activation hard_tanh
