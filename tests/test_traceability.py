"""Traceability: every lemma is its proofs module, a registered numeric check and a book chapter, and nothing
is silently skipped when one of them is missing.

For each lemma code of ``ntkcheck.proofs`` the test looks, independently of the code that links them, for

* the module ``proofs/<id with _>.py`` declaring that CODE and ID and its USES,
* a check registered under the code in ``ntkcheck.checks`` with the same id and proofs module,
* the chapter ``book/<part>/<code>-<id>.md``, listed in ``book/_toc.yml``, headed "<code> <title>" and stating
  the lemma as ``{prf:lemma} <code> <id>`` with ``:label: <id>``,

and names whatever is missing.  The converse holds too: every registered check and every proofs module that
declares a code belongs to a lemma.  T1' (proved by T1's module) and the certificates C1–C3 are checked for
their chapter and their implementation.  Finally, a copy of the proofs package with one module deleted must
fail loudly (the lookup used to skip such a lemma, and ``verify`` still said "all N checks hold").
"""
from __future__ import annotations

import importlib
import importlib.util
import re
import shutil
import sys
from pathlib import Path

import pytest
import yaml

from ntkcheck import checks, proofs

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PARTS = {"G": "identities", "B": "bounds", "T": "convergence", "D": "application", "C": "certificates"}
# proofs modules with a CODE that are not lemmas of the chain: the activation derivations of the "beyond"
# chapter (φ and φ' of each activation, and their infinite-width kernels), used by the numeric layer
NOT_LEMMAS = {"A": "activations", "K": "activation_kernels"}


def toc_files() -> set[str]:
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text(encoding="utf-8"))
    found = {toc["root"]}

    def walk(node):
        for child in node.get("chapters", []) + node.get("sections", []) + node.get("parts", []):
            found.add(child["file"])
            walk(child)

    walk(toc)
    return {re.sub(r"\.md$", "", f) for f in found}


def registry() -> dict:
    checks.all_checks()
    return dict(checks.REGISTRY)


def lemma_problems(code: str, package=proofs, registered: dict | None = None) -> list[str]:
    """Everything missing for the lemma ``code`` of the proofs package ``package`` (empty when it is complete)."""
    out = []
    name = package.LEMMAS[code]
    ident = name.replace("_", "-")
    title = package.TITLES[code]
    where = f"{package.__name__}.{name}"
    if importlib.util.find_spec(where) is None:
        out.append(f"{code}: no proofs module (proofs/{name}.py is missing)")
    else:
        mod = importlib.import_module(where)
        if (getattr(mod, "CODE", None), getattr(mod, "ID", None)) != (code, ident):
            out.append(f"{code}: proofs/{name}.py declares {getattr(mod, 'CODE', None)} {getattr(mod, 'ID', None)}")
        if not isinstance(getattr(mod, "USES", None), tuple):
            out.append(f"{code}: proofs/{name}.py declares no USES tuple")
        if not callable(getattr(mod, "derive", None)):
            out.append(f"{code}: proofs/{name}.py has no derive()")
    registered = registry() if registered is None else registered
    chk = registered.get(code)
    if chk is None:
        out.append(f"{code}: no numeric check registered under {code} (ntkcheck.checks)")
    elif (chk.id, chk.proof) != (ident, name):
        out.append(f"{code}: the registered check says id {chk.id!r}, proofs module {chk.proof!r}")
    rel = f"{PARTS[code[0]]}/{code.lower()}-{ident}"
    page = BOOK / f"{rel}.md"
    if not page.is_file():
        out.append(f"{code}: no chapter book/{rel}.md")
        return out
    if rel not in toc_files():
        out.append(f"{code}: book/{rel}.md is not in book/_toc.yml")
    text = page.read_text(encoding="utf-8")
    heading = re.search(r"^# (.+)$", text, flags=re.M)
    if heading is None or heading.group(1).strip() != f"{code} {title}":
        out.append(f"{code}: book/{rel}.md is not headed '# {code} {title}'")
    stmt = re.search(r"^```\{prf:lemma\} (\S+) (\S+)\n:label: (\S+)$", text, flags=re.M)
    if stmt is None:
        out.append(f"{code}: book/{rel}.md states no {{prf:lemma}} with a :label:")
    elif stmt.groups() != (code, ident, ident):
        out.append(f"{code}: book/{rel}.md states {{prf:lemma}} {stmt.group(1)} {stmt.group(2)} with :label: "
                   f"{stmt.group(3)}, expected {code} {ident} with :label: {ident}")
    return out


