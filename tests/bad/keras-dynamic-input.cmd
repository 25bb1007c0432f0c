summary tests/bad/keras-dynamic-input.keras
