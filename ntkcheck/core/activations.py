"""The activation registry: one entry per activation, every fact about it in one place.

An :class:`Activation` holds what the rest of the package needs to know about φ:

* the feature map Φ of the logits Z = XW, its vector-Jacobian product and the tangent features P of G4
  (``features``/``vjp``/``tangent``; :mod:`ntkcheck.core.network` builds forward, gradient and NTK from these),
* φ and φ′ compiled from sympy expressions (for the built-ins, the exports of the proofs module
  ``activations``: what is computed is what was proved), for numpy and for mpmath,
* the infinite-width kernel K_φ(x, y) = ⟨x, y⟩ E[φ′(wᵀx) φ′(wᵀy)]: a :class:`ClosedForm` (numpy and mpmath)
  where one is derived, and always the quadrature rule that integrates it (``"hermite"`` or ``"polar"``),
* the parity of φ′ (``even``: the polar rule then integrates half the wedges),
* how plots draw it (:class:`Style`) and one line for the command line's help.

:func:`register` adds an entry, :func:`get` finds one by name (a one-line ValueError naming the known ones),
:func:`names` lists them in registration order, :func:`unregister` removes a non-built-in one.

Softmax.  Its Φ is not pointwise: Φ = softmax over the neurons, S_r = e^{z_r}/Σ_k e^{z_k}, the exp network
with each feature divided by its mean over the neurons (the book's Setting part).  The registry represents
that by the entry's ``normalized=True`` and its feature map :class:`Softmax` (whose VJP and tangent couple
the neurons through ⟨C, S⟩ and ⟨a_ℓ, S⟩); its φ and φ′ are exp's, and its kernel integrand is the
mean-normalized feature e^{z − σ²‖x‖²/2} = e^z / E e^z instead of φ′(z).  Everything that is T1-specific
(B1–B7 hold for softmax only) keeps testing ``activation == "softmax"`` where it is used: that is the
lemma's hypothesis, not a fact about an activation.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

QUADRATURE_RULES = ("hermite", "polar")


class _Export:
    """The function of a proofs export, compiled on its first call (:func:`ntkcheck.core.compile.compiled`):
    the registry is read by the command line's help, which should not wait for sympy."""

    __slots__ = ("module", "name", "target", "_fn")

    def __init__(self, module: str, name: str, target: str):
        self.module, self.name, self.target, self._fn = module, name, target, None

    def __call__(self, *args):
        if self._fn is None:
            from ntkcheck.core.compile import compiled

            self._fn = compiled(self.module, self.name, self.target)
        return self._fn(*args)

    def __repr__(self):
        return f"<{self.module}.{self.name} ({self.target})>"


def _export(module: str, name: str, target: str) -> _Export:
    """``proofs.<module>.EXPORTS[name]`` for ``target``, compiled on first use."""
    return _Export(module, name, target)


