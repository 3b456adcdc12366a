"""The layers depend one way (issue 12, item 2), read from the source with ``ast``, lazy imports included:

    proofs  ->  core  ->  checks, certify, experiments  ->  plots  ->  the command line

``proofs/`` imports only sympy and the standard library; the core never imports checks, experiments, plots,
certify or the command line; checks and certify import the core (and seeds, proofs); experiments import the
core (and seeds, the sweep engine); plots import the core and the experiments' types.  And no private name
(``_x``, dunders aside) is imported from, or looked up on, another module: what a module shares it names
publicly.  A private *module* (``proofs/_core.py``) is its package's own business: its siblings may import
it, no other package may.

The analysis is a function of the sources (``scan``), so the tests below also feed it deliberate
violations and see each rule fire.
"""
from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# what each layer may import, besides itself and the standard library / third-party packages
ALLOWED = {
    "proofs": set(),
    "base": set(),                                   # ntkcheck.seeds, ntkcheck.sweep
    "core": {"proofs", "base", "api"},
    "checks": {"core", "proofs", "base", "api"},
    "certify": {"core", "proofs", "base", "api"},
    # an experiment may report certificates (C3 beside the sampled widths); certify never imports experiments
    "experiments": {"core", "proofs", "base", "api", "certify"},
    "plots": {"core", "experiments", "base", "api"},
    "cli": {"core", "proofs", "base", "api", "checks", "certify", "experiments", "plots"},
    "api": {"core", "proofs", "base", "checks", "certify", "experiments", "plots", "cli"},
}
# the one import the rule knows and allows, with its reason (each one a decision, not an oversight)
EXCEPTIONS = {
    # G6's check carries the C1 certificate of the same matrix when python-flint is there (imported lazily)
    ("ntkcheck.checks.identities", "ntkcheck.certify.arb"): "G6 reports C1",
    ("ntkcheck.checks.identities", "ntkcheck.certify.kernel"): "G6 reports C1",
    # the D1–D6 checks test the diffusion application's numerics, which live with its experiment
    ("ntkcheck.checks.diffusion", "ntkcheck.experiments.diffusion"): "D1–D6 numerics",
}
# private names certify/ and proofs/ still shared between their own modules: (module, name) -> the public
# name that replaces it.  Empty since issue 13: files.versions, arb.decimal and _latex.Printer are public.
PENDING: dict = {}
# the third-party packages proofs/ may import (the rest of the standard library is allowed)
PROOFS_THIRD_PARTY = {"sympy"}


def layer(module: str) -> str:
    parts = module.split(".")
    if parts[0] != "ntkcheck":
        return "external"
    if len(parts) == 1:
        return "api"
    head = parts[1]
    if module == "ntkcheck.certify.cli" or head in ("cli", "__main__"):
        return "cli"
    if head in ("seeds", "sweep"):
        return "base"
    return head if head in ALLOWED else "unknown"


def discover(root: Path = ROOT) -> dict[str, Path]:
    """Module name -> file, for ntkcheck/ (the worktree's proofs symlink skipped) and proofs/ (ntkcheck.proofs)."""
    found = {}
    for base, prefix in ((root / "ntkcheck", "ntkcheck"), (root / "proofs", "ntkcheck.proofs")):
        for path in sorted(base.rglob("*.py")):
            rel = path.relative_to(base)
            if prefix == "ntkcheck" and rel.parts[0] == "proofs":
                continue
            parts = list(rel.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([prefix, *parts])] = path
    return found


@dataclass(frozen=True)
class Finding:
    module: str
    line: int
    what: str
    name: str = ""            # the private name (or module) a finding is about

    def __str__(self):
        return f"{self.module}:{self.line}: {self.what}"


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _short_names():
    """ntkcheck.__getattr__'s tables: a name of the package -> the module it comes from."""
    import ntkcheck
    names = {short: f"ntkcheck.core.{short}" for short in ntkcheck._CORE}
    return names, dict(ntkcheck._WHERE)


