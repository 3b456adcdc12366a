"""Same seed, same JSON: two runs of ``verify``, ``width``, ``compare`` and ``diffusion`` with the same settings
write identical files, apart from the timing fields (every key containing "seconds").

Within one process and one machine the numbers must agree exactly (bit for bit): nothing random may be drawn
outside the seeded generators (ARPACK's default starting vector was such a draw: D5 and D6 differed in the
last bits from one call to the next).  Across machines only relative tolerances make sense; that is not
what is tested here.
"""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np

import ntkcheck as nk
from ntkcheck.experiments import compare as C
from ntkcheck.experiments import diffusion as D
from ntkcheck.experiments import width as Wd
from ntkcheck.cli import main


def untimed(obj):
    """``obj`` without the keys that hold a duration (any key containing "seconds")."""
    if isinstance(obj, dict):
        return {k: untimed(v) for k, v in obj.items() if "seconds" not in k}
    if isinstance(obj, list):
        return [untimed(v) for v in obj]
    return obj


def differences(a, b, path="") -> list[str]:
    """The paths at which two JSON values differ (for a readable failure)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{path}: keys {sorted(a.keys() ^ b.keys())}"]
        return [d for k in a for d in differences(a[k], b[k], f"{path}.{k}")]
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for k, (x, y) in enumerate(zip(a, b)) for d in differences(x, y, f"{path}[{k}]")]
    return [] if a == b else [f"{path}: {a!r} != {b!r}"]


def twice(argv, tmp_path, monkeypatch=None) -> tuple:
    """Run ``ntkcheck *argv --json …`` twice; the two JSON files, timing fields removed."""
    out = []
    for k in range(2):
        target = tmp_path / f"run{k}.json"
        assert main([*argv, "--json", str(target), "--quiet"]) == 0
        out.append(untimed(json.loads(target.read_text(encoding="utf-8"))))
    return tuple(out)


def assert_same(a, b):
    diff = differences(a, b)
    assert not diff, f"{len(diff)} difference(s), e.g. {diff[:5]}"


def test_untimed_removes_only_timing():
    rec = {"seconds": 1.0, "a": [{"seconds_nn": 2.0, "x": 1}], "b": {"seconds": {"total": 3}, "y": 2}}
    assert untimed(rec) == {"a": [{"x": 1}], "b": {"y": 2}}
    assert differences({"a": [1, 2.0]}, {"a": [1, 2.5]}) == [".a[1]: 2.0 != 2.5"]


def test_ntk_lambda_max_is_the_same_on_every_call():
    U = D.lift(D.default_mixture().sample_t(40, 0.4, 1), 4.0, clip=True)
    p = nk.init_params(3, 64, 2, 1.5, "symmetric", seed=2)
    values = {D.ntk_lambda_max(p, U) for _ in range(8)}
    assert len(values) == 1, values
    lam = values.pop()
    assert abs(lam - np.linalg.eigvalsh(nk.empirical_ntk(p, U))[-1]) <= 1e-9 * lam


def test_verify_same_seed_same_json(tmp_path):
    """G1, D2 and the D5 check (the one that runs GD with η from ``ntk_lambda_max``) at a small scale."""
    a, b = twice(["verify", "--only", "G1,D2,D5", "--scale", "0.25", "--seed", "4"], tmp_path)
    assert [r["code"] for r in a] == ["G1", "D2", "D5"]
    assert_same(a, b)


def test_width_same_seed_same_json(tmp_path, monkeypatch):
    from test_width import TINY

    monkeypatch.setattr(Wd, "QUICK", replace(TINY, activations=("softmax", "relu")))   # certificates included
    a, b = twice(["width", "--n-values", "2,3,4"], tmp_path)
    assert a["rows"][0]["m_cert_T1p"] is not None
    assert_same(a, b)


def test_compare_same_seed_same_json(tmp_path, monkeypatch):
    from test_compare import TINY

    monkeypatch.setattr(C, "QUICK", TINY)
    a, b = twice(["compare", "--seed", "1"], tmp_path)
    assert_same(a, b)


def test_diffusion_same_seed_same_json(tmp_path, monkeypatch):
    from test_diffusion import TINY

    monkeypatch.setattr(D, "QUICK", replace(TINY, pictures=False))
    a, b = twice(["diffusion", "--seed", "2"], tmp_path)
    assert a["tracking"]["c"] == b["tracking"]["c"]          # the step size from ntk_lambda_max
    assert_same(a, b)
