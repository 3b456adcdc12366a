"""Certificates on users' data: hostile files, the transforms onto the unit ball / the sphere (exactly as
stated, recorded, re-done by ``certify check``), the digits example, C1 beyond the ball-LDLᵀ size, and the
a-priori Cholesky error bound of Rump's test against exact rational arithmetic (down to subnormal matrices).
Skipped without python-flint."""
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
from ntkcheck.certify import files, inputs, kernel, linalg  # noqa: E402

SHRINK = 1 - mpmath.mpf(2) ** -40


def _cli(argv, out=None):
    from rich.console import Console

    from ntkcheck.certify.cli import add_parser

    ap = argparse.ArgumentParser(prog="ntkcheck")
    add_parser(ap.add_subparsers(dest="command", required=True))
    args = ap.parse_args(argv)
    return args.func(args, Console(width=400, file=out if out is not None else io.StringIO()))


def _norm_mp(row):
    with mpmath.workdps(50):
        return mpmath.sqrt(mpmath.fsum(mpmath.mpf(float(v)) ** 2 for v in row))


def _exact_sq(row) -> Fraction:
    return sum(Fraction(float(v)) ** 2 for v in row)


# ------------------------------------------------------------------------------------------ transforms
def _raw(seed=0, n=7, d=3):
    X = np.random.default_rng(seed).standard_normal((n, d)) * np.array([5.0, 0.3, 2.0])[:d]
    X[2] *= 1e-3                          # one short row
    return X


def test_rescale_is_one_common_factor_into_the_unit_ball():
    X = _raw()
    Z, rec = inputs.transform(X, "rescale")
    with mpmath.workdps(50):
        rho = max(_norm_mp(r) for r in X)
        for i in range(X.shape[0]):
            for j in range(X.shape[1]):
                want = mpmath.mpf(float(X[i, j])) * SHRINK / rho
                assert abs(mpmath.mpf(float(Z[i, j])) - want) <= 4 * mpmath.mpf(2) ** -53 * abs(want)
        assert abs(max(_norm_mp(r) for r in Z) - SHRINK) < 1e-15
    assert all(_exact_sq(r) <= 1 for r in Z)                 # (A1) exactly
    assert rec["name"] == "rescale" and float(rec["rho"]) == pytest.approx(float(rho), rel=1e-15)


def test_normalize_puts_each_row_just_inside_the_sphere():
    X = _raw(1)
    Z, _ = inputs.transform(X, "normalize")
    for x, z in zip(X, Z):
        assert abs(_norm_mp(z) - SHRINK) < 4e-16
        assert _exact_sq(z) <= 1
        assert np.allclose(z / np.linalg.norm(z), x / np.linalg.norm(x), rtol=0, atol=1e-15)


def test_lift_is_the_d4_lift_times_the_shrink():
    """φ(x) = (x/ρ, √(1 − ‖x‖²/ρ²)) with ρ = max‖x‖ (the book's D4 chapter), times 1 − 2⁻⁴⁰: one more
    column, every row at norm 1 − 2⁻⁴⁰, the longest on the equator, (A1) exactly, distinct rows distinct."""
    X = _raw(2)
    Z, rec = inputs.transform(X, "lift")
    assert Z.shape == (X.shape[0], X.shape[1] + 1)
    with mpmath.workdps(50):
        rho = max(_norm_mp(r) for r in X)
        for x, z in zip(X, Z):
            r = _norm_mp(x)
            want = [mpmath.mpf(float(v)) / rho * SHRINK for v in x] + [mpmath.sqrt(1 - (r / rho) ** 2) * SHRINK]
            for a, b in zip(z, want):
                assert abs(mpmath.mpf(float(a)) - b) <= 1e-15
            assert abs(_norm_mp(z) - SHRINK) < 1e-15
            assert _exact_sq(z) <= 1
    assert Z[int(np.argmax(np.linalg.norm(X, axis=1))), -1] == 0
    assert len({tuple(r) for r in Z}) == X.shape[0]


def test_transform_errors_are_one_line():
    X = _raw()
    Xz = X.copy()
    Xz[3] = 0
    with pytest.raises(ValueError, match="row 3 is zero"):
        inputs.transform(Xz, "normalize", "--data z.npy")
    with pytest.raises(ValueError, match="every row is zero"):
        inputs.transform(np.zeros((3, 2)), "rescale")
    with pytest.raises(ValueError, match="unknown transform"):
        inputs.transform(X, "squash")


