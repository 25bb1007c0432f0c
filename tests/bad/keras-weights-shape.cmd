run tests/bad/keras-weights-shape.keras
