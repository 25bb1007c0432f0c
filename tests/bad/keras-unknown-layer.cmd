summary tests/bad/keras-unknown-layer.keras
