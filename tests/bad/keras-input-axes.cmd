summary tests/bad/keras-input-axes.keras --input 8x8
