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
# The textbook derivatives dφ/dz (ReLU: away from the kink at 0, where we take φ'(0) = 0).
TEXTBOOK = {
    "relu": sp.Piecewise((1, z > 0), (0, True)),
    "exp": sp.exp(z),
    "sigmoid": _sig * (1 - _sig),
    "tanh": 1 - sp.tanh(z) ** 2,
    "swish": _sig + z * _sig * (1 - _sig),
}

# The forms the numeric layer uses: no cancellation and no overflow for any finite z.  With
# t = e^{−|z|} ∈ (0, 1] and min(z, 0) = (z − |z|)/2 (exact in floating point):
#   sech²z = 4t²/(1 + t²)²         (1 − tanh²z cancels to 0 for z ≳ 19: tanh'(20) was 0),
#   σ'(z)  = t/(1 + t)²            (σ(1 − σ) has 1 − σ = 0 for z ≳ 37),
#   swish'(z) = σ(z)(1 + z σ(−z)) = (e^{min(z,0)}(1 + t) + z t)/(1 + t)²  (σ(−z) = 1 − σ(z) without the
#            subtraction; e^{min(z,0)} and t never overflow).
# derive() proves each equals the textbook derivative, on each sign branch of z.
_t = sp.exp(-sp.Abs(z))
DPHI = {
    "relu": TEXTBOOK["relu"],
    "exp": TEXTBOOK["exp"],
    "sigmoid": _t / (1 + _t) ** 2,
    "tanh": 4 * _t**2 / (1 + _t**2) ** 2,
    "swish": (sp.exp((z - sp.Abs(z)) / 2) * (1 + _t) + z * _t) / (1 + _t) ** 2,
}


def dphi(name: str) -> sp.Expr:
    return DPHI[name]


EXPORTS = {}
for _name in PHI:
    EXPORTS[f"phi_{_name}"] = Export((z,), PHI[_name], f"φ for {_name}")
    EXPORTS[f"dphi_{_name}"] = Export((z,), dphi(_name), f"φ' for {_name} (cancellation-free form)")

_zp = sp.Symbol("z_p", positive=True)   # the branch z > 0 (|z| = z)
_zn = sp.Symbol("z_n", negative=True)   # the branch z < 0 (|z| = −z)


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    for name, phi in PHI.items():
        d.define(f"φ ({name})", sp.Function("phi")(z), phi)
        if name == "relu":
            # away from the kink the derivative is the indicator of z > 0
            for zz in (sp.Rational(-3, 2), sp.Rational(1, 3), 2):
                d.identity(f"ReLU' at z = {zz}", sp.diff(PHI[name], z).subs(z, zz), dphi(name).subs(z, zz))
            continue
        d.identity(f"φ' ({name}) = the textbook derivative", sp.diff(phi, z), TEXTBOOK[name])
        if DPHI[name] is TEXTBOOK[name]:
            continue
        # the exported stable form, per sign branch (sympy resolves |z| on each) and at z = 0
        for label, zz in (("z > 0", _zp), ("z < 0", _zn)):
            d.identity(f"φ' ({name}), stable form = dφ/dz on {label}", DPHI[name].subs(z, zz),
                       sp.diff(phi, z).subs(z, zz),
                       simplifier=lambda e: sp.simplify(e.rewrite(sp.exp)))
        d.identity(f"φ' ({name}), stable form = dφ/dz at z = 0", DPHI[name].subs(z, 0),
                   sp.diff(phi, z).subs(z, 0))
    return d
