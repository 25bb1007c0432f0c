rf tests/bad/data/two-inputs.yaml --verify
