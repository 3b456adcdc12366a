"""Symbolic derivations, one module per lemma of the book (each chapter states its lemma; these modules prove it).

Each lemma code (G1, …) names one module; each module exports ``CODE``, ``ID``, ``USES`` (the codes of the
lemmas its statement and proof rest on), ``STATEMENT``, ``derive()`` and ``EXPORTS`` (see :mod:`._core`).

Lookup is strict: a lemma whose module is missing is an error that names the module, never a lemma that
silently drops out of :func:`codes`, ``verify`` or the book.

:func:`blueprint` is the dependency graph of the argument: the lemmas, T1' (T1 conditional on the draw,
proved by T1's module) and the certificates C1–C3 (:mod:`ntkcheck.certify`, declared in
:data:`CERTIFICATES` below), each with what it uses, the weakest kind of step its proof rests on, and its
page in the book.  The book's blueprint page draws it; a certificate reads its trust base off it.
"""
from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass, field

# code -> (module name, the title of its chapter in the book).  The module is named after the lemma id
# with '_' for '-'; the chapter's heading is "<code> <title>".
_MODULES = {
    "G1": ("softmax_gradient", "The gradient of a softmax network"),
    "G2": ("shift_invariance", "Shift invariance and a conserved quantity"),
    "G3": ("hessian", "The Hessian of a softmax network"),
    "G4": ("ntk_factorization", "The empirical NTK and its factorization"),
    "G5": ("ntk_limit", "The infinite-width limit of the NTK"),
    "G6": ("ntk_positive_definite", "The limit kernel is positive definite"),
    "B1": ("init_bound", "The softmax entries at initialization"),
    "B2": ("softmax_ratio", "The normalization effect"),
    "B3": ("ntk_perturbation", "The NTK moves little when the weights move little"),
    "B4": ("hessian_bound", "A bound on the Hessian of the network"),
    "B5": ("one_step_descent", "One gradient step: the linear part and the remainder"),
    "B6": ("weight_movement", "How far the weights move"),
    "B7": ("ntk_concentration", "Concentration of the NTK at initialization, with explicit constants"),
    "T1": ("linear_convergence", "Linear convergence of gradient descent"),
    "D1": ("forward_process", "The forward process"),
    "D2": ("gmm_score", "The score of a Gaussian mixture"),
    "D3": ("tweedie_dsm", "Denoising score matching is regression"),
    "D4": ("input_lift", "The lift to the sphere"),
    "D5": ("kernel_regression_tracking", "The network tracks kernel regression"),
    "D6": ("score_generalization", "The learned score generalizes"),
}
LEMMAS = {code: name for code, (name, _) in _MODULES.items()}   # code -> proofs module name
TITLES = {code: title for code, (_, title) in _MODULES.items()}  # code -> the title of its chapter

# the book's part folder of each code letter
_PARTS = {"G": "identities", "B": "bounds", "T": "convergence", "D": "application", "C": "certificates"}


@dataclass(frozen=True)
class Certificate:
    """A certificate node of the blueprint: a computer-assisted proof for one concrete instance
    (:mod:`ntkcheck.certify`).  It has no proofs module: what it proves is a lemma of the chain evaluated in
    ball arithmetic, and its own argument (``basis``) is written out by hand in its chapter."""

    id: str
    title: str
    uses: tuple[str, ...]
    function: str        # where it is computed: "module:function" under ntkcheck
    basis: str           # the argument of its own, beyond the lemmas it uses (all by hand)


