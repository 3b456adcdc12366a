"""Sweeps as independent cells: a cell is a JSON-able configuration, its result a JSON-able dict.

This is the interface the experiments run on.  ``run_cells`` computes ``fn(cell)`` for every cell and
returns the results in the order of ``cells``; how (serially, on a Dask cluster, resuming from a cache of
finished cells) is its business, never the experiment's, so the results do not depend on it.

Engines (keyword options of :func:`run_cells`):

* serial (the default, ``workers=1`` and no ``scheduler``): in this process; Dask is not imported.
* ``workers=N`` (N > 1): a ``distributed.LocalCluster`` of N single-threaded worker *processes* on this
  machine, each limited to one BLAS thread, started for the sweep and closed after it; the cells go out as
  futures in batches (:func:`batches`: at most 8 per worker, cells dealt round-robin), so that small
  cells do not each pay a future's round trip.
* ``scheduler="tcp://host:port"``: an existing Dask cluster (``distributed.Client(address)``).
* ``cache=DIR``: resumable and idempotent.  Each finished cell's result is appended, as soon as it
  finishes, to ``DIR/cells.jsonl`` as one line ``{"key": Cell.key(), "kind": ..., "params": ...,
  "result": ...}`` (flushed and fsync'ed); a rerun with the same cells takes those results from the file and
  computes only the others.  A torn last line (a sweep killed while writing) is ignored and cut off.

Every result goes through a JSON round trip (numpy scalars and arrays become Python numbers and lists), in
every engine, so the results of a serial run, a distributed run and a resumed run are the same objects.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

CACHE_FILE = "cells.jsonl"


class EngineError(RuntimeError):
    """The engine options cannot be honoured (Dask missing, scheduler unreachable, bad cache folder)."""


@dataclass(frozen=True)
class Cell:
    """One independent unit of a sweep.

    ``kind`` names what the cell computes (e.g. ``"width.empirical"``); ``params`` holds everything its
    result depends on (sizes, activation, seed, draw index, …) as JSON-able values.
    """
    kind: str
    params: dict = field(default_factory=dict)

    def key(self) -> str:
        """A stable hash of the cell's configuration (SHA-256 of its canonical JSON)."""
        text = json.dumps({"kind": self.kind, "params": self.params}, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


# ------------------------------------------------------------------------------------------ results
def _jsonable(obj):
    if hasattr(obj, "tolist"):          # numpy scalars and arrays
        return obj.tolist()
    raise TypeError(f"a cell result must be JSON-able, got {type(obj).__name__}")


def _normalized(result) -> dict:
    """``result`` after a JSON round trip (what a cached result reads back as)."""
    if not isinstance(result, dict):
        raise TypeError(f"a cell function must return a dict, got {type(result).__name__}")
    return json.loads(json.dumps(result, default=_jsonable))


# ------------------------------------------------------------------------------------------ cache
def cache_folder(folder) -> Path:
    """The cache folder ``folder`` as a Path, created if missing.  Raises :class:`EngineError` (a phrase
    without the option's name, which the caller adds) when it is a file or cannot be created."""
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise EngineError("exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot create the folder ({exc.strerror or exc})") from None
    return folder


class Cache:
    """The JSON-lines file of finished cells in a folder (see the module docstring)."""

    def __init__(self, folder):
        try:
            folder = cache_folder(folder)
        except EngineError as exc:
            raise EngineError(f"cache {folder}: {exc}") from None
        self.path = folder / CACHE_FILE
        self.results: dict[str, dict] = {}
        if self.path.exists():
            self._load()

    def _load(self) -> None:
        data = self.path.read_bytes()
        good = data.rfind(b"\n") + 1          # everything after the last newline is a torn write
        lines = data[:good].splitlines()
        for no, line in enumerate(lines, 1):
            try:
                rec = json.loads(line)
                key, result = rec["key"], rec["result"]
            except (ValueError, KeyError, TypeError):
                raise EngineError(f"cache {self.path}: line {no} is not a cell record; "
                                  "remove the file to start the sweep afresh") from None
            self.results.setdefault(key, result)
        if good < len(data):                  # cut the torn tail so that the next record starts a line
            with open(self.path, "r+b") as f:
                f.truncate(good)
                f.flush()
                os.fsync(f.fileno())

    def add(self, cell: Cell, key: str, result: dict) -> None:
        """Append one finished cell (flush + fsync: it survives a kill right after)."""
        line = json.dumps({"key": key, "kind": cell.kind, "params": cell.params, "result": result},
                          separators=(",", ":"))
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(line + "\n")
            f.flush()
            os.fsync(f.fileno())
        self.results.setdefault(key, result)


# ------------------------------------------------------------------------------------------ engines
def need_distributed(option: str = "workers"):
    """Import and return the ``distributed`` module, or an :class:`EngineError` naming ``option``."""
    try:
        import dask  # noqa: F401
        import distributed
    except ImportError:
        raise EngineError(f"{option} needs dask and distributed: pip install 'ntkcheck[distributed]'") from None
    return distributed


def check_engine(workers=1, scheduler=None, cache=None) -> None:
    """Validate engine options before any computing: ``workers`` a positive integer, not together with
    ``scheduler``; Dask installed when either is used; ``cache`` a usable folder.  Raises
    :class:`EngineError` (one line, naming the option); the scheduler's reachability is checked when the
    sweep connects (:func:`connect`)."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise EngineError(f"workers must be a positive integer, got {workers!r}")
    if scheduler is not None:
        if workers != 1:
            raise EngineError("give either workers (a local cluster) or scheduler (an existing one), not both")
        if not isinstance(scheduler, str) or not scheduler.strip() or any(c.isspace() for c in scheduler):
            raise EngineError(f"scheduler must be an address such as tcp://host:8786, got {scheduler!r}")
        need_distributed("scheduler")
    elif workers > 1:
        need_distributed("workers")
    if cache is not None:
        folder = Path(cache)
        if folder.exists() and not folder.is_dir():
            raise EngineError(f"cache {folder}: exists and is not a folder")


def connect(address: str, timeout: float = 5.0):
    """A ``distributed.Client`` of the cluster at ``address``; :class:`EngineError` (one line) when it
    cannot be reached within ``timeout`` seconds."""
    distributed = need_distributed("scheduler")
    try:
        return distributed.Client(address, timeout=f"{timeout}s")
    except (OSError, TimeoutError, ValueError) as exc:
        raise EngineError(f"scheduler {address}: cannot connect ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split()) or 'timed out'})") from None


def _one_blas_thread_plugin():
    """A worker plugin: one BLAS/OpenMP thread in the worker process for everything it runs (cells and
    streaming reductions alike).  The environment variables alone do not do it: a worker process has
    loaded numpy, and with it the BLAS, before a Nanny's ``env`` is applied.  (Defined here, not at module
    level, because ``distributed`` is imported only when a cluster is used.)"""
    from distributed.diagnostics.plugin import WorkerPlugin

    class OneBlasThread(WorkerPlugin):
        name = "ntkcheck-one-blas-thread"

        def setup(self, worker):
            from threadpoolctl import threadpool_limits

            self.limits = threadpool_limits(limits=1)     # kept: the limit holds until the worker stops

    return OneBlasThread()


# Dask's nanny starts every worker with MALLOC_TRIM_THRESHOLD_=65536 (its config
# distributed.nanny.pre-spawn-environ).  Setting that variable at all turns off glibc's dynamic mmap
# threshold, so every array of 128 KiB or more is a fresh mmap, its pages faulted in on first touch and
# returned at free.  The width cells allocate such arrays at every GD step: measured on 231 m_lazy cells
# (n = 16 … 32) in a plain process, 9.8 s and 31 000 minor page faults without it, 14.9 s and 1.6 million
# faults (3.1 s of system time) with it.  The workers of our own cluster therefore start with glibc's
# defaults, like the serial run; a variable the user set in this process's environment is still inherited.
NANNY_UNSET = ("MALLOC_TRIM_THRESHOLD_",)


def local_cluster(workers: int):
    """A ``LocalCluster`` of ``workers`` single-threaded processes, one BLAS thread each, no dashboard, and
    glibc's default malloc (not the nanny's trim threshold: see :data:`NANNY_UNSET`).  This process's
    environment is left as it was (the nanny writes its variables into it before spawning a worker)."""
    distributed = need_distributed("workers")
    import logging

    import dask

    one = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    unset = {f"distributed.nanny.pre-spawn-environ.{k}": None for k in NANNY_UNSET}
    saved = dict(os.environ)
    try:
        with dask.config.set(unset):
            cluster = distributed.LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, env=one,
                                               dashboard_address=None, silence_logs=logging.ERROR)
    finally:
        _restore_environ(saved)
    try:
        with distributed.Client(cluster) as client:
            client.register_plugin(_one_blas_thread_plugin())
    except BaseException:
        cluster.close()
        raise
    return cluster


def _restore_environ(saved: dict) -> None:
    """os.environ back to ``saved``: the variables added since removed, the changed ones reset."""
    for k in [k for k in os.environ if k not in saved]:
        del os.environ[k]
    for k, v in saved.items():
        if os.environ.get(k) != v:
            os.environ[k] = v


class _Counter:
    def __init__(self, total, progress):
        self.done, self.total, self.progress = 0, total, progress

    def step(self, k=1):
        self.done += k
        if self.progress is not None:
            self.progress(self.done, self.total)


def run_cells(cells: Sequence[Cell], fn: Callable[[Cell], dict], *, workers: int = 1, scheduler: str | None = None,
              cache=None, progress: Callable[[int, int], None] | None = None, client=None) -> list[dict]:
    """``[fn(c) for c in cells]``, in order, whatever the engine.

    Parameters: ``cells`` the cells; ``fn`` a module-level (picklable) function of one cell returning a
    JSON-able dict; ``workers`` the number of local worker processes (1: serial, in this process);
    ``scheduler`` the address of an existing Dask cluster; ``cache`` a folder of finished cells (resume);
    ``progress(done, total)`` called once at the start (``done`` = the cells found in the cache) and after
    each finished cell; ``client`` a connected ``distributed.Client`` to run the cells on, kept open (e.g.
    from :class:`engine_client`, so that rounds of cells share one cluster), instead of ``workers`` or
    ``scheduler``.
    Returns the list of results, each after a JSON round trip (see the module docstring).
    Raises :class:`EngineError` for unusable engine options, before any cell is computed; an exception of
    ``fn`` propagates (the cells finished before it stay in the cache).
    """
    check_engine(workers, scheduler, cache)
    if client is not None and (workers != 1 or scheduler is not None):
        raise EngineError("give a client, or workers or scheduler, not both")
    cells = list(cells)
    for c in cells:
        if not isinstance(c, Cell):
            raise TypeError(f"run_cells needs Cell objects, got {type(c).__name__}")
    keys = [c.key() for c in cells]
    store = Cache(cache) if cache is not None else None
    have = dict(store.results) if store is not None else {}
    todo: dict[str, Cell] = {}
    for k, c in zip(keys, cells):
        if k not in have:
            todo.setdefault(k, c)
    count = _Counter(len(cells), progress)
    count.step(sum(k in have for k in keys))
    waiting = {}                                  # key -> indices of the cells with that key
    for i, k in enumerate(keys):
        if k in todo:
            waiting.setdefault(k, []).append(i)

    def finished(k, result):
        have[k] = result
        if store is not None:
            store.add(todo[k], k, result)
        count.step(len(waiting[k]))

    if todo:
        if client is not None:
            _submit(client, todo, fn, finished)
        elif workers == 1 and scheduler is None:
            for k, c in todo.items():       # as before: this process's BLAS threads are the user's business
                finished(k, _normalized(fn(c)))
        else:
            with engine_client(workers, scheduler) as own:
                _submit(own, todo, fn, finished)
    return [have[k] for k in keys]


BATCHES_PER_WORKER = 8    # futures per worker and call: enough to balance the load, few enough that a
                          # 25 ms cell does not pay a future's round trip (scheduler, comms, the GIL) alone


def batches(items: list, workers: int) -> list[list]:
    """``items`` dealt round-robin into at most ``workers`` × :data:`BATCHES_PER_WORKER` batches (consecutive
    cells of a round are often the draws of one search at one width, so dealing them out keeps the batches'
    costs alike); every item in exactly one batch, in its order.

    Parameters: ``items`` a list; ``workers`` the cluster's workers (≥ 1).  Returns the list of batches."""
    nb = min(len(items), max(1, workers) * BATCHES_PER_WORKER)
    return [items[j::nb] for j in range(nb)]