# ------------------------------------------------------------------------------------------------ lemmas
def test_the_chain_has_its_lemmas():
    # the lemma codes of the book (G1–G6, B1–B7, T1, D1–D6), written out here, not read from the package
    expected = [*(f"G{k}" for k in range(1, 7)), *(f"B{k}" for k in range(1, 8)), "T1", *(f"D{k}" for k in range(1, 7))]
    assert proofs.codes() == expected


@pytest.mark.parametrize("code", proofs.codes())
def test_lemma_is_traceable(code):
    problems = lemma_problems(code)
    assert not problems, "\n".join(problems)


def test_every_registered_check_is_a_lemma():
    extra = [f"{c.code} ({c.id}, proofs/{c.proof}.py)" for c in checks.all_checks() if c.code not in proofs.codes()]
    assert not extra, f"checks registered for codes that are no lemma: {extra}"


def test_every_proofs_module_with_a_code_is_declared():
    declared = set(proofs.LEMMAS.values())
    undeclared = []
    for path in sorted((ROOT / "proofs").glob("*.py")):
        text = path.read_text(encoding="utf-8")
        m = re.search(r'^CODE = "([^"]+)"', text, flags=re.M)
        if m and path.stem not in declared and NOT_LEMMAS.get(m.group(1)) != path.stem:
            undeclared.append(f"proofs/{path.name} (CODE {m.group(1)})")
    assert not undeclared, f"proofs modules that no lemma code names (add them to ntkcheck.proofs): {undeclared}"


# ---------------------------------------------------------------------------------- T1' and certificates
def test_t1_conditional_is_traceable():
    node = {n.code: n for n in proofs.blueprint(kinds=False)}["T1'"]
    assert proofs.lemma("T1'") is proofs.lemma("T1")          # proved by T1's module ...
    assert node.check == "T1" and "T1" in registry()          # ... and checked by T1's check (both variants)
    text = (BOOK / "convergence/t1-linear-convergence.md").read_text(encoding="utf-8")
    assert ":label: linear-convergence" in text and "T1' (conditional on the draw)" in text


@pytest.mark.parametrize("code", sorted(proofs.CERTIFICATES))
def test_certificate_is_implemented(code):
    cert = proofs.CERTIFICATES[code]
    module, function = cert.function.split(":")
    mod = importlib.import_module(f"ntkcheck.{module}")
    assert callable(getattr(mod, function, None)), f"{code}: ntkcheck.{module} has no {function}()"
    assert f"{code} {cert.id}" in (mod.__doc__ or "") + (importlib.import_module("ntkcheck.certify").__doc__ or ""), \
        f"{code}: neither ntkcheck.{module} nor ntkcheck.certify names '{code} {cert.id}'"


CERT_PAGE = BOOK / "certificates" / "index.md"


@pytest.mark.xfail(not CERT_PAGE.is_file(), strict=True,
                   reason="the Certificates chapter (book/certificates/index.md) is not in this branch yet")
def test_certificates_have_their_chapter():
    assert CERT_PAGE.is_file(), "no chapter book/certificates/index.md"
    assert "certificates/index" in toc_files(), "book/certificates/index.md is not in book/_toc.yml"
    text = CERT_PAGE.read_text(encoding="utf-8")
    missing = [code for code in proofs.CERTIFICATES if code not in text]
    assert not missing, f"the Certificates chapter does not mention {missing}"


# ------------------------------------------------------------------------------ a deleted module is loud
@pytest.fixture
def proofs_without_d4(tmp_path):
    """A copy of the proofs package, under another name, with proofs/input_lift.py (D4) deleted."""
    name = "ntkcheck_proofs_copy"
    shutil.copytree(ROOT / "proofs", tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / name / "input_lift.py").unlink(missing_ok=True)
    spec = importlib.util.spec_from_file_location(name, tmp_path / name / "__init__.py",
                                                  submodule_search_locations=[str(tmp_path / name)])
    pkg = importlib.util.module_from_spec(spec)
    sys.modules[name] = pkg
    try:
        spec.loader.exec_module(pkg)
        yield pkg
    finally:
        for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
            del sys.modules[key]


def test_a_deleted_module_is_an_error_not_a_skip(proofs_without_d4):
    pkg = proofs_without_d4
    assert "D4" in pkg.codes(), "a lemma whose module is missing dropped out of codes()"
    with pytest.raises(ModuleNotFoundError, match=r"D4 \(input-lift\).*input_lift is missing"):
        pkg.lemma("D4")
    with pytest.raises(ModuleNotFoundError, match="input_lift"):
        pkg.blueprint(kinds=False)
    assert pkg.lemma("D3").CODE == "D3"                     # the others are still found
    problems = lemma_problems("D4", package=pkg)
    assert problems == ["D4: no proofs module (proofs/input_lift.py is missing)"], problems
