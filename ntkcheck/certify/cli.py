"""The ``ntkcheck certify`` subcommand (wired into ntkcheck/cli.py's parser by :func:`add_parser`).

    ntkcheck certify kernel --data X.npy --sigma S [--method auto|rump-float64|arb-ldl] [--json PATH]
    ntkcheck certify convergence --data X.npy --labels Y.npy --m M --sigma S --seed N [--eta E] [--kappa K]
                                 [--scheme symmetric|iid] [--gd-steps T] [--json PATH]
    ntkcheck certify width --data X.npy --labels Y.npy --sigma S --widths M,M,... [--delta D] [--json PATH]
    ntkcheck certify digits --out DIR [--classes 0,1] [--n N] [--labels pm1|onehot]   (scikit-learn's digits)
    ntkcheck certify check FILE

kernel, convergence and width take one of --rescale, --normalize, --lift (:mod:`ntkcheck.certify.inputs`):
the data are transformed as stated, the output says so, and the certificate records it (``check`` redoes it).

Exit status: 0 proved / accepted, 1 a hypothesis fails or is undecided / the file is rejected, 2 bad input.
"""
from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape


def _usage(msg: str):
    from ntkcheck.cli import UsageError   # imported here: ntkcheck.cli imports this module

    return UsageError(msg)


def _json_target(path):
    """--json PATH checked as every other command checks it (writable folder, not empty, not a directory)."""
    from ntkcheck.cli import json_target as checked

    return checked(path)


def _written(cert: dict, target, console, proved) -> int:
    """Write the certificate to ``target`` (if any); exit status 0 when proved, else 1."""
    if target is not None:
        from ntkcheck.certify import files

        files.write(cert, target)
        console.print(f"wrote {target}")
    return 0 if proved else 1


def _run(fn, args, console) -> int:
    try:
        return fn(args, console)
    except ValueError as exc:
        if type(exc).__name__ == "UsageError":
            raise
        raise _usage(str(exc)) from None


def _transform(args):
    return next((t for t in ("rescale", "normalize", "lift") if getattr(args, t, False)), None)


def _say_transform(info, console) -> None:
    from ntkcheck.certify import files

    line = files.transform_line(info)
    if line:
        console.print(escape(line), highlight=False)


def _kernel(args, console) -> int:
    from ntkcheck.certify import files

    target = _json_target(args.json)
    cert = files.kernel_certificate(args.data, args.sigma, method=args.method, transform=_transform(args))
    _say_transform(cert["inputs"]["data"], console)
    lam = cert["enclosures"]["lambda_min"]
    inp = cert["inputs"]
    console.print(f"C1 kernel-pd-certificate: n = {inp['n']}, d = {inp['d']}, σ = {args.sigma:g}, "
                  f"method {inp['method']} ({inp['prec_bits']} bits), {cert['seconds']:.2f} s", highlight=False)
    console.print(f"λ_min(K) ∈ [{lam[0] if lam else '—'}, {lam[1] if lam else '—'}]"
                  + (f"  (relative width {cert['relative_width']:.2g})" if cert["relative_width"] else ""),
                  highlight=False)
    console.print(f"float64 eigvalsh says λ_min = {cert['float64_eigvalsh_lambda_min']:.3g}", highlight=False)
    console.print(cert["verdicts"]["statement"], highlight=False)
    if cert.get("note"):
        console.print(escape(cert["note"]), highlight=False)
    return _written(cert, target, console, cert["verdicts"]["positive_definite"])


def _convergence(args, console) -> int:
    from ntkcheck.certify import files

    target = _json_target(args.json)
    if args.gd_steps < 0:
        raise _usage(f"--gd-steps must be >= 0, got {args.gd_steps}")
    cert = files.convergence_certificate(args.data, args.labels, args.m, args.sigma, args.seed, scheme=args.scheme,
                                         kappa=args.kappa, eta=args.eta, gd_steps=args.gd_steps,
                                         transform=_transform(args), method=args.method)
    inp = cert["inputs"]
    _say_transform(inp["data"], console)
    console.print(f"C2 convergence-certificate (T1'): n = {inp['n']}, d = {inp['d']}, d' = {inp['d_out']}, "
                  f"m = {inp['m']}, σ = {args.sigma:g}, seed {inp['seed']}, {inp['scheme']} init, κ = {inp['kappa']}, "
                  f"η = {inp['eta']}, R₀ = {inp['R0']}; sums over neurons: {inp['method']}", highlight=False)
    for k, v in cert["enclosures"].items():
        console.print(f"  {k:22s} ∈ [{v[0]}, {v[1]}]", highlight=False)
    for name, h in cert["hypotheses"].items():
        mark = {"holds": "holds", "fails": "FAILS", "undecided": "UNDECIDED"}[h["verdict"]]
        margin = f"  margin ∈ [{h['margin'][0]}, {h['margin'][1]}]" if "margin" in h else ""
        console.print(f"  {name:6s} {escape(h['what'])}: {mark}{margin}", highlight=False)
    gd = cert.get("gd_consistency")
    if cert["verdicts"]["proved"]:
        console.print(escape(cert["theorem"]), highlight=False)
    else:
        bad = [n for n, h in cert["hypotheses"].items() if h["verdict"] != "holds"]
        console.print(f"not proved: {', '.join(bad)} " + ("fail" if len(bad) > 1 else "fails") + " or undecided",
                      highlight=False)
    if gd:
        console.print(f"float64 GD consistency ({gd['steps']} steps, not part of the proof): worst ‖e(t)‖/envelope "
                      f"{gd['residual_worst_ratio']:.6f}, worst movement/R₀ {gd['movement_worst_ratio']:.3g}, "
                      f"inside the envelope: {gd['inside_envelope']}", highlight=False)
    sec = cert["seconds"]
    gd_s = f", {gd['seconds']:.1f} s GD run" if gd else ""
    src = (cert.get("trust_base") or {}).get("lemmas_source", "")
    console.print(f"({sec['certificate']:.2f} s certificate{gd_s}; trust base {sec.get('trust_base', 0):.1f} s, "
                  f"its step kinds {src})", highlight=False)
    return _written(cert, target, console, cert["verdicts"]["proved"])


