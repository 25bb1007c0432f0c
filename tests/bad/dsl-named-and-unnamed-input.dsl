input 4
input meta 4
relu
