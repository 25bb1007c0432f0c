conv2d 32 k=3
