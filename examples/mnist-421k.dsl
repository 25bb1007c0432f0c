# The course's MNIST net whose printed figures total 421,642 parameters.
# Its Dense layer takes 3136 = 7 x 7 x 64 inputs, which needs 'same' padding in both
# convolutions (with 'valid' ones the flatten would be 5 x 5 x 64 = 1600).
# (the DSL version of mnist-421k.yaml, written by cnncalc convert)
name mnist-421k
input 1x28x28
conv1: conv2d 32 kernel=3 padding=same activation=relu
pool1: maxpool2d 2
conv2: conv2d 64 kernel=3 padding=same activation=relu
pool2: maxpool2d 2
flatten
fc1: linear 128 activation=relu
fc2: linear 10
