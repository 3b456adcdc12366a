"""Every step of every derivation, rendered to LaTeX as the book shows it, says what was proved.

For each step of each lemma of ``ntkcheck.proofs`` (and the two derivations of the "Beyond softmax"
chapter), the full form and the folded short form must have balanced braces and ``\\left``/``\\right``,
contain no raw non-ASCII letter or combining accent (MathJax drops a combining tilde: S̃ was shown as S),
and no ``_{…}`` subscript that swallowed an operator (the name ``g_r − g̃_r`` was printed as the subscript
``g_{r − g̃ r}``).  Every symbol, IndexedBase and undefined function a step uses must have a plain name
(``is_plain``) or an explicit LaTeX name.  Where sympy's LaTeX parser is installed (the antlr4 runtime
4.11), a step whose LaTeX it parses must parse back to the same expression.

The markdown of a derivation must keep its notes as text (a ``*`` or ``|`` shows as written).
"""
from __future__ import annotations

import importlib
import re
import unicodedata

import pytest
import sympy as sp
from sympy.core.function import AppliedUndef

from ntkcheck import proofs
from ntkcheck.proofs import _core
from ntkcheck.proofs._latex import is_plain, latex, names_for

MODULES = [(c, proofs.lemma(c)) for c in proofs.codes()] + [
    (m.CODE, m) for m in (importlib.import_module("ntkcheck.proofs.activations"),
                          importlib.import_module("ntkcheck.proofs.activation_kernels"))]
IDS = [c for c, _ in MODULES]

# operators that never belong inside a subscript of a name (a big operator's limits are exempt)
OPERATOR = re.compile(r"(?<![\\{])[-+=<>/−≤≥·×∘⊗]|\\(?:le|ge|leq|geq|ne|cdot|times|circ|otimes)(?![A-Za-z])")
BIG = re.compile(r"\\(?:sum|prod|max|min|lim|sup|inf|underbrace|nabla|bigcup|bigcap|int|iint)(?:\\limits)?\s*$")


def brace_problems(tex: str) -> list[str]:
    """Unbalanced ``{}`` (escaped ``\\{ \\}`` aside) or ``\\left``/``\\right``."""
    depth, out = 0, []
    for m in re.finditer(r"\\[{}]|[{}]", tex):
        if len(m.group()) == 2:
            continue
        depth += 1 if m.group() == "{" else -1
        if depth < 0:
            out.append(f"'}}' without '{{' at {m.start()}")
            depth = 0
    if depth:
        out.append(f"{depth} '{{' never closed")
    left, right = len(re.findall(r"\\left(?![A-Za-z])", tex)), len(re.findall(r"\\right(?![A-Za-z])", tex))
    if left != right:
        out.append(f"{left} \\left against {right} \\right")
    return out


def unicode_problems(tex: str) -> list[str]:
    """Every non-ASCII character left in the LaTeX (a combining accent named as such)."""
    out = []
    for ch in sorted(set(c for c in tex if ord(c) > 127)):
        kind = "combining accent" if unicodedata.combining(ch) else "non-ASCII character"
        out.append(f"{kind} {ch!r} ({unicodedata.name(ch, '?')})")
    return out


def subscripts(tex: str):
    """(prefix, content) of every ``_{…}`` group of ``tex``."""
    for m in re.finditer(r"_\{", tex):
        depth, i = 1, m.end()
        while i < len(tex) and depth:
            depth += {"{": 1, "}": -1}.get(tex[i], 0) if tex[i - 1] != "\\" else 0
            i += 1
        yield tex[:m.start()], tex[m.end():i - 1]


def subscript_problems(tex: str) -> list[str]:
    """Subscripts of a name that contain an operator: a symbol name that sympy split at its ``_``."""
    out = []
    for prefix, body in subscripts(tex):
        if BIG.search(prefix) or prefix.endswith("}") and BIG.search(prefix[:prefix.rfind("{")]):
            continue
        # an operator at the top level of the subscript (inside a nested {…} it belongs to a sub-group)
        top = re.sub(r"\{[^{}]*\}", "", body)
        if OPERATOR.search(top):
            out.append(f"subscript swallows an operator: _{{{body}}} after …{prefix[-30:]}")
    for m in re.finditer(r"\\operatorname\{[^}]*\}_\{", tex):
        out.append(f"a function name split at its digits or '_': {m.group()}…")
    return out


