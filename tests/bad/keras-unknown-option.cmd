summary tests/bad/keras-unknown-option.keras