# ------------------------------------------------------------------------------------------ feature maps
class Softmax:
    """Φ(Z) = softmax over neurons, computed stably (the max logit is subtracted first)."""

    name = "softmax"

    def features(self, Z: np.ndarray):
        # logits spanning more than the float range give −inf after the shift: exp(−inf) = 0 is right
        with np.errstate(over="ignore"):
            E = Z - Z.max(axis=-1, keepdims=True)
        np.exp(E, out=E)
        E /= E.sum(axis=-1, keepdims=True)
        return E, E  # (Φ, cache): the cache is S itself

    def vjp(self, S: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Σ_k C_k ∂S_k/∂z_r = S_r (C_r − ⟨C, S⟩), with C of shape (n, m) or (n, d', m).

        A :class:`SignedResidual` C = E A with ±1 signs goes to :meth:`vjp_residual` (no cancellation).
        Any other C is formed by subtraction, which loses relative accuracy when the softmax mass sits
        where C is nearly constant: the documented fallback for sign matrices that are not ±1."""
        if isinstance(C, SignedResidual) and C.E is not None and C.ndim == 2 and pm1(C.A):
            return self.vjp_residual(S, C.E, C.A, out=np.asarray(C))
        if C.ndim == 3:
            S3 = S[:, None, :]
            out = C - np.einsum("nlm,nm->nl", C, S)[:, :, None]
            out *= S3
            return out
        return S * (C - np.einsum("nm,nm->n", C, S)[:, None])

    @staticmethod
    def _masses(S: np.ndarray, A: np.ndarray):
        """(S₊, S₋, [a > 0]): S₊_{iℓ} = Σ_{k: a_{ℓ,k} = +1} S_{i,k} and S₋ likewise, each a sum of positive
        terms (two BLAS products with the 0/1 masks of A)."""
        pos = (A > 0).astype(np.float64)
        return S @ pos.T, S @ (1.0 - pos).T, pos

    def centred(self, S: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """a_{ℓ,r} − ⟨a_ℓ, S_i⟩ as (n, d', m), without cancellation for A ∈ {±1}: it equals 2S₋ where
        a_{ℓ,r} = +1 and −2S₊ where a_{ℓ,r} = −1 (Σ_k S_k = 1), one gather (``np.take``) from the two values
        of each (i, ℓ) — five times faster than ``np.where`` with broadcast operands, the same numbers.
        Other A: by subtraction.  Written into ``out`` (shape (n, d', m)) when given."""
        if not pm1(A):
            return np.subtract(A[None, :, :], (S @ A.T)[:, :, None], out=out)
        Sp, Sn, pos = self._masses(S, A)
        n, q = Sp.shape
        V = np.empty((n, q, 2))                  # the two values of row (i, ℓ): [−2S₊, 2S₋]
        np.multiply(Sp, -2.0, out=V[:, :, 0])
        np.multiply(Sn, 2.0, out=V[:, :, 1])
        pick = 2 * np.arange(q)[:, None] + (pos > 0)          # (d', m): the column of V.reshape(n, 2d')
        return np.take(V.reshape(n, 2 * q), pick, axis=1, out=out)

    def tangent(self, S: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """P of G4 as (n, d', m): S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩), the centred signs formed without
        cancellation (:meth:`centred`), then one in-place product; into ``out`` when given (a slice of a
        caller's array: no copy)."""
        C = self.centred(S, A, out=out)
        C *= S[:, None, :]
        return C

    def vjp_residual(self, S: np.ndarray, E: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """Σ_ℓ e_{iℓ} P_{(i,ℓ),r} (n, m): the VJP S_r(C_r − ⟨C,S⟩) for C = E A, written as
        S_r Σ_ℓ e_{iℓ}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) with the centred signs of :meth:`centred`, so that
        cancellation is only that of the signed sum over ℓ itself: G = S ∘ ([2E∘S₋, −2E∘S₊] [[a>0]; [a<0]]),
        one BLAS product of shapes (n, 2d') × (2d', m)."""
        if not pm1(A):
            return self.vjp(S, np.asarray(E @ A))
        Sp, Sn, pos = self._masses(S, A)
        B = np.concatenate([E * Sn, E * Sp], axis=1)
        B[:, : A.shape[0]] *= 2.0
        B[:, A.shape[0]:] *= -2.0
        G = np.matmul(B, np.concatenate([pos, 1.0 - pos], axis=0), out=out)
        G *= S
        return G


class SignedResidual(np.ndarray):
    """The cotangent C = E A of the loss's VJP (E the residual, A the signs), carrying its factors so that
    :meth:`Softmax.vjp` can form C_r − ⟨C,S⟩ = Σ_ℓ e_ℓ(a_{ℓ,r} − ⟨a_ℓ,S⟩) without cancellation; as an
    array it is E A itself, so any VJP written for plain cotangents sees the same values."""

    E: np.ndarray | None = None
    A: np.ndarray | None = None

    @classmethod
    def of(cls, E: np.ndarray, A: np.ndarray) -> "SignedResidual":
        C = (E @ A).view(cls)
        C.E, C.A = E, A
        return C

    def __array_finalize__(self, obj):
        self.E = self.A = None          # results of arithmetic on C are plain values, not E A


def pm1(A: np.ndarray) -> bool:
    """Every entry of A is +1 or −1 (the softmax network's sign matrices; the book's Setting part)."""
    return bool(np.all(np.abs(A) == 1.0))




class Pointwise:
    """Φ(Z) = φ(Z)/m for a pointwise activation φ (numpy functions ``phi`` and ``dphi`` = φ′); the cache
    of :meth:`features` is φ′(Z)/m."""

    def __init__(self, phi: Callable, dphi: Callable):
        self._phi = phi
        self._dphi = dphi

    def features(self, Z: np.ndarray):
        """(Φ, cache) = (φ(Z)/m, φ′(Z)/m), m = Z.shape[-1]."""
        m = Z.shape[-1]
        # exp(−z) overflows to inf for z < −709 in sigmoid/swish; 1/(1 + inf) = 0 is the right limit
        with np.errstate(over="ignore"):
            return self._phi(Z) / m, self._dphi(Z) / m

    def vjp(self, D: np.ndarray, C: np.ndarray) -> np.ndarray:
        """Σ_k C_k ∂Φ_k/∂z_r = C_r φ′(z_r)/m, with C of shape (n, m) or (n, d', m)."""
        return C * (D[:, None, :] if C.ndim == 3 else D)

    def tangent(self, D: np.ndarray, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """P of G4 as (n, d', m): a_{ℓ,r} φ'(z_{i,r})/m, written into ``out`` when given."""
        return np.multiply(A[None, :, :], D[:, None, :], out=out)


@functools.lru_cache(maxsize=64)
def _takes_out(fn) -> bool:
    """Whether the function ``fn`` (a feature map's ``tangent``) has an ``out`` parameter; looked up once per
    function, not per row block of the NTK (``inspect.signature`` costs tens of microseconds)."""
    try:
        return "out" in inspect.signature(fn).parameters
    except (TypeError, ValueError):     # pragma: no cover - a builtin without a signature
        return False


# ------------------------------------------------------------------------------------------ the entry
@dataclass(frozen=True)
class Style:
    """How the plots draw an activation: a matplotlib colour, marker and line width; ``linestyle``, hollow
    markers and ``zorder`` for a curve that must stay visible where another coincides with it (softmax and
    exp have the same scale-free values on the sphere: softmax is drawn dashed, hollow, on top)."""

    color: str
    marker: str
    linewidth: float = 1.2
    linestyle: str = "-"
    hollow: bool = False
    zorder: float = 2

    def kwargs(self) -> dict:
        """The keyword arguments of ``Axes.plot`` for this style (markers of size 4, hollow ones of size 7)."""
        out = {"color": self.color, "marker": self.marker, "lw": self.linewidth, "ms": 4, "ls": self.linestyle,
               "zorder": self.zorder}
        if self.hollow:
            out |= {"ms": 7, "mfc": "none", "mew": 1.4}
        return out


@dataclass(frozen=True)
class ClosedForm:
    """K_φ in closed form.

    ``numpy(pairs, sigma)``: the (n1, n2) kernel from a pair geometry (``pairs.gram`` ⟨x,y⟩, ``pairs.sq_sum``
    ‖x‖² + ‖y‖², ``pairs.theta`` the angle, and ``pairs.times_exp(g, e)`` = g·e^e without 0·inf; built by
    :func:`ntkcheck.core.kernels.closed_form_kernel`); ``mpmath(gxy, nx, ny, theta, sigma)``: one entry in the
    current mpmath precision (:func:`ntkcheck.core.kernels.closed_form_kernel_mp`)."""

    numpy: Callable
    mpmath: Callable


@dataclass(frozen=True)
class Activation:
    """One activation, every fact about it (see the module docstring).

    Fields: ``name`` (a registry key), ``description`` (one line, for help), ``phi``/``dphi`` and
    ``phi_mp``/``dphi_mp`` (φ and φ′ for numpy and mpmath), ``feature_map`` (an object with ``features``,
    ``vjp`` and ``tangent``), ``rule`` (the quadrature rule of K_φ, one of ``QUADRATURE_RULES``), ``even``
    (φ′ is even), ``style`` (:class:`Style`), ``closed_form`` (:class:`ClosedForm` or None), ``normalized``
    (Φ is normalized across the neurons: softmax), ``integrand``/``integrand_mp`` (the factor f(z, s) of
    one input in K_φ = ⟨x,y⟩ E[f(u, σ‖x‖) f(v, σ‖y‖)], s the standard deviation of z; φ′(z) unless given)."""

    name: str
    description: str
    phi: Callable
    dphi: Callable
    phi_mp: Callable
    dphi_mp: Callable
    feature_map: object
    rule: str
    even: bool
    style: Style
    closed_form: ClosedForm | None = None
    normalized: bool = False
    integrand: Callable | None = field(default=None, repr=False)
    integrand_mp: Callable | None = field(default=None, repr=False)

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"an activation's name must be an identifier (no commas or spaces), got {self.name!r}")
        if not isinstance(self.description, str) or not self.description.strip() or "\n" in self.description:
            raise ValueError(f"activation {self.name}: description must be one non-empty line")
        if self.rule not in QUADRATURE_RULES:
            raise ValueError(f"activation {self.name}: rule must be one of {QUADRATURE_RULES}, got {self.rule!r}")
        if not isinstance(self.style, Style):
            raise ValueError(f"activation {self.name}: style must be a Style, got {type(self.style).__name__}")
        if not all(hasattr(self.feature_map, k) for k in ("features", "vjp", "tangent")):
            raise ValueError(f"activation {self.name}: feature_map needs features, vjp and tangent")
        if self.integrand is None:
            dphi = self.dphi
            object.__setattr__(self, "integrand", lambda z, s: dphi(z))
        if self.integrand_mp is None:
            dphi_mp = self.dphi_mp
            object.__setattr__(self, "integrand_mp", lambda z, s: dphi_mp(z))

    # the feature map, so that an entry is used like the old feature-map objects
    def features(self, Z: np.ndarray):
        """(Φ(Z), cache) for logits Z of shape (n, m) (see the feature map)."""
        return self.feature_map.features(Z)

    def vjp(self, cache, C: np.ndarray) -> np.ndarray:
        """Σ_k C_k ∂Φ_k/∂z_r from the cache of :meth:`features`."""
        return self.feature_map.vjp(cache, C)

    def tangent(self, cache, A: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The tangent features P of G4, (n, d', m), from the cache of :meth:`features`; into ``out`` (of
        that shape, float64) when given: directly when the feature map's ``tangent`` takes ``out`` (the
        built-in ones do), else copied (a feature map of an extension needs only ``tangent(cache, A)``).
        Returns P."""
        tangent = self.feature_map.tangent
        if out is None:
            return tangent(cache, A)
        if _takes_out(getattr(tangent, "__func__", tangent)):
            return tangent(cache, A, out=out)
        out[...] = tangent(cache, A)
        return out

    @classmethod
    def pointwise(cls, name: str, z, phi, dphi, *, description: str, rule: str,
                  even: bool, style: Style, closed_form: ClosedForm | None = None, source: str = "") -> "Activation":
        """A pointwise activation from sympy expressions φ(z) and φ′(z), compiled by the package's one
        compile path (:func:`ntkcheck.core.compile.compile_expression`) for numpy and mpmath.

        Parameters: ``name``; ``z`` the symbol; ``phi``/``dphi`` the sympy expressions (φ′ in a form that
        neither cancels nor overflows in float64); the keyword fields of :class:`Activation`; ``source``
        names where the expressions come from (for the compiled functions' docs).  Returns the entry (not
        yet registered)."""
        from ntkcheck.core.compile import compile_expression

        fns = {(which, t): compile_expression((z,), expr, t, f"{which} for {name}{source}")
               for which, expr in (("phi", phi), ("dphi", dphi)) for t in ("numpy", "mpmath")}
        return cls(name=name, description=description, phi=fns["phi", "numpy"], dphi=fns["dphi", "numpy"],
                   phi_mp=fns["phi", "mpmath"], dphi_mp=fns["dphi", "mpmath"],
                   feature_map=Pointwise(fns["phi", "numpy"], fns["dphi", "numpy"]), rule=rule, even=even,
                   style=style, closed_form=closed_form)



def _from_proofs(name: str, **fields) -> Activation:
    """A built-in pointwise entry: φ and φ′ are the exports phi_<name>, dphi_<name> of the proofs module
    ``activations`` (compiled by :func:`ntkcheck.core.compile.compiled`, the lookup every export goes through,
    on first use)."""
    phi = _export("activations", f"phi_{name}", "numpy")
    dphi = _export("activations", f"dphi_{name}", "numpy")
    return Activation(name=name, phi=phi, dphi=dphi, phi_mp=_export("activations", f"phi_{name}", "mpmath"),
                      dphi_mp=_export("activations", f"dphi_{name}", "mpmath"), feature_map=Pointwise(phi, dphi),
                      **fields)


# ------------------------------------------------------------------------------------------ closed forms
# The kernels of the proofs modules activation_kernels (relu, exp) and ntk_limit (softmax, G5); the two
# exponential ones are g·exp(exponent), formed by pairs.times_exp so that a zero input gives 0, not 0·inf.
def _softmax_kernel(pairs, sigma):
    G = pairs.gram
    return pairs.times_exp(G, _export("activation_kernels", "exponent_softmax", "numpy")(G, sigma))


def _exp_kernel(pairs, sigma):
    G = pairs.gram
    return pairs.times_exp(G, _export("activation_kernels", "exponent_exp", "numpy")(G, pairs.sq_sum, sigma))


def _relu_kernel(pairs, sigma):
    return _export("activation_kernels", "kernel_relu", "numpy")(pairs.gram, pairs.theta)


def _softmax_kernel_mp(gxy, nx, ny, theta, sigma):
    return _export("ntk_limit", "limit_kernel", "mpmath")(gxy, sigma)


def _exp_kernel_mp(gxy, nx, ny, theta, sigma):
    return _export("activation_kernels", "kernel_exp", "mpmath")(gxy, nx * nx + ny * ny, sigma)


def _relu_kernel_mp(gxy, nx, ny, theta, sigma):
    return _export("activation_kernels", "kernel_relu", "mpmath")(gxy, theta)


def _softmax() -> Activation:
    import mpmath

    phi = _export("activations", "phi_exp", "numpy")
    return Activation(
        name="softmax", description="softmax over the neurons (the book's network, T1 holds)",
        phi=phi, dphi=_export("activations", "dphi_exp", "numpy"),
        phi_mp=_export("activations", "phi_exp", "mpmath"), dphi_mp=_export("activations", "dphi_exp", "mpmath"),
        feature_map=Softmax(), rule="hermite", even=False, style=Style("C0", "o", 2.0, linestyle="--", hollow=True, zorder=3),
        closed_form=ClosedForm(_softmax_kernel, _softmax_kernel_mp), normalized=True,
        # the mean-normalized feature e^{z − s²/2} = e^z / E e^z (G5)
        integrand=lambda z, s: np.exp(z - 0.5 * s * s), integrand_mp=lambda z, s: mpmath.exp(z - s * s / 2))


# ------------------------------------------------------------------------------------------ the registry
_REGISTRY: dict[str, Activation] = {}
_BUILTIN: set[str] = set()


class _View(Mapping):
    """A read-only live view of the registry ({name: Activation}, registration order)."""

    def __getitem__(self, name):
        return _REGISTRY[name]

    def __iter__(self):
        return iter(_REGISTRY)

    def __len__(self):
        return len(_REGISTRY)

    def __repr__(self):
        return f"ACTIVATIONS({', '.join(_REGISTRY)})"


ACTIVATIONS = _View()


def register(activation: Activation) -> Activation:
    """Add ``activation`` to the registry; every part of the package (network, kernels, precise, compare,
    width, the command line's choices) then knows it by name.

    Parameters: ``activation`` an :class:`Activation` whose name is not registered yet.  Returns it.
    Raises ValueError for another type or a name already taken."""
    if not isinstance(activation, Activation):
        raise ValueError(f"register takes an Activation, got {type(activation).__name__}")
    if activation.name in _REGISTRY:
        raise ValueError(f"activation {activation.name!r} is already registered")
    _REGISTRY[activation.name] = activation
    return activation


def unregister(name: str) -> None:
    """Remove the registered activation ``name`` (a built-in cannot be removed).

    Parameters: ``name``.  Returns None; ValueError for an unknown name or a built-in."""
    get(name)
    if name in _BUILTIN:
        raise ValueError(f"activation {name!r} is built in and cannot be unregistered")
    del _REGISTRY[name]


def get(name) -> Activation:
    """The registered activation ``name``.

    Parameters: ``name`` a string.  Returns the :class:`Activation`; a one-line ValueError naming the known
    activations otherwise."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown activation {name!r}; known: {', '.join(_REGISTRY)}") from None


def names() -> tuple[str, ...]:
    """The registered activations' names, in registration order (the built-ins first)."""
    return tuple(_REGISTRY)


def builtin_names() -> tuple[str, ...]:
    """The built-in activations' names (the comparison's default), in registration order."""
    return tuple(a for a in _REGISTRY if a in _BUILTIN)


def choices_text() -> str:
    """The names joined by commas (for the command line's help)."""
    return ",".join(_REGISTRY)


# The built-ins, in the order of the comparison's tables: softmax, then relu and exp (closed-form kernels),
# then the logistic family.  Rules: Gauss–Hermite for the entire integrands e^{u+v} (super-geometric); the
# polar rule for relu's jump and for the logistic family, whose φ' has poles at distance ~π/(2σ‖x‖) from the
# real axis, across which Gauss–Hermite converges only like e^{−c√N/(σ‖x‖)} (tanh at σ = 2 on the unit
# sphere: 1e-7 at N = 256 per axis, where the polar rule is at 2e-14 with N = 64; measured rates:
# tests/test_kernels_activations.py).  Parity: φ' is even for sigmoid and tanh (proofs/activation_kernels.py
# proves it), so the polar rule integrates two of its four wedges.
for _entry in (
        _softmax(),
        _from_proofs("relu", description="ReLU max(z, 0) (φ′(0) = 0)", rule="polar", even=False,
                     style=Style("C2", "^"), closed_form=ClosedForm(_relu_kernel, _relu_kernel_mp)),
        _from_proofs("exp", description="exp(z), the softmax network without its normalization", rule="hermite",
                     even=False, style=Style("C1", "s"), closed_form=ClosedForm(_exp_kernel, _exp_kernel_mp)),
        _from_proofs("sigmoid", description="the logistic function 1/(1 + e^{−z})", rule="polar", even=True,
                     style=Style("C3", "v")),
        _from_proofs("tanh", description="tanh(z)", rule="polar", even=True, style=Style("C4", "D")),
        _from_proofs("swish", description="swish z/(1 + e^{−z})", rule="polar", even=False,
                     style=Style("C5", "P"))):
    register(_entry)
    _BUILTIN.add(_entry.name)
del _entry
