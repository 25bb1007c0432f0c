summary tests/bad/keras-no-layers.keras