def _width(args, console) -> int:
    from ntkcheck.core import results as _results
    from ntkcheck.certify import files
    from ntkcheck.certify.width import certified_width

    target = _json_target(args.json)
    try:
        widths = [int(w) for w in args.widths.split(",") if w.strip()]
    except ValueError:
        raise _usage(f"--widths must be comma-separated integers, got {args.widths!r}") from None
    X, xinfo = files.load_instance(args.data, "--data", _transform(args))
    Y, yinfo = files.load_array(args.labels, "--labels", column=True)
    if Y.shape[0] != X.shape[0]:
        raise _usage(f"--labels {args.labels} has {Y.shape[0]} rows but --data {args.data} has {X.shape[0]} "
                     "(one label row per data row)")
    from ntkcheck.certify.inputs import require_unit_ball

    require_unit_ball(X, f"--data {args.data}")
    _say_transform(xinfo, console)
    r = certified_width(X, Y, args.sigma, widths, delta=args.delta, level=args.level, draws=args.draws,
                        seed0=args.seed0, scheme=args.scheme)
    for row in r["rows"]:
        console.print(f"  m = {row['m']:>9}: T1' proved on {row['proved']}/{row['draws']} draws, lower bound "
                      f"{row['lower_bound']:.3f} ({'passes' if row['passes'] else 'fails'}; not holding: "
                      f"{row['not_holding'] or '—'})", highlight=False)
    console.print(f"C3 certified width: m_cert = {r['m_cert'] if r['m_cert'] else 'none on this grid'} "
                  f"(δ = {r['delta']:g}, confidence {r['level']:g}; {r['seconds']:.1f} s)", highlight=False)
    console.print(escape(r["meaning"]), highlight=False)
    if target is not None:
        _results.write_json(target, r | {"inputs": {"data": xinfo, "labels": yinfo}, "versions": files.versions()})
        console.print(f"wrote {target}")
    return 0 if r["m_cert"] else 1


def _digits(args, console) -> int:
    from ntkcheck.certify import digits

    try:
        classes = [int(c) for c in args.classes.split(",") if c.strip()]
    except ValueError:
        raise _usage(f"--classes must be comma-separated digits 0-9, got {args.classes!r}") from None
    paths, info = digits.write_subset(args.out, classes=classes, n=args.n, labels=args.labels)
    console.print(escape(info["statement"]), highlight=False)
    for p in paths:
        console.print(f"wrote {p}", highlight=False)
    return 0


def _check(args, console) -> int:
    from ntkcheck.certify import files

    ok, msgs = files.check(args.file)
    for m in msgs:
        console.print(escape(m), highlight=False)
    return 0 if ok else 1


