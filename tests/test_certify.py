"""Certificates (C1 and C2): every enclosure contains the 100-digit mpmath value computed from
the definitions (ntkcheck.core.precise), a wrong enclosure is caught, a tampered file is rejected, and bad input
gives one-line errors naming the file and the hypothesis.  Skipped without python-flint."""
from __future__ import annotations

import argparse
import io
import json
from fractions import Fraction

import mpmath
import numpy as np
import pytest

flint = pytest.importorskip("flint")

import ntkcheck as nk  # noqa: E402
from ntkcheck.certify import arb as A  # noqa: E402
from ntkcheck.certify import files, kernel, linalg  # noqa: E402
from ntkcheck.certify.convergence import certify_convergence  # noqa: E402

DPS = 100


def _mp(q: Fraction):
    return mpmath.mpf(q.numerator) / q.denominator


def _inside(lo: Fraction, hi: Fraction, value) -> bool:
    with mpmath.workdps(DPS + 20):
        return _mp(lo) <= value <= _mp(hi)


def _lam_mp(X, sigma):
    return nk.eigvalsh_mp(nk.limit_kernel_mp(X, sigma=sigma, dps=DPS), dps=DPS)[0]


# ------------------------------------------------------------------------------------------ the arb target
def test_every_export_compiles_and_encloses_its_mpmath_value():
    """Each proofs/ export evaluated in balls at exact random points contains the same export evaluated by
    mpmath at 60 digits (the numpy/mpmath compile path of ntkcheck.core.compile)."""
    from ntkcheck import proofs
    from ntkcheck.core.compile import compiled

    rng = np.random.default_rng(0)
    checked = 0
    for code in proofs.codes():
        mod = proofs.lemma(code)
        short = mod.__name__.split(".")[-1]
        for name, exp in mod.EXPORTS.items():
            f = A.compiled_arb(short, name)
            g = compiled(short, name, "mpmath")
            for _ in range(3):
                args = [float(v) for v in rng.uniform(0.2, 1.5, size=len(exp.args))]
                with mpmath.workdps(60):
                    try:
                        ref = g(*[mpmath.mpf(a) for a in args])
                    except (ValueError, ZeroDivisionError, TypeError):
                        continue
                    if not isinstance(ref, mpmath.mpf):
                        continue
                    with A.workprec(200):
                        ball = f(*args)
                    if not ball.is_finite():
                        continue
                    lo, hi = A.endpoints(ball)
                    assert _mp(lo) - mpmath.mpf(10) ** -50 * (1 + abs(ref)) <= ref <= \
                        _mp(hi) + mpmath.mpf(10) ** -50 * (1 + abs(ref)), (short, name, args, ball, ref)
                    checked += 1
    assert checked > 100


def test_rational_constants_are_exact_balls_and_floats_are_refused():
    import sympy as sp

    x = sp.Symbol("x")
    src = A.ArbPrinter().doprint(x / 3 + sp.Rational(1, 3))
    assert "_Q(1, 3)" in src and "0.333" not in src
    with pytest.raises(A.NotCompilable):
        A.ArbPrinter().doprint(x * sp.Float(0.1))


def test_decimal_intervals_are_rounded_outward():
    """Each written [lo, hi] contains the exact ball endpoints, for random balls (broken once on purpose by
    flipping the rounding direction in decimal: this test then fails)."""
    rng = np.random.default_rng(1)
    with A.workprec(128):
        for _ in range(300):
            mid = float(rng.standard_normal() * 10.0 ** rng.integers(-30, 30))
            b = A.arb(mid) * A.arb(1) / 3 + A.arb(mid, abs(mid) * 1e-25)
            lo, hi = A.endpoints(b)
            s = A.interval_strings(b, 20)
            assert Fraction(s[0]) <= lo and Fraction(s[1]) >= hi
            assert (hi - lo) <= Fraction(s[1]) - Fraction(s[0]) <= (hi - lo) + abs(hi) * Fraction(1, 10**18)