# The certificates C1–C3 (the book's Certificates chapter).  What each uses is what its computation evaluates:
# C1 encloses λ_min of G5's limit kernel K; C2 decides T1''s hypotheses (ii)–(iv) in balls with ‖Q‖ from B3,
# β from B4 with B2, H(W(0)) through G4's factorization (T1' brings B5 and B6); C3 counts C2's proofs over
# draws.  C2 reuses C1's verified LDLᵀ test for λ₀ (a method, not C1's statement about K: no edge).
CERTIFICATES = {
    "C1": Certificate("kernel-pd-certificate", "A certificate that the limit kernel is positive definite", ("G5",),
                      "certify.kernel:certify_kernel",
                      "a verified LDLᵀ test in ball arithmetic: all pivots of K − μI positive ⇒ K − μI ≻ 0 "
                      "(Sylvester's law of inertia), a negative pivot ⇒ λ_min(K) < μ (Cauchy interlacing); "
                      "Arb's enclosures trusted"),
    "C2": Certificate("convergence-certificate", "A certificate that gradient descent converges on given data",
                      ("T1'", "G4", "B2", "B3", "B4"), "certify.convergence:certify_convergence",
                      "the hypotheses of T1' decided between balls; λ₀ by the verified LDLᵀ test of C1, ‖H‖₂ and "
                      "‖Q‖₂ as λ_max of a positive semidefinite and of a nonnegative symmetric matrix; (A1) in "
                      "exact rational arithmetic; Arb's enclosures trusted"),
    "C3": Certificate("certified-width", "The certified width from per-draw certificates", ("C2",),
                      "certify.width:certified_width",
                      "each draw's success is a C2 proof; the probability over draws is a Clopper–Pearson bound, "
                      "a statistical statement and labelled so"),
}


def lemma(code: str):
    """The proofs module of a lemma.

    Parameters: ``code`` -- a lemma code (``"G1"``), its id (``"softmax-gradient"``), or ``"T1'"`` (proved by
    T1's module).
    Returns: the module (``ntkcheck.proofs.softmax_gradient``).
    Raises: ``KeyError`` for a code or id no lemma has; ``ModuleNotFoundError`` naming the module when the lemma
    is declared but its module is missing (strict: a missing module is never skipped)."""
    for c, name in LEMMAS.items():
        if code in (c, name.replace("_", "-")) or (c == "T1" and code == "T1'"):
            full = f"{__name__}.{name}"
            try:
                return importlib.import_module(full)
            except ModuleNotFoundError as exc:
                if exc.name == full:
                    raise ModuleNotFoundError(f"lemma {c} ({name.replace('_', '-')}): its proofs module {full} is "
                                              f"missing", name=full) from None
                raise
    raise KeyError(f"no lemma {code!r}; known: {', '.join(LEMMAS)}")


def codes() -> list[str]:
    """The codes of every lemma, in the book's order (each has a proofs module: :func:`lemma` fails loudly on
    one whose module is missing).

    Returns: ``["G1", …, "D6"]``."""
    return list(LEMMAS)


# --------------------------------------------------------------------------------------------- blueprint
def kind_order() -> tuple[str, ...]:
    """The step kinds from strongest to weakest: sympy identity < symbolic inequality < verified at concrete
    sizes < checked numerically < by hand (definitions prove nothing and are not ranked).

    Returns: the kinds (the constants of :mod:`._core`) in that order."""
    from ._core import BY_HAND, CONCRETE, IDENTITY, NUMERIC, PROVED

    return (IDENTITY, PROVED, CONCRETE, NUMERIC, BY_HAND)


def weakest_kind(steps) -> str:
    """The weakest kind among ``steps`` (a :class:`._core.Derivation`, or its list of steps, or of kinds).

    Parameters: ``steps`` -- a Derivation, an iterable of Steps, or an iterable of kind strings.
    Returns: one of :func:`kind_order`; DEFINITION when every step is a definition (nothing is proved)."""
    from ._core import DEFINITION

    steps = getattr(steps, "steps", steps)
    kinds = {getattr(s, "kind", s) for s in steps}
    order = kind_order()
    unknown = kinds - set(order) - {DEFINITION}
    if unknown:
        raise ValueError(f"unknown step kind(s) {sorted(unknown)}")
    ranked = [k for k in order if k in kinds]
    return ranked[-1] if ranked else DEFINITION


@dataclass(frozen=True)
class Node:
    """One node of the blueprint: a lemma, T1', or a certificate.

    ``code``/``id``/``title`` as in the book; ``uses`` the codes it rests on; ``kind`` the weakest kind of step
    of its own proof (None when :func:`blueprint` was called with ``kinds=False``); ``steps`` its steps counted
    by kind; ``page`` its chapter, relative to the book's folder; ``label`` the ``prf:lemma`` label it links
    to; ``module`` its proofs module (None for a certificate); ``check`` the code of the registered numeric
    check that checks it (None for a certificate); ``basis`` a certificate's own argument."""

    code: str
    id: str
    title: str
    uses: tuple[str, ...]
    kind: str | None
    page: str
    label: str
    module: str | None
    check: str | None
    steps: dict = field(default_factory=dict)
    basis: str = ""


