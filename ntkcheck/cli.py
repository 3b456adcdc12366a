"""The ``ntkcheck`` command line.

    ntkcheck verify [--only G1,B2,...] [--scale S] [--seed N] [--json PATH]
    ntkcheck list
    ntkcheck proof CODE          # the symbolic derivation of a lemma, step by step
    ntkcheck certify kernel|convergence|width|check ...   # ball-arithmetic proofs for one instance (C1–C3)

Errors in arguments print one line naming the problem and exit with status 2, before any computation; a
failing check exits 1; an internal error prints one line and exits 3 (``--debug`` shows the traceback).
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
from pathlib import Path

try:  # Ctrl-C while the libraries load: a word, not a traceback
    from rich.console import Console
    from rich.markup import escape
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
    from rich.table import Table

    from ntkcheck import checks
    from ntkcheck.core.results import write_json
except KeyboardInterrupt:  # pragma: no cover - timing dependent (tested by a subprocess)
    sys.stderr.write("interrupted\n")
    raise SystemExit(130) from None

DESCRIPTION = ("A symbolic-plus-numeric proof companion for two-layer softmax networks in the NTK regime "
               "(arXiv:2405.03251): numeric checks of every lemma, their symbolic derivations, and the experiments.")
EXIT_STATUSES = """exit status:
  0  every check holds (or the command succeeded)
  1  a check failed
  2  a usage error: a bad argument, reported in one line before any computation
  3  an internal error (one line; run with --debug for the traceback)
  130  interrupted (Ctrl-C)"""

# The smallest --scale: at a quarter of the default trials every check still tests what it claims.
MIN_SCALE = 0.25
# Approximate seconds of each check at --scale 1, which verify multiplies by --scale to announce a long run.
# Measured 2026-12-02 on the 2-core development machine: the CPU seconds of each check (the records'
# "seconds" of `ntkcheck verify --json` were 2-3 times larger because the machine was shared; these CPU
# times, 17 s in all, are what a quiet machine's wall clock shows, cf. the 14 s of the README's run).
CHECK_SECONDS = {"G1": 0.25, "G2": 0.19, "G3": 0.04, "G4": 0.07, "G5": 0.25, "G6": 0.64, "B1": 0.2, "B2": 0.6,
                 "B3": 0.95, "B4": 0.73, "B5": 0.65, "B6": 0.65, "B7": 1.0, "T1": 4.2, "D1": 0.44, "D2": 0.07,
                 "D3": 0.25, "D4": 0.09, "D5": 1.0, "D6": 4.8}
DEFAULT_CHECK_SECONDS = 1.0     # a check missing from CHECK_SECONDS
ANNOUNCE_ABOVE = 120.0          # seconds: a longer estimated run is announced on stderr


class UsageError(ValueError):
    """A bad argument: reported in one line, exit status 2."""


def _fmt(x, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}g}"


def _select(only: str | None):
    allc = checks.all_checks()
    if not only:
        return allc
    chosen = []
    for sel in only.split(","):
        sel = sel.strip()
        if sel:
            try:
                c = checks.find(sel)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            if c not in chosen:
                chosen.append(c)
    if not chosen:
        raise UsageError("--only selected no check")
    return chosen


def _writable_folder(option: str, value: str, folder: Path) -> None:
    """Raise UsageError unless a file can be created in ``folder`` (an existing folder): a probe file is
    created and removed, so a read-only folder, /proc or a full disk is reported before any computation."""
    try:
        fd, probe = tempfile.mkstemp(prefix=".ntkcheck-probe-", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise UsageError(f"{option} {value}: cannot write into folder {folder}: {exc.strerror or exc}") from None
    os.close(fd)
    os.unlink(probe)


def _file_target(option: str, path: str | None) -> Path | None:
    """The file of an output option (--json, --plot): not a folder, in an existing folder we can write."""
    if path is None:
        return None
    if not path.strip():
        raise UsageError(f"{option}: empty path, give a file name")
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"{option} {path}: is a directory, give a file name")
    folder = p.parent if str(p.parent) else Path(".")
    if not folder.exists():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: {folder} is not a folder")
    _writable_folder(option, path, folder)
    return p


def json_target(path: str | None) -> Path | None:
    """The ``--json`` argument checked before any work is done (shared with ``ntkcheck certify``).

    Parameters: ``path`` the option's value, or None.  Returns: the target Path, or None when not given.
    Raises UsageError (exit 2) naming ``--json`` when its folder is missing or not writable."""
    return _file_target("--json", path)


def _seed(value: int, option: str = "--seed") -> int:
    if value < 0:
        raise UsageError(f"{option} must be >= 0, got {value}")
    return value


def _scale(value: float) -> float:
    if not (math.isfinite(value) and value >= MIN_SCALE):
        raise UsageError(f"--scale must be finite and >= {MIN_SCALE:g} (the smallest at which every check "
                         f"still tests its lemma), got {value:g}")
    return value


def estimated_seconds(chosen, scale: float) -> float:
    """About how long ``verify`` runs: scale × each chosen check's seconds at scale 1 (CHECK_SECONDS)."""
    return scale * sum(CHECK_SECONDS.get(c.code, DEFAULT_CHECK_SECONDS) for c in chosen)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def _run_check(c, seed: int, scale: float, advance):
    """``checks.run`` (a ``CheckResult``), with an exception outside the check itself turned into a failing
    result with ``error`` set (``checks.run`` does the same when the check raises)."""
    import time

    t0 = time.perf_counter()
    try:
        return checks.run(c, seed=seed, scale=scale, advance=advance)
    except Exception as exc:  # noqa: BLE001 - reported as an ERROR row, the other checks still run
        return checks.error_result(c, exc, seed=seed, scale=scale, seconds=time.perf_counter() - t0)


