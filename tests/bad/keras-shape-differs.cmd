summary tests/bad/keras-shape-differs.keras
