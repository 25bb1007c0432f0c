summary tests/bad/keras-option-on.keras
