"""Modules imported on first use, so `cnncalc summary` never pays for NumPy."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    def __init__(self, name: str):
        self._name = name

    def __getattr__(self, attr: str) -> Any:
        module = importlib.import_module(self._name)
        self.__dict__.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
        return getattr(module, attr)


np = LazyModule("numpy")
numeric = LazyModule("cnncalc.layers.kernels")
