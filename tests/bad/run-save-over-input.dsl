# cnncalc run FILE --save FILE
input 1x4x4
conv2d 2 k=1
