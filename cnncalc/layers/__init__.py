"""Every layer type, registered in REGISTRY on import."""

from . import activation, conv, dense, merge, pool, shape  # noqa: F401  (registration)
from .base import GLOBAL, PASS, REGISTRY, Facts, Layer, Layout, Shape, Where
from .merge import MERGE

__all__ = ["GLOBAL", "MERGE", "PASS", "REGISTRY", "Facts", "Layer", "Layout", "Shape", "Where"]
