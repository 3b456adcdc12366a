"""Reproducible result files: every JSON we write records seed, sizes and package versions, and is
written atomically (a temporary file in the same folder, then an os.replace)."""
from __future__ import annotations

import json
import math
import os
import platform
import signal
import tempfile
import threading
from importlib import metadata
from pathlib import Path

PACKAGES = ("ntkcheck", "numpy", "scipy", "sympy", "mpmath")


def versions() -> dict[str, str]:
    """The versions every result records: Python, the platform and :data:`PACKAGES`.

    Returns: {name: version string}; a package that is not installed is "not installed"."""
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


class _Terminated(BaseException):
    """SIGTERM arrived while a result file was being written (raised by the temporary handler)."""


def _on_sigterm(signum, frame):
    raise _Terminated


def _catch_sigterm():
    """Make SIGTERM raise :class:`_Terminated` for the duration of a write, so that the temporary file is
    removed; returns the previous handler, or None where nothing was installed (not the main thread, or
    SIGTERM ignored: then it stays ignored)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    previous = signal.getsignal(signal.SIGTERM)
    if previous in (signal.SIG_IGN, None):
        return None
    signal.signal(signal.SIGTERM, _on_sigterm)
    return previous


class _sigterm_blocked:
    """SIGTERM blocked for the calling thread inside the block (delivered, if it came, on leaving it)."""

    def __enter__(self):
        self._old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def __exit__(self, *exc):
        signal.pthread_sigmask(signal.SIG_SETMASK, self._old)
        return False


def write_json(path, data) -> Path:
    """Write ``data`` as JSON to ``path`` atomically; the folder must exist.

    The text goes to a hidden temporary file in the same folder, which then replaces ``path``.  An
    exception, Ctrl-C or SIGTERM during the write removes the temporary file and leaves ``path`` as it was;
    SIGTERM is then delivered again to the handler that was in place (by default: the process ends)."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"cannot write {path}: folder {folder} does not exist")
    text = json.dumps(_clean(data), indent=2, ensure_ascii=False, allow_nan=False)
    previous = _catch_sigterm()
    tmp = None
    try:
        # SIGTERM is held back while the temporary file is created and named, so that it is always removed
        with _sigterm_blocked():
            fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        os.chmod(tmp, 0o644)  # mkstemp makes the file owner-only; results are meant to be shared
        os.replace(tmp, path)
        tmp = None
    except BaseException as exc:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except FileNotFoundError:  # pragma: no cover - already renamed
                pass
        if not isinstance(exc, _Terminated):
            raise
        signal.signal(signal.SIGTERM, previous)
        previous = None
        os.kill(os.getpid(), signal.SIGTERM)    # the previous handler's turn (the default one ends the process)
        raise InterruptedError(f"writing {path} was interrupted by SIGTERM; nothing written") from None
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    return path


def read_json(path):
    """The JSON document at ``path`` (UTF-8), as Python objects.

    Parameters: ``path`` a file path.  Returns: the decoded document (dict, list, …)."""
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


# Cached results are compared with the configuration that produced them, never bit for bit: numpy's SIMD
# kernels give different last bits on different CPUs (e.g. np.geomspace(1e-3, 1, 13)[7] is
# 0.05623413251903491 with AVX2 and 0.056234132519034905 with AVX-512).  CONFIG_REL is far above
# such differences (a few ulp, ~1e-16 relative) and far below any change a user could make to a setting.
CONFIG_REL = 1e-12


def untimed(obj):
    """``obj`` (nested dicts and lists from a result's JSON) without its timing fields (any key containing
    "seconds") and its ``versions``: what two runs of the same computation must agree on.

    Parameters: ``obj`` a JSON-shaped value.  Returns: a copy without those keys."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if "seconds" not in k and k != "versions"}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def config_differences(recorded, expected, rel: float = CONFIG_REL, path: str = "config") -> list[str]:
    """Where a recorded configuration (from a JSON file) differs from ``expected`` (a dataclass, a dict or
    values): a list of ``"path: recorded != expected"`` strings, empty when they agree.

    Numbers are equal when |a − b| ≤ rel·max(|a|, |b|) (``rel`` defaults to ``CONFIG_REL``); everything else
    (strings, booleans, None, lengths, keys) must be equal exactly.  ``expected`` goes through the same JSON
    conversion as a written file, so tuples compare with lists.
    """
    if hasattr(expected, "__dataclass_fields__"):
        import dataclasses

        expected = dataclasses.asdict(expected)
    expected = json.loads(json.dumps(_clean(expected)))
    return _differences(recorded, expected, rel, path)


def _differences(a, b, rel: float, path: str) -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}.{k}: missing" for k in b if k not in a] + [f"{path}.{k}: unexpected" for k in a if k not in b]
        for k in a:
            if k in b:
                out += _differences(a[k], b[k], rel, f"{path}.{k}")
        return out
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{path}: length {len(a)} != {len(b)}"]
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in _differences(x, y, rel, f"{path}[{k}]")]
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if a == b or abs(a - b) <= rel * max(abs(a), abs(b)):
            return []
        return [f"{path}: {a!r} != {b!r}"]
    return [] if a == b and type(a) is type(b) else [f"{path}: {a!r} != {b!r}"]
