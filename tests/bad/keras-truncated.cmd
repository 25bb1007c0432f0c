summary tests/bad/keras-truncated.keras
