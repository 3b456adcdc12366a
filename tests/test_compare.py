"""ntkcheck.experiments.compare and ``ntkcheck compare`` (beyond softmax): each section against an independent
computation or a fact of the mathematics, the cached results/compare.json against the current code, the CLI
and bad input."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import ntkcheck as nk
from ntkcheck.experiments import compare as C
from ntkcheck.experiments import width as Wd
from ntkcheck.core.results import write_json
from ntkcheck.cli import main

TINY = replace(C.QUICK, n=6, d=4, m=64, seeds=2, radii=(1e-3, 1e-2, 1e-1, 1.0), kernel_n=(3, 6),
               kernel_sigmas=(0.5, 1.0), width_n=(3, 4, 6), width_seeds=2, max_steps=20_000)
CACHE = Path(__file__).resolve().parents[1] / "results" / "compare.json"


@pytest.fixture(scope="module")
def tiny_result():
    return C.run(TINY)


@pytest.fixture(scope="module")
def tiny(tiny_result):
    """The JSON form of the tiny run (what results/compare.json holds)."""
    return tiny_result.to_json()


# ------------------------------------------------------------------------------------------ pieces
@given(p=st.floats(0.25, 3.0), log_c=st.floats(-20, 20), u=st.floats(0.01, 0.99), points=st.integers(2, 30))
@example(p=0.5, log_c=math.log(3.0), u=0.5, points=7)      # ReLU's order
@example(p=2.0, log_c=0.0, u=0.01, points=2)               # the gradient direction's order, a two-point grid
@example(p=1.0, log_c=-18.0, u=0.99, points=13)            # a tiny change, crossing at the last grid point
def test_crossing_is_exact_for_a_power_law(p, log_c, u, points):
    """Log–log interpolation recovers the crossing of change = c·R^p exactly, wherever it falls in the grid."""
    radii = np.geomspace(1e-3, 1.0, points)
    r_true = float(np.exp(np.log(radii[0]) + u * (np.log(radii[-1]) - np.log(radii[0]))))
    c = math.exp(log_c)
    r, text = C._crossing(radii, c * radii**p, c * r_true**p)
    assert r == pytest.approx(r_true, rel=1e-12)
    assert text == f"{r:.3g}"


def test_crossing_outside_the_grid_and_after_zeros():
    radii = [0.01, 0.1, 1.0]
    assert C._crossing(radii, [1e-3, 2e-3, 4e-3], 0.5) == (None, "> 1")
    assert C._crossing(radii, [1.0, 2.0, 4.0], 0.5) == (None, "< 0.01")
    assert C._crossing(radii, [0.0, 1.0, 2.0], 0.5) == (0.1, "0.1")   # no log of 0: the first radius above


def test_directions_have_unit_neuron_columns():
    p = C._init(TINY, "softmax", 3)
    X, Y = C.data(TINY)
    g = nk.gradient(p, X, Y)
    dirs = C._directions(TINY, 3, g)
    assert set(dirs) == set(C.DIRECTIONS)
    for U in dirs.values():
        assert U.shape == p.W.shape
        np.testing.assert_allclose(np.linalg.norm(U, axis=0), 1.0, rtol=1e-14)
    S = dirs["shift"]
    assert np.all(S == S[:, :1])                                   # one v for every neuron
    cos = np.einsum("jr,jr->r", dirs["gradient"], -g) / np.linalg.norm(g, axis=0)
    np.testing.assert_allclose(cos, 1.0, rtol=1e-12)               # along −∇_{w_r}L
    assert abs(np.mean(np.einsum("jr,jr->r", dirs["random"], S))) < 0.3   # not the shift in disguise


def test_validate_names_the_field():
    for change, word in [({"activations": ("softmax", "gelu")}, "gelu"), ({"activations": ()}, "activations"),
                         ({"m": 7}, "even"), ({"n": 1}, "n"), ({"radii": (0.1,)}, "radii"),
                         ({"radii": (0.1, 0.01)}, "radii"), ({"radii": (0.0, 0.1)}, "radii"), ({"c": 2.0}, "(iii)"),
                         ({"sigma": -1.0}, "sigma"), ({"kernel_n": ()}, "kernel_n"), ({"width_n": (3, 3)}, "width_n"),
                         ({"data_seed": -1}, "data_seed"), ({"seeds": 0}, "seeds"), ({"kernel_sigmas": ()}, "kernel_sigmas")]:
        with pytest.raises(ValueError, match=None) as exc:
            C.validate(replace(TINY, **change))
        assert word in str(exc.value), (change, str(exc.value))


# ------------------------------------------------------------------------------------------ sections
def test_kernel_section_on_the_sphere_exp_is_softmax_times_e_sigma2(tiny):
    """On the sphere K_exp = ⟨x,y⟩e^{σ²‖x+y‖²/2} = e^{σ²} K_softmax (the book's Beyond-softmax part and G5): the same condition
    number, λ scaled by e^{σ²}.  Off the sphere the normalization is not a constant factor."""
    k = tiny["kernel"]
    s = TINY.sigma
    assert k["exp"]["sphere"]["lambda"] == pytest.approx(math.exp(s**2) * k["softmax"]["sphere"]["lambda"], rel=1e-9)
    assert k["exp"]["sphere"]["condition"] == pytest.approx(k["softmax"]["sphere"]["condition"], rel=1e-9)
    assert abs(k["exp"]["ball"]["condition"] / k["softmax"]["ball"]["condition"] - 1) > 1e-3
    X = C.data(TINY)[0]
    for act in TINY.activations:
        K = nk.limit_kernel(X, sigma=TINY.sigma, activation=act)
        ev = np.linalg.eigvalsh(K)
        assert k[act]["sphere"]["lambda"] == pytest.approx(ev[0], rel=1e-9)
        assert k[act]["sphere"]["condition"] == pytest.approx(ev[-1] / ev[0], rel=1e-9)
        assert [r["n"] for r in k[act]["by_n"]] == list(TINY.kernel_n)
        assert [r["sigma"] for r in k[act]["by_sigma"]] == list(TINY.kernel_sigmas)
        assert k[act]["by_n"][-1]["lambda"] == pytest.approx(k[act]["sphere"]["lambda"], rel=1e-12)  # n = 6 both


def test_sensitivity_section_is_what_it_says(tiny):
    """Recompute one change by hand, the normalizations, and the facts: softmax is blind to the shift (G2);
    for smooth φ the random-direction change is first order (‖ΔH‖/R settles as R → 0)."""
    X, Y = C.data(TINY)
    sens, lam = tiny["sensitivity"], {a: tiny["kernel"][a]["sphere"]["lambda"] for a in TINY.activations}
    radii = np.asarray(TINY.radii)
    for act in TINY.activations:
        for kind in C.DIRECTIONS:
            ch = np.asarray(sens[act][kind]["change"])
            assert ch.shape == (TINY.seeds, len(radii))
            np.testing.assert_allclose(sens[act][kind]["max_over_R_lambda"], ch.max(0) / (radii * lam[act]), rtol=1e-12)
    s, j = 1, 2
    p = C._init(TINY, "tanh", C._seed(TINY, s))
    U = C._directions(TINY, s, nk.gradient(p, X, Y))["random"]
    direct = np.linalg.norm(nk.empirical_ntk(p.with_W(p.W + radii[j] * U), X) - nk.empirical_ntk(p, X), 2)
    assert sens["tanh"]["random"]["change"][s][j] == pytest.approx(direct, rel=1e-12)
    assert max(map(max, sens["softmax"]["shift"]["change"])) < 1e-12 * sens["softmax"]["H_norm_mean"]
    for act in ("exp", "tanh", "sigmoid", "swish"):
        assert min(map(min, sens[act]["shift"]["change"])) > 1e-6 * sens[act]["H_norm_mean"], act
    # ReLU's NTK depends on W only through the signs of Xw_r: under the shift it changes exactly when a sign flips
    for s in range(TINY.seeds):
        W = C._init(TINY, "relu", C._seed(TINY, s)).W
        V = C._directions(TINY, s)["shift"]
        for j, r in enumerate(radii):
            flips = bool(np.any(np.sign(X @ W) != np.sign(X @ (W + r * V))))
            assert (sens["relu"]["shift"]["change"][s][j] > 1e-6 * sens["relu"]["H_norm_mean"]) == flips, (s, r)
    assert max(map(max, sens["relu"]["shift"]["change"])) > 1e-6 * sens["relu"]["H_norm_mean"]
    for act in ("softmax", "exp", "tanh", "sigmoid", "swish"):
        v = sens[act]["random"]["max_over_R_lambda"]
        assert v[0] == pytest.approx(v[1], rel=0.05), act
    assert sens["softmax"]["shift"]["r_quarter"] is None and sens["softmax"]["shift"]["r_quarter_text"].startswith(">")
    b3 = np.asarray(sens["softmax"]["B3_bound_over_R_lambda"])
    assert np.all(b3 * radii * lam["softmax"] >= np.asarray(sens["softmax"]["random"]["change"])[0])  # B3 holds


def test_shift_section_g2_holds_for_softmax_only(tiny):
    sh = tiny["shift"]
    assert sh["softmax"]["F_change"] < 1e-12 and sh["softmax"]["H_change"] < 1e-12
    for act in ("relu", "exp", "sigmoid", "tanh", "swish"):
        assert sh[act]["F_change"] > 1e-3 and sh[act]["H_change"] > 1e-3, act


def test_training_section_follows_the_rule(tiny):
    X, Y = C.data(TINY)
    for act in TINY.activations:
        tr = tiny["training"][act]
        lam, Hn = tiny["kernel"][act]["sphere"]["lambda"], tiny["kernel"][act]["sphere"]["norm"]
        assert tr["eta"] == pytest.approx(TINY.c / (TINY.m * (Hn + lam / 2)), rel=1e-12)
        assert tr["guaranteed_rate"] == pytest.approx(1 - tr["eta"] * TINY.m * lam / 4, rel=1e-14)
        assert tr["reached"] and tr["final_loss"] <= TINY.eps
        # an independent rerun of plain GD (gd_step, not the Trainer) reaches ε at the same step
        p = C._init(TINY, act, C._seed(TINY, 0))
        e0 = np.linalg.norm(nk.residual(p, X, Y))
        for _ in range(tr["steps"] - 1):
            p = nk.gd_step(p, X, Y, tr["eta"])
        assert nk.loss(p, X, Y) > TINY.eps
        p = nk.gd_step(p, X, Y, tr["eta"])
        assert nk.loss(p, X, Y) <= TINY.eps
        assert tr["observed_rate"] == pytest.approx((np.linalg.norm(nk.residual(p, X, Y)) / e0) ** (1 / tr["steps"]),
                                                    rel=1e-9)
        c = tr["curve"]
        assert c["steps"][0] == 0 and c["steps"][-1] == tr["steps"] and c["loss"][-1] == tr["final_loss"]
    assert tiny["training"]["softmax"]["common_move_share"] < 1e-12          # G2: Σ_r w_r is conserved
    for act in ("relu", "exp", "sigmoid", "tanh", "swish"):
        assert tiny["training"][act]["common_move_share"] > 1e-8, act


def test_width_section_reuses_the_width_experiment(tiny):
    w = tiny["width"]
    assert [(r["n"], r["activation"]) for r in w["rows"]] == [(n, a) for n in TINY.width_n for a in TINY.activations]
    wcfg = Wd.validate(C._width_cfg(TINY))
    assert wcfg.certify is False and wcfg.seeds == TINY.width_seeds and wcfg.sigma == TINY.sigma
    X, Y = Wd.data(4, wcfg)
    direct = Wd.empirical_width(X, Y, "swish", wcfg)
    row = next(r for r in w["rows"] if r["n"] == 4 and r["activation"] == "swish")
    assert row["m_emp"] == direct["m_emp"] and row["lambda"] == direct["lambda"]
    assert set(w["fits"]) == set(TINY.activations)


def test_table_and_determinism(tiny):
    again = C.run(replace(TINY, width=False)).to_json()

    def numbers(section):          # everything but the wall-clock times
        return json.dumps({a: {k: v for k, v in rec.items() if k != "seconds"} for a, rec in section.items()},
                          sort_keys=True)

    for sec in ("kernel", "sensitivity", "shift", "training", "finite_width"):
        assert numbers(again[sec]) == numbers(tiny[sec]), sec
    assert again["width"] is None and "m_emp_slope" not in again["table"][0]
    rows = {r["activation"]: r for r in tiny["table"]}
    assert set(rows) == set(TINY.activations)
    assert rows["softmax"]["r_quarter_shift_text"].startswith(">") and rows["softmax"]["shift_F_change"] < 1e-12
    assert tiny["versions"]["numpy"] == np.__version__ and tiny["config"] == asdict(TINY)


# ------------------------------------------------------------------------------------------ the cache
@pytest.mark.skipif(not CACHE.exists(), reason="results/compare.json not generated")
def test_cached_result_is_the_current_code():
    """The book reads results/compare.json: it must be the QUICK configuration, and its cheap sections must be
    what the code computes now (a stale cache fails here, not silently in the book)."""
    cached = json.loads(CACHE.read_text())
    assert nk.config_differences(cached["config"], C.QUICK) == []
    cfg = C.validate(C.QUICK)
    X, Y = C.data(cfg)
    fresh = C.kernel_section(cfg)
    for act in cfg.activations:
        for key in ("lambda", "condition"):
            assert cached["kernel"][act]["sphere"][key] == pytest.approx(fresh[act]["sphere"][key], rel=1e-8)
            assert cached["kernel"][act]["ball"][key] == pytest.approx(fresh[act]["ball"][key], rel=1e-8)
    shift = C.shift_section(cfg, X)
    for act in cfg.activations:
        assert cached["shift"][act]["F_change"] == pytest.approx(shift[act]["F_change"], rel=1e-6, abs=1e-14)
    lam = {a: fresh[a]["sphere"]["lambda"] for a in cfg.activations}
    sens = C.sensitivity_section(replace(cfg, seeds=1), X, Y, lam)
    for act in cfg.activations:
        for kind in C.DIRECTIONS:
            np.testing.assert_allclose(cached["sensitivity"][act][kind]["change"][0], sens[act][kind]["change"][0],
                                       rtol=1e-6, atol=1e-13)
    assert cached["width"] is not None


@pytest.mark.skipif(not CACHE.exists(), reason="results/compare.json not generated")
def test_the_shipped_result_round_trips(tmp_path):
    """results/compare.json is read through CompareResult.from_json and written back by the JSON writer
    unchanged: every key and number (the table is derived from the sections again, and must agree)."""
    shipped = json.loads(CACHE.read_text())
    typed = C.CompareResult.from_json(shipped)
    assert typed.table[0].activation == "softmax" and typed.kernel["relu"].sphere.lam == shipped["kernel"]["relu"]["sphere"]["lambda"]
    write_json(tmp_path / "again.json", typed.to_json())
    assert json.loads((tmp_path / "again.json").read_text()) == shipped


def test_typed_result_round_trips_and_renders_the_same_rows(tiny_result, tiny, tmp_path):
    """The typed result of a run: its JSON round-trips through from_json, the table rows are typed and agree
    with the sections they come from, and a result that is not a comparison is refused in one line."""
    write_json(tmp_path / "t.json", tiny_result.to_json())
    back = C.CompareResult.from_json(json.loads((tmp_path / "t.json").read_text()))
    assert back.config == TINY
    write_json(tmp_path / "u.json", back.to_json())
    assert (tmp_path / "u.json").read_text() == (tmp_path / "t.json").read_text()
    for row in tiny_result.table:
        k = tiny_result.kernel[row.activation]
        assert row.lam == k.sphere.lam == tiny["kernel"][row.activation]["sphere"]["lambda"]
        assert row.m_emp == {r.n: r.m_emp for r in tiny_result.width.rows if r.activation == row.activation}
    with pytest.raises(ValueError, match="beyond-softmax"):
        C.CompareResult.from_json({"experiment": "width"})


# ------------------------------------------------------------------------------------------ the seed spread
SPREAD = CACHE.with_name("compare_seeds.json")


@given(p=st.floats(0.25, 3.0), log_c=st.floats(-20, 5), draws=st.integers(1, 4))
@example(p=0.5, log_c=0.0, draws=3)
def test_local_order_of_a_power_law(p, log_c, draws):
    """The local order of change = c_s·R^p is p, whatever the draws' constants; a zero median has none."""
    radii = np.geomspace(1e-3, 1.0, 9)
    c = np.exp(log_c + np.arange(draws))[:, None]
    assert C.local_order(c * radii**p, radii) == pytest.approx(p, rel=1e-9)
    zero = np.zeros((3, 9))
    zero[0] = radii            # one nonzero draw of three: the median is 0
    assert C.local_order(zero, radii) is None


def test_seed_spread_is_each_seeds_run():
    """Each data seed's record: its seed-0 entry is the table of the plain run, another seed draws new data
    (λ and ‖K‖/λ from numpy's eigenvalues of the limit kernel on that data), and the 10-draw finite-width
    mean is recomputed here from its definition with the seed policy's init draws."""
    from ntkcheck import seeds

    out = C.seed_spread(TINY, (0, 3))
    assert out["data_seeds"] == [0, 3] and set(out["per_seed"]) == {"0", "3"}
    assert nk.config_differences(json.loads(json.dumps(out["config"])), replace(TINY, width=False)) == []
    plain = {r["activation"]: r for r in C.run(replace(TINY, width=False)).to_json()["table"]}
    for act in TINY.activations:
        rec = out["per_seed"]["0"][act]
        assert {k: rec[k] for k in plain[act] if k != "activation"} == {k: v for k, v in plain[act].items()
                                                                      if k != "activation"}, act
        assert rec["steps_per_condition"] == pytest.approx(rec["steps"] / rec["condition"], rel=1e-15)
        assert rec["collapse"] is None                   # n = d/2 = 2 and 2d = 8 are not in TINY's kernel_n
    X3 = nk.sphere(TINY.n, TINY.d, seed=seeds.derived_seed(3, "compare.data", TINY.n))
    for act in ("softmax", "tanh"):
        ev = np.linalg.eigvalsh(nk.limit_kernel(X3, sigma=TINY.sigma, activation=act))
        rec = out["per_seed"]["3"][act]
        assert rec["lambda"] == pytest.approx(ev[0], rel=1e-9) and rec["condition"] == pytest.approx(ev[-1] / ev[0], rel=1e-9)
        assert rec["lambda"] != pytest.approx(out["per_seed"]["0"][act]["lambda"], rel=1e-3)
        Hs = nk.limit_ntk(X3, sigma=TINY.sigma, d_out=TINY.d_out, activation=act)
        inits = [nk.init_params(TINY.d, TINY.m, TINY.d_out, sigma=TINY.sigma, scheme="symmetric", activation=act,
                                seed=seeds.derived_seed(3, "compare.init", j)) for j in range(C.SPREAD_DRAWS)]
        errs = [np.linalg.norm(nk.empirical_ntk(p, X3) - Hs, 2) / ev[0] for p in inits]
        assert rec["finite_width_mean_over_lambda_10"] == pytest.approx(np.mean(errs), rel=1e-9)


def test_seed_spread_bad_input(tmp_path, monkeypatch):
    for bad in ((), (1, 1), (-1,)):
        with pytest.raises(ValueError, match="data_seeds"):
            C.seed_spread(TINY, bad)

    def never(*a, **k):
        raise AssertionError("computed before the folder was checked")

    monkeypatch.setattr(C, "seed_spread", never)
    with pytest.raises(ValueError, match="does not exist"):
        C.write_seed_spread(tmp_path / "missing" / "s.json", TINY)
    assert not (tmp_path / "missing").exists()


@pytest.mark.skipif(not (CACHE.exists() and SPREAD.exists()), reason="results/compare*.json not generated")
def test_shipped_seed_spread_agrees_with_compare_json():
    """results/compare_seeds.json (the book's ranges over data seeds) is QUICK at five or more seeds, records
    its command and versions, and its entry for compare.json's seed is compare.json's table (a stale file
    fails here)."""
    spread, cached = json.loads(SPREAD.read_text()), json.loads(CACHE.read_text())
    assert nk.config_differences(spread["config"], replace(C.QUICK, width=False)) == []
    assert len(set(spread["data_seeds"])) >= 5 and set(spread["per_seed"]) == {str(s) for s in spread["data_seeds"]}
    assert spread["command"] == C.SPREAD_COMMAND and spread["versions"]["numpy"]
    rows = {r["activation"]: r for r in cached["table"]}
    here = spread["per_seed"][str(cached["config"]["data_seed"])]
    for act, row in rows.items():
        for key in ("lambda", "condition", "condition_ball", "finite_width_over_lambda", "sensitivity_random"):
            assert here[act][key] == pytest.approx(row[key], rel=1e-6), (act, key)
        assert here[act]["steps"] == row["steps"] and here[act]["T_predicted"] == row["T_predicted"], act


def test_plots_leave_matplotlib_alone(tiny_result, tmp_path):
    """plots.compare draws on Figure objects: the backend, rcParams and pyplot's figure list are the same
    after plot() as before (a matplotlib.use or plt.subplots inside would change one of them)."""
    mpl = pytest.importorskip("matplotlib")
    import matplotlib.pyplot as plt

    from ntkcheck.plots import compare as P

    backend, rc, figs = mpl.get_backend(), dict(mpl.rcParams), plt.get_fignums()
    paths = P.plot(tiny_result, tmp_path)
    assert [p.name for p in paths] == ["compare_kernel.png", "compare_sensitivity.png", "compare_training.png",
                                       "compare_width.png"]
    assert mpl.get_backend() == backend and dict(mpl.rcParams) == rc and plt.get_fignums() == figs


# ------------------------------------------------------------------------------------------ CLI
def test_cli_writes_json_and_figures(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    monkeypatch.setattr(C, "QUICK", TINY)
    out = tmp_path / "c.json"
    rc = main(["compare", "--quiet", "--json", str(out), "--plot-dir", str(tmp_path)])
    assert rc == 0
    data = json.loads(out.read_text())
    assert data["experiment"] == "beyond-softmax" and data["config"]["m"] == TINY.m and "numpy" in data["versions"]
    assert len(data["table"]) == len(TINY.activations)
    for name in ("compare_kernel.png", "compare_sensitivity.png", "compare_training.png", "compare_width.png"):
        png = tmp_path / name
        assert png.stat().st_size > 1000 and png.read_bytes()[:4] == b"\x89PNG", name


@pytest.mark.parametrize("argv, message", [
    (["--activations", "softmax,gelu"], "unknown activation 'gelu'; known: softmax, relu, exp, sigmoid, tanh, swish"),
    (["--seed", "-1"], "--seed"),
    (["--json", "/nonexistent-folder/c.json"], "does not exist"),
    (["--plot-dir", "/nonexistent-folder"], "existing folder"),
])
def test_cli_bad_input_exits_2(argv, message, capsys, tmp_path):
    target = tmp_path / "never.json"
    rc = main(["compare", *argv] + ([] if "--json" in argv else ["--json", str(target)]))
    assert rc == 2
    out = "".join(capsys.readouterr())
    assert message in out and len(out.strip().splitlines()) == 1
    assert not target.exists()


def test_cli_quick_and_full_exclude_each_other(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--quick", "--full"])
    assert exc.value.code == 2 and "not allowed" in capsys.readouterr().err


def test_config_differences_tolerates_last_bits_not_settings():
    """Cached results are matched to the configuration with a relative tolerance (CPUs differ in the last
    bits of numpy's vectorized functions), but a real change of a setting is caught."""
    recorded = json.loads(json.dumps(asdict(C.QUICK)))
    ulp = [r * (1 + 2 * np.finfo(float).eps) for r in recorded["radii"]]      # what another CPU may give
    assert nk.config_differences(dict(recorded, radii=ulp), C.QUICK) == []
    moved = list(recorded["radii"]); moved[7] *= 1 + 1e-9
    assert nk.config_differences(dict(recorded, radii=moved), C.QUICK) == [f"config.radii[7]: {moved[7]!r} != "
                                                                            f"{recorded['radii'][7]!r}"]
    assert nk.config_differences(dict(recorded, n=recorded["n"] + 1), C.QUICK)
    assert nk.config_differences(dict(recorded, width=not recorded["width"]), C.QUICK)
    assert nk.config_differences({k: v for k, v in recorded.items() if k != "n"}, C.QUICK) == ["config.n: missing"]
