rf -e 'input 16x128x128 | conv2d 16 kernel=31 padding=15' --verify
