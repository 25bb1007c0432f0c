# The Keras MNIST convnet (keras.io examples): 93,322 parameters.
# (the DSL version of keras-mnist.yaml, written by cnncalc convert)
name keras-mnist
input 28x28x1 channels_last
conv2d 32 kernel_size=3 activation=relu
maxpool2d 2
conv2d 64 kernel_size=3 activation=relu
maxpool2d 2
conv2d 64 kernel_size=3 activation=relu
flatten
dense 64 activation=relu
dropout 0.5
dense 10
