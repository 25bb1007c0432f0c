"""Code that builds the network in a framework: PyTorch and Keras."""

from .writer import keras_name, to_keras, to_pytorch

__all__ = ["keras_name", "to_keras", "to_pytorch"]