# ------------------------------------------------------------------------------------------ CLI and files
def test_transform_is_printed_recorded_and_rechecked(tmp_path):
    X = _raw(3, n=5)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", nk.labels(5, 1, seed=2)[:, 0])          # 1-D labels: one column
    for flag in ("--rescale", "--normalize", "--lift"):
        target = tmp_path / f"c2{flag}.json"
        # (the CLI's convergence certificate also re-runs the lemmas' derivations for its trust base: slow;
        # the CLI's transform line is tested on C1 below)
        files.write(files.convergence_certificate(tmp_path / "X.npy", tmp_path / "Y.npy", 32, 0.5, 1, gd_steps=0,
                                                  trust=False, transform=flag[2:]), target)
        cert = json.loads(target.read_text())
        t = cert["inputs"]["data"]["transform"]
        assert t["name"] == flag[2:] and cert["inputs"]["d"] == 3 + (flag == "--lift")
        ok, msgs = files.check(target)
        assert ok, msgs
    # the record tampered: another transform name, or another hash of the certified rows
    saved = target.read_text()
    d = json.loads(saved)
    d["inputs"]["data"]["transform"]["name"] = "rescale"
    target.write_text(json.dumps(d))
    with pytest.raises(files.CertificateError, match="transform"):
        files.check(target)
    d = json.loads(saved)
    d["inputs"]["data"]["sha256_certified"] = "0" * 64
    target.write_text(json.dumps(d))
    with pytest.raises(files.CertificateError, match="transform"):
        files.check(target)
    d = json.loads(saved)
    del d["inputs"]["data"]["transform"]                 # claims the raw data were certified
    target.write_text(json.dumps(d))
    with pytest.raises(files.CertificateError):
        files.check(target)


def test_c1_with_a_transform_is_printed_recorded_and_rechecked(tmp_path):
    np.save(tmp_path / "X.npy", _raw(4, n=6))
    for flag in ("--rescale", "--normalize", "--lift"):
        out = io.StringIO()
        assert _cli(["certify", "kernel", "--data", str(tmp_path / "X.npy"), "--sigma", "0.7", flag,
                     "--json", str(tmp_path / "c1.json")], out) == 0
        assert f"X.npy transformed ({flag[2:]}" in out.getvalue() and "certificate is about the transformed" in \
            out.getvalue()
        cert = json.loads((tmp_path / "c1.json").read_text())
        assert cert["inputs"]["data"]["transform"]["name"] == flag[2:]
        assert files.check(tmp_path / "c1.json")[0]


def test_hostile_files_and_hypotheses(tmp_path):
    from ntkcheck.cli import UsageError

    np.save(tmp_path / "inf.npy", np.array([[0.5, np.inf], [0.1, 0.2]]))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2)))
    np.save(tmp_path / "empty.npy", np.zeros((0, 3)))
    np.save(tmp_path / "bigint.npy", np.array([[2**60, 1]], dtype=np.int64))
    np.save(tmp_path / "cplx.npy", np.array([[1 + 1j, 0]]))
    np.save(tmp_path / "X.npy", _raw(5, n=4))
    np.save(tmp_path / "Xz.npy", np.vstack([_raw(5, n=3), np.zeros((1, 3))]))
    np.save(tmp_path / "Xs.npy", nk.sphere(4, 3, seed=0) * (1 - 2.0**-40))
    np.save(tmp_path / "Y.npy", np.ones((4, 1)))
    np.save(tmp_path / "Y5.npy", np.ones((5, 1)))
    np.save(tmp_path / "Ynan.npy", np.array([[1.0], [np.nan], [1.0], [1.0]]))
    (tmp_path / "head.csv").write_text("a,b,c\n1,2,3\n")
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    X, Y = str(tmp_path / "X.npy"), str(tmp_path / "Y.npy")
    conv = ["certify", "convergence", "--m", "8", "--sigma", "0.5", "--seed", "0"]
    width = ["certify", "width", "--sigma", "0.5", "--widths", "8"]
    cases = [
        (["certify", "kernel", "--data", str(tmp_path / "inf.npy"), "--sigma", "1"], r"inf\.npy.*non-finite"),
        (["certify", "kernel", "--data", str(tmp_path / "cube.npy"), "--sigma", "1"], r"cube\.npy.*2-D"),
        (["certify", "kernel", "--data", str(tmp_path / "empty.npy"), "--sigma", "1"], r"empty\.npy.*empty"),
        (["certify", "kernel", "--data", str(tmp_path / "bigint.npy"), "--sigma", "1"], r"bigint\.npy.*2\^53"),
        (["certify", "kernel", "--data", str(tmp_path / "cplx.npy"), "--sigma", "1"], r"cplx\.npy.*real"),
        (["certify", "kernel", "--data", str(tmp_path / "head.csv"), "--sigma", "1"], r"head\.csv.*CSV"),
        (["certify", "kernel", "--data", str(tmp_path / "ragged.csv"), "--sigma", "1"], r"ragged\.csv.*CSV"),
        (["certify", "kernel", "--data", str(tmp_path / "Xz.npy"), "--sigma", "1", "--normalize"], r"Xz\.npy.*row 3"),
        (conv + ["--data", X, "--labels", Y], r"X\.npy.*\(A1\).*--rescale"),
        (width + ["--data", X, "--labels", Y], r"X\.npy.*\(A1\).*--rescale"),
        (conv + ["--data", str(tmp_path / "Xs.npy"), "--labels", str(tmp_path / "Y5.npy")], r"Y5\.npy.*5 rows.*4"),
        (width + ["--data", str(tmp_path / "Xs.npy"), "--labels", str(tmp_path / "Y5.npy")], r"Y5\.npy.*5 rows"),
        (conv + ["--data", str(tmp_path / "Xs.npy"), "--labels", str(tmp_path / "Ynan.npy")], r"Ynan\.npy.*non-finite"),
    ]
    for argv, needle in cases:
        with pytest.raises(UsageError) as exc:
            _cli(argv)
        msg = str(exc.value)
        assert "\n" not in msg, msg
        assert __import__("re").search(needle, msg), (argv, msg)
    # labels of 3 columns are fine (d' = 3), and 1-D labels are one column
    c = files.convergence_certificate(X, X, 8, 0.5, 0, gd_steps=0, trust=False, transform="rescale")
    assert c["inputs"]["d_out"] == 3
    np.save(tmp_path / "y1.npy", np.ones(4))
    c = files.convergence_certificate(X, tmp_path / "y1.npy", 8, 0.5, 0, gd_steps=0, trust=False, transform="rescale")
    assert c["inputs"]["d_out"] == 1
    with pytest.raises(SystemExit) as ex:             # two transforms at once: argparse's usage error
        _cli(["certify", "kernel", "--data", X, "--sigma", "1", "--rescale", "--lift"], )
    assert ex.value.code == 2


