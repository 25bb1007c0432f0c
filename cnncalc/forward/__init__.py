"""The NumPy forward pass (runner) and the receptive fields measured through it (fieldcheck)."""
