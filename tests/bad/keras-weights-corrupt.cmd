run tests/bad/keras-weights-corrupt.keras
