"""The ``ntkcheck`` command line.

    ntkcheck verify [--only G1,B2,...] [--scale S] [--seed N] [--json PATH]
    ntkcheck list
    ntkcheck proof CODE          # the symbolic derivation of a lemma, step by step

Errors in arguments print one line naming the problem and exit with status 2; a failing check exits 1.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ntkcheck import checks
from ntkcheck._results import write_json


class UsageError(ValueError):
    """A bad argument: reported in one line, exit status 2."""


def _fmt(x) -> str:
    return "—" if x is None else f"{x:.3g}"


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


def _json_target(path: str | None) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--json {path}: is a directory, give a file name")
    if not (p.parent if str(p.parent) else Path(".")).is_dir():
        raise UsageError(f"--json {path}: folder {p.parent} does not exist")
    return p


def cmd_verify(args, console: Console) -> int:
    chosen = _select(args.only)
    if not args.scale > 0:
        raise UsageError(f"--scale must be > 0, got {args.scale}")
    target = _json_target(args.json)
    records = []
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True, disable=args.quiet) as progress:
        overall = progress.add_task("all checks", total=len(chosen))
        for c in chosen:
            task = progress.add_task(f"{c.code} {c.id}", total=100)
            rec = checks.run(c, seed=args.seed, scale=args.scale,
                             advance=lambda f, t=task: progress.update(t, completed=100 * f))
            progress.remove_task(task)
            progress.advance(overall)
            records.append(rec)
    table = Table(title=f"ntkcheck verify (seed {args.seed}, scale {args.scale:g})")
    for col in ("code", "id", "statement", "trials", "worst obs/bound", "max error (tol)", "holds", "s"):
        table.add_column(col, overflow="fold", justify="right" if col in ("trials", "s") else "left",
                         no_wrap=col in ("code", "id"))
    for r in records:
        err = None if "max_error" not in r else f"{r['max_error']:.2g} ({_fmt(r.get('tolerance'))})"
        table.add_row(r["code"], r["id"], escape(r["short"] or r["statement"]), str(r["trials"]), _fmt(r.get("worst_ratio")),
                      err or "—", "[green]yes[/]" if r["holds"] else "[bold red]NO[/]", f"{r['seconds']:.1f}")
    console.print(table)
    failed = [r["code"] for r in records if not r["holds"]]
    total = sum(r["seconds"] for r in records)
    if target is not None:
        write_json(target, records)
        console.print(f"wrote {len(records)} records to {target}")
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
    import proofs

    try:
        mod = proofs.lemma(args.code)
    except KeyError as exc:
        raise UsageError(exc.args[0]) from None
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


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="ntkcheck", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    v = sub.add_parser("verify", help="run the numeric check of every registered lemma")
    v.add_argument("--only", metavar="CODES", help="comma-separated codes or ids, e.g. G1,B2,ntk-limit")
    v.add_argument("--scale", type=float, default=1.0, help="multiply every check's trials (default 1)")
    v.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    v.add_argument("--json", metavar="PATH", help="write one JSON record per check to PATH")
    v.add_argument("--quiet", action="store_true", help="no progress bar")
    v.set_defaults(func=cmd_verify)
    sub.add_parser("list", help="list the registered checks").set_defaults(func=cmd_list)
    p = sub.add_parser("proof", help="show a lemma's symbolic derivation")
    p.add_argument("code", help="a code or id, e.g. G1 or softmax-gradient")
    p.set_defaults(func=cmd_proof)
    return ap


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # a wide table even when the output is a pipe or a CI log (rich assumes 80 columns there)
    console = Console() if sys.stdout.isatty() else Console(width=150)
    try:
        return args.func(args, console)
    except UsageError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
