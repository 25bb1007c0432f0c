summary tests/bad/keras-relu-threshold.keras
