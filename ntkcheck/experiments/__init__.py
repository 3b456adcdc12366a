"""The experiments: the width claim (width), beyond softmax (compare) and the diffusion application (diffusion,
D1–D6).  Each runs on the core numerics and writes one JSON result; the command line and the book call them.
"""
from __future__ import annotations

import importlib
import importlib.util


def __getattr__(name: str):
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