def _call_batch(fn, cells: list) -> list[dict]:
    """``fn`` of each cell of a batch on a worker, normalized, with one BLAS thread entered once for the batch
    (threadpoolctl's limit costs about 0.8 ms in a worker process, 3% of a 25 ms cell when taken per cell;
    measured: 600 width cells on 2 workers took 3.5 s with the limit per cell, 2.7 s without it), and, on a
    worker started with a trim threshold (any cluster's nanny), glibc's memory kept for the batch
    (:class:`kept_memory`)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:                 # pragma: no cover - threadpoolctl is a core dependency
        return [_normalized(fn(c)) for c in cells]
    with threadpool_limits(limits=1), kept_memory():
        return [_normalized(fn(c)) for c in cells]


# glibc's mallopt parameters (malloc.h) and the largest mmap threshold it accepts on 64-bit (32 MiB)
M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
KEPT_MMAP_THRESHOLD = 32 << 20
GLIBC_MMAP_THRESHOLD = 128 << 10


class kept_memory:
    """``with kept_memory():`` glibc keeps freed memory for reuse inside the block, when this process was
    started with ``MALLOC_TRIM_THRESHOLD_`` set (as Dask's nanny starts every worker: see
    :data:`NANNY_UNSET`), and gives it back at the end.

    With that variable set, glibc's dynamic mmap threshold is off: every array of 128 KiB or more is a fresh
    mmap, faulted in page by page (1.5x the width cells' time).  Inside the block the mmap threshold is 32
    MiB and the trim threshold 64 MiB, as glibc's own dynamic rule would let them grow; on exit both return
    to the process's settings (its ``MALLOC_MMAP_THRESHOLD_``, else glibc's 128 KiB; its trim threshold)
    and ``malloc_trim(0)`` returns the freed memory, so the worker's memory policy holds between batches.
    Without the variable, or off glibc, it does nothing."""

    def __init__(self):
        self.libc = None
        trim = os.environ.get("MALLOC_TRIM_THRESHOLD_")
        if trim is None:
            return
        try:
            import ctypes

            self.trim = int(trim)
            self.mmap = int(os.environ.get("MALLOC_MMAP_THRESHOLD_", GLIBC_MMAP_THRESHOLD))
            libc = ctypes.CDLL(None)
            libc.mallopt, libc.malloc_trim        # glibc only
        except (ValueError, OSError, AttributeError):
            return
        self.libc = libc

    def __enter__(self):
        if self.libc is not None:
            self.libc.mallopt(M_MMAP_THRESHOLD, KEPT_MMAP_THRESHOLD)
            self.libc.mallopt(M_TRIM_THRESHOLD, 2 * KEPT_MMAP_THRESHOLD)
        return self

    def __exit__(self, *exc):
        if self.libc is not None:
            self.libc.mallopt(M_MMAP_THRESHOLD, self.mmap)
            self.libc.mallopt(M_TRIM_THRESHOLD, self.trim)
            self.libc.malloc_trim(0)
        return False


def _submit(client, todo: dict, fn, finished) -> None:
    """The cells of ``todo`` (key → cell) as batched futures on ``client`` (:func:`batches` over the workers
    the scheduler knows); ``finished(key, result)`` for each cell of a batch as the batch completes (a
    cache therefore holds whole batches: a killed sweep recomputes the batches it was running); on an
    exception (of a cell, or Ctrl-C) the futures left are cancelled."""
    distributed = need_distributed()
    workers = len((client.scheduler_info() or {}).get("workers") or {})
    futures = {}
    for b in batches(list(todo.items()), workers):
        keys = [k for k, _ in b]
        name = f"{b[0][1].kind}-{hashlib.sha256(''.join(keys).encode()).hexdigest()}"
        futures[client.submit(_call_batch, fn, [c for _, c in b], key=name, pure=False)] = keys
    try:
        for fut in distributed.as_completed(list(futures)):
            for k, r in zip(futures[fut], fut.result()):
                finished(k, r)
    except BaseException:
        client.cancel(list(futures))
        raise


# ------------------------------------------------------------------------------------------ progress
class Rate:
    """Throughput and remaining time of a sweep from its ``(done, total)`` calls, counting only the cells
    finished in this run (cells read from a cache arrive all at once and would fake the rate).

    ``update(done, total)`` returns ``(cells_per_second, seconds_remaining)``, either None while unknown.
    """

    def __init__(self, clock=time.monotonic):
        self.clock, self.start, self.base = clock, None, None

    def update(self, done: int, total: int):
        now = self.clock()
        if self.start is None:          # the first call: its count is the cached cells (or the first one)
            self.start, self.base = now, done
            return None, None
        dt, k = now - self.start, done - self.base
        if k <= 0 or dt <= 0:
            return None, None
        rate = k / dt
        return rate, (total - done) / rate if math.isfinite(rate) and rate > 0 else None


# ------------------------------------------------------------------------------------------ clients
class engine_client:
    """``with engine_client(workers, scheduler) as client:`` a ``distributed.Client`` for the engine options
    (a LocalCluster of ``workers`` processes, or the cluster at ``scheduler``), closed on exit; ``None``
    for the serial engine (no Dask import).  For reductions that are not cells, e.g.
    ``streaming.streamed_ntk(..., client=client)``."""

    def __init__(self, workers: int = 1, scheduler: str | None = None):
        check_engine(workers, scheduler)
        self.workers, self.scheduler = workers, scheduler
        self.client = self.cluster = None

    def __enter__(self):
        if self.workers == 1 and self.scheduler is None:
            return None
        if self.scheduler is not None:
            self.client = connect(self.scheduler)
        else:
            self.cluster = local_cluster(self.workers)
            self.client = need_distributed().Client(self.cluster)
        return self.client

    def __exit__(self, *exc):
        if self.client is not None:
            self.client.close()
        if self.cluster is not None:
            self.cluster.close()
        return False