def scan(sources: dict[str, str], packages: set[str]):
    """(imports, private uses) of every module: imports as (module, line, target module, via), private uses as
    Findings.  ``sources`` maps module names to their text; ``packages`` are the names that are packages."""
    core_short, api_names = _short_names()
    known = set(sources)
    imports, privates = [], []

    def member(pkg: str, name: str):
        """What ``from pkg import name`` / ``pkg.name`` is: (the module it lives in, is it a module itself)."""
        if f"{pkg}.{name}" in known:
            return f"{pkg}.{name}", True
        if pkg == "ntkcheck" and name in core_short and core_short[name] in known:
            return core_short[name], True
        if pkg == "ntkcheck" and name in api_names:
            return api_names[name], False
        return pkg, False

    for module, text in sources.items():
        tree = ast.parse(text)
        package = module if module in packages else module.rpartition(".")[0]
        bound: dict[str, str] = {}              # local name -> internal module it names

        def record(line, target, via):
            if target.split(".")[0] == "ntkcheck" or layer(module) == "proofs":
                imports.append((module, line, target, via))
            # a private module of another package
            parts = target.split(".")
            for i, part in enumerate(parts):
                if _private(part) and ".".join(parts[:i]) != package:
                    privates.append(Finding(module, line, f"imports the private module {target}", target))
                    break

        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    record(node.lineno, alias.name, "import")
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[:len(base) - node.level + 1]
                    pkg = ".".join(base + ([node.module] if node.module else []))
                else:
                    pkg = node.module
                for alias in node.names:
                    target, is_module = member(pkg, alias.name)
                    record(node.lineno, target, "from")
                    if _private(alias.name) and not is_module and target != module:
                        privates.append(Finding(module, node.lineno, f"imports the private name {alias.name} "
                                                                     f"from {target}", alias.name))
                    if is_module:
                        bound[alias.asname or alias.name] = target
        # look-ups on bound modules: x.a.b ...
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            chain, base = [], node
            while isinstance(base, ast.Attribute):
                chain.append(base.attr)
                base = base.value
            if not isinstance(base, ast.Name) or base.id not in bound:
                continue
            current = bound[base.id]
            for attr in reversed(chain):
                target, is_module = member(current, attr)
                if is_module:
                    imports.append((module, node.lineno, target, "attribute"))
                    current = target
                    continue
                if target != current:       # a name of the package's API table
                    imports.append((module, node.lineno, target, "attribute"))
                if _private(attr) and target != module:
                    privates.append(Finding(module, node.lineno, f"looks up the private name {attr} on {target}", attr))
                break
    return imports, sorted(set(privates), key=lambda f: (f.module, f.line, f.what))


def layer_violations(imports) -> list[Finding]:
    out = set()
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    for module, line, target, via in imports:
        src, dst = layer(module), layer(target)
        if src == "proofs":
            top = target.split(".")[0]
            if dst == "external" and top not in stdlib and top not in PROOFS_THIRD_PARTY:
                out.add(Finding(module, line, f"proofs/ imports {target} (only sympy and the standard library)"))
            elif dst not in ("external", "proofs"):
                out.add(Finding(module, line, f"proofs/ imports the numeric layer {target}"))
            continue
        if dst in ("external", src) or dst in ALLOWED.get(src, set()):
            continue
        if any(module == m and (target == t or target.startswith(t + ".")) for m, t in EXCEPTIONS):
            continue
        out.add(Finding(module, line, f"the {src} layer imports {target} (the {dst} layer)"))
    return sorted(out, key=lambda f: (f.module, f.line, f.what))


def _tree():
    found = discover()
    packages = {m for m, p in found.items() if p.name == "__init__.py"}
    return scan({m: p.read_text(encoding="utf-8") for m, p in found.items()}, packages)


# --- the repository ------------------------------------------------------------------------------------------

def test_every_module_is_in_a_layer():
    unknown = [m for m in discover() if layer(m) == "unknown"]
    assert not unknown, f"modules outside the known layers (add the layer to ALLOWED): {unknown}"


def test_the_layers_import_one_way():
    imports, _ = _tree()
    found = layer_violations(imports)
    assert not found, "imports against the layers:\n" + "\n".join(map(str, found))


def test_no_private_name_crosses_a_module():
    _, privates = _tree()
    found = [f for f in privates if (f.module, f.name) not in PENDING]
    assert not found, "private names used across modules:\n" + "\n".join(map(str, found))


def test_the_pending_private_names_are_still_there():
    _, privates = _tree()
    left = {(f.module, f.name) for f in privates}
    assert set(PENDING) <= left, f"fixed, remove from PENDING: {set(PENDING) - left}"


def test_the_exceptions_are_still_needed():
    imports, _ = _tree()
    used = {(m, t) for m, _, target, _ in imports for (mm, t) in EXCEPTIONS
            if m == mm and (target == t or target.startswith(t + "."))}
    assert used == set(EXCEPTIONS), f"exceptions no import needs any more: {set(EXCEPTIONS) - used}"


# --- the rules fire on deliberate violations -------------------------------------------------------------

