summary tests/bad/keras-axis-outside.keras