def used_names(expr) -> set[str]:
    """Names of the symbols, IndexedBase labels and undefined functions in ``expr``."""
    expr = sp.sympify(expr)
    return {s.name for s in expr.atoms(sp.Symbol)} | {f.func.__name__ for f in expr.atoms(AppliedUndef)}


def steps_of(mod):
    return [s for s in mod.derive().steps if s.lhs is not None]


@pytest.mark.parametrize("code,mod", MODULES, ids=IDS)
def test_every_step_renders_faithfully(code, mod):
    d = mod.derive()
    named = names_for(d.code)
    problems = []
    for k, s in enumerate(d.steps, 1):
        if s.lhs is None:
            continue
        unnamed = sorted(n for n in used_names(s.lhs) | used_names(s.rhs) if not is_plain(n) and n not in named)
        if unnamed:
            problems.append(f"step {k} ({s.label}): no LaTeX name for {unnamed} (add it to proofs/_latex.py)")
        for form, tex in (("full", s.latex(d.code)), ("short", s.short_latex(d.code))):
            for p in brace_problems(tex) + unicode_problems(tex) + subscript_problems(tex):
                problems.append(f"step {k} ({s.label}), {form} form: {p}")
    assert not problems, f"{code}:\n  " + "\n  ".join(problems[:40])


@pytest.mark.parametrize("code,mod", MODULES, ids=IDS)
def test_long_steps_are_folded(code, mod):
    """A step longer than FOLD_AT shows a short form (at most about 2·FOLD_AT characters) and its full form
    in a dropdown; a short step is shown whole."""
    d = mod.derive()
    md = d.markdown()
    for s in steps_of(mod):
        full, short = s.latex(d.code), s.short_latex(d.code)
        if len(full) <= _core.FOLD_AT:
            assert short == full
        elif short != full:           # folded (a short form that saves under 20% is not worth a toggle)
            assert len(short) < min(0.8 * len(full), 2 * _core.FOLD_AT), (s.label, len(short), short)
            assert f"${short}$" in md and f"\n$$\n{full}\n$$\n" in re.sub(r"\n +", "\n", md)
    assert md.count(":::{dropdown}") == sum(s.short_latex(d.code) != s.latex(d.code) for s in steps_of(mod))


# --- the checker itself, on hand-written LaTeX (expected values written out, not taken from the code) ---
def test_checks_catch_the_old_renderings():
    # what sympy's own printer made of the B3 names (the examples)
    assert subscript_problems(r"\left|{g_{r − g̃ r}}\right|")
    assert unicode_problems(r"S̃_{r} \left|{a_{r} - ⟨a,S⟩}\right|")
    assert any("combining accent" in p for p in unicode_problems("S̃_{r}"))
    assert subscript_problems(r"\max_{r} x + w_{r - 1}")
    assert subscript_problems(r"\operatorname{expm}_{1}{\left(- 2 t \right)}")
    assert brace_problems(r"\frac{1}{2") and brace_problems(r"\left( x") and not brace_problems(r"\{x\}")
    # what is fine
    assert not subscript_problems(r"\sum_{k=0}^{m - 1} {y}_{k} + \lambda_{\min}(K) + H_{(i,\ell_{1}),(j,\ell_{2})}")
    assert not subscript_problems(r"\max_{r} \lVert w_{r}(t+1) - w_{r}(0)\rVert_{2} + \underbrace{\cdots}_{\text{2 more terms}}")


