"""Layer types: the registry, the base class, and one module per family, each class holding
all its rules (attributes, shape, weights and their roles, costs, receptive-field step,
NumPy forward, working, PyTorch and Keras forms)."""

from . import activation, conv, dense, extra, merge, pool, preprocess, shape, split  # noqa: F401  (registration)
from .base import FLATTEN, GLOBAL, MERGE, PASS, REGISTRY, UNDEFINED, Facts, Field, Layer, Layout, Role, Shape, Where, Working

__all__ = ["FLATTEN", "GLOBAL", "MERGE", "PASS", "REGISTRY", "UNDEFINED", "Facts", "Field", "Layer", "Layout", "Role", "Shape", "Where", "Working"]
