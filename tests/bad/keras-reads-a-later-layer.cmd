summary tests/bad/keras-reads-a-later-layer.keras