# ------------------------------------------------------------------------------------------ linear algebra
def test_ldl_inertia_uses_the_whole_ball():
    """A ball matrix containing both an indefinite and a positive definite matrix is not certified either
    way (a midpoint-only LDLᵀ would call it positive definite)."""
    with A.workprec(128):
        M = [[A.arb(1), A.arb(1)], [A.arb(1), A.arb(1 + 1e-9, 1e-8)]]
        assert linalg.inertia_verdict(M, 0) == "undecided"
        exact = [[A.arb(2), A.arb(1)], [A.arb(1), A.arb(2)]]          # eigenvalues 1 and 3
        assert linalg.inertia_verdict(exact, A.arb(0.999)) == "above"
        assert linalg.inertia_verdict(exact, A.arb(1.001)) == "below"


def test_rump_test_refuses_a_shift_below_its_error_bound():
    """With M = I (λ_min = 1) and a radius bound of 0.1, Rump's test must not prove A − μI ≻ 0 for any μ
    with μ + ‖A − M‖ ≥ 1, however the float64 Cholesky goes."""
    M = np.eye(5)
    assert linalg.rump_pd(M, Fraction(1, 10), 0.5, 0.2)["proved"]
    assert not linalg.rump_pd(M, Fraction(1, 10), 0.5, 0.05)["proved"]    # shift 0.05 < radius 0.1


# ------------------------------------------------------------------------------------------ C1
@pytest.mark.parametrize("seed", [0, 41])
def test_c1_eighteen_points_below_float64_resolution(seed):
    """the book G6/C1: 18 unit vectors in R², σ = 0.1: float64 eigvalsh cannot see λ_min(K) (≈ 3e-28 for
    seed 0, 1.7e-26 for seed 41); the certificate proves K ≻ 0 with relative width ≤ 1e-6, and the
    interval contains the 100-digit value."""
    X = nk.sphere(18, 2, seed=seed)
    K = nk.limit_kernel(X, sigma=0.1)
    assert np.linalg.eigvalsh(K)[0] < 1e-14       # float64 is at or below its resolution (here negative)
    r = kernel.certify_kernel(X, 0.1)
    assert r["positive_definite"] is True and r["lo"] > 0
    assert r["relative_width"] <= 1e-6
    assert _inside(r["lo"], r["hi"], _lam_mp(X, 0.1))


@pytest.mark.parametrize("method", ["arb-ldl", "rump-float64"])
def test_c1_contains_the_mpmath_value_on_random_instances(method):
    rng = np.random.default_rng(5 if method == "arb-ldl" else 6)
    for _ in range(4):
        n, d = int(rng.integers(3, 13)), int(rng.integers(2, 5))
        sigma = float(np.exp(rng.uniform(np.log(0.3), np.log(2.0))))
        X = nk.sphere(n, d, seed=int(rng.integers(2**31)))
        r = kernel.certify_kernel(X, sigma, method=method)
        lam = _lam_mp(X, sigma)
        assert r["positive_definite"] is True
        assert _inside(r["lo"], r["hi"], lam), (n, d, sigma, r["lo"], r["hi"], lam)


@pytest.mark.parametrize("method", ["arb-ldl", "rump-float64"])
def test_c1_wrong_bounds_are_not_reproved(method):
    """A lower bound above the true λ_min (or an upper bound below it) by a relative 1e-6 is refused by the
    verified tests that `certify check` runs."""
    X = nk.sphere(8, 3, seed=3)
    with mpmath.workdps(DPS):
        lam = Fraction(mpmath.nstr(_lam_mp(X, 0.7), 40))
    prec = 256
    assert kernel.verify_lower(X, 0.7, lam * (1 - Fraction(1, 10**4)), method, prec)
    assert not kernel.verify_lower(X, 0.7, lam * (1 + Fraction(1, 10**6)), method, prec)
    assert kernel.verify_upper(X, 0.7, lam * (1 + Fraction(1, 10**6)), method, prec)
    assert not kernel.verify_upper(X, 0.7, lam * (1 - Fraction(1, 10**6)), method, prec)


def test_c1_repeated_rows_are_not_certified():
    """(A2) fails (a repeated row): K is singular, so nothing may prove K ≻ 0."""
    X = nk.sphere(5, 3, seed=2)
    X = np.vstack([X, X[:1]])
    r = kernel.certify_kernel(X, 0.5)
    assert r["positive_definite"] is not True


