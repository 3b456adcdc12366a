"""Benchmark: the width experiment's sweep on 1 worker (serial) against 2 Dask workers (issue 15 item 5).

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python benchmarks/bench_sweep.py \\
        --json benchmarks/results/sweep.json
    python benchmarks/bench_sweep.py --tiny          # seconds: that the script runs (tests/test_benchmarks.py)

The cells are the width experiment's fine ones (``ntkcheck.experiments.width``: ``width.emp`` and
``width.lazy``, one gradient-descent run per (activation, n, m, draw)), driven by ``width.run`` exactly as
``ntkcheck width`` drives them: the adaptive width searches are rounds of cells, every open search adding
its next cells to a round, and a round ends when its last cell does (a barrier).  The default
configuration is the experiment's quick one without the certified widths, widened to n = 2 … 32 with 20
m_emp seeds and m_lazy to n = 32 (softmax, exp, relu): 1684 cells in 11 rounds, 51 s of CPU serially
(measured under load; about as many seconds of wall time on an idle 2-core machine).

Measured in the same run, each from scratch (no cache):

* ``serial``: ``width.run(cfg)`` in this process (Dask not used), with one BLAS thread (threadpoolctl): one
  worker, like each of the Dask workers;
* ``end_to_end``: a LocalCluster of 2 single-threaded workers started, ``width.run(cfg, scheduler=…)`` on it,
  the cluster closed — all inside the timed region (what a sweep on 2 workers costs from nothing);
* ``steady``: on that started cluster, after the first sweep (which pays each worker's warm-up: imports,
  compiled expressions, caches), ``--repeats`` pairs of (the sweep on the cluster, the serial sweep again
  in a plain process of its own, with one BLAS thread — this process hosts the cluster's scheduler), back
  to back; the steady speed-up is the median of the pairs' ratios.  (This machine's speed drifts by
  up to 40% over minutes, with neighbours on its host: a ratio of two runs minutes apart measures the
  drift as much as the engine.)
* ``as_cli`` (``--as-cli``): ``width.run(cfg, workers=2)``, exactly as ``ntkcheck width --workers 2`` runs
  it: one LocalCluster started for the whole run (every round of the searches on it) and closed after it.

Reported beside them: the cells' own times (each cell's wall and CPU seconds as measured where it ran); the
bound on the 2-worker speed-up from those times — the longest-processing-time (LPT) schedule of all cells,
and of each round separately (the round barriers: a round of 3 cells keeps one worker idle for a third of
it); the rounds and their sizes; the cluster start; the machine's load (os.getloadavg, before and after:
the target assumes 2 idle cores).  The results of every engine must be the same (the experiment's JSON
with its timing fields removed); the exit status is 1 when they differ or the target (steady speed-up ≥
1.7) is not met, 0 otherwise.
"""
from __future__ import annotations

import argparse
import functools
import heapq
import json
import os
import statistics
import sys
import time
from dataclasses import replace

from ntkcheck import sweep
from ntkcheck.core.results import untimed, versions, write_json
from ntkcheck.experiments import width

TARGET = 1.7


class Rounds:
    """Records every round of cells that ``width.run`` hands to ``run_cells`` (wrapping the name the width
    module calls): the cells' count, the round's wall time and the cells' own seconds."""

    def __init__(self):
        self.rounds = []
        self._orig = width.run_cells

    def __enter__(self):
        def recorded(cells, fn, **kw):
            t0 = time.perf_counter()
            out = self._orig(cells, fn, **kw)
            self.rounds.append({"cells": len(cells), "wall": time.perf_counter() - t0,
                                "cell_seconds": [r.get("seconds") for r in out],
                                "cell_cpu_seconds": [r.get("cpu_seconds") for r in out]})
            return out
        width.run_cells = recorded
        return self

    def __exit__(self, *exc):
        width.run_cells = self._orig
        return False


def _pool_init():
    from threadpoolctl import threadpool_limits

    global _LIMIT
    _LIMIT = threadpool_limits(limits=1)        # kept for the process's life, as on a Dask worker


_pool_batch = functools.partial(sweep._call_batch, width.compute_cell)   # a batch as a Dask worker runs it


class OnPool:
    """``width.run``'s rounds on a ``multiprocessing`` pool of plain processes instead of ``run_cells``: the
    same cells, dealt into the same batches (``sweep.batches``), with no Dask at all — what two processes
    achieve on this machine, the reference the Dask engine is measured against."""

    def __init__(self, pool, workers: int):
        self.pool, self.workers, self._orig = pool, workers, width.run_cells

    def __enter__(self):
        def on_pool(cells, fn, progress=None, **kw):
            cells = list(cells)
            parts = sweep.batches(cells, self.workers)
            out = [None] * len(cells)
            for j, part in enumerate(self.pool.map(_pool_batch, parts, chunksize=1)):
                out[j::len(parts)] = part
            if progress is not None:
                progress(len(cells), len(cells))
            return out
        width.run_cells = on_pool
        return self

    def __exit__(self, *exc):
        width.run_cells = self._orig
        return False


