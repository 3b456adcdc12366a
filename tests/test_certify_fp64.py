"""C2's float64 route (ntkcheck.certify.fp64): float64 sums over neurons with a-priori rounding bounds and the
package's own exp with a proved error bound.  Its enclosures contain the 100-digit mpmath values computed from
the definitions on random and hard instances (equal logits, a logit ahead by 1e3, σ from 1e-3 to 200); each
piece of the bound is needed (dropping γ_k, taking k too small, dropping the exps' error, trusting numpy's exp
are each caught); a tampered float64-route certificate file is rejected.  Skipped without python-flint."""
from __future__ import annotations

import json
import math
from fractions import Fraction

import mpmath
import numpy as np
import pytest

flint = pytest.importorskip("flint")

import ntkcheck as nk  # noqa: E402
from ntkcheck.certify import arb as A  # noqa: E402
from ntkcheck.certify import files, fp64  # noqa: E402
from ntkcheck.certify.arb import compiled_arb  # noqa: E402
from ntkcheck.certify.convergence import BALL_METHODS, certify_convergence  # noqa: E402

BALL_S0 = BALL_METHODS["S0"]

DPS = 100


def _inside(ball, value) -> bool:
    lo, hi = A.endpoints(ball)
    with mpmath.workdps(DPS + 20):
        return mpmath.mpf(lo.numerator) / lo.denominator <= value <= mpmath.mpf(hi.numerator) / hi.denominator


# ------------------------------------------------------------------------------------------ the exp
def _exp_inputs():
    rng = np.random.default_rng(5)
    hard = [0.0, -0.0, -5e-324, -1e-300, -2.2250738585072014e-308, -0.34657359027997264, -0.3465735902799727,
            -0.6931471805599453, -1.0, -599.9999999999999, -600.0, -600.0000000000001, -745.2, -1e5, 1e-3, 0.5,
            np.nextafter(-600.0, 0.0), -708.3964185322641]
    return np.concatenate([-rng.random(3000) * 650, -rng.random(500) * 1e-3, rng.random(200) * 2, hard])


def _exp_errors(y, u, eps, tau):
    """The entries where û is not inside [e^y(1 − ε), e^y(1 + ε)] (kept) or e^y > τ (cut), at 100 digits."""
    bad = []
    with mpmath.workdps(DPS):
        for yy, uu in zip(y, u):
            e = mpmath.exp(mpmath.mpf(float(yy)))
            if yy >= fp64.CUT:
                if not abs(mpmath.mpf(float(uu)) - e) <= mpmath.mpf(eps.numerator) / eps.denominator * e:
                    bad.append(float(yy))
            elif not (uu == 0 and e <= mpmath.mpf(tau.numerator) / tau.denominator):
                bad.append(float(yy))
    return bad


def test_exp_bound_contains_the_100_digit_exp():
    y = _exp_inputs()
    u, st = fp64.exp_bounded(y)
    eps = fp64.exp_error_bound(st)
    assert float(eps) < 1e-14                                 # the bound is useful, not only true
    tau = Fraction(math.exp(-600.0)) * 2
    assert _exp_errors(y, u, eps, tau) == []


@pytest.mark.parametrize("break_", ["no_horner_gamma", "numpy_exp_trusted"])
def test_a_wrong_exp_bound_is_caught(break_, monkeypatch):
    """Breaks: Horner's γ_{2N} dropped, numpy's exp used as exact (ε = 0): each leaves a 100-digit exp outside
    its claimed enclosure on these inputs."""
    y = _exp_inputs()
    u, st = fp64.exp_bounded(y)
    if break_ == "no_horner_gamma":
        monkeypatch.setattr(fp64, "gamma", lambda k: Fraction(0))
        eps = fp64.exp_error_bound(st)
    else:
        u, eps = np.exp(y), Fraction(0)
        u[y < fp64.CUT] = 0.0
    assert _exp_errors(y, u, eps, Fraction(math.exp(-600.0)) * 2) != []


