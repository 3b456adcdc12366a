"""Sweeps as independent cells: a cell is a JSON-able configuration, its result a JSON-able dict.

This is the interface the experiments run on.  ``run_cells`` computes ``fn(cell)`` for every cell and
returns the results in the order of ``cells``; how (serially, on a Dask cluster, resuming from a cache of
finished cells) is its business, never the experiment's, so the results do not depend on it.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Sequence


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


def run_cells(cells: Sequence[Cell], fn: Callable[[Cell], dict], *, progress: Callable[[int, int], None] | None = None,
              **engine) -> list[dict]:
    """``[fn(c) for c in cells]``, in order.

    Parameters: ``cells`` the cells; ``fn`` a module-level (picklable) function of one cell returning a
    JSON-able dict; ``progress(done, total)`` called after each cell.  ``engine`` options (workers,
    scheduler, cache) select how the cells run; with none, they run serially in this process.
    Returns the list of results.
    """
    if engine:
        raise TypeError(f"unsupported engine options: {', '.join(sorted(engine))}")
    out = []
    for i, cell in enumerate(cells):
        out.append(fn(cell))
        if progress is not None:
            progress(i + 1, len(cells))
    return out