def _claim_lines(r) -> str:
    """The verify table's claims cell: one sentence per claim (the failing ones in red), then the error."""
    lines = [escape(c.sentence) if c.holds else f"[bold red]{escape(c.sentence)}[/]" for c in r.claims]
    if r.error:
        lines.append(f"[bold red]error: {escape(_one_line(r.error))}[/]")
    return "\n".join(lines) or "—"


def cmd_verify(args, console: Console) -> int:
    chosen = _select(args.only)
    seed = _seed(args.seed)
    scale = _scale(args.scale)
    target = json_target(args.json)
    estimate = estimated_seconds(chosen, scale)
    if estimate > ANNOUNCE_ABOVE:
        _stderr().print(f"estimated run time: about {_duration(estimate)} ({len(chosen)} check(s) at scale "
                        f"{scale:g}; Ctrl-C stops)", highlight=False)
    records = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.quiet) as progress:
        overall = progress.add_task("all checks", total=len(chosen))
        for c in chosen:
            task = progress.add_task(f"{c.code} {c.id}", total=100)
            rec = _run_check(c, seed, scale, advance=lambda f, t=task: progress.update(t, completed=100 * f))
            progress.remove_task(task)
            progress.advance(overall)
            records.append(rec)
    table = Table(title=f"ntkcheck verify (seed {seed}, scale {scale:g})")
    for col, ratio in (("code", None), ("statement", 1), ("what was checked: observed, relation, bound", 3),
                       ("trials", None), ("holds", None), ("s", None)):
        table.add_column(col, overflow="fold", justify="right" if col in ("trials", "s") else "left",
                         no_wrap=col in ("code", "holds"), ratio=ratio)
    for r in records:
        verdict = "[bold red]ERROR[/]" if r.error else "[green]yes[/]" if r.holds else "[bold red]NO[/]"
        table.add_row(r.code, escape(r.short or r.statement or ""), _claim_lines(r), str(r.trials), verdict,
                      f"{r.seconds:.1f}", end_section=True)
    console.print(table)
    for r in records:                    # a certificate beside the sampled check (G6: C1 on its first data set)
        c1 = r.details.get("C1")
        if c1:
            cert = (f"certified λ_min ∈ [{c1['certified'][0]:.10g}, {c1['certified'][1]:.10g}] "
                    f"({c1['method']}, {c1['bits']} bits), K ≻ 0 proved: {c1['positive_definite_proved']}"
                    if c1.get("certified") else c1.get("reason", "not certified"))
            console.print(f"{r.code} data ({c1['n']} points in R^{c1['d']}, σ = {c1['sigma']:g}): float64 "
                          f"eigvalsh λ_min = {c1['float64_lambda_min']:.3g}; {escape(cert)}", highlight=False)
    errors = [r for r in records if r.error]
    failed = [r.code for r in records if not r.holds and not r.error]
    total = sum(r.seconds for r in records)
    if target is not None:
        write_json(target, [r.to_json() for r in records])
        console.print(f"wrote {len(records)} records to {target}")
    if errors:
        err = _stderr()
        for r in errors:
            err.print(f"[bold red]error:[/] {r.code} {r.id}: {escape(_one_line(r.error))}", highlight=False)
        err.print(f"[bold red]{len(errors)} check(s) raised an error: {', '.join(r.code for r in errors)}[/]"
                  + (f"; {len(failed)} failed: {', '.join(failed)}" if failed else ""), highlight=False)
        return 3
    if failed:
        console.print(f"[bold red]{len(failed)} check(s) FAILED: {', '.join(failed)}[/] ({total:.1f} s)")
        return 1
    console.print(f"all {len(records)} checks hold ({total:.1f} s)")
    return 0