# ------------------------------------------------------------------------------------------ C2
def _mp_quantities(X, Y, params):
    with mpmath.workdps(60):
        H = nk.empirical_ntk_mp(params, X, dps=60)
        ev = nk.eigvalsh_mp(H, dps=60)
        F = nk.forward_mp(params, X, dps=60)
        e0 = mpmath.sqrt(mpmath.fsum((F[i, l] - mpmath.mpf(float(Y[i, l])))**2
                                     for i in range(X.shape[0]) for l in range(Y.shape[1])))
        W = params.W
        S = []
        for x in X:
            z = [mpmath.fsum(mpmath.mpf(float(W[j, r])) * mpmath.mpf(float(x[j])) for j in range(len(x)))
                 for r in range(params.m)]
            u = [mpmath.exp(t) for t in z]
            a = mpmath.fsum(u)
            S.append([t / a for t in u])
        S0 = max(max(row) for row in S)
        n, m = X.shape[0], params.m
        Q = [[mpmath.mpf(m) * abs(mpmath.fsum(mpmath.mpf(float(a)) * mpmath.mpf(float(b)) for a, b in zip(X[i], X[j])))
              * mpmath.fsum(S[i][r] * S[j][r] for r in range(m)) for j in range(n)] for i in range(n)]
        qev = nk.eigvalsh_mp(np.array(Q, dtype=object), dps=60)
    return {"lambda0": ev[0], "H_norm": ev[-1], "e0_norm": e0, "S0": S0, "Q_norm": qev[-1]}


@pytest.mark.parametrize("n,d,q,m,sigma,seed,scheme", [(3, 3, 2, 40, 0.5, 1, "symmetric"),
                                                        (2, 4, 1, 30, 1.0, 7, "iid"),
                                                        (18, 2, 1, 100, 0.1, 3, "symmetric")])
def test_c2_enclosures_contain_the_mpmath_values(n, d, q, m, sigma, seed, scheme):
    """The last case has λ₀ ≈ 1e-29 (float64 eigvalsh: negative): the precision must rise to enclose it."""
    X = nk.sphere(n, d, seed=seed) * (1 - 2.0**-40)
    Y = nk.labels(n, q, seed=seed + 1)
    r = certify_convergence(X, Y, m, sigma, seed, scheme=scheme, gd_steps=0)
    if n == 18:
        assert r["prec"] > 128 and "lambda0" in r["enclosures"]
    ref = _mp_quantities(X, Y, r["params"])
    for k, v in ref.items():
        lo, hi = A.endpoints(r["enclosures"][k])
        assert _inside(lo, hi, v), (k, lo, hi, v)


def test_c2_centred_signs_keep_their_relative_accuracy():
    """iid init at σ = 80: the softmax mass sits on a few neurons (logit gaps ≫ 88 = 128 bits·ln 2), so the
    centred sign a − ⟨a,S⟩ formed by subtraction in balls keeps only an absolute 2^-128 (relative radius of
    the tangent Gram entries ≈ 1e5, and the precision had to double).  Formed as 2S₋ / −2S₊ every entry of PPᵀ
    is enclosed to a relative 1e-30 at 128 bits, and the enclosures contain the 60-digit values."""
    from ntkcheck.certify.convergence import features

    X = nk.sphere(3, 4, seed=0) * (1 - 2.0**-40)
    Y = nk.labels(3, 1, seed=1)
    p = nk.init_params(4, 40, 1, sigma=80.0, scheme="iid", seed=3)
    with A.workprec(128):
        _, _, PP, _ = features(X, p.W, p.A, 40.0)
        rel = max(float(PP[i, j].rad()) / abs(float(PP[i, j].mid())) for i in range(3) for j in range(3))
    assert rel < 1e-30, rel
    r = certify_convergence(X, Y, 40, 80.0, 3, scheme="iid", gd_steps=0)
    assert r["prec"] == 128
    ref = _mp_quantities(X, Y, r["params"])
    for k in ("lambda0", "H_norm", "e0_norm", "S0"):
        lo, hi = A.endpoints(r["enclosures"][k])
        assert _inside(lo, hi, ref[k]), (k, lo, hi, ref[k])


