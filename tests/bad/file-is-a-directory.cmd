summary tests/bad