def cmd_list(args, console: Console) -> int:
    table = Table(title="registered checks")
    for col in ("code", "id", "proofs module", "what the check does"):
        table.add_column(col, overflow="fold")
    for c in checks.all_checks():
        table.add_row(c.code, c.id, f"proofs/{c.proof}.py", escape(c.what))
    console.print(table)
    return 0


def cmd_proof(args, console: Console) -> int:
    from ntkcheck import proofs

    code = args.code.strip()
    mod = None
    for cand in dict.fromkeys((code, code.upper(), code.lower())):   # a code or id in any case, as --only
        try:
            mod = proofs.lemma(cand)
            break
        except KeyError as exc:
            message = exc.args[0]
    if mod is None:
        raise UsageError(message.replace(repr(code.lower()), repr(code)).replace(repr(code.upper()), repr(code)))
    with console.status(f"running the sympy derivation of {mod.CODE}"):
        der = mod.derive()
    console.print(f"[bold]{der.code} {der.id}[/]: {escape(der.statement)}\n")
    for k, s in enumerate(der.steps, 1):
        line = f"{k:>2}. {escape(s.label)}  [dim]({s.kind})[/]"
        if s.lhs is not None:
            line += escape(f"\n    {s.lhs}  {s.relation}  {s.rhs}")
        if s.note:
            line += f"\n    [italic]{escape(s.note)}[/]"
        console.print(line, highlight=False)
    console.print(f"\n{len(der.steps)} steps, all asserted: {der.summary()}")
    return 0


def _configured(module, cfg, changes: dict):
    """``module.validate(cfg with changes)``; a bad value becomes a one-line usage error."""
    from dataclasses import replace

    try:
        return module.validate(replace(cfg, **changes))
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _need_matplotlib(option: str) -> None:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(f"{option} needs matplotlib: pip install matplotlib "
                         "(or pip install -e '.[book]')") from None


def _plot_dir(value: str | None) -> Path | None:
    """The --plot-dir folder (which must exist), after checking that matplotlib is installed."""
    if value is None:
        return None
    if not value.strip():
        raise UsageError("--plot-dir: empty path, give a folder")
    folder = Path(value)
    if not folder.is_dir():
        raise UsageError(f"--plot-dir {value}: not an existing folder")
    _writable_folder("--plot-dir", value, folder)
    _need_matplotlib("--plot-dir")
    return folder


def _names(text: str) -> tuple[str, ...]:
    """A comma-separated list (e.g. of activations), blanks dropped; the experiment validates the names."""
    return tuple(a.strip() for a in text.split(",") if a.strip())


def _run_counting(run, cfg, title: str, console: Console, quiet: bool):
    """``run(cfg, progress=...)`` under a progress bar of completed units (``progress(done, total, desc)``),
    with the throughput and an estimate of the remaining time (units finished in this run only: a resumed
    sweep's cached cells do not count as speed)."""
    from ntkcheck.sweep import Rate

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[rate]}"))
    rate = Rate()
    with Progress(*columns, console=console, transient=True, disable=quiet) as progress:
        task = progress.add_task(title, total=None, rate="")

        def report(done, total, desc):
            speed, left = rate.update(done, total)
            info = "" if speed is None else f"{speed * 60:.3g}/min, ~{_duration(left or 0)} left"
            progress.update(task, completed=done, total=total, description=desc, rate=info)

        return run(cfg, progress=report)


def _engine_options(parser: argparse.ArgumentParser) -> None:
    """--workers, --scheduler, --cache: how the sweep's cells run (ntkcheck.sweep.run_cells)."""
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="run the cells on a local Dask cluster of N worker processes (default 1: serial; "
                             "needs pip install 'ntkcheck[distributed]')")
    parser.add_argument("--scheduler", metavar="ADDRESS",
                        help="run the cells on an existing Dask cluster, e.g. tcp://host:8786")
    parser.add_argument("--cache", metavar="DIR",
                        help="keep each finished cell in DIR/cells.jsonl; a rerun with the same options "
                             "(e.g. after a kill) computes only the missing cells")


