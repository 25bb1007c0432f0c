summary tests/bad/keras-nested-twice.keras
