summary tests/bad/no-such-file.yaml
