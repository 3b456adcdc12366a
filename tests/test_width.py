"""ntkcheck.experiments.width and ``ntkcheck width``: the experiment as cells (the result does not depend on the order
the cells run in), the seed policy (a draw depends only on its own keys), the typed result's JSON round
trip, the step-size rule and predicted steps (T1's and T1''s), m_lazy's invariant, the streamed certified
width against the in-memory theorem, the fits, the plot folder, and bad arguments exit with status 2."""
from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pytest

from ntkcheck.core.results import untimed
import ntkcheck as nk
from ntkcheck import seeds, streaming
from ntkcheck.experiments import width as Wd
from ntkcheck.cli import main
from ntkcheck.sweep import Cell
from ntkcheck.core.theorem import report_at_chosen
from ntkcheck.core.training import eta_and_steps

TINY = replace(Wd.QUICK, n_values=(2, 3), activations=("softmax", "relu"), seeds=2, delta=0.5, lazy_n_max=3,
               max_entries=2e5, cert_n_max=2, cert_variants=("T1'", "T1-B1B7"), cert_max_entries=2e5,
               cert_rel_tol=0.5)
ROW_KEYS = {"activation", "n", "d", "d_out", "sigma", "lambda", "m_emp", "m_lazy", "lam0_at_m_lazy", "m_lazy_lam0_sq",
            "m_cert_T1", "m_cert_T1p", "m_cert_T1_B7", "m_cert_T1_B1B7", "m_cert_C3", "searches", "notes"}




@pytest.fixture(scope="module")
def tiny():
    return Wd.run(TINY)


def test_tiny_run_rows(tiny):
    rows = tiny.rows
    assert [(r.activation, r.n) for r in rows] == [(a, n) for n in (2, 3) for a in ("softmax", "relu")]
    for r in rows:
        assert ROW_KEYS <= set(r.to_json()) and r.d == 8
        emp = r.searches["m_emp"]
        assert r.m_emp is not None and r.m_emp % 2 == 0 and emp.value == r.m_emp
        assert emp.successes_needed == math.ceil((1 - TINY.delta) * TINY.seeds)
        assert emp.tested[-1].m == r.m_emp and emp.tested[-1].successes >= emp.successes_needed
        assert all(t.successes < emp.successes_needed for t in emp.tested[:-1])
        lazy = r.searches["m_lazy"]
        assert lazy.draws_per_width == Wd.seeds_needed(TINY.delta, TINY.lazy_level)
        assert r.m_lazy is not None and lazy.tested[-1].passes and lazy.tested[-1].draws == lazy.draws_per_width
        assert r.m_lazy_lam0_sq == pytest.approx(r.m_lazy * r.lam0_at_m_lazy**2)
        if r.activation == "relu":
            assert all(getattr(r, k) is None for k in Wd.CERT_VARIANTS.values()) and "softmax" in r.notes["m_cert_T1p"]
    soft2, soft3 = rows[0], rows[2]
    assert soft2.m_cert_T1p is not None and soft2.m_cert_T1_B1B7 > soft2.m_cert_T1p
    assert soft3.m_cert_T1p is None and "n = 2" in soft3.notes["m_cert_T1p"]     # cert_n_max = 2
    assert soft2.m_cert_T1 is None and "variants" in soft2.notes["m_cert_T1"]
    assert {f.activation for f in tiny.fits} == {"softmax", "relu"}
    assert tiny.versions["numpy"] == np.__version__ and tiny.cells > 0


def test_typed_result_round_trip(tiny):
    text = json.dumps(tiny.to_json())
    back = Wd.WidthResult.from_json(json.loads(text))
    assert back == tiny
    assert json.dumps(back.to_json()) == text
    assert back.row("softmax", 2).searches["m_emp"].tested == tiny.row("softmax", 2).searches["m_emp"].tested
    with pytest.raises(ValueError, match="width"):
        Wd.WidthResult.from_json(json.loads(text) | {"experiment": "compare"})


def test_result_does_not_depend_on_the_order_cells_run(tiny, monkeypatch):
    """An engine that computes each round's cells in reverse order gives the same result."""
    def backwards(cells, fn, *, progress=None, **engine):
        out = {id(c): fn(c) for c in reversed(list(cells))}
        return [out[id(c)] for c in cells]

    monkeypatch.setattr(Wd, "run_cells", backwards)
    assert untimed(Wd.run(TINY).to_json()) == untimed(tiny.to_json())


