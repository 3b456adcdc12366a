"""Reproducible result files: every JSON we write records seed, sizes and package versions, and is
written atomically (a temporary file in the same folder, then an os.replace)."""
from __future__ import annotations

import json
import math
import os
import platform
import sys
import tempfile
from importlib import metadata
from pathlib import Path

PACKAGES = ("ntkcheck", "numpy", "scipy", "sympy", "mpmath")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "platform": platform.platform()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
            out[name] = "not installed"
    return out


def _clean(obj):
    """JSON-safe: numpy scalars to Python, non-finite floats to strings (JSON has no NaN/inf)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return repr(obj)
    return obj


def write_json(path, data) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; the folder must exist."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    text = json.dumps(_clean(data), indent=2, ensure_ascii=False, allow_nan=False)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes the file owner-only; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        finally:
            raise
    return path


def read_json(path):
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def command_line() -> str:
    return " ".join(Path(sys.argv[0]).name if k == 0 else a for k, a in enumerate(sys.argv))
