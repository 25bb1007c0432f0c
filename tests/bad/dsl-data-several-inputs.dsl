input a 2 data=[1,2]
input b 2
add a,b