def test_the_reduction_error_bound_against_100_digits():
    """Dropping the reduction's error leaves every exp inside its enclosure (Horner's γ_{2N} term, ≈ 3e-15, has
    room for it): no instance can show that break.  So the term is tested against the exact reduction error
    |t̂ − (y − k ln 2)| at 100 digits: it bounds it, and the error is not zero (a zero bound would fail)."""
    y = _exp_inputs()
    y = y[y >= fp64.CUT]
    k, a, b, t = fp64.reduce(y)
    st = {"T": float(np.max(np.abs(t))), "kmax": float(np.max(np.abs(k))), "amax": float(np.max(np.abs(a))),
          "bmax": float(np.max(np.abs(b)))}
    bound = fp64.reduction_error(st)
    with mpmath.workdps(DPS):
        ln2 = mpmath.log(2)
        worst = max(abs(mpmath.mpf(float(tt)) - (mpmath.mpf(float(yy)) - int(kk) * ln2)) for yy, kk, tt in zip(y, k, t))
        assert worst <= mpmath.mpf(bound.numerator) / bound.denominator
    assert worst > 0


def test_the_float64_route_never_calls_numpys_exp(monkeypatch):
    """numpy's exp is not documented to be accurate: the route must not use it (break: exp_bounded calling
    np.exp makes this test fail)."""
    def refuse(*a, **k):
        raise AssertionError("numpy's exp called on the float64 route")

    X = nk.sphere(3, 4, seed=0) * (1 - 2.0**-40)
    p = nk.init_params(4, 600, 1, sigma=0.5, scheme="symmetric", seed=1)
    tf = compiled_arb("ntk_factorization", "tangent_feature").raw
    monkeypatch.setattr(np, "exp", refuse)
    with A.workprec(128):
        fp64.features(X, p.W, p.A, 600.0, tf)


# ------------------------------------------------------------------------------------------ the sums
def _exact_sums(u: np.ndarray, a: np.ndarray):
    """Exact rational row sums and Gram entries of the doubles u (n×m) split by the signs a (m,)."""
    rows = [(s, i) for s in (+1, -1) for i in range(u.shape[0])]
    M = [[Fraction(float(u[i, r])) if a[r] == s else Fraction(0) for r in range(u.shape[1])] for s, i in rows]
    R = [sum(row) for row in M]
    T = [[sum(x * y for x, y in zip(M[p], M[q]) if x and y) for q in range(len(rows))] for p in range(len(rows))]
    return R, T


SMALL = {"SUB": 256, "NSUB": 4, "BLOCK": 1024, "ROW_LEVELS": (16, 8, 8)}   # a block small enough to sum exactly


@pytest.fixture()
def small_blocks(monkeypatch):
    for k, v in SMALL.items():
        monkeypatch.setattr(fp64, k, v)


def _adversarial_block():
    """Sums whose rounding errors do not cancel: equal terms 0.1 and 1/3 (the partial sums round the same
    way), and a spread of magnitudes; one full (small) block of neurons."""
    m = fp64.BLOCK
    u = np.empty((3, m))
    u[0] = 0.1
    u[1] = 1.0 / 3.0
    u[2] = np.linspace(0.1, 1.0, m) ** 3
    a = np.where(np.arange(m) % 3 == 0, -1.0, 1.0)
    return u, a


def _sum_enclosures():
    u, a = _adversarial_block()
    acc = fp64.Accumulator(3, 1)
    with A.workprec(128):
        acc.add(u, a[None, :])
    return acc, _exact_sums(u, a)


def _outside(acc, R, T):
    out = [k for k, r in enumerate(R) if not A.endpoints(acc.R[k])[0] <= r <= A.endpoints(acc.R[k])[1]]
    return out + [(p, q) for p in range(len(T)) for q in range(len(T))
                  if not A.endpoints(acc.T[p][q])[0] <= T[p][q] <= A.endpoints(acc.T[p][q])[1]]


def test_the_float64_sums_enclose_the_exact_sums(small_blocks):
    acc, (R, T) = _sum_enclosures()
    assert _outside(acc, R, T) == []


def test_the_float64_sums_of_a_full_block_enclose_the_exact_sums():
    """The shipped block size (4096-term products, 64 of them summed; row sums in three levels of 64): the
    exact sums of one row, by exact integer arithmetic on the doubles' mantissas."""
    m = fp64.BLOCK
    u = np.full((1, m), 0.1)
    a = np.ones(m)
    acc = fp64.Accumulator(1, 1)
    with A.workprec(128):
        acc.add(u, a[None, :])
    x = Fraction(0.1)
    assert A.endpoints(acc.R[0])[0] <= m * x <= A.endpoints(acc.R[0])[1]
    assert A.endpoints(acc.T[0][0])[0] <= m * x * x <= A.endpoints(acc.T[0][0])[1]


