summary tests/bad/data/two-inputs.yaml --input 3x8x8