@pytest.mark.parametrize("importer, line", [
    ("ntkcheck.core.network", "from ntkcheck.checks import register"),
    ("ntkcheck.core.network", "def f():\n    from ntkcheck.experiments import width"),     # lazy, still counted
    ("ntkcheck.core.network", "import ntkcheck.plots.width"),
    ("ntkcheck.core.network", "from ntkcheck import cli"),
    ("ntkcheck.core.network", "import ntkcheck as nk\nnk.checks.all_checks()"),
    ("ntkcheck.checks.bounds", "from ntkcheck.experiments.width import run"),
    ("ntkcheck.certify.kernel", "from ntkcheck.checks import register"),
    ("ntkcheck.experiments.width", "from ntkcheck.checks.bounds import check_b3"),
    ("ntkcheck.plots.width", "from ntkcheck.checks import register"),
])
def test_an_import_against_the_layers_is_named(importer, line):
    targets = {"ntkcheck.checks": "def register(): pass\n", "ntkcheck.experiments": "", "ntkcheck.experiments.width":
               "def run(): pass\n", "ntkcheck.plots": "", "ntkcheck.plots.width": "", "ntkcheck.cli": "",
               "ntkcheck.checks.bounds": "def check_b3(): pass\n", "ntkcheck.core": ""}
    sources = dict(targets, **{importer: line + "\n"})
    imports, _ = scan(dict(sources, ntkcheck=""), {"ntkcheck", "ntkcheck.core", "ntkcheck.checks",
                                                     "ntkcheck.experiments", "ntkcheck.plots"})
    found = layer_violations(imports)
    assert [f.module for f in found] == [importer], found


@pytest.mark.parametrize("line", ["import numpy as np", "from scipy import stats", "import mpmath",
                                  "from ntkcheck.core import network", "import ntkcheck"])
def test_proofs_may_import_only_sympy_and_the_standard_library(line):
    sources = {"ntkcheck": "", "ntkcheck.core": "", "ntkcheck.core.network": "",
               "ntkcheck.proofs": "", "ntkcheck.proofs.g1": "import sympy as sp\nimport functools\n" + line + "\n"}
    imports, _ = scan(sources, {"ntkcheck", "ntkcheck.core", "ntkcheck.proofs"})
    assert [f.line for f in layer_violations(imports)] == [3]


def test_the_allowed_imports_are_not_flagged():
    sources = {"ntkcheck": "", "ntkcheck.core": "", "ntkcheck.core.network": "def forward(): pass\n",
               "ntkcheck.core.bounds": "from ntkcheck.core.network import forward\nimport ntkcheck as nk\n"
                                       "nk.network.forward()\n",
               "ntkcheck.proofs": "", "ntkcheck.proofs._core": "", "ntkcheck.proofs.g1":
                   "import sympy as sp\nfrom ._core import X\nfrom . import _core\n",
               "ntkcheck.checks": "from ntkcheck.core import bounds\n"}
    imports, privates = scan(sources, {"ntkcheck", "ntkcheck.core", "ntkcheck.proofs", "ntkcheck.checks"})
    assert layer_violations(imports) == [] and privates == []


@pytest.mark.parametrize("line", [
    "from ntkcheck.core.network import _features",
    "from ntkcheck.core import network\nnetwork._features(1)",
    "import ntkcheck.core.network as N\nN._kappa",
    "import ntkcheck as nk\nnk.network._features",
    "from ntkcheck.proofs._core import BY_HAND",          # another package's private module
    "from ntkcheck.proofs import _core",
])
def test_a_private_name_across_modules_is_named(line):
    sources = {"ntkcheck": "", "ntkcheck.core": "", "ntkcheck.proofs": "", "ntkcheck.proofs._core": "BY_HAND = 1\n",
               "ntkcheck.core.network": "def _features(x): pass\n_kappa = 1\n",
               "ntkcheck.core.theorem": line + "\n"}
    _, privates = scan(sources, {"ntkcheck", "ntkcheck.core", "ntkcheck.proofs"})
    assert privates and {f.module for f in privates} == {"ntkcheck.core.theorem"}, privates


def test_dunder_names_and_own_privates_are_fine():
    sources = {"ntkcheck": "", "ntkcheck.core": "", "ntkcheck.core.network": "def _f(): pass\n_f()\n",
               "ntkcheck.core.theorem": "import ntkcheck\nntkcheck.__version__\nfrom ntkcheck import __version__\n"}
    _, privates = scan(sources, {"ntkcheck", "ntkcheck.core"})
    assert privates == []