def test_names_render_as_written():
    """A few names with their LaTeX written out by hand (the table must say this, not something else)."""
    S_t, aS = sp.Symbol("S̃_r", positive=True), sp.Symbol("⟨a,S⟩", real=True)
    assert latex(2 * S_t * sp.exp(2 * sp.Symbol("R"))) == r"2 \tilde{S}_{r} e^{2 R}"
    assert latex(sp.Abs(sp.Symbol("g_r − g̃_r"))) == r"\left|{g_{r} - \tilde{g}_{r}}\right|"
    assert latex(sp.Symbol("a_r") - aS) == r"a_{r} - \langle a, S\rangle"
    assert latex(sp.IndexedBase("zt")[sp.Symbol("k")]) == r"{\tilde{z}}_{k}"
    assert latex(sp.Symbol("xsq")) == r"\lVert x\rVert^{2}"
    assert latex(sp.Symbol("xsq"), "B5") == r"\max_{i} \lVert x_{i}\rVert^{2}"
    assert latex(sp.Function("phi'")(sp.Symbol("z"))) == r"\varphi'{\left(z \right)}"
    assert latex(sp.Symbol("x_j") + sp.Symbol("sigma_1^2")) == r"\sigma^{2}_{1} + x_{j}"     # plain names


def test_notes_are_text_not_markdown():
    d = _core.Derivation("T", "test", "a test")
    d.remark("|a| ≤ ‖K‖/λ * 2", _core.BY_HAND, "note with *stars*, a_b_c, | pipes |, $dollars$, [link](x) and\n- a dash")
    md = d.markdown()
    assert md == ("1. **\\|a\\| ≤ ‖K‖\\/λ \\* 2** — *by hand*\n\n"
                  "   note with \\*stars\\*\\, a\\_b\\_c\\, \\| pipes \\|\\, \\$dollars\\$\\, \\[link\\]\\(x\\) and \\- a dash")
    # the Markdown parser the book uses turns it back into the text as written
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").render(md)
    assert "note with *stars*, a_b_c, | pipes |, $dollars$, [link](x) and - a dash" in html
    assert "<em>" not in html.replace("<em>by hand</em>", "")


def test_table_cells_keep_norms():
    assert _core.md_table_cell(r"$\|K\|/\lambda$ a|b") == r"$\Vert K\Vert /\lambda$ a\|b"
    assert _core.md_table_cell(r"$|x|$") == r"$\vert x\vert $"
    markdown_it = pytest.importorskip("markdown_it")
    html = markdown_it.MarkdownIt("commonmark").enable("table").render(_core.md_table([r"$\|K\|/\lambda$"], [["1"]]))
    assert r"\Vert K\Vert /\lambda" in html


# --- round trip through sympy's LaTeX parser, where it is installed and parses the step ---------------
def round_trip(expr, code):
    """True/False: the LaTeX of ``expr`` parses back to ``expr`` (each symbol mapped to the parse of its own
    LaTeX name, so the parser's reading of a name cancels out); None: the parser cannot read it."""
    from sympy.parsing.latex import parse_latex

    expr = sp.sympify(expr)
    tex = latex(expr, code)
    if len(tex) > 1500 or expr.atoms(sp.Sum, sp.Abs, sp.Indexed, sp.MatrixBase, AppliedUndef):
        return None
    try:
        parsed = parse_latex(tex)
        mapping = {s: parse_latex(latex(s, code)) for s in expr.atoms(sp.Symbol)}
    except Exception:                                  # noqa: BLE001  (LaTeXParsingError and friends)
        return None
    parsed = parsed.subs(sp.Symbol("e"), sp.E)
    want = expr.xreplace(mapping)
    return parsed == want or sp.simplify(parsed - want) == 0


def test_round_trip_where_sympy_parses():
    pytest.importorskip("antlr4", reason="sympy's LaTeX parser needs antlr4-python3-runtime 4.11 (not installed)")
    results = []
    for code, mod in MODULES:
        for s in steps_of(mod):
            for side in (s.lhs, s.rhs):
                results.append((code, s.label, round_trip(side, code)))
    wrong = [(c, label) for c, label, ok in results if ok is False]
    assert not wrong, wrong
    assert sum(ok is True for *_, ok in results) >= 50