def _engine(args) -> dict:
    """The engine options of --workers/--scheduler/--cache, checked before any computing (UsageError):
    Dask installed, a reachable scheduler, a writable cache folder.  Empty for the serial default."""
    from ntkcheck import sweep

    engine = {}
    if args.workers != 1:
        if args.workers < 1:
            raise UsageError(f"--workers must be >= 1, got {args.workers}")
        engine["workers"] = args.workers
    if args.scheduler is not None:
        if args.workers != 1:
            raise UsageError("--workers and --scheduler exclude each other: --workers starts a local cluster, "
                             "--scheduler uses an existing one")
        engine["scheduler"] = args.scheduler
    if args.cache is not None:
        if not args.cache.strip():
            raise UsageError("--cache: empty path, give a folder")
        try:
            folder = sweep.cache_folder(args.cache)
        except sweep.EngineError as exc:
            raise UsageError(f"--cache {args.cache}: {exc}") from None
        _writable_folder("--cache", args.cache, folder)
        engine["cache"] = folder
    try:
        sweep.check_engine(**engine)
        if "scheduler" in engine:
            sweep.connect(engine["scheduler"]).close()      # reachable: say so now, not after other work
    except sweep.EngineError as exc:
        msg = str(exc)
        for opt in ("workers", "scheduler", "cache"):
            if msg.startswith(opt):
                msg = "--" + msg
                break
        raise UsageError(msg) from None
    return engine


def _with_engine(run, engine: dict):
    """``run`` with the engine options bound (``run`` itself when there are none: the serial default); a
    UsageError, before computing, if this experiment's ``run`` takes no engine options."""
    if not engine:
        return run
    import functools
    import inspect

    params = inspect.signature(run).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        missing = [k for k in engine if k not in params]
        if missing:
            raise UsageError(f"--{missing[0]}: this experiment does not run its work as cells yet")
    return functools.partial(run, **engine)


def _size_options(parser: argparse.ArgumentParser, quick: str, full: str) -> None:
    """--quick (the default) and --full, mutually exclusive."""
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help=f"the quick defaults ({quick}; the default)")
    size.add_argument("--full", action="store_true", help=full)


def _write_outputs(console: Console, result: dict, target: Path | None, plot_dir: Path | None, plot) -> None:
    """The JSON (atomically) and the figures (``plot(result, folder)`` → paths), each reported."""
    if target is not None:
        write_json(target, result)
        console.print(f"wrote {target}")
    if plot_dir is not None:
        for path in plot(result, plot_dir):
            console.print(f"wrote {path}")


def cmd_width(args, console: Console) -> int:
    from ntkcheck.experiments import width

    cfg = width.FULL if args.full else width.QUICK
    changes = {"data_seed": _seed(args.seed)}
    if args.activations is not None:
        changes["activations"] = _names(args.activations)
    if args.n_values is not None:
        try:
            changes["n_values"] = tuple(int(v) for v in args.n_values.split(",") if v.strip())
        except ValueError:
            raise UsageError(f"--n-values must be comma-separated integers, got {args.n_values!r}") from None
    if args.seeds is not None:
        changes["seeds"] = args.seeds
    if args.eta_rule is not None:
        changes["eta_rule"] = args.eta_rule
    if args.no_cert:
        changes["certify"] = False
    if args.no_lazy:
        changes["lazy"] = False
    if args.certify_draws:
        if args.no_cert:
            raise UsageError("--certify-draws needs the certified widths (drop --no-cert)")
        try:
            import flint  # noqa: F401
        except ImportError:
            raise UsageError("--certify-draws needs python-flint: pip install 'ntkcheck[certify]'") from None
        changes["certify_draws"] = True
    cfg = _configured(width, cfg, changes)
    engine = _engine(args)
    target = json_target(args.json)
    plot_dir = _plot_dir(args.plot_dir)
    from ntkcheck.plots import width as width_plots

    run = _with_engine(width.run, engine)
    result = _run_counting(run, cfg, "width experiment", console, args.quiet)
    table = Table(title=f"width experiment ({'full' if args.full else 'quick'}; seed {cfg.data_seed}; "
                        f"{result.seconds:.0f} s, {result.cells} cells)")
    heads = ("activation", "n", "λ", "m_emp", "m_lazy", "λ₀", "m_lazy·λ₀²", "m_cert T1'", "m_cert T1", "m_cert T1-B7",
             "m_cert T1-B1B7", "C3 (proved draws)")
    for col in heads:
        table.add_column(col, justify="left" if col == "activation" else "right")
    for r in result.rows:
        table.add_row(r.activation, str(r.n), _fmt(r.lam), *(
            "—" if v is None else f"{v:.3g}" for v in (r.m_emp, r.m_lazy, r.lam0_at_m_lazy, r.m_lazy_lam0_sq,
                                                      r.m_cert_T1p, r.m_cert_T1, r.m_cert_T1_B7, r.m_cert_T1_B1B7,
                                                      r.m_cert_C3)))
    console.print(table)
    if cfg.certify_draws:
        console.print("C3: each draw counted is proved in ball arithmetic; the probability over the draws is a "
                      "statistical statement (Clopper–Pearson).")
    fits = Table(title="fitted exponent of n (95% interval)")
    for col in ("activation", "width", "slope", "interval", "points"):
        fits.add_column(col)
    unfitted = []
    for f in result.fits:
        if f.slope is None:
            unfitted.append(f"{f.activation} {f.column}")
            continue
        fits.add_row(f.activation, f.column, _fmt(f.slope), f"[{f.ci[0]:.2f}, {f.ci[1]:.2f}]", str(f.points))
    console.print(fits)
    if unfitted:
        console.print(f"not fitted (fewer than 3 widths): {', '.join(unfitted)}")
    console.print(f"reference exponents: paper {width.PAPER_EXPONENT:g}, ReLU (Du et al. 2019) "
                  f"{width.RELU_LITERATURE_EXPONENT:g}")
    _write_outputs(console, result.to_json(), target, plot_dir, lambda res, folder: width_plots.plot(result, folder))
    return 0


