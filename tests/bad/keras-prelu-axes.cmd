summary tests/bad/keras-prelu-axes.keras
