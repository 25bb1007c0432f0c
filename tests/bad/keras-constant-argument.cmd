summary tests/bad/keras-constant-argument.keras