def test_nothing_is_written_on_bad_input(tmp_path):
    from ntkcheck.cli import UsageError

    np.save(tmp_path / "X.npy", _raw(6, n=4))
    np.save(tmp_path / "Y.npy", np.ones((4, 1)))
    target = tmp_path / "c.json"
    with pytest.raises(UsageError):
        _cli(["certify", "convergence", "--data", str(tmp_path / "X.npy"), "--labels", str(tmp_path / "Y.npy"),
              "--m", "8", "--sigma", "0.5", "--seed", "0", "--json", str(target)])
    assert not target.exists()


# ------------------------------------------------------------------------------------------ digits
def test_digits_subset_is_as_documented(tmp_path):
    from sklearn.datasets import load_digits

    from ntkcheck.certify import digits

    X, Y, info = digits.subset((3, 8), 9, "pm1")
    D = load_digits()
    want_idx = []
    per = [np.flatnonzero(D.target == c) for c in (3, 8)]
    for j in range(5):
        want_idx += [int(per[0][j]), int(per[1][j])]
    assert info["indices"] == want_idx[:9]
    Z = D.data[want_idx[:9]].astype(float)
    Z = Z - Z.mean(axis=0)
    for x, z in zip(X, Z):
        assert abs(_norm_mp(x) - SHRINK) < 4e-16 and _exact_sq(x) <= 1
        assert np.allclose(x, z / np.linalg.norm(z) * (1 - 2.0**-40), rtol=0, atol=1e-15)
    assert Y[:, 0].tolist() == [1.0 if D.target[i] == 3 else -1.0 for i in want_idx[:9]]
    _, Y1, _ = digits.subset((0, 1, 2), 6, "onehot")
    assert Y1.tolist() == [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]] * 2
    with pytest.raises(ValueError, match="pm1 needs exactly two"):
        digits.subset((0, 1, 2), 6, "pm1")
    with pytest.raises(ValueError, match="--n"):
        digits.subset((0, 1), 10_000)
    # the CLI writes the files, and C1 on them contains the 100-digit value
    assert _cli(["certify", "digits", "--out", str(tmp_path), "--n", "12", "--classes", "0,1"]) == 0
    Xf = np.load(tmp_path / "digits_X.npy")
    r = kernel.certify_kernel(Xf, 0.5)
    with mpmath.workdps(100):
        lam = nk.eigvalsh_mp(nk.limit_kernel_mp(Xf, sigma=0.5, dps=100), dps=100)[0]
        assert mpmath.mpf(r["lo"].numerator) / r["lo"].denominator <= lam <= \
            mpmath.mpf(r["hi"].numerator) / r["hi"].denominator
    assert r["positive_definite"] is True


