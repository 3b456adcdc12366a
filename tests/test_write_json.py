"""ntkcheck.core.results.write_json under signals: SIGTERM (or Ctrl-C) in the middle of a write leaves neither a
hidden temporary file nor a partial result; the signal then goes to the handler that was in place."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ntkcheck.core.results import write_json

ROOT = Path(__file__).resolve().parents[1]

# the child writes a large JSON (about 150 MB) into FOLDER; the parent sends SIGTERM as soon as the
# temporary file appears, i.e. during the write itself
_HUGE = r"""
import sys
from ntkcheck.core.results import write_json
data = ["x" * 1000] * 150_000
print("dumping", flush=True)
write_json(sys.argv[1] + "/big.json", data)
print("finished", flush=True)
"""

# the child's file object announces the write and then stalls in it: SIGTERM lands inside fh.write
_STALLED = r"""
import os, signal, sys, time
from ntkcheck.core import results as _results
setup = sys.argv[2]
if setup == "handler":                          # a handler of the program's own: it must still be called
    def bye(signum, frame):
        print("own handler", flush=True)
        sys.exit(7)
    signal.signal(signal.SIGTERM, bye)
elif setup == "ignored":                        # SIGTERM ignored: the write must go on and complete
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
real_fdopen = os.fdopen


class Slow:
    def __init__(self, fh):
        self.fh = fh
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        self.fh.close()
    def write(self, text):
        self.fh.write(text[:10])
        print("writing", flush=True)
        time.sleep(3)
        self.fh.write(text[10:])


_results.os.fdopen = lambda fd, *a, **k: Slow(real_fdopen(fd, *a, **k))
_results.write_json(sys.argv[1] + "/r.json", {"a": list(range(10))})
print("finished", signal.getsignal(signal.SIGTERM) is not _results._on_sigterm, flush=True)
"""


def _child(code, *args):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.Popen([sys.executable, "-c", code, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_sigterm_during_a_huge_write_leaves_no_temporary_file(tmp_path):
    proc = _child(_HUGE, tmp_path)
    assert proc.stdout.readline().strip() == "dumping"
    deadline = time.monotonic() + 120
    while not any(p.name.endswith(".tmp") for p in tmp_path.iterdir()):
        assert proc.poll() is None, "the write finished before the temporary file was seen"
        assert time.monotonic() < deadline
        time.sleep(0.001)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err)    # the default action: the process ends
    assert "finished" not in out and "Traceback" not in err
    assert _leftovers(tmp_path) == []


def test_sigterm_inside_write_default_handler(tmp_path):
    proc = _child(_STALLED, tmp_path, "default")
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGTERM, (proc.returncode, err)
    assert _leftovers(tmp_path) == []


def test_sigterm_inside_write_reaches_the_programs_own_handler(tmp_path):
    proc = _child(_STALLED, tmp_path, "handler")
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 7 and "own handler" in out, (proc.returncode, out, err)
    assert _leftovers(tmp_path) == []


def test_ignored_sigterm_stays_ignored(tmp_path):
    proc = _child(_STALLED, tmp_path, "ignored")
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "finished True" in out, (out, err)
    assert _leftovers(tmp_path) == ["r.json"]
    assert json.loads((tmp_path / "r.json").read_text()) == {"a": list(range(10))}


def test_handler_restored_and_file_complete_after_a_normal_write(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    write_json(tmp_path / "ok.json", {"x": [1.5, float("inf")]})
    assert signal.getsignal(signal.SIGTERM) is before
    assert json.loads((tmp_path / "ok.json").read_text()) == {"x": [1.5, "inf"]}
    assert _leftovers(tmp_path) == ["ok.json"]


def test_an_exception_during_the_write_removes_the_temporary_file(tmp_path, monkeypatch):
    import ntkcheck.core.results as R

    def broken(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(R.os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        write_json(tmp_path / "no.json", [1, 2])
    assert _leftovers(tmp_path) == []