def cmd_diffusion(args, console: Console) -> int:
    from ntkcheck.experiments import diffusion

    cfg = diffusion.FULL if args.full else diffusion.QUICK
    changes = {"seed": _seed(args.seed)}
    if args.no_pictures:
        changes["pictures"] = False
    cfg = _configured(diffusion, cfg, changes)
    target = json_target(args.json)
    plot_dir = _plot_dir(args.plot_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
               TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.quiet) as progress:
        tasks = {}

        def report(phase, frac):
            if phase not in tasks:
                tasks[phase] = progress.add_task(phase, total=100)
            progress.update(tasks[phase], completed=100 * frac)

        result = diffusion.run(cfg, progress=report)
    st, a = result.settings, result.claims
    table = Table(title=f"score error E‖ŝ − ∇log p_t‖² at t = {st.t:g} ({'full' if args.full else 'quick'}; "
                        f"m = {st.m}, σ = {st.sigma:g}, {st.seeds} seed(s), ρ = {st.rho:.3g})")
    for col in ("n", "network", "kernel H*", "affine", "trivial", "network/trivial", "early stop", "kernel k"):
        table.add_column(col, justify="right")
    for r in result.rows:
        table.add_row(str(r.n), *(f"{v:.3g}" for v in (r.error_nn, r.error_kernel, r.error_affine, r.error_trivial,
                                                      r.ratio_nn_trivial)),
                      ",".join(str(s) for s in r.early_stop_steps) + (" (budget)" if r.any_hit_budget else ""),
                      ",".join(str(k) for k in r.kernel_k))
    console.print(table)
    console.print(f"fitted slope of log error vs log n: network {a.slope_nn:.2f} "
                  f"[{a.slope_nn_ci[0]:.2f}, {a.slope_nn_ci[1]:.2f}], kernel {a.slope_kernel:.2f} "
                  f"[{a.slope_kernel_ci[0]:.2f}, {a.slope_kernel_ci[1]:.2f}] (95%)")
    trk = result.tracking
    tt = Table(title=f"tracking: max_k RMS ‖f_NN − f_lin‖ (n = {trk.n}, {trk.steps} steps)")
    for col in ("m", "H* train", "H* fresh", "H(W(0)) train", "H(W(0)) fresh"):
        tt.add_column(col, justify="right")
    for r in trk.per_m:
        tt.add_row(str(r.m), *(f"{v:.3g}" for v in (r.max_star_train, r.max_star_fresh, r.max_emp_train,
                                                   r.max_emp_fresh)))
    sl = trk.slopes
    tt.add_row("slope", *(f"{f.slope:.2f}" for f in (sl.star_train, sl.star_fresh, sl.emp_train, sl.emp_fresh)))
    console.print(tt)
    if result.pictures:
        ed = result.pictures.energy_distance
        console.print("probability-flow ODE, energy distance to p_(t_min): learned score "
                      f"{ed.learned_ode_vs_p_tmin:.4f}, true score {ed.exact_ode_vs_p_tmin:.4f}, "
                      f"sampling floor {ed.sampling_floor:.4f}")
    console.print(f"slope < 0: {a.slope_nn_negative}; tracking decreasing in m: {a.tracking_decreasing_in_m}; "
                  f"network/trivial at n = {result.rows[-1].n}: {a.ratio_nn_trivial_at_largest_n:.3g} "
                  f"({result.seconds.total:.0f} s)")
    from ntkcheck.plots import diffusion as diffusion_plots
    _write_outputs(console, result.to_json(), target, plot_dir,
                   lambda res, folder: diffusion_plots.plot(result, folder))
    return 0


