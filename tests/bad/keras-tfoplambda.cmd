summary tests/bad/keras-tfoplambda.keras
