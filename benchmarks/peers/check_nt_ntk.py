"""Correctness check (and one-off benchmark run) for nt_ntk.py against plain numpy.

Run with any python that has numpy (the main environment); it calls nt_ntk.py
with the peers venv's python:

    python benchmarks/peers/check_nt_ntk.py           # small case, impl 1 2 3, tol 1e-12
    python benchmarks/peers/check_nt_ntk.py --bench   # n=256 d=32 d_out=8 m=4096

Not a pytest test on purpose: it needs the peers venv (bash setup_peers.sh).
Reference: H = (kappa^2/m) (P P^T) o (X X^T (x) 1 1^T), with
P[(i,l), r] = S[i,r] (A[l,r] - <A[l], S[i]>).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def make_case(n, d, d_out, m, seed=0):
    """W ~ N(0,1), X rows uniform on the unit sphere, A random signs, kappa = m."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    W = rng.standard_normal((d, m))
    A = rng.choice([-1.0, 1.0], size=(d_out, m))
    return X, W, A, float(m)


def reference_ntk(X, W, A, kappa):
    n, m, d_out = X.shape[0], W.shape[1], A.shape[0]
    Z = X @ W
    S = np.exp(Z - Z.max(axis=1, keepdims=True))
    S /= S.sum(axis=1, keepdims=True)
    P = (S[:, None, :] * (A[None, :, :] - (S @ A.T)[:, :, None])).reshape(n * d_out, m)
    G = np.kron(X @ X.T, np.ones((d_out, d_out)))
    return kappa**2 / m * (P @ P.T) * G


def peers_python():
    out = subprocess.run(["bash", os.path.join(HERE, "setup_peers.sh")],
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1].split("=", 1)[1]


def run_nt(py, case, impls, extra=()):
    with tempfile.TemporaryDirectory() as tmp:
        inp, out = os.path.join(tmp, "in.npz"), os.path.join(tmp, "out.npz")
        X, W, A, kappa = case
        np.savez(inp, X=X, W=W, A=A, kappa=kappa)
        r = subprocess.run([py, os.path.join(HERE, "nt_ntk.py"), inp, out,
                            "--impl", *map(str, impls), *extra])
        with np.load(out) as z:
            return {k: z[k] for k in z.files if k != "meta"}, json.loads(str(z["meta"])), r.returncode


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--bench", action="store_true")
    a = p.parse_args()
    py = peers_python()
    if a.bench:
        case = make_case(256, 32, 8, 4096)
        runs = [run_nt(py, case, [3, 1], ["--repeats", "3", "--repeats-impl1", "1"]),
                run_nt(py, case, [2], ["--repeats", "1"])]  # own process: may OOM
        tol = 1e-10
    else:
        case = make_case(8, 4, 3, 16)
        runs = [run_nt(py, case, [1, 2, 3])]
        tol = 1e-12
    H_ref = reference_ntk(*case)
    ok = True
    for Hs, meta, _ in runs:
        print(json.dumps(meta, indent=1))
        for key, H in sorted(Hs.items()):
            rel = np.abs(H - H_ref).max() / np.abs(H_ref).max()
            ok &= bool(rel <= tol)
            print(f"{key}: shape {H.shape}, rel err vs numpy {rel:.2e} (tol {tol:g})")
        for k, info in meta["impls"].items():
            ok &= a.bench or info["status"] == "ok"
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