def test_engine_options_reach_run_cells(monkeypatch):
    """One engine for the whole experiment: ``workers`` opens one client (one LocalCluster) that every round
    of cells runs on, the other options go to every round unchanged."""
    seen, opened = [], []
    client = object()

    class Engine:
        def __init__(self, workers=1, scheduler=None):
            opened.append((workers, scheduler))

        def __enter__(self):
            return client

        def __exit__(self, *exc):
            return False

    def engine(cells, fn, *, progress=None, **options):
        seen.append(options)
        return [fn(c) for c in cells]

    monkeypatch.setattr(Wd, "engine_client", Engine)
    monkeypatch.setattr(Wd, "run_cells", engine)
    Wd.run(replace(TINY, n_values=(2, 3), activations=("relu",), lazy=True, certify=False), workers=2, cache="x")
    assert len(seen) > 1, "a search in one round only cannot show that the rounds share the engine"
    assert all(o == {"client": client, "cache": "x"} for o in seen)
    assert opened == [(2, None)]


def test_seeds_a_draw_depends_only_on_its_keys(tiny):
    """The data of size n and the draws at (n, m, j) come from the seed policy's own keys: a run over n = 3
    alone reproduces the n = 3 rows of the run over (2, 3); the same draw serves every activation; another
    seed gives other data."""
    alone = Wd.run(replace(TINY, n_values=(3,)))
    for act in TINY.activations:
        assert untimed(alone.row(act, 3).to_json()) == untimed(tiny.row(act, 3).to_json())
    X, Y = Wd.data(3, TINY)
    assert np.array_equal(X, nk.sphere(3, 8, seed=seeds.derived_seed(0, "width.data", 3)))
    assert np.array_equal(Y, nk.labels(3, 1, seed=seeds.derived_seed(0, "width.labels", 3)))
    X1, _ = Wd.data(3, replace(TINY, data_seed=1))
    assert not np.allclose(X, X1)
    a = Wd._init(8, 16, 1, 0.5, "softmax", 0, 3, 1)
    b = Wd._init(8, 16, 1, 0.5, "relu", 0, 3, 1)
    c = Wd._init(8, 16, 1, 0.5, "relu", 0, 3, 2)
    assert np.array_equal(a.W, b.W) and np.array_equal(a.A, b.A) and not np.array_equal(b.W, c.W)


def test_eta_rule_and_predicted_steps_are_the_theorems():
    """η = c/(m(‖H*‖ + λ/2)) and T = ⌈log(‖e(0)‖²/(2ε))/(−2 log(1 − ηmλ/4))⌉, on GD's own terms: after T steps
    of the linear model e ← (1 − ηmλ/4)e the loss is ≤ ε, one step fewer it is not."""
    lam, Hn, m, e0, eps, c = 0.3, 4.0, 1000, 1.7, 1e-3, 0.5
    eta, T = eta_and_steps(lam, Hn, m, e0, eps, c)
    assert eta == pytest.approx(c / (m * (Hn + lam / 2)))
    q = 1 - eta * m * lam / 4
    assert 0.5 * (q**T * e0) ** 2 <= eps < 0.5 * (q ** (T - 1) * e0) ** 2
    assert eta_and_steps(-1.0, Hn, m, e0, eps)[1] is None
    assert eta_and_steps(lam, Hn, m, 1e-3, eps)[1] == 0


def test_lazy_steps_are_t1p_prediction():
    """T = ⌈4 ln(1/ε)/(ηmλ₀)⌉: e^{−pT} ≤ ε < e^{−p(T−1)} with p = ηmλ₀/4."""
    eta, m, lam0, eps = 2e-5, 500, 0.07, 1e-3
    T = Wd.lazy_steps(eta, m, lam0, eps)
    p = eta * m * lam0 / 4
    assert math.exp(-p * T) <= eps < math.exp(-p * (T - 1))


def _lazy(act, n, m, draw=0):
    return Wd.compute_cell(Cell("width.lazy", {"activation": act, "n": n, "m": m, "draw": draw, "d": 8, "d_out": 1,
                                               "sigma": 0.5, "eps": 1e-3, "checks": 100, "max_steps": 10**6,
                                               "seed": 0}))