def test_dropping_gamma_k_is_caught(small_blocks, monkeypatch):
    """γ_k dropped (the float64 sums trusted as exact): an exact sum of the adversarial block leaves its
    enclosure."""
    monkeypatch.setattr(fp64, "gamma", lambda k: Fraction(0))
    acc, (R, T) = _sum_enclosures()
    assert _outside(acc, R, T)


def test_gamma_k_needs_its_full_k_for_some_summation_order():
    """k too small: through this machine's BLAS (blocked accumulators) the 4096-term sums of 0.1 and 1/3 err
    by about 5u and 21u only, inside even γ_{k/64} = 64u, so no instance through the route's own products
    shows that break.  The bound is claimed for ANY order, so its formula is tested on the worst common
    order instead: the sequential sum of 4096 terms 0.1 errs by about 541u; the ball of
    _levels_ball(ŝ, 1, k) contains the exact sum, that of k/64 does not."""
    k = 4096
    x = np.full(k, 0.1)
    s = float(np.add.accumulate(x)[-1])                  # sequential (recursive) summation
    exact = k * Fraction(0.1)
    with A.workprec(128):
        good, bad = fp64._levels_ball(s, 1, k), fp64._levels_ball(s, 1, k // 64)
    assert A.endpoints(good)[0] <= exact <= A.endpoints(good)[1]
    assert not A.endpoints(bad)[0] <= exact <= A.endpoints(bad)[1]


def test_the_logit_bound_against_exact_rational_products():
    """|fl(XW) − XW| ≤ logits_error_bound(max fl(|X||W|), d) entrywise, the products summed exactly; with γ_d
    replaced by γ_{d/8} the bound is violated on these large-cancellation products."""
    rng = np.random.default_rng(2)
    d = 64
    X = rng.standard_normal((3, d))
    X[:, ::2] *= 1e8                       # big terms that cancel: the rounding error is large relative to z
    W = rng.standard_normal((d, 200))
    W[::2] = W[1::2] * (X[:, 1::2].mean() / 1e8)
    Z = X @ W
    zabs = float((np.abs(X) @ np.abs(W)).max())
    eps = fp64.logits_error_bound(zabs, d)
    err = max(abs(Fraction(float(Z[i, r])) - sum(Fraction(float(X[i, j])) * Fraction(float(W[j, r]))
                                                   for j in range(d))) for i in range(3) for r in range(200))
    assert err <= eps
    assert err > 0


# ------------------------------------------------------------------------------------------ whole features
def _mp_features(X, params):
    """S₀, PPᵀ (rows (i, ℓ)), SSᵀ, F = κ⟨a,S⟩ at 100 digits from the definitions (κ = m)."""
    n, m, q = X.shape[0], params.m, params.A.shape[0]
    with mpmath.workdps(DPS):
        Z = [[mpmath.fsum(mpmath.mpf(float(X[i, j])) * mpmath.mpf(float(params.W[j, r])) for j in range(X.shape[1]))
              for r in range(m)] for i in range(n)]
        S = []
        for row in Z:
            top = max(row)
            u = [mpmath.exp(z - top) for z in row]
            a = mpmath.fsum(u)
            S.append([t / a for t in u])
        aS = [[mpmath.fsum(float(params.A[l, r]) * S[i][r] for r in range(m)) for l in range(q)] for i in range(n)]
        P = [[S[i][r] * (float(params.A[l, r]) - aS[i][l]) for r in range(m)] for i in range(n) for l in range(q)]
        PP = [[mpmath.fsum(x * y for x, y in zip(P[a], P[b])) for b in range(n * q)] for a in range(n * q)]
        SS = [[mpmath.fsum(x * y for x, y in zip(S[i], S[j])) for j in range(n)] for i in range(n)]
        S0 = max(max(r) for r in S)
        F = [[m * aS[i][l] for l in range(q)] for i in range(n)]
    return S0, PP, SS, F


def _hard_params(case):
    d, m = 4, 240
    if case == "equal_logits":
        p = nk.init_params(d, m, 1, sigma=0.5, scheme="symmetric", seed=1)
        p.W[:] = p.W[:, :1]                                       # every neuron the same logit
    elif case == "big_close_logits":       # logits ≈ 600 within O(1) of each other: ẑ's rounding is ≈ 600u
        p = nk.init_params(d, m, 1, sigma=0.5, scheme="symmetric", seed=4)
        p.W[:] += 600.0 / math.sqrt(d)
    elif case == "logit_ahead_1e3":
        p = nk.init_params(d, m, 1, sigma=0.5, scheme="iid", seed=2)
        p.W[:, 7] += 1e3 / 0.9                                    # neuron 7 ahead by about 1e3 on every row
    else:
        p = nk.init_params(d, m, 2, sigma=float(case), scheme="iid" if float(case) > 1 else "symmetric", seed=3)
    return p


@pytest.mark.parametrize("case", ["equal_logits", "big_close_logits", "logit_ahead_1e3", "1e-3", "0.5", "20", "200"])
def test_float64_features_contain_the_100_digit_values(case):
    """(At this level the exps' own error, ≈ 1e-16, is hidden by the sums' γ_4096 ≈ 4.5e-13: dropping ε_exp is
    caught by the exp tests above, not here.)"""
    X = np.full((3, 4), 0.45) + np.arange(12).reshape(3, 4) * 0.01     # rows of norm < 1, positive entries
    p = _hard_params(case)
    tf = compiled_arb("ntk_factorization", "tangent_feature").raw
    with A.workprec(128):
        S0, F, PP, SS, rec = fp64.features(X, p.W, p.A, float(p.m), tf)
    rS0, rPP, rSS, rF = _mp_features(X, p)
    assert _inside(S0, rS0)
    q = p.A.shape[0]
    for a in range(3 * q):
        for b in range(3 * q):
            assert _inside(PP[a, b], rPP[a][b]), (a, b)
    for i in range(3):
        for j in range(3):
            assert _inside(SS[i, j], rSS[i][j]), (i, j)
        for l in range(q):
            assert _inside(F[i][l], rF[i][l]), (i, l)


TINY = {"SUB": 2, "NSUB": 2, "BLOCK": 4, "ROW_LEVELS": (2, 2, 1)}    # sums nearly exact: the inputs' radii show


def _features_outside(X, p):
    tf = compiled_arb("ntk_factorization", "tangent_feature").raw
    with A.workprec(128):
        S0, F, PP, SS, _ = fp64.features(X, p.W, p.A, float(p.m), tf)
    rS0, rPP, rSS, rF = _mp_features(X, p)
    q = p.A.shape[0]
    out = [] if _inside(S0, rS0) else ["S0"]
    out += [("PP", a, b) for a in range(3 * q) for b in range(3 * q) if not _inside(PP[a, b], rPP[a][b])]
    out += [("SS", i, j) for i in range(3) for j in range(3) if not _inside(SS[i, j], rSS[i][j])]
    return out + [("F", i, l) for i in range(3) for l in range(q) if not _inside(F[i][l], rF[i][l])]


@pytest.mark.parametrize("case", ["0.5", "200", "logit_ahead_1e3", "big_close_logits"])
def test_tiny_blocks_still_enclose(case, monkeypatch):
    for k, v in TINY.items():
        monkeypatch.setattr(fp64, k, v)
    X = np.full((3, 4), 0.45) + np.arange(12).reshape(3, 4) * 0.01
    assert _features_outside(X, _hard_params(case)) == []


def test_dropping_the_inputs_radii_is_caught(monkeypatch):
    """The radius of the summed values (the exps' ε_u, from the logits' γ_d and the exp's own bound) dropped:
    with sums nearly exact (blocks of 2) some enclosure misses its 100-digit value where the logits are large
    and close (their rounding, ≈ 600u, moves every exp by as much)."""
    for k, v in TINY.items():
        monkeypatch.setattr(fp64, k, v)
    monkeypatch.setattr(fp64, "exp_error_bound", lambda st: Fraction(0))
    monkeypatch.setattr(fp64, "logits_error_bound", lambda z, d: Fraction(0))
    X = np.full((3, 4), 0.45) + np.arange(12).reshape(3, 4) * 0.01
    assert _features_outside(X, _hard_params("big_close_logits"))


# ------------------------------------------------------------------------------------------ C2 and its file
def test_c2_float64_route_agrees_with_the_ball_route():
    X = nk.sphere(3, 4, seed=4) * (1 - 2.0**-40)
    Y = nk.labels(3, 1, seed=5)
    b = certify_convergence(X, Y, 2000, 0.5, 7, gd_steps=0, method="ball")
    f = certify_convergence(X, Y, 2000, 0.5, 7, gd_steps=0, method="float64")
    assert f["method"] == "float64" and "float64_bounds" in f["methods"]
    for k in ("lambda0", "H_norm", "Q_norm", "S0", "e0_norm"):
        (blo, bhi), (flo, fhi) = A.endpoints(b["enclosures"][k]), A.endpoints(f["enclosures"][k])
        assert flo <= bhi and blo <= fhi, k                      # both contain the true value: they overlap
    assert {k: h["verdict"] for k, h in b["hypotheses"].items()} == \
        {k: h["verdict"] for k, h in f["hypotheses"].items()}


def test_c2_float64_file_is_checked_and_tampering_is_rejected(tmp_path):
    X = nk.sphere(3, 3, seed=1) * (1 - 2.0**-40)
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "Y.npy", nk.labels(3, 1, seed=2))
    cert = files.convergence_certificate(tmp_path / "X.npy", tmp_path / "Y.npy", 4096, 0.5, 3, gd_steps=0,
                                         method="float64")
    assert cert["inputs"]["method"] == "float64"
    assert cert["trust_base"]["sums_over_neurons"] == "float64"
    assert any("γ_k" in s["step"] for s in cert["trust_base"]["steps"])
    path = tmp_path / "c2.json"
    files.write(cert, path)
    rec = json.loads(path.read_text())["inputs"]["data"]
    assert rec["path"] == "X.npy" and "resolved" not in rec       # relative to the certificate, no machine path
    moved = tmp_path.parent / (tmp_path.name + "_moved")
    tmp_path.rename(moved)                                          # the folder moves: the file still checks
    path = moved / "c2.json"
    ok, msgs = files.check(path)
    assert ok, msgs
    saved = path.read_text()

    def edit(fn):
        data = json.loads(saved)
        fn(data)
        path.write_text(json.dumps(data))

    edit(lambda d: d["enclosures"]["lambda0"].__setitem__(0, d["enclosures"]["lambda0"][1]))    # shrunk
    assert not files.check(path)[0]
    edit(lambda d: d["verdicts"].__setitem__("proved", not d["verdicts"]["proved"]))
    assert not files.check(path)[0]
    edit(lambda d: d["methods"].__setitem__("S0", BALL_S0))           # a method the file was not made with
    ok, msgs = files.check(path)
    assert not ok and any("methods" in m for m in msgs), msgs


