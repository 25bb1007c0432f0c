summary tests/bad/keras-batchnorm-axis.keras
