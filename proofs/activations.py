"""Pointwise activations of MATH.md §7: φ and φ' = dφ/dz, derived by sympy.

The softmax network is the exp network with each feature divided by its mean over the neurons; the
pointwise networks F_ℓ(x) = (κ/m) Σ_r a_{ℓ,r} φ(w_rᵀx) share the model, NTK and trainer code with it.
"""
from __future__ import annotations

import sympy as sp

from proofs._core import Derivation, Export, cached_derivation

z = sp.Symbol("z", real=True)

CODE = "A"
ID = "activations"
STATEMENT = "φ and φ' for the pointwise activations, derived by differentiation."

PHI = {
    "relu": sp.Piecewise((z, z > 0), (0, True)),
    "exp": sp.exp(z),
    "sigmoid": 1 / (1 + sp.exp(-z)),
    "tanh": sp.tanh(z),
    "swish": z / (1 + sp.exp(-z)),
}


_sig = 1 / (1 + sp.exp(-z))
# The forms the numeric layer uses; derive() proves each equals dφ/dz (ReLU: away from the kink at 0,
# where we take φ'(0) = 0).
DPHI = {
    "relu": sp.Piecewise((1, z > 0), (0, True)),
    "exp": sp.exp(z),
    "sigmoid": _sig * (1 - _sig),
    "tanh": 1 - sp.tanh(z) ** 2,
    "swish": _sig + z * _sig * (1 - _sig),
}


def dphi(name: str) -> sp.Expr:
    return DPHI[name]


EXPORTS = {}
for _name in PHI:
    EXPORTS[f"phi_{_name}"] = Export((z,), PHI[_name], f"φ for {_name}")
    EXPORTS[f"dphi_{_name}"] = Export((z,), dphi(_name), f"φ' for {_name}")


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    for name, phi in PHI.items():
        d.define(f"φ ({name})", sp.Function("phi")(z), phi)
        if name == "relu":
            # away from the kink the derivative is the indicator of z > 0
            for zz in (sp.Rational(-3, 2), sp.Rational(1, 3), 2):
                d.identity(f"ReLU' at z = {zz}", sp.diff(PHI[name], z).subs(z, zz), dphi(name).subs(z, zz))
        else:
            d.identity(f"φ' ({name})", sp.diff(phi, z), dphi(name))
    return d
