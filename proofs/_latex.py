"""The LaTeX names of the symbols the derivations use, and the printer that applies them.

Sympy prints a symbol from its name: ``S̃_r`` becomes ``S̃_{r}`` (MathJax drops the combining tilde, so
the book showed a bound in S where S̃ was proved), ``g_r − g̃_r`` becomes the subscript ``g_{r − g̃ r}``
and ``normQ`` the product n·o·r·m·Q.  Here every symbol whose name sympy would not render faithfully gets
its LaTeX name, in one table: :data:`LATEX_NAMES` (symbol, ``IndexedBase`` label and undefined-function
names -> LaTeX), with :data:`LATEX_NAMES_BY_CODE` for the few names whose meaning differs between lemmas.
Only the printing changes: the symbols keep their names and assumptions, so no derivation changes.

A *plain* name (:func:`is_plain`: one letter or a Greek letter name, optional digits, subscripts that are
digits, one letter or a Greek name, an optional power) is printed by sympy as meant (``x_j``,
``sigma_1^2``, ``w_0_1``); every other name must be in the table (``tests/test_rendering.py`` fails on
a derivation step that uses one that is not).

This module imports only sympy and the standard library.
"""
from __future__ import annotations

import re

import sympy as sp
from sympy.printing.latex import LatexPrinter, greek_letters_set