def test_c2_verdicts_match_the_float64_evaluation():
    """Where the float64 margins are large, T1' in balls and ntkcheck.core.theorem agree: a narrow draw fails
    (iv), the certified width from results/width.json passes."""
    from ntkcheck import theorem

    X = nk.sphere(4, 8, seed=0) * (1 - 2.0**-40)
    Y = nk.labels(4, 1, seed=1)
    narrow = certify_convergence(X, Y, 200, 0.5, 10000, gd_steps=0)
    assert not narrow["proved"] and narrow["hypotheses"]["(iv)"]["verdict"] == "fails"
    params = nk.init_params(8, 200, 1, sigma=0.5, scheme="symmetric", seed=10000)
    rep = theorem.evaluate_hypotheses(X, Y, params, narrow["eta"], narrow["R0"], variant="T1'")
    assert "(iv)" in rep.failing


# ------------------------------------------------------------------------------------------ files
@pytest.fixture()
def c1_file(tmp_path):
    np.save(tmp_path / "X.npy", nk.sphere(18, 2, seed=0))
    cert = files.kernel_certificate(tmp_path / "X.npy", 0.1)
    path = tmp_path / "c1.json"
    files.write(cert, path)
    return path


def _edit(path, fn):
    data = json.loads(path.read_text())
    fn(data)
    path.write_text(json.dumps(data))


def test_c1_file_is_accepted_and_tampering_is_rejected(c1_file, tmp_path):
    ok, msgs = files.check(c1_file)
    assert ok, msgs
    saved = c1_file.read_text()
    # a tampered bound: λ_lo raised to 1.5 λ_lo (above λ_min)
    _edit(c1_file, lambda d: d["enclosures"]["lambda_min"].__setitem__(
        0, str(Fraction(d["enclosures"]["lambda_min"][0]) * Fraction(3, 2))))
    assert not files.check(c1_file)[0]
    # λ_lo raised to λ_hi: a well-formed interval, but λ_min < λ_hi is proved, so λ_lo = λ_hi is false
    c1_file.write_text(saved)
    _edit(c1_file, lambda d: d["enclosures"]["lambda_min"].__setitem__(0, d["enclosures"]["lambda_min"][1]))
    ok, msgs = files.check(c1_file)
    assert not ok and any("lower NO" in m for m in msgs), msgs
    # a tampered verdict
    c1_file.write_text(saved)
    _edit(c1_file, lambda d: d["verdicts"].__setitem__("positive_definite", False))
    assert not files.check(c1_file)[0]
    # other data under the same name
    c1_file.write_text(saved)
    np.save(tmp_path / "X.npy", nk.sphere(18, 2, seed=1))
    with pytest.raises(ValueError, match="sha256"):
        files.check(c1_file)


def test_c2_file_is_accepted_and_tampering_is_rejected(tmp_path):
    X = nk.sphere(3, 3, seed=1) * (1 - 2.0**-40)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", nk.labels(3, 1, seed=2))
    cert = files.convergence_certificate(tmp_path / "X.npy", tmp_path / "Y.npy", 64, 0.5, 3, gd_steps=0)
    from ntkcheck import proofs

    codes = {x["code"] for x in cert["trust_base"]["lemmas"]}
    assert set(files.LEMMAS) - {"T1"} <= codes and "T1'" in codes   # every lemma C2 evaluates (T1 as its variant T1')
    assert codes == {nd.code for nd in proofs.blueprint(["C2"], kinds=False) if nd.module is not None}
    path = tmp_path / "c2.json"
    files.write(cert, path)
    ok, msgs = files.check(path)
    assert ok, msgs
    saved = path.read_text()
    _edit(path, lambda d: d["enclosures"]["S0"].__setitem__(1, d["enclosures"]["S0"][0]))   # shrunk radius
    assert not files.check(path)[0]
    path.write_text(saved)
    _edit(path, lambda d: d["verdicts"]["hypotheses"].__setitem__("(iv)", "holds"
                                                                   if cert["verdicts"]["hypotheses"]["(iv)"] != "holds"
                                                                   else "fails"))
    assert not files.check(path)[0]
    path.write_text(saved)
    _edit(path, lambda d: d["trust_base"]["exports"].__setitem__("hessian_bound.hessian_norm_bound",
                                                                 "_Z(1)*S_max*kappa*xsq"))
    assert not files.check(path)[0]


# ------------------------------------------------------------------------------------------ hostile input
def _cli(argv):
    from rich.console import Console

    from ntkcheck.certify.cli import add_parser

    ap = argparse.ArgumentParser(prog="ntkcheck")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return args.func(args, Console(width=150, file=io.StringIO()))