def cmd_compare(args, console: Console) -> int:
    from ntkcheck.experiments import compare

    cfg = compare.FULL if args.full else compare.QUICK
    changes = {"data_seed": _seed(args.seed)}
    if args.activations is not None:
        changes["activations"] = _names(args.activations)
    if args.no_width:
        changes["width"] = False
    cfg = _configured(compare, cfg, changes)
    engine = _engine(args)
    target = json_target(args.json)
    plot_dir = _plot_dir(args.plot_dir)
    run = _with_engine(compare.run, engine)
    result = _run_counting(run, cfg, "beyond softmax", console, args.quiet)
    rows = result.table
    head = (f"n = {cfg.n}, d = {cfg.d}, σ = {cfg.sigma:g}, m = {cfg.m}, κ = m, {cfg.seeds} draws, "
            "the same data and W(0) for every activation")
    t1 = Table(title=f"beyond softmax — kernel and perturbation ({head})")
    for col in ("activation", "λ_min(K)", "‖K‖/λ sphere", "‖K‖/λ ball", "‖H₀−H*‖/λ",
                *(f"‖ΔH‖/(Rλ) {k}" for k in compare.DIRECTIONS), *(f"R_λ/4 {k}" for k in compare.DIRECTIONS)):
        t1.add_column(col, justify="left" if col == "activation" else "right")
    R0 = cfg.radii[0]
    for r in rows:
        t1.add_row(r.activation, _fmt(r.lam), _fmt(r.condition), _fmt(r.condition_ball),
                   _fmt(r.finite_width_over_lambda), *(_fmt(r.sensitivity[k]) for k in compare.DIRECTIONS),
                   *(r.r_quarter_text[k] for k in compare.DIRECTIONS))
    console.print(t1)
    console.print(f"λ = λ_min(K_φ); H₀ = H(W(0)) (T1's (i) asks ‖H₀ − H*‖ ≤ λ/4); ‖ΔH‖/(Rλ) at R = {R0:g}, the "
                  "largest over the draws; R_λ/4: the radius where ‖ΔH‖₂ first reaches λ/4 (log–log interpolation "
                  "on the grid).", highlight=False)
    t2 = Table(title=f"beyond softmax — training at η = {cfg.c:g}/(m(‖H*‖₂ + λ/2)) and shift-invariance (G2)")
    for col in ("activation", "steps to ε", "T predicted", "observed rate", "guaranteed rate",
                "common share of Δw", "‖ΔF‖/‖F‖ shift", "‖ΔH‖/‖H‖ shift", "m_emp slope [95%]"):
        t2.add_column(col, justify="left" if col == "activation" else "right")
    for r in rows:
        ci = r.m_emp_ci
        t2.add_row(r.activation, "not reached" if r.steps is None else str(r.steps), str(r.T_predicted),
                   f"{r.observed_rate:.5f}", f"{r.guaranteed_rate:.5f}", _fmt(r.common_move_share, 2),
                   _fmt(r.shift_F_change, 2), _fmt(r.shift_H_change, 2),
                   "—" if not ci else f"{r.m_emp_slope:.2f} [{ci[0]:.2f}, {ci[1]:.2f}]")
    console.print(t2)
    if result.width is not None:
        w = result.width
        t3 = Table(title=f"m_emp(n) ({w.config['seeds']} seeds, δ = {w.config['delta']:g}, ε = {cfg.eps:g}; "
                         "— : no width reached ε in the predicted T)")
        t3.add_column("activation")
        for n in cfg.width_n:
            t3.add_column(f"n={n}", justify="right")
        for r in rows:
            t3.add_row(r.activation, *("—" if r.m_emp.get(n) is None else str(r.m_emp[n]) for n in cfg.width_n))
        console.print(t3)
    console.print(f"({result.seconds['total']:.0f} s)")
    from ntkcheck.plots import compare as figures

    _write_outputs(console, result.to_json(), target, plot_dir, lambda _, folder: figures.plot(result, folder))
    return 0


