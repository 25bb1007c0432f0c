rf -e 'input 1x400000 | conv1d 1 kernel=3' --verify
