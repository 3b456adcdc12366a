"""Pointwise activations of the book's Beyond-softmax part: φ and φ' = dφ/dz, derived by sympy.

The softmax network is the exp network with each feature divided by its mean over the neurons; the
pointwise networks F_ℓ(x) = (κ/m) Σ_r a_{ℓ,r} φ(w_rᵀx) share the model, NTK and trainer code with it.
"""
from __future__ import annotations

import sympy as sp

from ._core import Derivation, Export, cached_derivation

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

# The textbook definitions, written independently of PHI (which the exports are built from): derive() proves
# each exported φ equals its definition, so a wrong export cannot derive.
DEFINITION_PHI = {
    "relu": sp.Max(z, 0),
    "exp": sp.E**z,
    "sigmoid": 1 / (1 + sp.exp(-z)),
    "tanh": (sp.exp(z) - sp.exp(-z)) / (sp.exp(z) + sp.exp(-z)),
    "swish": z * (1 / (1 + sp.exp(-z))),
}


def _by_exp(e):
    return sp.simplify(e.rewrite(sp.exp))


def _nonsmooth(e) -> bool:
    return e.has(sp.Abs, sp.Piecewise, sp.Max, sp.Min, sp.Heaviside, sp.sign)


def _equal(d: Derivation, label: str, lhs, rhs, note: str = "", at_zero: bool = True) -> None:
    """``lhs = rhs`` as functions of z: one identity if both are smooth expressions sympy simplifies globally,
    else a case split — on z > 0 and z < 0 (positive / negative symbols, which resolve |z|, max and the
    Piecewise conditions) and, if ``at_zero``, at z = 0 — recorded as one identity step."""
    if not (_nonsmooth(lhs) or _nonsmooth(rhs)):
        d.identity(label, lhs, rhs, note=note, simplifier=_by_exp)
        return
    cases = [(lhs.subs(z, zz), rhs.subs(z, zz)) for zz in (_zp, _zn)]
    where = "on z > 0 and z < 0"
    if at_zero:
        cases.append((lhs.subs(z, 0), rhs.subs(z, 0)))
        where = "on z > 0, z < 0 and at z = 0"
    d.identities(f"{label}, {where}", cases, note=note, simplifier=_by_exp)


@cached_derivation
def derive() -> Derivation:
    """Every step runs on ``EXPORTS[...].expr`` (what the numeric layer compiles), against definitions and
    derivatives written independently of it."""
    d = Derivation(CODE, ID, STATEMENT)
    for name in PHI:
        phi = EXPORTS[f"phi_{name}"].expr
        dphi_ex = EXPORTS[f"dphi_{name}"].expr
        d.define(f"φ ({name})", sp.Function("phi")(z), DEFINITION_PHI[name])
        _equal(d, f"the exported φ ({name}) is its definition", phi, DEFINITION_PHI[name])
        dphi_dz = sp.diff(phi, z)
        if name == "relu":
            # away from the kink the derivative is the indicator of z > 0; at 0 a convention
            _equal(d, "ReLU' = 1 for z > 0, 0 for z < 0 (d/dz of the exported φ)", dphi_dz,
                   sp.Piecewise((1, z > 0), (0, z < 0)), at_zero=False)
            d.define("ReLU'(0) (the convention at the kink)", sp.Function("phi'")(0), 0,
                     note="φ is not differentiable at 0; the numeric layer takes the subgradient 0")
            _equal(d, "the exported φ' (relu) = dφ/dz", dphi_ex, dphi_dz, at_zero=False)
            d.identity("the exported φ' (relu) at z = 0 is the convention", dphi_ex.subs(z, 0), 0)
            continue
        d.identity(f"φ' ({name}) = the textbook derivative (d/dz of the exported φ)", dphi_dz, TEXTBOOK[name],
                   simplifier=_by_exp)
        # the exported stable form, per sign branch (sympy resolves |z| on each) and at z = 0
        _equal(d, f"the exported φ' ({name}) = dφ/dz", dphi_ex, dphi_dz)
    return d
