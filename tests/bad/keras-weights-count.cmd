run tests/bad/keras-weights-count.keras
