input 3x8x8 sideways
relu
