input 3x32x32
conv2d 8 k=3 | relu | add from=relu_1,conv2d_2
