input 1x28x28
block unit w=8
  conv2d $w k=3
conv2d 4 k=1