# name (as given to sp.Symbol / sp.IndexedBase / sp.Function) -> LaTeX
LATEX_NAMES: dict[str, str] = {
    # --- tilde, bar and other accented names (the perturbed / reference weights W̃, means Z̄, …) ---
    "S̃_r": r"\tilde{S}_{r}",
    "S̃_{i,r}": r"\tilde{S}_{i,r}",
    "S̃_{j,r}": r"\tilde{S}_{j,r}",
    "g̃": r"\tilde{g}",
    "h̃": r"\tilde{h}",
    "g_r − g̃_r": r"g_{r} - \tilde{g}_{r}",
    "zt": r"\tilde{z}",                                   # logits z̃_k = w̃_kᵀx (B2, B3)
    "ztj": r"\tilde{z}^{(j)}",                            # the logits z̃ at the input x_j (B3)
    "Ē": r"\bar{E}",
    "ū": r"\bar{u}",
    "S_bar": r"\bar{S}",                                  # the largest S_{i,r} along the path (B6)
    "e⁺": r"e^{+}",
    "‖e⁺‖₂": r"\lVert e^{+}\rVert_{2}",
    "H(W) − H(W̃)": r"H(W) - H(\tilde{W})",
    "‖H(W) − H(W̃)‖₂": r"\lVert H(W) - H(\tilde{W})\rVert_{2}",
    "P(|Z̄ − EZ̄| ≥ τ)": r"P(\lvert \bar{Z} - \mathbb{E}\bar{Z}\rvert \ge \tau)",
    "Σ(k≠r) S̃ₖ exp(Δₖ) / (1 − S̃ᵣ)": r"\sum_{k \ne r} \tilde{S}_{k} \exp(\Delta_{k}) / (1 - \tilde{S}_{r})",
    # --- Greek letters given as Unicode ---
    "ρ": r"\rho",
    "θ": r"\theta",
    "ε": r"\varepsilon",                                  # IndexedBase: ε_k = |e_k| (B6)
    "Δg": r"\Delta g",
    "Δh": r"\Delta h",
    "Δₖ": r"\Delta_{k}",
    "Delta": r"\Delta",                                   # IndexedBase: Δ_k = (w_k − w̃_k)ᵀx (B2)
    "e^{Δ_r}": r"e^{\Delta_{r}}",
    "δwₖᵀx": r"\delta w_{k}^{\top} x",
    "‖δwₖ‖": r"\lVert \delta w_{k}\rVert",
    "φ(w)": r"\varphi(w)",
    # --- inner products, norms, probabilities, placeholders for a whole expression ---
    "⟨a,S⟩": r"\langle a, S\rangle",
    "⟨a,S̃⟩": r"\langle a, \tilde{S}\rangle",
    "aS_l": r"\langle a_{\ell}, S\rangle",
    "SS": r"\langle \tilde{S}_{i}, \tilde{S}_{j}\rangle",
    "a_lr": r"a_{\ell,r}",
    "delta_rs": r"\delta_{rs}",
    "F_ℓ": r"F_{\ell}",
    "r_{iℓ}": r"r_{i\ell}",
    "|c_{iℓ}|": r"\lvert c_{i\ell}\rvert",
    "u_{i,r}": r"u_{i,r}",
    "H_{(i,ℓ₁),(j,ℓ₂)}": r"H_{(i,\ell_{1}),(j,\ell_{2})}",
    "Q_ij": r"Q_{ij}",
    "normQ": r"\lVert Q\rVert_{2}",
    "Q_norm": r"\lVert Q(W(0))\rVert_{2}",
    "H_norm": r"\lVert H^{*}\rVert_{2}",                  # ‖H*‖₂ in T1 (the T1' variant uses ‖H(W(0))‖₂)
    "e0_norm": r"\lVert e(0)\rVert_{2}",
    "e_norm": r"\lVert e\rVert_{2}",
    "contraction": r"\lVert I - \eta m H\rVert_{2}",
    "grad_sq": r"\lVert \nabla L\rVert_{F}^{2}",
    "gmax": r"\max_{r} \lVert \nabla_{w_{r}} L\rVert",
    "xsq": r"\lVert x\rVert^{2}",
    "S_max": r"S_{\max}",
    "SxMax": r"\max_{i} S_{i,r} \lVert x_{i}\rVert",
    "d_out": "d'",
    "d'": "d'",
    "nd'": "nd'",
    "md": "md",
    "B'": "B'",
    "rsq": r"r^{2}",                                      # IndexedBase: r_k² (B5)
    "ui0": r"u_{i,0}", "ui1": r"u_{i,1}", "ui2": r"u_{i,2}",
    "uj0": r"u_{j,0}", "uj1": r"u_{j,1}", "uj2": r"u_{j,2}",
    "var": r"\sigma_{k}^{2}",                             # σ_k² = a_t² v_k + s_t² (D2, D4)
    "sqdist": r"\lVert x - a_{t} \mu_{k}\rVert^{2}",
    "log_pi": r"\log \pi_{k}",
    "amu": r"a_{t} \lVert \mu_{k}\rVert",
    "sd": r"\mathrm{sd}",
    "f_lin": r"f_{\mathrm{lin}}",
    "dB": r"\mathrm{d}B", "dX": r"\mathrm{d}X", "dt": r"\mathrm{d}t",
    "c^T H c": r"c^{\top} H c",
    "c^T G^{∘p} c": r"c^{\top} G^{\circ p} c",
    "λ_min(K)": r"\lambda_{\min}(K)",
    "λ_min(G^{∘(k+1)})": r"\lambda_{\min}(G^{\circ (k+1)})",
    "λ_min(H(W(t)))": r"\lambda_{\min}(H(W(t)))",
    "E e^{λZ}": r"\mathbb{E}\, e^{\lambda Z}",
    "P(Z ≥ t)": r"P(Z \ge t)",
    "P(|Z| ≥ t)": r"P(\lvert Z\rvert \ge t)",
    "P(∃ i,r: |w_rᵀx_i| > B)": r"P(\exists\, i,r\colon \lvert w_{r}^{\top} x_{i}\rvert > B)",
    "P(some mean leaves its radius)": r"P(\text{some mean leaves its radius})",
    "w_r(0)ᵀx_i": r"w_{r}(0)^{\top} x_{i}",
    "w_rᵀx_i": r"w_{r}^{\top} x_{i}",
    "exp(w_rᵀx_i)": r"\exp(w_{r}^{\top} x_{i})",
    "‖x‖": r"\lVert x\rVert",
    "‖M‖₂": r"\lVert M\rVert_{2}",
    "‖r‖₂": r"\lVert r\rVert_{2}",
    "‖e(t)‖": r"\lVert e(t)\rVert",
    "(I − ηmH)e + r": r"(I - \eta m H) e + r",
    "diag(S∘v) − (S∘v)Sᵀ − S(S∘v)ᵀ": r"\operatorname{diag}(S \circ v) - (S \circ v) S^{\top} - S (S \circ v)^{\top}",
    "‖∇²_W F_ℓ(x)‖₂": r"\lVert \nabla^{2}_{W} F_{\ell}(x)\rVert_{2}",
    "‖∇²_W F_ℓ(ξ, x_i)‖₂": r"\lVert \nabla^{2}_{W} F_{\ell}(\xi, x_{i})\rVert_{2}",
    "∇_{w_r}L": r"\nabla_{w_{r}} L",
    "‖∇_{w_r}L‖₂": r"\lVert \nabla_{w_{r}} L\rVert_{2}",
    "κ Σ_{i,ℓ} e_{iℓ} S_{i,r}(a_{ℓ,r} − ⟨a_ℓ,S_i⟩) x_i":
        r"\kappa \sum_{i,\ell} e_{i\ell} S_{i,r} (a_{\ell,r} - \langle a_{\ell}, S_{i}\rangle) x_{i}",
    "max S_{i,r}(W(0))": r"\max S_{i,r}(W(0))",
    "max_r‖w_r(t) − w_r(0)‖₂": r"\max_{r} \lVert w_{r}(t) - w_{r}(0)\rVert_{2}",
    "max_r ‖w_r(t+1) − w_r(0)‖₂": r"\max_{r} \lVert w_{r}(t+1) - w_{r}(0)\rVert_{2}",
    "‖H(W(0)) − H*‖₂": r"\lVert H(W(0)) - H^{*}\rVert_{2}",
    "‖I − ηmH(t)‖₂": r"\lVert I - \eta m H(t)\rVert_{2}",
    "‖∇L(W(t))‖_F²": r"\lVert \nabla L(W(t))\rVert_{F}^{2}",
    "½η²β√(nd')‖∇L(W(t))‖²": r"\tfrac{1}{2} \eta^{2} \beta \sqrt{nd'}\, \lVert \nabla L(W(t))\rVert^{2}",
    "‖N_same ⊗ I + N_cross ⊗ (11ᵀ − I)‖₂":
        r"\lVert N_{\mathrm{same}} \otimes I + N_{\mathrm{cross}} \otimes (\mathbf{1}\mathbf{1}^{\top} - I)\rVert_{2}",
    "τ_B, τ_C, τ_i, γ_i": r"\tau_{B}, \tau_{C}, \tau_{i}, \gamma_{i}",
    "√(N_ev V/(mδ)), min(1, τ_D/(1 − τ_i))": r"\sqrt{N_{\mathrm{ev}} V/(m\delta)}, \min(1, \tau_{D}/(1 - \tau_{i}))",
    "(i)": r"\text{(i)}", "(ii)": r"\text{(ii)}", "(iii)": r"\text{(iii)}", "(iv)": r"\text{(iv)}",
    # --- undefined functions ---
    "phi": r"\varphi",
    "phi'": r"\varphi'",
    "K_phi": r"K_{\varphi}",
    "E": r"\mathbb{E}",
    "expm1": r"\operatorname{expm1}",                   # sympy's own printer writes expm_1
}

