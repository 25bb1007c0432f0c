summary tests/bad/keras-custom-layer.keras