def timed_run(cfg, **engine):
    """(the result's JSON, seconds, rounds) of one width.run from scratch."""
    with Rounds() as rec:
        t0 = time.perf_counter()
        res = width.run(cfg, **engine)
        dt = time.perf_counter() - t0
    return res.to_json(), dt, rec.rounds




def lpt_makespan(durations, workers: int) -> float:
    """The makespan of the longest-processing-time-first schedule of ``durations`` on ``workers``."""
    loads = [0.0] * workers
    heapq.heapify(loads)
    for d in sorted(durations, reverse=True):
        heapq.heappush(loads, heapq.heappop(loads) + d)
    return max(loads)


def config(a) -> width.Config:
    if a.tiny:
        return width.validate(replace(width.QUICK, n_values=(2, 3), activations=("softmax", "relu"), seeds=2,
                                      certify=False, lazy=True, lazy_n_max=2, m_max=64))
    return width.validate(replace(width.QUICK, n_values=tuple(int(v) for v in a.n.split(",")),
                                  activations=tuple(a.activations.split(",")), seeds=a.seeds,
                                  lazy=not a.no_lazy, lazy_n_max=a.lazy_n_max, certify=False))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", default="2,3,4,6,8,11,16,23,32", help="the n values (comma-separated)")
    ap.add_argument("--activations", default="softmax,exp,relu")
    ap.add_argument("--seeds", type=int, default=20, help="m_emp's GD runs per (activation, n, m)")
    ap.add_argument("--lazy-n-max", type=int, default=32, help="m_lazy for n up to this")
    ap.add_argument("--no-lazy", action="store_true", help="m_emp only")
    ap.add_argument("--as-cli", action="store_true",
                    help="also time width.run(workers=2) as `ntkcheck width --workers 2` runs it (one cluster per run)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="pairs of (started cluster, serial) sweeps, run back to back; the target is on their median")
    ap.add_argument("--tiny", action="store_true", help="a few seconds: that the benchmark runs, not a measurement")
    ap.add_argument("--json", help="write the measurements here (atomically)")
    a = ap.parse_args(argv)
    if a.repeats < 1:
        ap.error(f"--repeats must be at least 1, got {a.repeats}")
    try:
        cfg = config(a)
    except ValueError as exc:
        ap.error(str(exc))
    load0 = os.getloadavg()
    print(f"width sweep: n = {cfg.n_values}, activations {cfg.activations}, {cfg.seeds} seeds, m_lazy "
          f"{'on' if cfg.lazy else 'off'}; cpus {os.cpu_count()}, load average {load0[0]:.1f}", flush=True)

    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):       # one worker = one single-threaded process, as each Dask worker is
        serial, t_serial, rounds = timed_run(cfg)
    cells = sum(r["cells"] for r in rounds)
    print(f"serial                              {t_serial:8.2f} s   ({cells} cells in {len(rounds)} rounds)", flush=True)

    import multiprocessing

    pool = multiprocessing.get_context("spawn").Pool(2, initializer=_pool_init)
    pool.map(_pool_batch, [[], []])                                       # both processes started
    # the serial sweeps of the rounds run in a plain process too: this one hosts the cluster's scheduler
    alone = multiprocessing.get_context("spawn").Pool(1, initializer=_pool_init)
    alone.apply(_pool_batch, ([],))
    t0 = time.perf_counter()
    cluster = sweep.local_cluster(2)
    t_start = time.perf_counter() - t0
    pairs = []                  # (serial, steady): adjacent in time, so that the machine's drift cancels
    procs = []                  # the same sweep on 2 plain processes, right after each pair
    try:
        first, t_first, _ = timed_run(cfg, scheduler=cluster.scheduler_address)
        for k in range(a.repeats):
            warm, t_warm, warm_rounds = timed_run(cfg, scheduler=cluster.scheduler_address)
            again, t_again, again_rounds = alone.apply(timed_run, (cfg,))    # serial, in a process of its own
            with OnPool(pool, 2):
                plain, t_plain, _ = timed_run(cfg)
            pairs.append((t_again, t_warm))
            procs.append(t_plain)
            print(f"round {k + 1}: serial {t_again:7.2f} s, started cluster {t_warm:7.2f} s (speed-up "
                  f"{t_again / t_warm:4.2f}), 2 plain processes {t_plain:7.2f} s (speed-up {t_again / t_plain:4.2f})",
                  flush=True)
        t0 = time.perf_counter()
    finally:
        cluster.close()
        pool.terminate()
        alone.terminate()
    t_close = time.perf_counter() - t0
    t_e2e = t_start + t_first + t_close
    steady = statistics.median(s_ / w_ for s_, w_ in pairs)
    plain_speedup = statistics.median(s_ / p_ for (s_, _), p_ in zip(pairs, procs))
    print(f"LocalCluster(2) start / close       {t_start:8.2f} s / {t_close:.2f} s")
    print(f"end to end (start + sweep + close)  {t_e2e:8.2f} s   speed-up {t_serial / t_e2e:5.2f}")
    print(f"started cluster, first sweep        {t_first:8.2f} s   speed-up {t_serial / t_first:5.2f}"
          "   (each worker's warm-up included)")
    print(f"started cluster, steady state       median speed-up of the {len(pairs)} rounds {steady:5.2f}")
    print(f"2 plain processes (no Dask)         median speed-up of the {len(pairs)} rounds {plain_speedup:5.2f}"
          "   (what this machine's two cores give these cells)", flush=True)
    engines = {"end_to_end": first, "steady": warm, "serial_again": again, "plain_processes": plain}
    seconds = {"serial": t_serial, "cluster_start": t_start, "cluster_close": t_close, "end_to_end": t_e2e,
               "started_cluster_first": t_first, "steady": [w_ for _, w_ in pairs],
               "serial_again": [s_ for s_, _ in pairs], "plain_processes": procs}
    if a.as_cli:
        cli, t_cli, cli_rounds = timed_run(cfg, workers=2)
        engines["as_cli"] = cli
        seconds["as_cli"] = t_cli
        print(f"width.run(workers=2), as the CLI    {t_cli:8.2f} s   speed-up {t_serial / t_cli:5.2f}"
              f"   ({len(cli_rounds)} rounds on one cluster, its start and close included)")

    ref = json.dumps(untimed(serial), sort_keys=True)
    same = {k: json.dumps(untimed(v), sort_keys=True) == ref for k, v in engines.items()}
    durations = [s for r in rounds for s in r["cell_seconds"]]
    cpu = [s for r in rounds for s in r["cell_cpu_seconds"]]
    work = sum(durations)
    lpt_all = lpt_makespan(durations, 2)
    lpt_rounds = sum(lpt_makespan(r["cell_seconds"], 2) for r in rounds)
    warm_cells = sum(s for r in warm_rounds for s in r["cell_seconds"])
    work_again = sum(s for r in again_rounds for s in r["cell_seconds"])     # the serial run beside it
    overhead_serial = t_serial - work
    load1 = os.getloadavg()
    speedup = {"end_to_end": t_serial / t_e2e, "started_cluster_first": t_serial / t_first, "steady": steady,
               "steady_pairs": [s_ / w_ for s_, w_ in pairs],
               "plain_processes": plain_speedup, "plain_processes_pairs": [s_ / p_ for (s_, _), p_ in zip(pairs, procs)],
               "steady_over_plain_processes": steady / plain_speedup,
               "bound_lpt_all_cells": work / lpt_all, "bound_lpt_with_round_barriers": work / lpt_rounds}
    if a.as_cli:
        speedup["as_cli"] = t_serial / seconds["as_cli"]
    res = {
        "benchmark": "sweep", "versions": versions(),
        "sizes": {"cells": cells, "rounds": len(rounds), "cells_per_round": [r["cells"] for r in rounds],
                  "n_values": list(cfg.n_values), "activations": list(cfg.activations), "seeds": cfg.seeds,
                  "lazy": cfg.lazy, "lazy_n_max": cfg.lazy_n_max, "d": cfg.d, "d_out": cfg.d_out, "sigma": cfg.sigma,
                  "eps": cfg.eps, "tiny": a.tiny},
        "seed": cfg.data_seed,
        "cpus": os.cpu_count(), "load_average_before_after": [load0[0], load1[0]],
        "seconds": seconds | {"cell_work_serial": work, "cell_cpu_serial": sum(cpu), "longest_cell": max(durations),
                              "serial_outside_cells": overhead_serial, "lpt_makespan_2_all_cells": lpt_all,
                              "lpt_makespan_2_round_barriers": lpt_rounds, "cell_work_steady": warm_cells,
                              "cell_work_serial_again": work_again,
                              "round_walls_serial": [r["wall"] for r in rounds],
                              "round_walls_steady": [r["wall"] for r in warm_rounds]},
        "speedup": speedup | {"cell_work_inflation_on_2_workers": warm_cells / work_again},
        "target": {"steady speed-up >=": TARGET},
        "identical_results": same,
    }
    print(f"cells: {cells} in {len(rounds)} rounds (sizes {[r['cells'] for r in rounds]}); work {work:.2f} s "
          f"(CPU {sum(cpu):.2f} s), longest cell {max(durations):.2f} s, serial time outside the cells "
          f"{overhead_serial:.2f} s")
    print(f"bound from the cells' times (LPT on 2 workers): {work / lpt_all:.2f}× without barriers, "
          f"{work / lpt_rounds:.2f}× with the round barriers")
    print(f"the cells' own time on 2 workers / serial: {warm_cells / work_again:.2f} (last pair; > 1: the workers slow each other "
          "or share the cores with other load)")
    ok_same = all(same.values())
    print(f"identical results in every engine: {same}; load average {load0[0]:.1f} → {load1[0]:.1f}")
    met = speedup["steady"] >= TARGET
    print(f"target steady speed-up ≥ {TARGET}: {'met' if met else 'NOT MET'}")
    res["target_met"] = bool(met)
    if a.json:
        write_json(a.json, res)
        print(f"wrote {a.json}")
    return 0 if ok_same and met else 1


if __name__ == "__main__":
    sys.exit(main())
