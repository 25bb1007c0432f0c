input 1x28x28
conv2d 32 k=3 | relu |
linear 10 out=5 @