def test_lazy_cell_checks_the_invariant_along_the_run():
    """At a wide width the run reaches ε‖e(0)‖ within T with the NTK inside λ₀/4; its η is T1''s form of
    that draw's H(W(0)); at a narrow width the NTK leaves λ₀/4 (or the run does not reach ε) and the cell
    says which."""
    wide = _lazy("softmax", 3, 512)
    X, Y = Wd.data(3, TINY)
    p = Wd._init(8, 512, 1, 0.5, "softmax", 0, 3, 0)
    H0 = nk.empirical_ntk(p, X)
    ev = np.linalg.eigvalsh(H0)
    assert wide["lambda0"] == pytest.approx(ev[0], rel=1e-9)
    assert wide["eta"] == pytest.approx(1 / (512 * (ev[-1] + ev[0] / 2)), rel=1e-9)
    assert wide["success"] and wide["steps"] <= wide["T"] and wide["final_relative_residual"] <= 1e-3
    assert 0 < wide["max_ntk_change_over_lambda0"] <= 0.25
    narrow = _lazy("relu", 3, 8)
    assert not narrow["success"] and narrow["why"]
    if "λ₀/4" in narrow["why"]:
        assert narrow["max_ntk_change_over_lambda0"] > 0.25


def test_lazy_cell_rank_shortcut_is_exact():
    """(m/2)·d < n·d': H(W(0)) of the symmetric init has rank ≤ (m/2)·d, so λ₀ = 0 and no step exists."""
    n, m = 12, 2                       # rank ≤ 8 < 12
    r = _lazy("softmax", n, m)
    assert not r["success"] and "rank" in r["why"]
    X, _ = Wd.data(n, TINY)
    H0 = nk.empirical_ntk(Wd._init(8, m, 1, 0.5, "softmax", 0, n, 0), X)
    ev = np.linalg.eigvalsh(H0)
    assert np.sum(ev > 1e-10 * ev[-1]) <= (m // 2) * 8


def test_streamed_certified_cell_matches_the_in_memory_theorem():
    """The certified-width cell streams H(W(0)), Q, S₀ over neurons; on the materialized W its T1' verdict,
    λ₀ and failing hypotheses are those of theorem.report_at_chosen."""
    n, m, d = 3, 4096, 8
    for draw in (0, 1):
        r = Wd.compute_cell(Cell("width.cert", {"n": n, "m": m, "draw": draw, "d": d, "d_out": 1, "sigma": 0.5,
                                                "seed": 0, "variants": ["T1'"]}))
        X, Y = Wd.data(n, TINY)
        s = seeds.derived_seed(0, "width.certified", n, m, draw)
        params = streaming.materialize(d, m, 1, sigma=0.5, scheme="symmetric", seed=s)
        rep = report_at_chosen(X, Y, params, variant="T1'")
        assert r["T1'"]["lambda0"] == pytest.approx(rep.lam, rel=1e-9)
        assert r["T1'"]["failing"] == rep.failing and r["T1'"]["success"] == rep.holds


def test_certified_width_small_instance():
    """n = 2: T1' Monte Carlo (δ = 0.3: 9 draws) and the simulation-free T1-B1B7; the returned width passes,
    the one below it fails, and the certificates are ordered T1' ≤ T1-B1B7."""
    c = Wd.certified_width(2, 8, sigma=0.5, variant="T1'", delta=0.3, rel_tol=0.5)
    assert c.value is not None and c.draws_per_width == Wd.seeds_needed(0.3) == 9
    tested = {t.m: t for t in c.tested}
    lo = max(m for m in tested if m < c.value)
    assert tested[c.value].passes and tested[c.value].successes == 9
    assert not tested[lo].passes and c.value / lo <= 1.5 + 1e-9
    a = Wd.certified_width(2, 8, sigma=0.5, variant="T1-B1B7", delta=0.3, rel_tol=0.5)
    assert a.value is not None and a.value > c.value
    with pytest.raises(ValueError, match="variant"):
        Wd.certified_width(2, 8, variant="T2")


def test_seeds_needed_is_the_clopper_pearson_minimum():
    from ntkcheck.core.stats import binomial_lower

    for delta in (0.05, 0.1, 0.2, 0.3):
        K = Wd.seeds_needed(delta)
        assert binomial_lower(K, K) >= 1 - delta > binomial_lower(K - 1, K - 1)


def test_fits():
    rows = [{"activation": "softmax", "n": n, "lambda": 1 / n, "m_emp": 3 * n**2, "m_cert_T1p": None,
             "m_cert_T1": 5 * n, "m_cert_T1_B7": 7, "m_cert_T1_B1B7": None} for n in (2, 4, 8, 16)]
    f = Wd.fits(rows)["softmax"]
    assert f["m_emp"]["slope"] == pytest.approx(2.0) and f["m_cert_T1"]["slope"] == pytest.approx(1.0)
    assert f["m_emp·λ²"]["slope"] == pytest.approx(0.0, abs=1e-12) and f["m_cert_T1·λ²"]["slope"] == pytest.approx(-1.0)
    assert f["m_cert_T1p"]["slope"] is None and "fewer than 3" in f["m_cert_T1p"]["reason"]
    assert f["m_cert_T1_B7"]["slope"] == 0.0 and "same width" in f["m_cert_T1_B7"]["reason"]


def test_fit_rows_fit_m_lazy_times_lambda0_squared():
    base = Wd.Row("exp", 2, 8, 1, 0.5, 1.0, "float64")
    # λ = λ_min(K_φ) ∝ n⁻², λ₀ (at m_lazy) ∝ n⁻¹: m_lazy·λ₀² must use λ₀, not λ
    rows = [replace(base, n=n, lam=1 / n**2, m_emp=n, m_lazy=4 * n**2, lam0_at_m_lazy=1 / n,
                    m_lazy_lam0_sq=4.0 * n**2 / n**2) for n in (2, 4, 8)]
    fits = {f.column: f for f in Wd.fit_rows(rows)}
    assert fits["m_lazy"].slope == pytest.approx(2.0) and fits["m_lazy·λ₀²"].slope == pytest.approx(0.0, abs=1e-12)
    assert fits["m_emp"].slope == pytest.approx(1.0) and fits["m_emp·λ²"].slope == pytest.approx(-3.0)


def test_cli_writes_valid_json_and_plot_dir(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    backend = matplotlib.get_backend()
    out = tmp_path / "w.json"
    rc = main(["width", "--n-values", "2,3,4", "--activations", "exp", "--seeds", "2", "--no-cert", "--no-lazy",
               "--seed", "3", "--quiet", "--json", str(out), "--plot-dir", str(tmp_path)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["experiment"] == "width" and data["config"]["seeds"] == 2 and data["config"]["certify"] is False
    assert data["seed"] == 3 and data["config"]["data_seed"] == 3
    assert [r["n"] for r in data["rows"]] == [2, 3, 4] and {r["activation"] for r in data["rows"]} == {"exp"}
    assert all(ROW_KEYS <= set(r) for r in data["rows"]) and all(r["m_lazy"] is None for r in data["rows"])
    assert "numpy" in data["versions"] and math.isfinite(data["seconds"])
    png = tmp_path / "width.png"
    assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG"
    assert matplotlib.get_backend() == backend
    assert Wd.WidthResult.from_json(data).config.data_seed == 3


@pytest.mark.parametrize("argv, message", [
    (["--n-values", "2,x"], "--n-values"),
    (["--n-values", "4,4"], "distinct"),
    (["--n-values", "1,2"], "n must be"),
    (["--activations", "gelu"], "unknown activation"),
    (["--seeds", "0"], "seeds"),
    (["--seed", "-1"], "seed"),
    (["--json", "/nonexistent-folder/w.json"], "does not exist"),
    (["--plot-dir", "/nonexistent-folder"], "not an existing folder"),
    (["--no-cert", "--certify-draws"], "--certify-draws"),
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


def test_help_documents_full_with_its_time(capsys):
    with pytest.raises(SystemExit):
        main(["width", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "--full" in text and "FULL_TIME" not in text and "--seed" in text and "--plot-dir" in text


def test_c3_certified_width_beside_the_sampled_one():
    """--certify-draws: the width at which T1' is proved in ball arithmetic for each draw, labelled as
    proofs per draw with a statistical statement over the draws; it is one of the widths tried around
    the sampled m_cert(T1'), and the width passes."""
    pytest.importorskip("flint")
    cfg = replace(TINY, n_values=(2,), activations=("softmax",), lazy=False, certify_draws=True)
    row = Wd.run(cfg).row("softmax", 2)
    assert row.m_cert_T1p is not None and row.m_cert_C3 is not None and row.c3 is not None
    assert row.c3["rows"][-1]["m"] == row.m_cert_C3 and row.c3["rows"][-1]["passes"]
    assert row.c3["rows"][-1]["proved"] == row.c3["draws_per_width"]
    assert "statistical" in row.c3["meaning"] and row.c3["data_scaled_by"] < 1
    assert row.m_cert_T1p / 2 <= row.m_cert_C3 <= 4 * row.m_cert_T1p
    off = Wd.run(replace(cfg, certify_draws=False)).row("softmax", 2)
    assert off.m_cert_C3 is None and "certify-draws" in off.notes["m_cert_C3"]
