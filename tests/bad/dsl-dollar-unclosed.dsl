input 3x8x8
block unit w=4
  conv2d $(w*2 kernel=1
end
unit
