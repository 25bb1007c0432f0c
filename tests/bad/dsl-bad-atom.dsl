input 3x8x8
conv2d 4 kernel=+.x
