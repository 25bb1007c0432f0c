summary tests/bad/keras-malformed.keras
