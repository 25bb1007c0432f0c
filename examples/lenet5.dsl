# LeNet-5 (LeCun et al. 1998) as usually taught: 32x32 input, full C3, 120-84-10.
# 61,706 parameters.
# (the DSL version of lenet5.yaml, written by cnncalc convert)
name lenet5
input 1x32x32
c1: conv2d 6 kernel=5
tanh
s2: avgpool2d 2
c3: conv2d 16 kernel=5
tanh
s4: avgpool2d 2
c5: conv2d 120 kernel=5
tanh
flatten
f6: linear 84
tanh
output: linear 10
