"""The package installs cleanly beside anything: the symbolic layer lives at ``proofs/`` in the repository but is
installed as ``ntkcheck.proofs`` (pyproject's package-dir), so a user's own ``proofs`` package — a mathematician's
project folder, or the PyPI distribution of that name — can neither shadow it nor be overwritten by it."""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

IMPORT_EVERYTHING = """
import importlib, pkgutil, sys
import ntkcheck
for info in pkgutil.walk_packages(ntkcheck.__path__, "ntkcheck."):
    importlib.import_module(info.name)
from ntkcheck import checks, proofs
checks.all_checks()
for code in proofs.codes():
    proofs.lemma(code)
print("top-level proofs:", "proofs" in sys.modules)
print("file:", ntkcheck.__file__)
"""


def _python(code: str, cwd: Path, extra_path: str | None = None):
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if extra_path:
        env["PYTHONPATH"] = extra_path
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


def _folder(package: str) -> Path:
    mapping = PYPROJECT["tool"]["setuptools"].get("package-dir", {})
    for prefix in sorted(mapping, key=len, reverse=True):
        if package == prefix or package.startswith(prefix + "."):
            return ROOT / mapping[prefix] / Path(*package[len(prefix):].split(".")[1:])
    return ROOT / Path(*package.split("."))


def test_packages_in_pyproject_match_the_folders():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    for package in listed:
        assert (_folder(package) / "__init__.py").is_file(), f"{package} is listed but {_folder(package)} is no package"
    on_disk = {".".join(p.relative_to(ROOT).parent.parts) for p in (ROOT / "ntkcheck").rglob("__init__.py")}
    on_disk |= {"ntkcheck.proofs" + ("." + ".".join(p.relative_to(ROOT / "proofs").parent.parts)
                                     if p.parent != ROOT / "proofs" else "")
                for p in (ROOT / "proofs").rglob("__init__.py")}
    assert on_disk == listed, f"on disk but not listed: {on_disk - listed}; listed but absent: {listed - on_disk}"
    assert "proofs" not in listed, "proofs must be installed under the package, not at the top level"


def test_no_top_level_proofs_module_after_importing_everything(tmp_path):
    out = _python(IMPORT_EVERYTHING, tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "top-level proofs: False" in out.stdout, out.stdout


def test_a_foreign_proofs_package_in_the_working_folder_changes_nothing(tmp_path):
    """A mathematician's project folder with its own proofs/ package (here one that would break on import)."""
    (tmp_path / "proofs").mkdir()
    (tmp_path / "proofs" / "__init__.py").write_text("raise ImportError('the user\\'s own proofs package')\n")
    (tmp_path / "proofs" / "activations.py").write_text("X = 'not ours'\n")
    out = _python(IMPORT_EVERYTHING + "\nfrom ntkcheck.cli import main\nraise SystemExit(main(['proof', 'G1']))\n",
                  tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "top-level proofs: False" in out.stdout and "G1" in out.stdout


def test_a_built_wheel_installs_and_verifies_outside_the_source_tree(tmp_path):
    """Build the wheel, unpack it into a folder of its own and run verify from elsewhere: the installed files,
    not the repository, must be what runs (the dependencies come from the test environment)."""
    # build in this environment when it can (setuptools with bdist_wheel: the `wheel` package, or setuptools
    # ≥ 70.1), else in pip's isolated build environment (setuptools from the package index)
    local = importlib.util.find_spec("setuptools") is not None and (
        importlib.util.find_spec("wheel") is not None or importlib.util.find_spec("setuptools.command.bdist_wheel"))
    isolation = ["--no-build-isolation"] if local else []
    # from a clean copy of the sources: a build/ folder left in the repository by an earlier build would
    # leak its stale files into the wheel
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(".venv", "build", "_build", ".git", "*.egg-info",
                                                             "__pycache__", ".hypothesis", "results", "book"))
    wheels = tmp_path / "wheels"
    build = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", *isolation, "-w", str(wheels),
                            str(src)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert build.returncode == 0, build.stderr[-3000:]
    (wheel,) = wheels.glob("ntkcheck-*.whl")
    site = tmp_path / "site"
    install = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site),
                              str(wheel)], capture_output=True, text=True, timeout=600)
    assert install.returncode == 0, install.stderr[-3000:]
    assert not (site / "proofs").exists(), "the wheel ships a top-level proofs/ package"
    assert (site / "ntkcheck" / "proofs" / "_core.py").is_file()
    run = tmp_path / "elsewhere"
    run.mkdir()
    out = _python(IMPORT_EVERYTHING + "\nfrom ntkcheck.cli import main\n"
                  "raise SystemExit(main(['verify', '--only', 'G1,B2', '--quiet']))\n", run, extra_path=str(site))
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert f"file: {site}" in out.stdout and "all 2 checks hold" in out.stdout, out.stdout