def test_hostile_inputs_give_one_line_errors(tmp_path):
    from ntkcheck.cli import UsageError

    (tmp_path / "bad.npy").write_text("not an array")
    np.save(tmp_path / "nan.npy", np.array([[0.5, np.nan]]))
    np.save(tmp_path / "vec.npy", np.ones(3))
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    np.save(tmp_path / "big.npy", np.array([[1.0, 1.0], [0.6, 0.8]]))
    np.save(tmp_path / "Y.npy", np.ones((2, 1)))
    np.save(tmp_path / "Y3.npy", np.ones((3, 1)))
    cases = [
        (["certify", "kernel", "--data", str(tmp_path / "bad.npy"), "--sigma", "1"], "bad.npy"),
        (["certify", "kernel", "--data", str(tmp_path / "nan.npy"), "--sigma", "1"], "non-finite"),
        (["certify", "kernel", "--data", str(tmp_path / "vec.npy"), "--sigma", "1"], "2-D"),
        (["certify", "kernel", "--data", str(tmp_path / "obj.npy"), "--sigma", "1"], "obj.npy"),
        (["certify", "kernel", "--data", str(tmp_path / "nope.npy"), "--sigma", "1"], "no such file"),
        (["certify", "kernel", "--data", str(tmp_path / "big.npy"), "--sigma", "-1"], "sigma"),
        (["certify", "convergence", "--data", str(tmp_path / "big.npy"), "--labels", str(tmp_path / "Y.npy"),
          "--m", "8", "--sigma", "1", "--seed", "0"], "(A1)"),
        (["certify", "convergence", "--data", str(tmp_path / "big.npy"), "--labels", str(tmp_path / "Y3.npy"),
          "--m", "8", "--sigma", "1", "--seed", "0"], "rows"),
        (["certify", "check", str(tmp_path / "Y.npy")], "JSON"),
    ]
    for argv, needle in cases:
        with pytest.raises(UsageError) as exc:
            _cli(argv)
        msg = str(exc.value)
        assert "\n" not in msg and needle in msg, (argv, msg)
    # (A1) names the file and the hypothesis
    with pytest.raises(UsageError, match=r"big\.npy.*\(A1\)"):
        _cli(cases[6][0])


def test_cli_exit_codes(tmp_path, c1_file):
    assert _cli(["certify", "check", str(c1_file)]) == 0
    X = nk.sphere(3, 3, seed=1) * (1 - 2.0**-40)
    np.save(tmp_path / "X3.npy", X)
    np.save(tmp_path / "Y3.npy", nk.labels(3, 1, seed=2))
    # a narrow network: (iv) fails, exit 1
    assert _cli(["certify", "convergence", "--data", str(tmp_path / "X3.npy"), "--labels", str(tmp_path / "Y3.npy"),
                 "--m", "16", "--sigma", "0.5", "--seed", "0", "--gd-steps", "0"]) == 1


def test_rounding_allowances_bound_the_exact_errors():
    """The a-priori allowances of the float64 path, against exact rational arithmetic on small cases: the
    deflation error ‖fl(M + s vvᵀ) − (M + s vvᵀ)‖ and the midpoint error ‖K − M‖ over the whole ball
    enclosure (both as max row sums of the exact entrywise errors, which bound ‖·‖₂ for symmetric matrices)."""
    rng = np.random.default_rng(11)
    for _ in range(20):
        n = int(rng.integers(2, 7))
        B = rng.standard_normal((n, n))
        M = B + B.T
        v = rng.standard_normal(n)
        s = float(rng.uniform(0.1, 10))
        M2, E = linalg.deflated_outer(M, v, s)
        exact = max(sum(abs(Fraction(M2[i, j]) - Fraction(M[i, j]) - Fraction(s) * Fraction(v[i]) * Fraction(v[j]))
                        for j in range(n)) for i in range(n))
        assert exact <= E
        X = nk.sphere(n, 3, seed=int(rng.integers(1000)))
        K = kernel.kernel_balls(X, 0.7, kernel.RUMP_PREC)
        Mk, R = kernel._mid_and_radius(K)
        worst = max(sum(max(abs(A.endpoints(K[i][j])[0] - Fraction(Mk[i, j])),
                            abs(A.endpoints(K[i][j])[1] - Fraction(Mk[i, j]))) for j in range(n)) for i in range(n))
        assert worst <= R