FULL_WIDTH_HELP = ("m_emp to n = 128 (10 seeds), m_lazy to n = 64, the streamed m_cert of T1', T1 and T1-B7 to "
                   "n = 16 (m ~ 10⁸, memory flat). Measured as the CPU time of its cells (run in parts on a loaded "
                   "2-core machine; the book's width chapter): m_emp 15 min, m_lazy 28 min, m_cert(T1') 32 min "
                   "(one draw about 75 s at m = 2.7·10⁸, n = 16; 14 draws per passing width), C3 for n ≤ 6 "
                   "16 min: about 1.5 CPU hours; T1 and T1-B7 not run beyond n = 4. With --workers 2 at least "
                   "45 min of wall time (an estimate from the CPU time, not measured)")


def _output_options(parser: argparse.ArgumentParser) -> None:
    """--json, --plot-dir and --quiet of an experiment command."""
    parser.add_argument("--json", metavar="PATH", help="write the result as JSON to PATH")
    parser.add_argument("--plot-dir", metavar="DIR", help="save the figures (PNG) into DIR")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _version() -> str:
    from importlib import metadata

    try:
        return metadata.version("ntkcheck")
    except metadata.PackageNotFoundError:  # pragma: no cover - a source tree that is not installed
        from ntkcheck import __version__

        return __version__


def _activation_lines() -> str:
    """One help line per registered activation: its name and description."""
    from ntkcheck.core import activations as registry

    width = max(map(len, registry.names()))
    return "\n".join(f"  {a:<{width}}  {registry.get(a).description}" for a in registry.names())


