summary tests/bad/keras-call-options.keras
