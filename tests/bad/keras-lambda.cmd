summary tests/bad/keras-lambda.keras
