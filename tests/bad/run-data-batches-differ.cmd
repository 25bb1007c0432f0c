run tests/bad/data/two-inputs.yaml --data tests/bad/data/batches-1-and-2.npz
