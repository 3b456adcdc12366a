"""One gradient-descent step of the softmax network against the two matrix products it cannot avoid.

    python benchmarks/bench_gd_step.py [--n 1024] [--d 32] [--d-out 1] [--m 65536] [--reps 5]

A step needs Z = X·W (n×d by d×m) and ∇L = Xᵀ·G (d×n by n×m); everything else (max-subtraction, n·m
exponentials, the softmax VJP) is elementwise.  This script times ``Trainer.step`` (buffers reused across
steps, as in training) and the two products of the same shapes into preallocated outputs, interleaved in
the same run so that machine load affects both alike, and prints the ratio of the medians (target ≤ 2.5×).
"""
from __future__ import annotations

import argparse
import time

import numpy as np

import ntkcheck as nk
from ntkcheck.core.training import Trainer

TARGET = 2.5


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--d", type=int, default=32)
    ap.add_argument("--d-out", type=int, default=1)
    ap.add_argument("--m", type=int, default=65536)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=None, help="trainer threads (default: all available CPUs)")
    args = ap.parse_args(argv)
    n, d, q, m = args.n, args.d, args.d_out, args.m
    X = nk.sphere(n, d, seed=1)
    Y = nk.labels(n, q, seed=2)
    p = nk.init_params(d, m, q, sigma=1.0, scheme="symmetric", seed=0)
    tr = Trainer(p, X, Y, eta=0.1 / m, threads=args.threads)
    Z = np.empty((n, m))
    G = np.random.default_rng(3).standard_normal((n, m))
    out = np.empty((d, m))
    W = p.W.copy()

    def clock(fn) -> float:
        t0 = time.perf_counter()
        fn()
        return time.perf_counter() - t0

    tr.step()  # warm-up: first touch of the buffers, thread pool start
    np.dot(X, W, out=Z)
    times = {"step": [], "X·W": [], "Xᵀ·G": []}
    for _ in range(args.reps):
        times["step"].append(clock(tr.step))
        times["X·W"].append(clock(lambda: np.dot(X, W, out=Z)))
        times["Xᵀ·G"].append(clock(lambda: np.dot(X.T, G, out=out)))
    med = {k: float(np.median(v)) for k, v in times.items()}
    ratio = med["step"] / (med["X·W"] + med["Xᵀ·G"])
    print(f"n={n} d={d} d'={q} m={m}, {args.reps} reps, trainer threads={tr.threads}, fused={tr.fused}")
    for k, v in med.items():
        print(f"  {k:>5}: {1e3 * v:8.1f} ms (median; min {1e3 * min(times[k]):.1f} ms)")
    verdict = "meets" if ratio <= TARGET else "MISSES"
    print(f"step / (X·W + Xᵀ·G) = {ratio:.2f}  ({verdict} the target ≤ {TARGET})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
