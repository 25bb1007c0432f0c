run -e 'input 1x4x4 | conv2d 2 k=1' --weights tests/bad/data/truncated.npz
