"""Peer NTK: the empirical NTK of the softmax network, computed by neural-tangents.

Run it with the peers venv's python, never the main environment's:

    PY=$(bash benchmarks/peers/setup_peers.sh | sed -n 's/^PEERS_PYTHON=//p')
    $PY benchmarks/peers/nt_ntk.py IN.npz OUT.npz --impl 1 3 --repeats 3 --repeats-impl1 1

benchmarks/bench_ntk.py is expected to write IN.npz, run the above via
subprocess, then read OUT.npz:

  IN.npz   X (n, d), W (d, m), A (d_out, m) with entries +-1, kappa (scalar).
  OUT.npz  H_impl{k} (n*d_out, n*d_out) float64 for each impl k that ran, rows
           and columns ordered (i, l) row-major, already divided by m; and
           meta: a JSON string {"versions", "shape", "impls": {k: {...}}}, where
           each impl has status "ok" (compile_s, first_call_s, run_s = all
           repeat times, best_s) or "failed" (error).

Network: S(x) = softmax(W^T x) over the m neurons, F_l(x) = kappa <A[l], S(x)>;
H = (1/m) J J^T with J the Jacobian of vec F w.r.t. W.  Implementations are
neural-tangents' `NtkImplementation`: 1 = Jacobian contraction, 2 = NTK-vector
products, 3 = structured derivatives.  Each is jit-compiled ahead of time
(compile_s), called once (first_call_s), then timed best-of-R with
block_until_ready().  A failing impl (e.g. XLA RESOURCE_EXHAUSTED) is recorded,
not fatal; an impl the kernel OOM-kills takes the whole process with it, so
ask for a risky impl in its own run.  The exit status is 0 iff all asked impls ran.
"""
import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # neural_tangents imports tensorflow

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import neural_tangents as nt  # noqa: E402
import numpy as np  # noqa: E402
from importlib.metadata import version  # noqa: E402


def make_f(A, kappa):
    A = jnp.asarray(A)

    def f(W, x):  # x: (batch, d) -> (batch, d_out)
        return kappa * jax.nn.softmax(x @ W, axis=-1) @ A.T  # softmax subtracts the max

    return f


def run_impl(k, f, X, W, repeats):
    ntk = nt.empirical_ntk_fn(f, trace_axes=(), vmap_axes=0, implementation=k)
    t0 = time.perf_counter()
    compiled = jax.jit(ntk).lower(X, None, W).compile()
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    K = compiled(X, None, W).block_until_ready()  # (n, n, d_out, d_out)
    first_call_s = time.perf_counter() - t0
    run_s = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        compiled(X, None, W).block_until_ready()
        run_s.append(time.perf_counter() - t0)
    n, _, d_out, _ = K.shape
    H = np.asarray(K).transpose(0, 2, 1, 3).reshape(n * d_out, n * d_out) / W.shape[1]
    info = dict(status="ok", compile_s=compile_s, first_call_s=first_call_s,
                run_s=run_s, best_s=min(run_s, default=first_call_s), repeats=repeats)
    return H, info


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("inp")
    p.add_argument("out")
    p.add_argument("--impl", type=int, nargs="+", default=[1, 3], choices=[1, 2, 3])
    p.add_argument("--repeats", type=int, default=3, help="timed calls per impl after warm-up")
    for k in (1, 2, 3):
        p.add_argument(f"--repeats-impl{k}", type=int, default=None,
                       help=f"override --repeats for impl {k}")
    a = p.parse_args(argv)

    with np.load(a.inp) as z:
        X, W, A = (np.asarray(z[key], dtype=np.float64) for key in ("X", "W", "A"))
        kappa = float(z["kappa"])
    (n, d), m, d_out = X.shape, W.shape[1], A.shape[0]
    f = make_f(A, kappa)
    Xj, Wj = jnp.asarray(X), jnp.asarray(W)

    meta = dict(
        versions={pkg: version(pkg) for pkg in ("neural-tangents", "jax", "jaxlib", "numpy")}
        | dict(python=platform.python_version(), device=str(jax.devices()[0]),
               cpu_count=os.cpu_count()),
        shape=dict(n=n, d=d, d_out=d_out, m=m, kappa=kappa),
        impls={},
    )
    out = {}
    for k in a.impl:
        r = getattr(a, f"repeats_impl{k}")
        try:
            H, info = run_impl(k, f, Xj, Wj, a.repeats if r is None else r)
            out[f"H_impl{k}"] = H
        except Exception as e:  # MemoryError, XlaRuntimeError RESOURCE_EXHAUSTED, ...
            info = dict(status="failed", error=f"{type(e).__name__}: {e}"[:2000])
        meta["impls"][str(k)] = info
        if info["status"] == "ok":
            print(f"nt impl {k}: compile {info['compile_s']:.2f} s, first call "
                  f"{info['first_call_s']:.2f} s, best of {info['repeats']} {info['best_s']:.3f} s")
        else:
            print(f"nt impl {k}: FAILED {info['error'][:200]}")
        sys.stdout.flush()

    np.savez(a.out, meta=json.dumps(meta), **out)
    print(f"n={n} d={d} d_out={d_out} m={m}; neural-tangents {meta['versions']['neural-tangents']},"
          f" jax {meta['versions']['jax']}; wrote {a.out}")
    return 0 if all(v["status"] == "ok" for v in meta["impls"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