def _declared() -> list[tuple[str, str, str, tuple[str, ...], str, str, str | None, str | None, str]]:
    """Every node without running a derivation: (code, id, title, uses, page, label, module, check, basis)."""
    out = []
    for code, (name, title) in _MODULES.items():
        mod = lemma(code)
        if (mod.CODE, mod.ID) != (code, name.replace("_", "-")):
            raise ValueError(f"proofs module {name} declares {mod.CODE} {mod.ID}, expected {code} "
                             f"{name.replace('_', '-')}")
        uses = getattr(mod, "USES", None)
        if uses is None:
            raise ValueError(f"proofs module {name} ({code}) does not declare USES")
        page = f"{_PARTS[code[0]]}/{code.lower()}-{mod.ID}.md"
        out.append((code, mod.ID, title, tuple(uses), page, mod.ID, name, code, ""))
        for vcode, (vid, vtitle, vuses) in getattr(mod, "VARIANTS", {}).items():
            out.append((vcode, vid, vtitle, tuple(vuses), page, mod.ID, name, code, ""))
    for code, c in CERTIFICATES.items():
        out.append((code, c.id, c.title, c.uses, f"{_PARTS['C']}/index.md", c.id, None, None, c.basis))
    return out


def _acyclic(uses_of: dict[str, tuple[str, ...]]) -> None:
    """Raise ValueError naming a cycle of ``uses_of`` (code -> codes it uses), if there is one."""
    done: set[str] = set()

    def visit(code, path):
        if code in path:
            raise ValueError("the lemma chain has a cycle: " + " -> ".join([*path[path.index(code):], code]))
        if code not in done:
            for u in uses_of[code]:
                visit(u, [*path, code])
            done.add(code)

    for code in uses_of:
        visit(code, [])


def blueprint(only=None, *, kinds: bool = True) -> list[Node]:
    """The dependency graph of the lemma chain, one :class:`Node` per lemma, T1' and certificate.

    Parameters: ``only`` -- None for every node, or an iterable of codes: those nodes and everything they use,
    directly or not (a certificate's trust base is ``blueprint([code])``); ``kinds`` -- run each lemma's
    derivation (cached per process, slow the first time: ~20 s for all) to fill ``kind`` and ``steps``; with
    False both are left empty (the structure alone).
    Returns: the nodes in the book's order (lemmas, T1' after T1, then C1–C3).  A certificate's ``kind`` is
    BY_HAND (its own argument, ``basis``).
    Raises: ``ModuleNotFoundError`` for a missing proofs module, ``KeyError`` for an unknown code in ``only``
    or in a module's USES, ``ValueError`` for a cycle, ``ProofError`` if a derivation fails."""
    from ._core import BY_HAND

    declared = _declared()
    known = {d[0] for d in declared}
    for code, *_rest in declared:
        uses = _rest[2]
        bad = [u for u in uses if u not in known]
        if bad:
            raise KeyError(f"{code} uses unknown node(s) {bad}; known: {', '.join(sorted(known))}")
    uses_of = {d[0]: d[3] for d in declared}
    _acyclic(uses_of)
    keep = None
    if only is not None:
        stack, keep = list(only), set()
        while stack:
            c = stack.pop()
            if c not in uses_of:
                raise KeyError(f"no blueprint node {c!r}; known: {', '.join(uses_of)}")
            if c not in keep:
                keep.add(c)
                stack.extend(uses_of[c])
    nodes = []
    for code, ident, title, uses, page, label, module, check, basis in declared:
        if keep is not None and code not in keep:
            continue
        kind, steps = None, {}
        if kinds and module is not None:
            der = lemma(check).derive()
            kind, steps = weakest_kind(der), der.summary()
        elif kinds:
            kind = BY_HAND
        nodes.append(Node(code, ident, title, uses, kind, page, label, module, check, steps, basis))
    return nodes