def build_parser() -> argparse.ArgumentParser:
    from ntkcheck.core import activations as registry   # no sympy: the registry compiles on first use

    compare_defaults = registry.builtin_names()
    fmt = argparse.RawDescriptionHelpFormatter
    ap = argparse.ArgumentParser(prog="ntkcheck", description=DESCRIPTION, epilog=EXIT_STATUSES,
                                 formatter_class=fmt)
    ap.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    ap.add_argument("--debug", action="store_true", help="on an internal error, show the traceback")
    # --debug is accepted after the subcommand too (SUPPRESS: it does not reset the global one)
    debug = argparse.ArgumentParser(add_help=False)
    debug.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                       help="on an internal error, show the traceback")
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name, help, description):
        return sub.add_parser(name, help=help, description=description, epilog=EXIT_STATUSES,
                              formatter_class=fmt, parents=[debug])

    v = command("verify", "run the numeric check of every registered lemma",
                "Run the numeric check of every registered lemma (or of those named by --only) and print one "
                "row per check: its claims, one sentence each (what was checked, the number observed, the relation "
                f"and the bound), the trials and the verdict. --scale multiplies the trials (at least {MIN_SCALE:g}); a long run is announced "
                "with an estimate of its time.")
    v.add_argument("--only", metavar="CODES", help="comma-separated codes or ids, e.g. G1,B2,ntk-limit")
    v.add_argument("--scale", type=float, default=1.0,
                   help=f"multiply every check's trials (default 1, at least {MIN_SCALE:g})")
    v.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    v.add_argument("--json", metavar="PATH", help="write one JSON record per check to PATH")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_verify)
    command("list", "list the registered checks",
            "List the registered checks: code, id, proofs module and what each check does.").set_defaults(
        func=cmd_list)
    w = command("width", "the width experiment: m_emp(n), m_lazy(n) and m_cert(n) (softmax, exp, relu by default)",
                "The paper's width claim: the smallest width at which gradient descent reaches the target loss "
                "(m_emp), the smallest at which it does so in T1''s predicted steps while the NTK stays within "
                "λ₀/4 of H(W(0)) (m_lazy, where the theorem's mechanism operates), and the widths certified by "
                "T1 and its variants (m_cert), against the number of training points n, with fitted exponents "
                "of n beside the paper's 2 and Du et al.'s 6.")
    _output_options(w)
    w.add_argument("--activations", metavar="LIST", help=f"comma-separated, from {registry.choices_text()} (default softmax,exp,relu)")
    w.add_argument("--n-values", metavar="N,N,...", help="the training-set sizes n (quick 2,3,4,6,8; full "
                   "2,3,4,6,8,11,16,23,32,45,64,91,128, m_lazy to 64, the Monte Carlo m_cert to 16)")
    w.add_argument("--seeds", type=int, help="GD runs per (activation, n, m) of m_emp (quick 5, full 10)")
    w.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0): data, labels and every draw")
    _size_options(w, "under a minute on two cores: n ≤ 8, m_lazy to n = 8, m_cert to n = 4",
                  FULL_WIDTH_HELP)
    w.add_argument("--eta-rule", choices=("limit", "empirical"), help="λ and ‖H‖ of m_emp's step size: the "
                   "infinite-width NTK (default) or H(W(0)) of each draw")
    w.add_argument("--no-cert", action="store_true", help="skip the certified widths")
    w.add_argument("--no-lazy", action="store_true", help="skip the NTK-regime width m_lazy")
    w.add_argument("--certify-draws", action="store_true",
                   help="C3: beside the sampled m_cert(T1'), the width at which T1' is proved in ball arithmetic "
                        "for each draw (needs python-flint; n ≤ 6; slow)")
    _engine_options(w)
    w.set_defaults(func=cmd_width)
    p = command("proof", "show a lemma's symbolic derivation",
                "Run a lemma's sympy derivation and print it step by step, each step asserted.")
    p.add_argument("code", help="a code or id in any case, e.g. G1, g1 or softmax-gradient")
    p.set_defaults(func=cmd_proof)
    df = command("diffusion", "the application (D1–D6): learning a diffusion model's score",
                 "The application (D1–D6): learn the score of a two-dimensional Gaussian mixture's diffusion "
                 "with the softmax network; the score error against n next to kernel regression and the "
                 "trivial predictor, the tracking distance to the linearized predictor against the width, and "
                 "probability-flow ODE samples.")
    _size_options(df, "a few minutes",
                  "n up to 2048, m = 1024, 3 seeds, larger step budgets (roughly an hour on two cores)")
    df.add_argument("--seed", type=int, default=0, help="random seed, >= 0 (default 0)")
    df.add_argument("--no-pictures", action="store_true", help="skip the two-dimensional pictures (faster)")
    _output_options(df)
    df.set_defaults(func=cmd_diffusion)
    c = command("compare", "beyond softmax: the activations on the same data",
                "Beyond softmax: the networks of the registered activations on the same data and initial "
                "weights: the limit kernel, the finite-width and perturbation errors of the NTK, training at "
                "T1's step size, shift-invariance (G2) and m_emp(n).\n\nactivations:\n" + _activation_lines())
    _size_options(c, "about a minute", "n = 32, m = 4096, 10 draws, m_emp up to n = 64 (about 9 minutes on two cores)")
    c.add_argument("--activations", metavar="LIST",
                   help=f"comma-separated, from {registry.choices_text()} (default {','.join(compare_defaults)})")
    c.add_argument("--seed", type=int, default=0, help="data seed, >= 0 (default 0)")
    c.add_argument("--no-width", action="store_true", help="skip m_emp(n) (the slow part)")
    _engine_options(c)   # the engine of the m_emp(n) cells; the other sections run in this process
    _output_options(c)
    c.set_defaults(func=cmd_compare)
    from ntkcheck.certify.cli import add_parser as add_certify   # C1–C3; python-flint is imported only when run

    add_certify(sub)
    return ap


def _stderr() -> Console:
    """Messages (errors, warnings, estimates) go to stderr, one line each, never wrapped."""
    return Console(stderr=True, soft_wrap=True)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _error(message: str) -> None:
    _stderr().print(f"[bold red]error:[/] {escape(_one_line(message))}", highlight=False)


def main(argv=None) -> int:
    """The ``ntkcheck`` entry point; returns the exit status (0 holds, 1 failed, 2 usage, 3 internal error)."""
    debug = False
    try:
        args = build_parser().parse_args(argv)
        debug = getattr(args, "debug", False)
        # a wide table even when the output is a pipe or a CI log (rich assumes 80 columns there)
        console = Console() if sys.stdout.isatty() else Console(width=150)
        return args.func(args, console)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - an internal error: one line unless --debug
        if debug:
            raise
        _error(f"internal error: {type(exc).__name__}: {exc} (run with --debug for the traceback)")
        return 3


if __name__ == "__main__":
    try:
        status = main()
    except KeyboardInterrupt:  # pragma: no cover - a Ctrl-C in the instant before main's own handler
        sys.stderr.write("interrupted\n")
        status = 130
    sys.exit(status)
