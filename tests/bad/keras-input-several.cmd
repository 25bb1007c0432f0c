summary tests/bad/keras-input-several.keras --input 8x8x3