# ------------------------------------------------------------------------------------------ any CPU
_BITS = """
import hashlib, json, sys
import numpy as np
import ntkcheck as nk
from ntkcheck.certify import fp64
X = nk.sphere(5, 8, seed=3) * (1 - 2.0**-40)
p = nk.init_params(8, fp64.BLOCK + 3000, 1, sigma=0.5, scheme="symmetric", seed=4)
agg = fp64.aggregates(X, p.W, p.A)
text = json.dumps([[str(b) for b in agg["R"]], [[str(b) for b in row] for row in agg["T"]],
                   [str(b) for b in agg["umax"]], agg["shift"].tolist()])
print(hashlib.sha256(text.encode()).hexdigest())
"""

KERNELS = {                          # BLAS kernels and numpy SIMD loops of other CPUs, on this one
    "default": {},
    "openblas Haswell (AVX2)": {"OPENBLAS_CORETYPE": "Haswell"},
    "openblas Sandybridge (AVX)": {"OPENBLAS_CORETYPE": "Sandybridge"},
    "openblas Prescott (SSE3)": {"OPENBLAS_CORETYPE": "Prescott"},
    "numpy without AVX-512": {"NPY_DISABLE_CPU_FEATURES": "AVX512F AVX512CD AVX512_SKX AVX512_ICL X86_V4"},
}


def test_the_float64_sums_have_the_same_bits_with_every_cpus_kernels():
    """A float64-route certificate must check on any CPU: its sums use no BLAS (whose kernel, and so the order
    of its sums, depends on the CPU).  The balls of two blocks of sums computed under other OpenBLAS kernels and
    with numpy's AVX-512 loops disabled are bit-identical (break: Accumulator.add through np.matmul, as before
    this test, gives other digits under the Haswell, Sandybridge and Prescott kernels)."""
    import os
    import subprocess
    import sys

    digests = {}
    for name, env in KERNELS.items():
        full = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "NPY_DISABLE_CPU_FEATURES")}
        out = subprocess.run([sys.executable, "-c", _BITS], env=full | env, capture_output=True, text=True,
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        digests[name] = out.stdout.split()[-1]
    assert len(set(digests.values())) == 1, digests
