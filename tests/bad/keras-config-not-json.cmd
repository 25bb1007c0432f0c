summary tests/bad/keras-config-not-json.keras
