summary tests/bad/keras-axis-batch.keras
