summary tests/bad/keras-data-format.keras
