summary tests/bad/keras-not-a-model.keras
