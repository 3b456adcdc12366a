"""The core numerics: the compiled exports of proofs/, the networks, kernels and their mpmath twins, the bounds,
training, the theorem's quantities, streaming, statistics, validation and the JSON writer.

The core imports nothing from the layers above it (checks, experiments, plots, certify, the command line):
tests/test_layers.py enforces it.  Each module is also reachable by its short name, ``from ntkcheck import
network``.
"""
from __future__ import annotations

import importlib
import importlib.util


def __getattr__(name: str):
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
