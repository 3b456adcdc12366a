"""ntkcheck.experiments.width and ``ntkcheck width``: a tiny grid runs and writes valid JSON, the step-size rule and the
predicted steps are the theorem's, the fits, the plot, and bad arguments exit with status 2."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

import ntkcheck as nk
from ntkcheck.experiments import width as Wd
from ntkcheck.cli import main

TINY = replace(Wd.QUICK, n_values=(2, 3, 4), activations=("softmax", "relu"), seeds=2, delta=0.5,
               max_entries=2e5, cert_rel_tol=0.5)
ROW_KEYS = {"activation", "n", "d", "d_out", "sigma", "scheme", "kappa", "epsilon", "delta", "seeds", "eta_rule",
            "lambda", "m_emp", "m_cert_T1", "m_cert_T1p", "m_cert_T1_B7", "m_cert_T1_B1B7"}


@pytest.fixture(scope="module")
def tiny():
    return Wd.run(TINY)


def test_tiny_run_rows(tiny):
    rows = tiny["rows"]
    assert [(r["activation"], r["n"]) for r in rows] == [(a, n) for n in (2, 3, 4) for a in ("softmax", "relu")]
    for r in rows:
        assert ROW_KEYS <= set(r)
        assert r["scheme"] == "symmetric" and r["kappa"] == "m" and r["d"] == 8
        assert r["m_emp"] is not None and r["m_emp"] % 2 == 0
        det = r["m_emp_detail"]
        assert det["successes_needed"] == math.ceil((1 - TINY.delta) * TINY.seeds)
        assert det["tested"][-1]["m"] == r["m_emp"] and det["tested"][-1]["successes"] >= det["successes_needed"]
        assert all(t["successes"] < det["successes_needed"] for t in det["tested"][:-1])
        if r["activation"] == "relu":
            assert all(r[k] is None for k in Wd.CERT_VARIANTS.values()) and "softmax" in r["m_cert_reason"]
    soft2 = rows[0]
    assert soft2["m_cert_T1p"] is not None                       # n = 2 certifies below n·m ≤ 2·10⁵
    assert soft2["m_cert_T1_B1B7"] is not None and soft2["m_cert_T1_B1B7"] > soft2["m_cert_T1p"]
    assert set(tiny["fits"]) == {"softmax", "relu"}
    assert tiny["versions"]["numpy"] == np.__version__


def test_eta_rule_and_predicted_steps_are_the_theorems():
    """η = c/(m(‖H*‖ + λ/2)) and T = ⌈log(‖e(0)‖²/(2ε))/(−2 log(1 − ηmλ/4))⌉, on GD's own terms: after T steps
    of the linear model e ← (1 − ηmλ/4)e the loss is ≤ ε, one step fewer it is not."""
    lam, Hn, m, e0 = 0.3, 4.0, 1000, 1.7
    eta, T = Wd.eta_and_steps(lam, Hn, m, e0, TINY)
    assert eta == pytest.approx(TINY.c / (m * (Hn + lam / 2)))
    q = 1 - eta * m * lam / 4
    assert 0.5 * (q**T * e0) ** 2 <= TINY.eps < 0.5 * (q ** (T - 1) * e0) ** 2
    assert Wd.eta_and_steps(-1.0, Hn, m, e0, TINY)[1] is None


def test_gd_reaches_uses_the_rule():
    X, Y = Wd.data(3, TINY)
    Hs = nk.limit_ntk(X, sigma=TINY.sigma, d_out=1)
    lam = float(np.linalg.eigvalsh(Hs)[0])
    r = Wd.gd_reaches(X, Y, "softmax", 256, 0, TINY, (lam, float(np.linalg.norm(Hs, 2))))
    assert r["success"] and r["steps"] <= r["T"] and r["final_loss"] <= TINY.eps
    # one ReLU neuron pair cannot fit the 3 points: the run uses all T steps and stays above ε
    Hr = nk.limit_ntk(X, sigma=TINY.sigma, d_out=1, activation="relu")
    fail = Wd.gd_reaches(X, Y, "relu", 2, 0, TINY, (float(np.linalg.eigvalsh(Hr)[0]), float(np.linalg.norm(Hr, 2))))
    assert not fail["success"] and fail["steps"] == fail["T"] and fail["final_loss"] > TINY.eps
    assert r["eta"] == pytest.approx(1 / (256 * (np.linalg.norm(Hs, 2) + lam / 2)))


def test_fits():
    rows = [{"activation": "softmax", "n": n, "lambda": 1 / n, "m_emp": 3 * n**2, "m_cert_T1p": None,
             "m_cert_T1": 5 * n, "m_cert_T1_B7": 7, "m_cert_T1_B1B7": None} for n in (2, 4, 8, 16)]
    f = Wd.fits(rows)["softmax"]
    assert f["m_emp"]["slope"] == pytest.approx(2.0) and f["m_cert_T1"]["slope"] == pytest.approx(1.0)
    assert f["m_emp·λ²"]["slope"] == pytest.approx(0.0, abs=1e-12) and f["m_cert_T1·λ²"]["slope"] == pytest.approx(-1.0)
    assert f["m_cert_T1p"]["slope"] is None and "fewer than 3" in f["m_cert_T1p"]["reason"]
    assert f["m_cert_T1_B7"]["slope"] == 0.0 and "same width" in f["m_cert_T1_B7"]["reason"]


def test_cli_writes_valid_json_and_plot(tmp_path):
    out, png = tmp_path / "w.json", tmp_path / "w.png"
    pytest.importorskip("matplotlib")
    rc = main(["width", "--n-values", "2,3,4", "--activations", "exp", "--seeds", "2", "--no-cert", "--quiet",
               "--json", str(out), "--plot", str(png)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["experiment"] == "width" and data["config"]["seeds"] == 2 and data["config"]["certify"] is False
    assert [r["n"] for r in data["rows"]] == [2, 3, 4] and {r["activation"] for r in data["rows"]} == {"exp"}
    assert all(ROW_KEYS <= set(r) for r in data["rows"])
    assert "numpy" in data["versions"] and math.isfinite(data["seconds"])
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["--n-values", "2,x"], "--n-values"),
    (["--n-values", "4,4"], "distinct"),
    (["--n-values", "1,2"], "n must be"),
    (["--activations", "gelu"], "unknown activation"),
    (["--seeds", "0"], "seeds"),
    (["--json", "/nonexistent-folder/w.json"], "does not exist"),
    (["--plot", "/nonexistent-folder/w.png"], "existing folder"),
])
def test_cli_bad_input_exits_2(argv, message, capsys, tmp_path):
    target = tmp_path / "never.json"
    rc = main(["width", *argv] + ([] if "--json" in argv else ["--json", str(target)]))
    assert rc == 2
    out = "".join(capsys.readouterr())  # errors go to stderr
    assert message in out and len(out.strip().splitlines()) == 1
    assert not target.exists()


def test_cli_quick_and_full_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["width", "--quick", "--full"])
    assert exc.value.code == 2 and "not allowed" in capsys.readouterr().err