EXIT_STATUSES = """exit status:
  0  proved (kernel, convergence, width) or accepted (check)
  1  a hypothesis fails or is undecided, or the file is rejected
  2  a usage error: a bad argument or data file, reported in one line before any computation
  3  an internal error (one line; run with --debug for the traceback)
  130  interrupted (Ctrl-C)"""


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Add ``certify`` (with ``kernel``, ``convergence``, ``check``) to an argparse subparsers object."""
    c = subparsers.add_parser("certify", help="computer-assisted proofs for one concrete instance (C1, C2), "
                                              "in ball arithmetic (needs python-flint)",
                              description="Computer-assisted proofs for one concrete instance, in ball arithmetic "
                                          "(python-flint, the certify extra): C1 proves K ≻ 0 with an enclosure of "
                                          "λ_min(K); C2 decides T1' for a drawn W(0) and states the theorem for it; "
                                          "C3 proves it draw by draw over a grid of widths; check re-verifies a file.",
                              epilog=EXIT_STATUSES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = c.add_subparsers(dest="certify_command", required=True)
    k = sub.add_parser("kernel", help="C1: a verified enclosure of λ_min(K), K = G∘exp(σ²G), proving K ≻ 0")
    k.add_argument("--data", required=True, metavar="X.npy", help="the data X (n×d; .npy, or .csv: one sample a row)")
    k.add_argument("--sigma", required=True, type=float, help="σ of the kernel")
    k.add_argument("--method", default="auto", choices=("auto", "rump-float64", "arb-ldl"),
                   help="verified test: Rump's float64 Cholesky test or LDLᵀ in ball arithmetic (default: auto)")
    k.add_argument("--json", metavar="PATH", help="write the certificate to PATH")
    _transform_flags(k)
    k.set_defaults(func=lambda a, con: _run(_kernel, a, con))
    v = sub.add_parser("convergence", help="C2: T1' decided rigorously (ball arithmetic, float64 sums with a-priori "
                                           "bounds for large n·m) for the package's draw W(0)")
    _instance_flags(v)
    v.add_argument("--m", required=True, type=int, help="the width m (even for the symmetric init)")
    v.add_argument("--seed", required=True, type=int, help="the seed of init_params")
    v.add_argument("--eta", type=float, help="the step size (default: the largest (iii) allows, rigorously)")
    v.add_argument("--kappa", type=float, help="the output scale κ (default m)")
    v.add_argument("--scheme", default="symmetric", choices=("symmetric", "iid"), help="init scheme (default symmetric)")
    v.add_argument("--gd-steps", type=int, default=100, help="steps of the float64 consistency run (0: none)")
    v.add_argument("--method", default="auto", choices=("auto", "ball", "float64"),
                   help="the sums over the m neurons: ball arithmetic, or float64 with a-priori rounding bounds "
                        "(γ_k, and a proved exp); auto: ball for n·m ≤ 10⁵ (default)")
    v.add_argument("--json", metavar="PATH", help="write the certificate to PATH")
    _transform_flags(v)
    v.set_defaults(func=lambda a, con: _run(_convergence, a, con))
    w = sub.add_parser("width", help="C3: the smallest width on a grid at which T1' is proved for a fraction "
                                     "≥ 1 − δ of the draws (Clopper–Pearson over draws)")
    _instance_flags(w)
    w.add_argument("--widths", required=True, metavar="M,M,...", help="ascending widths to try")
    w.add_argument("--delta", type=float, default=0.2, help="failure fraction δ (default 0.2)")
    w.add_argument("--level", type=float, default=0.95, help="confidence (default 0.95)")
    w.add_argument("--draws", type=int, help="draws per width (default: the fewest that can pass)")
    w.add_argument("--seed0", type=int, default=10_000, help="draw j uses seed seed0 + j (default 10000)")
    w.add_argument("--scheme", default="symmetric", choices=("symmetric", "iid"), help="init scheme")
    w.add_argument("--json", metavar="PATH", help="write the result to PATH")
    _transform_flags(w)
    w.set_defaults(func=lambda a, con: _run(_width, a, con))
    g = sub.add_parser("digits", help="write a subset of scikit-learn's digits (shipped offline) as certifiable "
                                      "data: mean removed, rows on the sphere (times 1 − 2⁻⁴⁰), labels ±1 or one-hot (needs scikit-learn)")
    g.add_argument("--out", required=True, metavar="DIR", help="folder for digits_X.npy and digits_Y.npy")
    g.add_argument("--classes", default="0,1", metavar="C,C,...", help="the digit classes (default 0,1)")
    g.add_argument("--n", type=int, default=300, help="images, taken class by class in turn (default 300)")
    g.add_argument("--labels", default="pm1", choices=("pm1", "onehot"),
                   help="pm1: two classes as ±1 (d' = 1, the first class +1); onehot: ±1 one-hot rows (d' = classes)")
    g.set_defaults(func=lambda a, con: _run(_digits, a, con))
    ch = sub.add_parser("check", help="recompute a certificate file from its inputs; reject it if it does not reproduce")
    ch.add_argument("file", help="the certificate JSON")
    ch.set_defaults(func=lambda a, con: _run(_check, a, con))
    return c


def _instance_flags(p) -> None:
    """--data, --labels and --sigma of C2 and C3 (the instance T1' is decided for)."""
    p.add_argument("--data", required=True, metavar="X.npy", help="the data X (n×d, rows with ‖x‖₂ ≤ 1; .npy or .csv)")
    p.add_argument("--labels", required=True, metavar="Y.npy", help="the labels Y (n×d'; .npy or .csv)")
    p.add_argument("--sigma", required=True, type=float, help="σ of the initialization")


def _transform_flags(p) -> None:
    t = p.add_mutually_exclusive_group()
    t.add_argument("--rescale", action="store_true",
                   help="scale all rows by one factor (1 − 2⁻⁴⁰)/max‖x‖ into the unit ball (recorded)")
    t.add_argument("--normalize", action="store_true",
                   help="put each row on the sphere, x/‖x‖ times 1 − 2⁻⁴⁰ (recorded)")
    t.add_argument("--lift", action="store_true",
                   help="the D4 lift onto the sphere with ρ = max‖x‖, times 1 − 2⁻⁴⁰ (one more column; recorded)")
