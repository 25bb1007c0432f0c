summary tests/bad/keras-layernorm-axis.keras
