input 3x8x8
conv2d 4 out=4 kernel=3
