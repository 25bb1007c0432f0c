summary tests/bad/keras-operation.keras
