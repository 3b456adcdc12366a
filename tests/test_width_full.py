"""results/width_full.json (the larger width run, combined from parts) is a WidthResult: it round-trips, its
exponents are what its own rows give (refitted here by plain least squares, not read from the file), every
width is the one its search's records decide, and a search that had not finished is recorded as such.
Also :func:`ntkcheck.experiments.width.snapshot`, which writes such a result from finished cells."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from ntkcheck.core.results import untimed
from ntkcheck.experiments import width as Wd

FULL_JSON = Path(__file__).resolve().parents[1] / "results" / "width_full.json"


@pytest.fixture(scope="module")
def stored():
    return json.loads(FULL_JSON.read_text())


@pytest.fixture(scope="module")
def full(stored):
    return Wd.WidthResult.from_json(stored)


def test_width_full_round_trips(stored, full):
    assert json.loads(json.dumps(full.to_json())) == stored
    assert Wd.WidthResult.from_json(json.loads(json.dumps(full.to_json()))) == full


def _points(rows, column):
    """The (n, value) points of a fit column, read off the rows by its name (not by the code that fits)."""
    if column == "m_lazy·λ₀²":
        return [(r.n, r.m_lazy_lam0_sq) for r in rows if r.m_lazy_lam0_sq]
    if column.endswith("·λ²"):
        col = column[: -len("·λ²")]
        return [(r.n, getattr(r, col) * r.lam**2) for r in rows if getattr(r, col)]
    return [(r.n, getattr(r, column)) for r in rows if getattr(r, column)]


def _least_squares(points):
    """Slope of log m on log n and its 95% t-interval, written out."""
    x = np.log([p[0] for p in points])
    y = np.log([float(p[1]) for p in points])
    xc = x - x.mean()
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    resid = y - y.mean() - slope * xc
    se = np.sqrt(resid @ resid / (len(x) - 2) / (xc @ xc))
    t = stats.t.ppf(0.975, len(x) - 2)
    return slope, (slope - t * se, slope + t * se)


def test_width_full_exponents_are_refitted_from_its_rows(full):
    fitted = [f for f in full.fits if f.slope is not None and f.points >= 3]
    assert len(fitted) >= 10
    for f in full.fits:
        pts = _points([r for r in full.rows if r.activation == f.activation], f.column)
        assert f.points == len(pts), f
        if f.slope is None or len({m for _, m in pts}) == 1:
            continue
        slope, ci = _least_squares(pts)
        assert f.slope == pytest.approx(slope, rel=1e-9, abs=1e-12), f
        assert f.ci == pytest.approx(ci, rel=1e-9, abs=1e-12), f
    assert full.fits == Wd.fit_rows(full.rows)
    assert set(full.reference_exponents.values()) == {2.0, 6.0}
    # the columns the report quotes are there
    for act, col in (("softmax", "m_lazy"), ("exp", "m_lazy"), ("relu", "m_lazy"), ("softmax", "m_cert_T1p"),
                     ("softmax", "m_emp"), ("softmax", "m_lazy·λ₀²")):
        assert full.fit(act, col).slope is not None


def test_width_full_values_are_what_their_searches_decide(full):
    """Each width is its search's value: that width passed with all its draws, the widths tested below it
    failed; m_lazy·λ₀² is m_lazy times the median λ₀ there squared; an unfinished search has no value, only
    failed widths below its pending one, fewer draws than a width needs, and its lower bound in its reason."""
    unfinished = 0
    for r in full.rows:
        for col, s in r.searches.items():
            assert getattr(r, col) == s.value, (r.activation, r.n, col)
            below = [t for t in s.tested if s.value is None or t.m < s.value]
            if s.pending is not None:
                unfinished += 1
                assert s.value is None and r.notes[col] == s.reason and "unfinished" in s.reason
                assert s.pending["draws"] < s.draws_per_width
                lo, hi = s.lower_bound, s.upper_bound
                # the widths that passed are exactly those from the smallest passing one up
                assert all(t.passes == (hi is not None and t.m >= hi) for t in s.tested)
                if lo is not None:
                    assert lo == max(t.m for t in s.tested if not t.passes) and str(lo) in s.reason
                if hi is not None:
                    assert lo < s.pending["m"] < hi and str(hi) in s.reason
                else:
                    assert s.pending["m"] > max((t.m for t in s.tested), default=0)
                continue
            if s.value is None:
                continue
            top = next(t for t in s.tested if t.m == s.value)
            assert top.passes
            if top.draws:                       # T1-B1B7 decides without draws
                assert top.draws == s.draws_per_width and top.successes >= s.successes_needed
            if col in ("m_emp", "m_lazy"):     # the first width of the grid that passes
                assert all(not t.passes for t in below)
            elif below:                         # doubling, then bisection: the width just below failed
                assert not below[-1].passes
        if r.m_lazy is not None:
            assert r.m_lazy_lam0_sq == pytest.approx(r.m_lazy * r.lam0_at_m_lazy**2, rel=1e-12)
    assert full.cpu_seconds is not None and full.cpu_seconds > 0
    assert unfinished == sum(1 for r in full.rows for s in r.searches.values() if s.pending is not None)


def test_width_full_c3_beside_the_sampled_width(full):
    """Where C3 ran, it tried widths around the sampled m_cert(T1') and its width is the first it proved on
    every draw needed."""
    c3 = [r for r in full.rows if r.c3 is not None]
    assert c3 and all(r.activation == "softmax" and r.n <= Wd.C3_N_MAX for r in c3)
    for r in c3:
        rows = r.c3["rows"]
        assert [x["m"] for x in rows] == sorted(x["m"] for x in rows)
        if r.m_cert_C3 is not None:
            assert rows[-1]["m"] == r.m_cert_C3 and rows[-1]["passes"]
            assert rows[-1]["proved"] == r.c3["draws_per_width"]
            assert all(not x["passes"] for x in rows[:-1])
            assert r.m_cert_T1p / 2 <= r.m_cert_C3 <= 4 * r.m_cert_T1p


# ------------------------------------------------------------------------------------------ snapshot
TINY = replace(Wd.QUICK, n_values=(2, 3), activations=("softmax", "relu"), seeds=2, delta=0.5, lazy_n_max=3,
               max_entries=2e5, cert_n_max=2, cert_variants=("T1'", "T1-B1B7"), cert_max_entries=2e5,
               cert_rel_tol=0.5)




@pytest.fixture(scope="module")
def recorded():
    """run(TINY) and every cell it computed, in order (key → cell, key → result)."""
    cells, results = {}, {}
    real = Wd.run_cells

    def recording(cs, fn, *, progress=None, **engine):
        out = real(cs, fn, progress=progress, **engine)
        for c, r in zip(cs, out):
            cells[c.key()] = c
            results[c.key()] = r
        return out

    Wd.run_cells = recording
    try:
        res = Wd.run(TINY)
    finally:
        Wd.run_cells = real
    return res, cells, results


def test_snapshot_of_every_cell_is_the_run(recorded, monkeypatch):
    res, cells, results = recorded

    def computing(*a, **k):
        raise AssertionError("snapshot computed a cell")

    monkeypatch.setattr(Wd, "run_cells", computing)
    monkeypatch.setattr(Wd, "compute_cell", computing)
    snap = Wd.snapshot(TINY, results)
    assert untimed(snap.to_json()) == untimed(res.to_json())
    assert snap.cells == res.cells == len(results)
    assert snap.cpu_seconds == pytest.approx(sum(r["cpu_seconds"] for r in results.values()), abs=0.1)
    assert all(s.pending is None for r in snap.rows for s in r.searches.values())


def test_snapshot_records_an_unfinished_search(recorded):
    """Without the last draw of the width m_lazy(relu, n = 3) passed at, that search is unfinished: no
    value, the width pending with one draw fewer than it needs, the widths below it failed (the lower
    bound); every other search is as in the run."""
    res, cells, results = recorded
    row = res.row("relu", 3)
    s = row.searches["m_lazy"]
    K = s.draws_per_width
    gone = next(k for k, c in cells.items() if c.kind == "width.lazy" and c.params["activation"] == "relu" and
                c.params["n"] == 3 and c.params["m"] == row.m_lazy and c.params["draw"] == K - 1)
    snap = Wd.snapshot(TINY, {k: v for k, v in results.items() if k != gone})
    got = snap.row("relu", 3)
    u = got.searches["m_lazy"]
    assert got.m_lazy is None and u.value is None and got.m_lazy_lam0_sq is None
    assert u.pending["m"] == row.m_lazy and u.pending["draws"] == K - 1
    assert u.pending["successes"] == K - 1
    assert u.tested == tuple(t for t in s.tested if t.m < row.m_lazy)
    assert u.lower_bound == max(t.m for t in s.tested if t.m < row.m_lazy)
    assert "unfinished" in got.notes["m_lazy"] and str(u.lower_bound) in got.notes["m_lazy"]
    assert Wd.Search.from_json(json.loads(json.dumps(u.to_json()))) == u
    for r in snap.rows:
        if (r.activation, r.n) != ("relu", 3):
            assert untimed(r.to_json()) == untimed(res.row(r.activation, r.n).to_json())
    assert snap.fit("relu", "m_lazy").points == res.fit("relu", "m_lazy").points - 1


def test_snapshot_brackets_an_unfinished_bisection(recorded):
    """The certified-width search (softmax, n = 2) doubles to its first pass, then bisects: without the
    cells of the width it bisects at, the search is unfinished between its last failure and its pass."""
    res, cells, results = recorded
    s = res.row("softmax", 2).searches["m_cert_T1p"]
    first_pass = next(t.m for t in s.tested if t.passes)
    mid = max(t.m for t in s.tested if t.m < first_pass)        # the bisection's width, tested after the pass
    fails_before = max(t.m for t in s.tested if t.m < mid)
    assert first_pass / mid < 2 and mid / fails_before < 2    # between two doublings: a bisection width
    gone = {k for k, c in cells.items() if c.kind == "width.cert" and c.params["n"] == 2 and c.params["m"] == mid}
    snap = Wd.snapshot(TINY, {k: v for k, v in results.items() if k not in gone})
    u = snap.row("softmax", 2).searches["m_cert_T1p"]
    assert u.value is None and u.pending["m"] == mid and u.pending["draws"] == 0
    assert u.lower_bound == fails_before and u.upper_bound == first_pass
    assert f"({fails_before}, {first_pass}]" in u.reason and snap.row("softmax", 2).m_cert_T1p is None


def test_combine_keeps_the_reason_of_an_unfinished_part(recorded):
    """Parts combined (m_emp and m_cert in one, m_lazy unfinished in another): the row says why m_lazy has
    no value (the unfinished search's reason), not the first part's "not measured"."""
    res, cells, results = recorded
    row = res.row("relu", 3)
    gone = next(k for k, c in cells.items() if c.kind == "width.lazy" and c.params["activation"] == "relu" and
                c.params["n"] == 3 and c.params["m"] == row.m_lazy and c.params["draw"] == 1)
    rest = {k: v for k, v in results.items() if k != gone}
    a = Wd.snapshot(replace(TINY, lazy=False), rest)
    b = Wd.snapshot(replace(TINY, emp=False, certify=False), rest)
    both = Wd.combine([a, b], config=TINY)
    got = both.row("relu", 3)
    assert got.m_lazy is None and got.m_emp == row.m_emp
    assert got.notes["m_lazy"] == got.searches["m_lazy"].reason and "unfinished" in got.notes["m_lazy"]
    assert both.row("softmax", 3).m_lazy == res.row("softmax", 3).m_lazy
    assert both.cpu_seconds == pytest.approx(a.cpu_seconds + b.cpu_seconds, abs=0.2)


def test_combine_keeps_c3_and_its_note_together():
    """A later part without the per-draw certificates (a B1B7-only rerun) leaves C3's value and note as the
    part that computed C3 had them: no row holds a C3 width beside "not computed" (break: notes merged
    later-part-wins for m_cert_C3, as before, gives exactly that row)."""
    full = Wd.WidthResult.from_json(json.loads(FULL_JSON.read_text()))
    part = Wd.run(replace(full.config, n_values=(2, 23), emp=False, lazy=False, cert_variants=("T1-B1B7",),
                          certify_draws=False, activations=("softmax",)))
    both = Wd.combine([full, part], config=full.config)
    row, before = both.row("softmax", 2), full.row("softmax", 2)
    assert row.m_cert_C3 == before.m_cert_C3 is not None
    assert row.notes.get("m_cert_C3") == before.notes.get("m_cert_C3")
    assert all(r.m_cert_C3 is None or "not computed" not in r.notes.get("m_cert_C3", "") for r in both.rows)
    # n = 23, beyond the certified widths: the columns neither part searched keep the full run's notes
    assert both.row("softmax", 23).notes == full.row("softmax", 23).notes