# ------------------------------------------------------------------------------------------ precision
def test_c1_beyond_the_ldl_size_below_float64_resolution_is_undecided_not_wrong():
    """n = 260 > ARB_MAX_N points on a circle in R², σ = 0.1: λ_min(K) is far below float64's resolution, so
    the float64 (Rump) test cannot prove K ≻ 0 and the ball LDLᵀ is not run automatically.  The certificate
    must then say "undecided" with only the (rigorous) upper bound — never a positive λ_lo it did not prove —
    and name the way out (--method arb-ldl)."""
    X = nk.sphere(260, 2, seed=0)
    r = kernel.certify_kernel(X, 0.1)
    assert r["n"] == 260 and r["method"] == "rump-float64"
    assert r["positive_definite"] is None and r["lo"] is None
    assert r["hi"] is not None and r["hi"] > 0
    assert "arb-ldl" in r["note"]
    # the upper bound is one: the Rayleigh quotient of a float vector, recomputed here in exact rationals
    K = kernel.kernel_balls(X, 0.1, 256)
    v = np.linalg.eigh(kernel._mid_and_radius(K)[0])[1][:, 0]
    with flint.ctx.workprec(256):
        rq = linalg.rayleigh_upper(kernel._full_mat(K), v)
    assert Fraction(kernel.endpoints(rq)[0]) <= r["hi"]


def test_cholesky_error_bound_holds_exactly_down_to_subnormal_matrices():
    """The a-priori δ ≥ ‖R̂ᵀR̂ − Ã‖₂ of Rump's test (Higham's γ_{n+1} term plus Rump's underflow allowance),
    against the exact error (Frobenius norm, in rationals) of numpy's Cholesky on random and nearly singular
    SPD matrices scaled by 2^0 … 2^-1068.  At the subnormal scales only the underflow allowance covers the
    error: without it the bound is exceeded by factors 1e4–1e13 (that break makes this test fail)."""
    rng = np.random.default_rng(12)
    checked = {}
    for scale in (0, -600, -1000, -1040, -1060, -1068):
        for _ in range(40):
            n = int(rng.integers(2, 7))
            if rng.random() < 0.5:
                B = rng.standard_normal((n, n))
                A0 = B @ B.T + 1e-3 * np.eye(n)
            else:
                v = rng.standard_normal((n, 1))
                A0 = v @ v.T + 1e-12 * np.eye(n)
            At = A0 * 2.0**scale
            At = (At + At.T) / 2
            if not np.all(np.diag(At) > 0):
                continue
            try:
                L = np.linalg.cholesky(At)
            except np.linalg.LinAlgError:
                continue
            if not (np.all(np.isfinite(L)) and np.all(np.diag(L) > 0)):
                continue
            Lf = [[Fraction(float(x)) for x in row] for row in L]
            E2 = sum((sum(Lf[i][k] * Lf[j][k] for k in range(n)) - Fraction(float(At[i, j]))) ** 2
                     for i in range(n) for j in range(n))
            d = linalg.cholesky_backward_bound([float(At[i, i]) for i in range(n)])
            assert E2 <= d * d, (scale, n, float(E2) ** 0.5, float(d))
            checked[scale] = checked.get(scale, 0) + 1
    assert all(checked.get(s, 0) >= 10 for s in (0, -600, -1000, -1040, -1060, -1068)), checked


def test_inward_rounded_or_shrunk_enclosures_in_a_file_are_rejected(tmp_path):
    """A C2 file whose λ₀ interval was rounded inwards (lo up, hi down at 12 digits: the rounding direction
    flipped) or whose ‖e(0)‖ interval was shrunk to its midpoint is rejected by certify check."""
    from ntkcheck.certify import arb as A

    X = nk.sphere(3, 3, seed=4) * (1 - 2.0**-40)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", nk.labels(3, 1, seed=5))
    cert = files.convergence_certificate(tmp_path / "X.npy", tmp_path / "Y.npy", 48, 0.5, 2, gd_steps=0, trust=False)
    path = tmp_path / "c2.json"
    files.write(cert, path)
    assert files.check(path)[0]
    saved = json.loads(path.read_text())

    def flipped(pair):
        lo, hi = Fraction(pair[0]), Fraction(pair[1])
        return [A.decimal(lo, 12, up=True), A.decimal(hi, 12, up=False)]

    d = json.loads(json.dumps(saved))
    d["enclosures"]["lambda0"] = flipped(d["enclosures"]["lambda0"])
    path.write_text(json.dumps(d))
    ok, msgs = files.check(path)
    assert not ok and "lambda0" in msgs[-1], msgs
    d = json.loads(json.dumps(saved))
    lo, hi = (Fraction(s) for s in d["enclosures"]["e0_norm"])
    mid = A.decimal((lo + hi) / 2, 20, up=True)
    d["enclosures"]["e0_norm"] = [mid, mid]
    path.write_text(json.dumps(d))
    ok, msgs = files.check(path)
    assert not ok and "e0_norm" in msgs[-1], msgs
