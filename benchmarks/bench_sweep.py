"""Benchmark: a sweep of independent cells on 1 worker (serial) against 2 Dask workers (issue 15 item 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sweep.py \\
        --json benchmarks/results/sweep.json

The cells are those of ``ntkcheck compare``'s width section (m_emp: one (n, activation) pair per cell,
gradient descent over a grid of widths and seeds, the real workload), at --width-n and --seeds.  Measured in
the same run: the serial sweep (``run_cells``, workers=1), the same cells on ``workers=2`` end to end
(starting and closing the LocalCluster included), and on a LocalCluster started beforehand (``scheduler=``,
the steady-state cost).  The results of every engine must be identical (integers and floats from the same
code).  Also reported: what limits the speed-up — the per-cell times give the best possible 2-worker
makespan (longest-processing-time schedule of the measured cells: the load imbalance of a few long cells),
the cluster start-up, the per-worker warm-up (imports, compiled expressions: each worker process compiles
its own), and the machine's load (os.getloadavg; the target assumes 2 idle cores).
"""
from __future__ import annotations

import argparse
import heapq
import json
import os
import sys
import time
from dataclasses import replace

from ntkcheck import sweep
from ntkcheck.experiments import compare
from ntkcheck.core.results import versions, write_json


def timed_cell(cell) -> dict:
    """compare's width cell, with its own wall-clock seconds (dropped before the results are compared)."""
    t0 = time.perf_counter()
    out = compare.width_cell(cell)
    return out | {"_seconds": time.perf_counter() - t0, "_pid": os.getpid()}


def strip(rows):
    return [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows]


def lpt_makespan(durations, workers: int) -> float:
    """The makespan of the longest-processing-time-first schedule of ``durations`` on ``workers``."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--width-n", default="4,6,8,11,16", help="the n values (comma-separated)")
    ap.add_argument("--seeds", type=int, default=5, help="GD runs per (activation, n, m)")
    ap.add_argument("--activations", default="softmax,exp,relu,sigmoid,tanh,swish")
    ap.add_argument("--json", help="write the measurements here (atomically)")
    a = ap.parse_args(argv)
    cfg = compare.validate(replace(compare.QUICK, width_n=tuple(int(v) for v in a.width_n.split(",")),
                                   width_seeds=a.seeds, activations=tuple(a.activations.split(","))))
    cells = compare.width_cells(cfg)
    load0 = os.getloadavg()
    print(f"{len(cells)} cells (compare width section: n = {cfg.width_n}, {cfg.width_seeds} seeds, "
          f"{len(cfg.activations)} activations); cpus {os.cpu_count()}, load average {load0[0]:.1f}")

    t0 = time.perf_counter()
    serial = sweep.run_cells(cells, timed_cell)
    t_serial = time.perf_counter() - t0
    print(f"serial (workers=1)              {t_serial:8.2f} s")

    t0 = time.perf_counter()
    two = sweep.run_cells(cells, timed_cell, workers=2)
    t_two = time.perf_counter() - t0
    print(f"workers=2, end to end           {t_two:8.2f} s   speed-up {t_serial / t_two:5.2f}")

    t0 = time.perf_counter()
    cluster = sweep.local_cluster(2)
    t_start = time.perf_counter() - t0
    try:
        t0 = time.perf_counter()
        warm = sweep.run_cells(cells, timed_cell, scheduler=cluster.scheduler_address)
        t_warm_first = time.perf_counter() - t0
        t0 = time.perf_counter()
        warm2 = sweep.run_cells(cells, timed_cell, scheduler=cluster.scheduler_address)
        t_warm = time.perf_counter() - t0
    finally:
        cluster.close()
    print(f"LocalCluster start              {t_start:8.2f} s")
    print(f"2 workers, started cluster      {t_warm_first:8.2f} s   speed-up {t_serial / t_warm_first:5.2f}"
          "  (first sweep: per-worker warm-up included)")
    print(f"2 workers, warm workers         {t_warm:8.2f} s   speed-up {t_serial / t_warm:5.2f}")

    same = all(json.dumps(strip(x)) == json.dumps(strip(serial)) for x in (two, warm, warm2))
    durations = [r["_seconds"] for r in serial]
    work = sum(durations)
    best = lpt_makespan(durations, 2)
    cell_work_2 = [sum(r["_seconds"] for r in warm2 if r["_pid"] == p) for p in {r["_pid"] for r in warm2}]
    load1 = os.getloadavg()
    res = {
        "benchmark": "sweep", "versions": versions(),
        "sizes": {"cells": len(cells), "width_n": list(cfg.width_n), "width_seeds": cfg.width_seeds,
                  "activations": list(cfg.activations), "d": cfg.d, "sigma": cfg.sigma, "eps": cfg.eps},
        "cpus": os.cpu_count(), "load_average_before_after": [load0[0], load1[0]],
        "seconds": {"serial": t_serial, "workers2_end_to_end": t_two, "cluster_start": t_start,
                    "workers2_started_cluster_first": t_warm_first, "workers2_warm": t_warm,
                    "cell_work_serial": work, "longest_cell": max(durations),
                    "lpt_makespan_2": best, "cell_work_per_worker_warm": cell_work_2},
        "speedup": {"end_to_end": t_serial / t_two, "started_cluster_first": t_serial / t_warm_first,
                    "warm": t_serial / t_warm, "bound_from_cell_imbalance": work / best,
                    "cell_work_inflation_on_2_workers": sum(cell_work_2) / work},
        "target": {"speedup >=": 1.7},
        "identical_results": same,
    }
    print(f"per-cell work {work:.2f} s, longest cell {max(durations):.2f} s: the best 2-worker schedule of these "
          f"cells gives at most {work / best:.2f}×")
    print(f"the cells' own time on 2 workers / serial: {sum(cell_work_2) / work:.2f} (> 1: the two workers slow "
          "each other or share the cores with other load)")
    print(f"identical results in every engine: {same}; load average {load0[0]:.1f} → {load1[0]:.1f}")
    ok = same and res["speedup"]["warm"] >= 1.7
    print(f"target warm speed-up ≥ 1.7: {'met' if ok else 'NOT MET'}")
    if a.json:
        write_json(a.json, res)
        print(f"wrote {a.json}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