def test_c3_certified_width_and_the_float64_verdicts_agree_draw_by_draw():
    """C3 on n = 2: no draw is proved at m = 1024, all 14 at 8192; at 4096 each draw's C2 verdict equals
    the float64 evaluation of T1' (ntkcheck.core.theorem with its own (η, R₀) choice), draw by draw."""
    from ntkcheck import theorem
    from ntkcheck.certify.width import certified_width

    X = nk.sphere(2, 8, seed=0) * (1 - 2.0**-40)
    Y = nk.labels(2, 1, seed=1)
    r = certified_width(X, Y, 0.5, [1024, 8192], delta=0.2)
    assert r["m_cert"] == 8192 and r["rows"][0]["proved"] == 0 and r["rows"][1]["proved"] == 14
    for j in range(14):
        c2 = certify_convergence(X, Y, 4096, 0.5, 10_000 + j, gd_steps=0)
        params = nk.init_params(8, 4096, 1, sigma=0.5, scheme="symmetric", seed=10_000 + j)
        dr = theorem._draw(X, Y, params, "T1'")
        rep = theorem._evaluate(dr, *theorem._choose(dr))
        assert c2["proved"] == rep.holds, j


def test_width_cli(tmp_path):
    from ntkcheck.cli import UsageError

    np.save(tmp_path / "X.npy", nk.sphere(2, 8, seed=0) * (1 - 2.0**-40))
    np.save(tmp_path / "Y.npy", nk.labels(2, 1, seed=1))
    base = ["certify", "width", "--data", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "Y.npy"), "--sigma", "0.5"]
    assert _cli(base + ["--widths", "1024"]) == 1                     # no width passes
    assert _cli(base + ["--widths", "1024,8192", "--json", str(tmp_path / "w.json")]) == 0
    assert json.loads((tmp_path / "w.json").read_text())["m_cert"] == 8192
    with pytest.raises(UsageError, match="--widths"):
        _cli(base + ["--widths", "a,b"])
    with pytest.raises(UsageError, match="ascending"):
        _cli(base + ["--widths", "8192,1024"])


def test_csv_data_are_accepted_and_bad_csv_is_one_line(tmp_path):
    from ntkcheck.certify.files import load_array

    X = nk.sphere(5, 3, seed=2) * 0.5
    np.savetxt(tmp_path / "x.csv", X, delimiter=",", fmt="%.17g")
    arr, info = load_array(tmp_path / "x.csv", "--data")
    assert np.array_equal(arr, X) and info["shape"] == [5, 3]          # %.17g round-trips every double
    (tmp_path / "bad.csv").write_text("1,2\n3,oops\n")
    with pytest.raises(ValueError, match=r"^--data .*bad\.csv: not a CSV of numbers") as info:
        load_array(tmp_path / "bad.csv", "--data")
    assert "\n" not in str(info.value)
    (tmp_path / "nan.csv").write_text("1,2\n3,nan\n")
    with pytest.raises(ValueError, match="non-finite"):
        load_array(tmp_path / "nan.csv", "--data")


# ------------------------------------------------------------------------------------------ the trust table
def test_the_recorded_trust_table_is_the_derivations_output():
    """certify/trust_kinds.py holds, for the current proofs/ source (its digest), exactly what
    proofs.blueprint(["C2"]) derives; a certificate uses it instead of re-running the derivations.  (After a
    change to proofs/ the digest differs: regenerate with files.write_trust_table().)"""
    rec = files.read_trust_table(files.TRUST_TABLE)
    assert rec["proofs_sha256"] == files.proofs_digest(), "proofs/ changed: run files.write_trust_table()"
    lemmas, source = files.lemma_kinds()
    assert source.startswith("recorded")
    assert json.loads(json.dumps(files.derived_lemma_kinds())) == lemmas


def test_a_stale_trust_table_is_not_used(tmp_path, monkeypatch):
    stale = files.write_trust_table(tmp_path / "t.py")
    stale.write_text(stale.read_text().replace(files.proofs_digest(), "0" * 64))
    monkeypatch.setattr(files, "derived_lemma_kinds", lambda: [{"code": "derived"}])
    lemmas, source = files.lemma_kinds(stale)
    assert lemmas == [{"code": "derived"}] and source.startswith("derived now")
