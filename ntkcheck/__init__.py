"""ntkcheck: a symbolic-plus-numeric proof companion for two-layer softmax networks in the NTK regime.

The public API is what this module re-exports.  See ../shared/MATH.md (the lemma ids G1–G6, B1–B7, T1,
D1–D6 name the proofs/ modules, the checks, the tests and the book sections).
"""
from ntkcheck._results import config_differences
from ntkcheck.data import ball, labels, sphere
from ntkcheck.kernels import (
    closed_form_kernel,
    closed_form_kernel_mp,
    finite_width_errors,
    limit_kernel,
    limit_ntk,
    quadrature_kernel,
    quadrature_kernel_mp,
)
from ntkcheck.network import (
    ACTIVATIONS,
    Params,
    empirical_ntk,
    forward,
    gd_step,
    gradient,
    init_params,
    loss,
    ntk_jacobian,
    params_from,
    residual,
    tangent_features,
)
from ntkcheck.precise import (
    eigvalsh_mp,
    empirical_ntk_mp,
    forward_mp,
    gradient_mp,
    limit_kernel_mp,
    to_float,
)

__version__ = "0.1.0"

__all__ = [
    "ACTIVATIONS", "Params", "ball", "config_differences", "closed_form_kernel", "closed_form_kernel_mp", "finite_width_errors",
    "quadrature_kernel", "quadrature_kernel_mp", "eigvalsh_mp", "empirical_ntk", "empirical_ntk_mp", "forward",
    "forward_mp", "gd_step", "gradient", "gradient_mp", "init_params", "labels", "limit_kernel",
    "limit_kernel_mp", "limit_ntk", "loss", "ntk_jacobian", "params_from", "residual", "sphere",
    "tangent_features", "to_float", "__version__",
]
