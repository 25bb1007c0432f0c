summary tests/bad/keras-no-config.keras