# lemma code -> {name: LaTeX}: where one name means something else in that lemma's derivation
LATEX_NAMES_BY_CODE: dict[str, dict[str, str]] = {
    "B5": {"xsq": r"\max_{i} \lVert x_{i}\rVert^{2}"},    # B5: max_i ‖x_i‖² (B4: ‖x‖² of one input)
}

_ATOM = "(?:[A-Za-z]|%s)" % "|".join(sorted(greek_letters_set, key=len, reverse=True))
_PLAIN = re.compile(rf"^{_ATOM}\d*(?:_(?:\d+|{_ATOM}))*(?:\^\d+)?$")


def is_plain(name: str) -> bool:
    """True when sympy prints the name ``name`` as meant without help (``x_j``, ``sigma_1^2``, ``w_0_1``).

    Parameters: ``name`` a symbol, IndexedBase or function name.  Returns: bool."""
    return bool(_PLAIN.match(name))


def names_for(code: str | None = None) -> dict[str, str]:
    """The LaTeX names in force for lemma ``code`` (the table, with that lemma's overrides).

    Parameters: ``code`` a lemma code such as ``"B5"``, or None for the shared table.
    Returns: a new dict name -> LaTeX."""
    out = dict(LATEX_NAMES)
    out.update(LATEX_NAMES_BY_CODE.get(code or "", {}))
    return out


class Printer(LatexPrinter):
    """sympy's LaTeX printer, with symbol, IndexedBase and undefined-function names from a table."""

    def __init__(self, names: dict[str, str], settings=None):
        super().__init__(settings or {})
        self._names = names

    def _print_Symbol(self, expr, style="plain"):
        if expr.name in self._names:
            return self._names[expr.name]
        return super()._print_Symbol(expr, style)

    def _hprint_Function(self, func: str) -> str:
        if func in self._names:
            return self._names[func]
        return super()._hprint_Function(func)


def latex(expr, code: str | None = None, **settings) -> str:
    """``expr`` as LaTeX, every symbol under its LaTeX name (:data:`LATEX_NAMES`, overrides of lemma ``code``).

    Parameters: ``expr`` a sympy expression (or anything ``sympify`` accepts from code, never a user string),
    ``code`` the lemma whose overrides apply, ``settings`` sympy LatexPrinter settings.
    Returns: the LaTeX string (no surrounding ``$``)."""
    settings = {"inv_trig_style": "full", **settings}      # \\arccos, not \\operatorname{acos}
    return Printer(names_for(code), settings).doprint(sp.sympify(expr))
