"""Code that builds the network in a framework: PyTorch (`pytorch.py`) and Keras
(`keras.py`), both written as a tree of Python code (`code.py`) rendered once."""

from .keras import keras_name, to_keras
from .pytorch import to_pytorch

__all__ = ["keras_name", "to_keras", "to_pytorch"]
