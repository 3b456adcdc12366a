"""ntkcheck: a symbolic-plus-numeric proof companion for two-layer softmax networks in the NTK regime.

The public API is what this module re-exports.  The lemma ids (G1–G6, B1–B7, T1, D1–D6) name the proofs/
modules, the checks, the tests and the book's chapters, which state each lemma.

The names load on first use (PEP 562), so ``import ntkcheck`` is instant and an interrupt while the command
line starts meets the CLI's handler instead of a traceback from inside sympy or scipy.
"""
from __future__ import annotations

import importlib
import importlib.util

__version__ = "0.1.0"

_SOURCES = {
    "ntkcheck.core.results": ("config_differences",),
    "ntkcheck.core.data": ("ball", "labels", "sphere"),
    "ntkcheck.core.kernels": ("closed_form_kernel", "closed_form_kernel_mp", "init_ntk_errors", "limit_kernel",
                         "limit_ntk", "quadrature_kernel", "quadrature_kernel_mp"),
    "ntkcheck.experiments.finite_width": ("finite_width_errors",),
    "ntkcheck.core.network": ("ACTIVATIONS", "Params", "empirical_ntk", "forward", "gd_step", "gradient", "init_params",
                         "loss", "ntk_jacobian", "params_from", "residual", "tangent_features"),
    "ntkcheck.core.precise": ("eigvalsh_mp", "empirical_ntk_mp", "forward_mp", "gradient_mp", "limit_kernel_mp",
                         "to_float"),
}
_WHERE = {name: module for module, names in _SOURCES.items() for name in names}

# the core modules by their short names: ``from ntkcheck import bounds`` and ``nk.network.forward`` keep working
# (the layers are folders: core/, checks/, experiments/, plots/, certify/; see the package README)
_CORE = ("activations", "bounds", "compile", "data", "kernels", "network", "precise", "results", "stats",
         "streaming", "theorem", "training", "validate")

__all__ = sorted(_WHERE) + ["__version__"]


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        if name in _CORE and importlib.util.find_spec(f"ntkcheck.core.{name}") is not None:
            return importlib.import_module(f"ntkcheck.core.{name}")   # the same module object as its full path
        if not name.startswith("__") and importlib.util.find_spec(f"ntkcheck.{name}") is not None:
            return importlib.import_module(f"ntkcheck.{name}")      # a submodule, as an eager import gave
        raise AttributeError(f"module 'ntkcheck' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value          # later look-ups skip this function
    return value


def __dir__():
    return sorted(set(globals()) | set(_WHERE))
