"""Certificate files: JSON with the inputs (paths and sha256 of X and Y, seed, sizes, κ, η, σ, package
versions), every enclosure as an outward-rounded decimal interval ["lo", "hi"] (strings), the verdicts and
the trust base; written atomically.  :func:`check` recomputes everything from the inputs and rejects a
file whose data hashes, numbers or verdicts do not reproduce.

Reproduction rule for an enclosure: the recomputed interval must lie inside the stored one (the same code
on the same inputs gives the same digits; Arb is deterministic).  Where a bound rests on float64 LAPACK
(C1's "rump-float64" λ_lo) and may differ in its last digits on another CPU, a stored endpoint that is not
reproduced is accepted only if it is proved again directly (the verified test run at the stored value).
Verdicts must be equal.
"""
from __future__ import annotations

import hashlib
import time
from fractions import Fraction
from pathlib import Path

import numpy as np

from ntkcheck.core import results as _results
from ntkcheck.certify import arb as A
from ntkcheck.certify import kernel as C1
from ntkcheck.certify import convergence as C2
from ntkcheck.certify import inputs as I
from ntkcheck.proofs.kinds import BY_HAND, DEFINITION

FORMAT = 1
DIGITS = 20
KINDS = {"C1": "C1 kernel-pd-certificate", "C2": "C2 convergence-certificate"}


class CertificateError(ValueError):
    """A malformed certificate file (bad input, exit status 2)."""


# ------------------------------------------------------------------------------------------ data files
def load_array(path, name: str, column: bool = False) -> tuple[np.ndarray, dict]:
    """A 2-D finite real array from a .npy file (no pickles) or a .csv file (comma-separated numbers, one
    sample a row, no header), as float64 (exact for float32 and for integers below 2^53; a CSV's decimals are
    rounded to the nearest float64, and the instance certified is those float64 values), with its provenance.
    ``column``: a 1-D array is read as one column (labels with d' = 1); otherwise 1-D is an error."""
    p = Path(path)
    if not p.is_file():
        raise ValueError(f"{name} {path}: no such file")
    raw = p.read_bytes()
    if p.suffix.lower() == ".csv":
        try:
            arr = np.loadtxt(p, delimiter=",", dtype=np.float64, ndmin=2)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ValueError(f"{name} {path}: not a CSV of numbers ({str(exc).splitlines()[0][:80]})") from None
    else:
        try:
            arr = np.load(p, allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ValueError(f"{name} {path}: not a readable .npy array ({str(exc).splitlines()[0][:80]})") from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiu":
        raise ValueError(f"{name} {path}: must hold a real numeric array, got dtype {getattr(arr, 'dtype', None)}")
    if arr.dtype.kind in "iu" and arr.size and np.max(np.abs(arr.astype(object))) > 2**53:
        raise ValueError(f"{name} {path}: integers above 2^53 are not exact in float64")
    if arr.dtype.kind == "f" and arr.dtype.itemsize > 8:
        raise ValueError(f"{name} {path}: dtype {arr.dtype} does not convert exactly to float64")
    arr = np.ascontiguousarray(arr, dtype=np.float64)
    if column and arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} {path}: must be 2-D (rows are samples), got shape {arr.shape}")
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} {path}: empty array of shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} {path}: contains {int(np.size(arr) - np.isfinite(arr).sum())} non-finite value(s)")
    info = {"path": str(p), "resolved": str(p.resolve()), "shape": list(arr.shape),
            "sha256_file": hashlib.sha256(raw).hexdigest(), "sha256_float64": array_hash(arr)}
    return arr, info


def load_instance(path, name: str, how: str | None = None, column: bool = False) -> tuple[np.ndarray, dict]:
    """:func:`load_array`, then the optional transform of :mod:`ntkcheck.certify.inputs` (``how`` in
    ``inputs.TRANSFORMS`` or None).  Returns the float64 array the certificate is about and its provenance;
    with a transform the provenance adds ``transform`` (name, statement, ρ) and ``sha256_certified`` (the
    hash of the transformed rows)."""
    arr, info = load_array(path, name, column=column)
    out, rec = I.transform(arr, how, f"{name} {path}")
    if rec is not None:
        info = info | {"transform": rec, "sha256_certified": array_hash(out), "shape_certified": list(out.shape)}
    return out, info


def transform_line(info: dict, name: str = "--data") -> str | None:
    """The sentence the CLI prints about a transform (None without one)."""
    t = info.get("transform")
    if not t:
        return None
    rho = f", ρ = {float(t['rho']):.17g}" if "rho" in t else ""
    return (f"{name} {info['path']} transformed ({t['name']}{rho}): {t['statement']}; the certificate is about "
            f"the transformed float64 rows (shape {tuple(info['shape_certified'])}, sha256 {info['sha256_certified'][:12]}…)")


def array_hash(arr: np.ndarray) -> str:
    """sha256 of the shape and the float64 C-order bytes."""
    h = hashlib.sha256(f"{arr.shape}".encode())
    h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
    return h.hexdigest()


def versions() -> dict:
    """The package versions a certificate records (numpy, sympy, … as for every result file, and
    python-flint).  Returns: name → version string."""
    return _results.versions() | {"python-flint": A.flint_version()}


def _iv(ball) -> list[str]:
    return A.interval_strings(ball, DIGITS)


def _frac_iv(lo: Fraction | None, hi: Fraction | None) -> list | None:
    if lo is None and hi is None:
        return None
    lo_s = None if lo is None else A.decimal(lo, DIGITS, up=False)
    hi_s = None if hi is None else A.decimal(hi, DIGITS, up=True)
    return [lo_s, hi_s]


# ------------------------------------------------------------------------------------------ C1
C1_TRUST = [
    {"step": "K_ij = g_ij exp(σ² g_ij), g_ij = ⟨x_i, x_j⟩: the export ntk_limit.limit_kernel (G5), in balls",
     "kind": DEFINITION},
    {"step": "LDLᵀ with all pivots > 0 ⇒ K − μI ≻ 0 (Sylvester's law of inertia)", "kind": BY_HAND},
    {"step": "pivots d_1..d_{k−1} > 0 > d_k ⇒ the leading k×k block of K − μI has a negative eigenvalue ⇒ "
             "λ_min(K) < μ (Cauchy interlacing)", "kind": BY_HAND},
    {"step": "ball arithmetic encloses the exact pivots of every matrix in the entrywise enclosure", "kind": BY_HAND},
]
RUMP_TRUST = [
    {"step": "float64 Cholesky of Ã that runs to completion: R̂ᵀR̂ = Ã + ΔA, |ΔA| ≤ γ_{n+1}|R̂ᵀ||R̂| (Higham, "
             "Accuracy and Stability of Numerical Algorithms, Thm 10.3; any summation order), so ‖ΔA‖₂ ≤ "
             "γ_{n+1}/(1 − γ_{n+1}) tr Ã, plus an underflow allowance 4n(2(n+2) + max Ã_ii)·2^−1074 (Rump 2006)",
     "kind": BY_HAND},
    {"step": "IEEE binary64 arithmetic with rounding to nearest (LAPACK potrf through numpy)", "kind": BY_HAND},
    {"step": "λ_min(K) ≤ vᵀKv/vᵀv for any v ≠ 0 (Rayleigh quotient, in balls)", "kind": BY_HAND},
    {"step": "λ₁(K + s·vvᵀ) ≤ λ₂(K) for s ≥ 0 (rank-one interlacing), so Rump's test of K + s·vvᵀ − τI "
             "proves λ₂(K) > τ", "kind": BY_HAND},
    {"step": "Temple's inequality: θ < τ ≤ λ₂ ⇒ λ₁ ≥ θ − (‖Kv‖²/‖v‖² − θ²)/(τ − θ), θ = vᵀKv/vᵀv (in balls)",
     "kind": BY_HAND},
]


def kernel_certificate(data_path, sigma, method: str = "auto", transform: str | None = None) -> dict:
    """C1 for the data file at ``data_path`` (optionally transformed, see :func:`load_instance`) and σ: the
    certificate as a JSON-ready dict (inputs with hashes, the enclosure, verdicts, trust base, versions)."""
    X, info = load_instance(data_path, "--data", transform)
    r = C1.certify_kernel(X, sigma, method=method)
    pd = r["positive_definite"]
    verdict = {True: "proved: K ≻ 0 (λ_min(K) > 0)", False: "proved: K is not positive definite (λ_min(K) < 0)",
               None: "undecided"}[pd]
    sig = float(sigma)
    return {
        "certificate": KINDS["C1"], "format": FORMAT,
        "inputs": {"data": info, "sigma": repr(sig), "sigma_hex": sig.hex(), "n": r["n"], "d": r["d"],
                   "method": r["method"], "prec_bits": r["prec"]},
        "enclosures": {"lambda_min": _frac_iv(r["lo"], r["hi"])},
        "verdicts": {"positive_definite": pd, "statement": verdict},
        "note": r.get("note"),
        "relative_width": r["relative_width"],
        "float64_eigvalsh_lambda_min": r["float64_eigvalsh"],
        "trust_base": {"ball_arithmetic": f"python-flint {A.flint_version()} (Arb)",
                       "exports": {"ntk_limit.limit_kernel": A.source_arb("ntk_limit", "limit_kernel")},
                       "steps": C1_TRUST + (RUMP_TRUST if r["method"] == "rump-float64" else [])},
        "versions": versions(), "seconds": r["seconds"],
    }


# ------------------------------------------------------------------------------------------ C2
EXPORTS_USED = (("ntk_factorization", "tangent_feature"), ("ntk_factorization", "ntk_scale"),
                ("ntk_perturbation", "Q_entry"), ("hessian_bound", "hessian_norm_bound"),
                ("softmax_ratio", "ratio_upper"), ("linear_convergence", "R0_max_T1p"),
                ("linear_convergence", "R0_iv_best"), ("linear_convergence", "hyp_ii_lhs"),
                ("linear_convergence", "hyp_ii_rhs_T1p"), ("linear_convergence", "eta_cap_spectral"),
                ("linear_convergence", "eta_cap_second_order"), ("linear_convergence", "hyp_iv_lhs"),
                ("linear_convergence", "rate_p"))


LEMMAS = ("G4", "B2", "B3", "B4", "B5", "B6", "T1")   # the lemmas whose exports C2 evaluates
FP64_TRUST = [
    {"step": "|fl(xᵀy) − xᵀy| ≤ γ_k|x|ᵀ|y| + kη for any order of the k-term sum, FMA or not, γ_k = ku/(1 − ku), "
             "u = 2⁻⁵³, η = 2⁻¹⁰⁷⁴ (Higham, Accuracy and Stability of Numerical Algorithms, 2nd ed., §3.1, (3.5)); "
             "for nonnegative terms the exact sum lies in ŝ·[1/(1 + γ_k), 1/(1 − γ_k)] per level of summation",
     "kind": BY_HAND},
    {"step": "Horner's rule: |p̂(t) − p(t)| ≤ γ_{2N}Σ|c_j||t|^j (Higham (5.3)); the Taylor remainder "
             "|e^t − Σ_{j≤N} t^j/j!| ≤ |t|^{N+1}e^{|t|}/(N+1)!; the Cody–Waite reduction y = k ln 2 + t with "
             "each rounding bounded by u/(1 − u)·|computed value| and |ln 2 − L1 − L2| from a 300-bit ball; "
             "2^k·p̂ exact in the normal range (the package's exp, ntkcheck.certify.fp64.exp_bounded)",
     "kind": BY_HAND},
    {"step": "exps of arguments below −600 set to 0 and bounded absolutely by e^{−600(1 − u/(1 − u)) + ε_z}",
     "kind": BY_HAND},
    {"step": "(PPᵀ)_{(i,ℓ),(j,ℓ')} = Σ_{s,s'} c^s_{iℓ}c^{s'}_{jℓ'} Σ_{r: a_{ℓ,r} = s, a_{ℓ',r} = s'} S_{i,r}S_{j,r} "
             "(the neurons grouped by their sign pair; the centred sign depends on r only through a_{ℓ,r}) and "
             "S_{i,r} = u_{i,r}/α_i", "kind": BY_HAND},
    {"step": "IEEE binary64 with rounding to nearest for numpy's elementwise +, × and ldexp and the additions of "
             "its reductions (the sums over neurons use no BLAS: a fixed order, the same bits on every CPU)",
     "kind": BY_HAND},
]
TRUST_TABLE = Path(__file__).with_name("trust_kinds.py")   # a module, so that it installs with the package


def proofs_digest() -> str:
    """sha256 over the source of every module of ``ntkcheck.proofs`` (file names and bytes, sorted by name):
    the step kinds recorded in :data:`TRUST_TABLE` are valid for exactly this source.

    Returns: the hex digest."""
    from ntkcheck import proofs

    h = hashlib.sha256()
    for f in sorted(Path(proofs.__file__).resolve().parent.glob("*.py")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


def derived_lemma_kinds() -> list[dict]:
    """The C2 trust base by step kind, derived now: the blueprint's nodes that C2 uses, directly or not
    (``proofs.blueprint(["C2"])``, which runs each lemma's derivation: tens of seconds), each with its
    derivation's steps counted by kind.

    Returns: one dict per lemma (code, id, kind, uses, steps_by_kind), in the book's order."""
    from ntkcheck import proofs

    return [{"code": nd.code, "id": nd.id, "kind": nd.kind, "uses": list(nd.uses), "steps_by_kind": nd.steps}
            for nd in proofs.blueprint(["C2"]) if nd.module is not None]


def write_trust_table(path=None) -> Path:
    """Run the derivations once and record their step kinds with :func:`proofs_digest` in ``path`` (default
    :data:`TRUST_TABLE`, shipped with the package).  Run it after any change to proofs/; a certificate made
    while the digest differs derives the kinds itself (correct, only slower).

    Parameters: path -- where to write (None: the shipped table).  Returns: the path written."""
    import json
    import os

    table = {"what": "step kinds of the lemmas C2 uses, from proofs.blueprint(['C2']) (their derivations run)",
             "proofs_sha256": proofs_digest(), "lemmas": derived_lemma_kinds()}
    text = json.dumps(table, indent=1, ensure_ascii=False)
    if '"""' in text:
        raise ValueError("the trust table's text contains triple quotes")
    path = Path(TRUST_TABLE if path is None else path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text('"""The C2 trust base by step kind, recorded by ntkcheck.certify.files.write_trust_table from the '
                   'derivations of\nthe proofs/ source with the digest below (generated: do not edit)."""\n'
                   f'import json\n\nTABLE = json.loads(r"""{text}""")\n', encoding="utf-8")
    os.replace(tmp, path)
    return path


def read_trust_table(path) -> dict | None:
    """The TABLE of a module written by :func:`write_trust_table` (None if absent or unreadable).
    Parameters: path -- the module's file.  Returns: the table dict or None."""
    import json

    try:
        text = Path(path).read_text(encoding="utf-8")
        body = text[text.index('json.loads(r"""') + len('json.loads(r"""'):text.rindex('""")')]
        return json.loads(body)
    except (OSError, ValueError):
        return None


def lemma_kinds(table=None) -> tuple[list[dict], str]:
    """The C2 trust base by step kind, and how it was obtained.  When the recorded table (``table``, default
    :data:`TRUST_TABLE`) was made from the same proofs/ source (equal :func:`proofs_digest`), its entries are
    the derivations' own output and are used as they are; otherwise the derivations run now.

    Parameters: table -- path of a table written by :func:`write_trust_table` (None: the shipped one).
    Returns: (lemmas as in :func:`derived_lemma_kinds`, a sentence naming the source)."""
    path = TRUST_TABLE if table is None else Path(table)
    digest = proofs_digest()
    rec = read_trust_table(path)
    if isinstance(rec, dict) and rec.get("proofs_sha256") == digest and isinstance(rec.get("lemmas"), list):
        return rec["lemmas"], (f"recorded by write_trust_table from the derivations of this proofs/ source "
                               f"(sha256 {digest[:16]}…)")
    return derived_lemma_kinds(), f"derived now (proofs/ source sha256 {digest[:16]}… has no recorded table)"


def convergence_certificate(data_path, labels_path, m, sigma, seed, *, scheme="symmetric", kappa=None, eta=None,
                            gd_steps: int = 100, trust: bool = True, transform: str | None = None,
                            method: str = "auto") -> dict:
    """C2 for the data and label files (the data optionally transformed, see :func:`load_instance`; a 1-D
    label file is one column), width m, σ and the draw ``seed``: the certificate as a JSON-ready dict.
    (A1) is decided exactly first: a one-line ValueError naming the file and the hypothesis if it fails."""
    X, xinfo = load_instance(data_path, "--data", transform)
    Y, yinfo = load_array(labels_path, "--labels", column=True)
    if Y.shape[0] != X.shape[0]:
        raise ValueError(f"--labels {labels_path} has {Y.shape[0]} rows but --data {data_path} has {X.shape[0]} "
                         "(one label row per data row)")
    I.require_unit_ball(X, f"--data {data_path}")
    r = C2.certify_convergence(X, Y, m, sigma, seed, scheme=scheme, kappa=kappa, eta=eta, gd_steps=gd_steps,
                               method=method)
    t0 = time.perf_counter()
    sig = float(sigma)
    hyps = {}
    for name, h in r["hypotheses"].items():
        rec = {"what": h["what"], "verdict": h["verdict"]}
        for k in ("lhs", "rhs", "margin"):
            if k in h:
                rec[k] = _iv(h[k])
        hyps[name] = rec
    cert = {
        "certificate": KINDS["C2"], "format": FORMAT,
        "inputs": {"data": xinfo, "labels": yinfo, "n": r["n"], "d": r["d"], "d_out": r["d_out"], "m": r["m"],
                   "sigma": repr(sig), "sigma_hex": sig.hex(), "seed": r["seed"], "scheme": scheme,
                   "kappa": repr(float(r["kappa"])), "kappa_given": kappa is not None,
                   "eta": None if r["eta"] is None else repr(float(r["eta"])), "eta_given": eta is not None,
                   "R0": None if r["R0"] is None else repr(float(r["R0"])), "prec_bits": r["prec"],
                   "method": r["method"],
                   "init": "ntkcheck.core.network.init_params(d, m, d_out, sigma, scheme, seed)"},
        "enclosures": {k: _iv(v) for k, v in r["enclosures"].items()},
        "methods": r["methods"],
        "hypotheses": hyps,
        "verdicts": {"proved": r["proved"],
                     "hypotheses": {k: h["verdict"] for k, h in r["hypotheses"].items()}},
        "gd_consistency": r.get("gd"),
        "versions": versions(), "seconds": r["seconds"],
    }
    if r["proved"]:
        cert["theorem"] = theorem_text(r)
    if trust:
        lemmas, lemmas_source = lemma_kinds()
        cert["trust_base"] = {"ball_arithmetic": f"python-flint {A.flint_version()} (Arb), {r['prec']} bits",
                              "sums_over_neurons": r["method"],
                              "lemmas": lemmas, "lemmas_source": lemmas_source,
                              "exports": {f"{a}.{b}": A.source_arb(a, b) for a, b in EXPORTS_USED},
                              "steps": C1_TRUST[1:] + [
                                  {"step": "H(W(0)) = JJᵀ/m ⪰ 0 so ‖H‖₂ = λ_max(H) (G4); Q symmetric, entrywise "
                                           "≥ 0 so ‖Q‖₂ = λ_max(Q) (Perron–Frobenius)", "kind": BY_HAND},
                                  {"step": "a_{ℓ,r} − ⟨a_ℓ,S⟩ = 2Σ_{k: a_{ℓ,k} = −1} S_k if a_{ℓ,r} = +1 and "
                                           "−2Σ_{k: a_{ℓ,k} = +1} S_k if a_{ℓ,r} = −1, as Σ_k S_k = 1 (the centred "
                                           "signs of the Setting part, formed as sums of positive balls)",
                                   "kind": BY_HAND},
                                  {"step": "(A1) decided in exact rational arithmetic", "kind": BY_HAND}]
                              + (FP64_TRUST if r["method"] == "float64" else [])}
        cert["seconds"] = dict(cert["seconds"], trust_base=time.perf_counter() - t0)
    return cert


def theorem_text(r: dict) -> str:
    enc = r["enclosures"]
    lam_lo = A.decimal(A.endpoints(enc["lambda0"])[0], 8, up=False)
    p_lo = A.decimal(A.endpoints(enc["p"])[0], 8, up=False)
    e0_hi = A.decimal(A.endpoints(enc["e0_norm"])[1], 8, up=True)
    return (f"Theorem (T1', certified). For X, Y as hashed, W(0), A = init_params(d={r['d']}, m={r['m']}, "
            f"d_out={r['d_out']}, sigma={r['sigma']!r}, scheme={r['scheme']!r}, seed={r['seed']}), κ = {r['kappa']!r} "
            f"and exact-arithmetic gradient descent with step η = {r['eta']!r}: for every t ≥ 0, "
            f"‖e(t)‖₂ ≤ (1 − p)^t ‖e(0)‖₂ with p = ηmλ₀/4 ≥ {p_lo} and ‖e(0)‖₂ ≤ {e0_hi}; "
            f"λ_min(H(W(t))) ≥ λ₀/2 with λ₀ ≥ {lam_lo}; max_r ‖w_r(t) − w_r(0)‖₂ ≤ R₀ = {r['R0']!r}.")


# ------------------------------------------------------------------------------------------ writing
def write(cert: dict, path) -> Path:
    """Write a certificate atomically to ``path``.  Its data files are recorded by their path relative to the
    certificate's folder (``path``), not by an absolute path that would name this machine's folders;
    :func:`check` looks them up there (and then by name beside the file).  Returns: the path written."""
    import copy
    import os

    out = copy.deepcopy(cert)
    folder = Path(path).resolve().parent
    for key in ("data", "labels"):
        info = (out.get("inputs") or {}).get(key)
        if isinstance(info, dict) and info.get("resolved"):
            info["path"] = os.path.relpath(info.pop("resolved"), folder)
    return _results.write_json(path, out)


# ------------------------------------------------------------------------------------------ checking
def _need(d: dict, key: str, where: str):
    if not isinstance(d, dict) or key not in d:
        raise CertificateError(f"certificate: missing {where}{key}")
    return d[key]


def _transform_of(info: dict) -> str | None:
    t = info.get("transform")
    if t is None:
        return None
    if not isinstance(t, dict) or t.get("name") not in I.TRANSFORMS:
        raise CertificateError(f"certificate: unknown data transform {t!r}")
    return t["name"]


def _reload(info: dict, name: str, cert_dir: Path, column: bool = False) -> np.ndarray:
    if not isinstance(info, dict):
        raise CertificateError(f"certificate: inputs.{name} must be an object")
    cands = _candidates(info, cert_dir)
    for p in cands:
        if str(p) and p.is_file():
            arr, new = load_instance(p, name, _transform_of(info), column=column)
            if new["sha256_float64"] != info.get("sha256_float64"):
                raise CertificateError(f"{name} {p}: sha256 {new['sha256_float64'][:12]}… differs from the "
                                       f"certificate's {str(info.get('sha256_float64'))[:12]}…: not the certified data")
            if new.get("transform") != info.get("transform") or new.get("sha256_certified") != info.get("sha256_certified"):
                raise CertificateError(f"{name} {p}: the recorded transform {info.get('transform')} does not reproduce "
                                       "the certified rows")
            return arr
    raise CertificateError(f"{name}: data file {info.get('path')!r} not found (the check needs it)")


def _contains(stored, fresh) -> bool:
    """stored ⊇ fresh for intervals [lo, hi] of decimal strings (None = unbounded / absent)."""
    if stored is None or fresh is None:
        return stored == fresh
    for k, (s, f) in enumerate(zip(stored, fresh)):
        if (s is None) != (f is None):
            return False
        if s is None:
            continue
        s, f = Fraction(s), Fraction(f)
        if (k == 0 and s > f) or (k == 1 and s < f):
            return False
    return True


def _parse_pair(v, where, order: bool = True):
    if v is None:
        return None
    if not (isinstance(v, list) and len(v) == 2):
        raise CertificateError(f"certificate: {where} must be a pair [lo, hi]")
    try:
        out = [None if s is None else Fraction(s) for s in v]
    except (ValueError, TypeError, ZeroDivisionError):
        raise CertificateError(f"certificate: {where} = {v!r} is not a pair of decimal strings") from None
    if order and out[0] is not None and out[1] is not None and out[0] > out[1]:
        raise CertificateError(f"certificate: {where} has lo > hi")
    return out


def check(path) -> tuple[bool, list[str]]:
    """Recompute the certificate at ``path`` from its inputs.  Returns (accepted, messages); raises
    CertificateError for a malformed file or unusable data."""
    path = Path(path)
    try:
        cert = _results.read_json(path)
    except FileNotFoundError:
        raise CertificateError(f"certificate {path}: no such file") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise CertificateError(f"certificate {path}: not JSON ({exc})") from None
    kind = _need(cert, "certificate", "")
    inputs = _need(cert, "inputs", "")
    stored_enc = _need(cert, "enclosures", "")
    stored_ver = _need(cert, "verdicts", "")
    if not isinstance(stored_enc, dict):
        raise CertificateError("certificate: enclosures must be an object")
    for k, v in stored_enc.items():
        pair = _parse_pair(v, f"enclosures.{k}", order=False)
        if pair is not None and None not in pair and pair[0] > pair[1]:
            return False, [f"REJECTED: enclosure {k} = {v} has lo > hi"]
    try:
        sigma = float.fromhex(_need(inputs, "sigma_hex", "inputs."))
    except (TypeError, ValueError):
        raise CertificateError("certificate: inputs.sigma_hex is not a hex float") from None
    msgs: list[str] = []
    if kind == KINDS["C1"]:
        X = _reload(_need(inputs, "data", "inputs."), "data", path.parent)
        method = _need(inputs, "method", "inputs.")
        if method not in ("rump-float64", "arb-ldl"):
            raise CertificateError(f"certificate: unknown method {method!r}")
        fresh = kernel_certificate(_located(inputs["data"], path.parent), sigma, method=method,
                                   transform=_transform_of(inputs["data"]))
        prec = int(_need(inputs, "prec_bits", "inputs."))
        s, f = stored_enc.get("lambda_min"), fresh["enclosures"]["lambda_min"]
        if not _contains(s, f):
            sp_, ok = _parse_pair(s, "enclosures.lambda_min"), True
            if sp_ is None:
                ok = False
            else:
                lo_ok = True if sp_[0] is None else C1.verify_lower(X, sigma, sp_[0], method, prec)
                hi_ok = True if sp_[1] is None else C1.verify_upper(X, sigma, sp_[1], method, prec)
                ok = lo_ok and hi_ok
                msgs.append(f"lambda_min: stored {s} not reproduced by {f}; re-proved directly: "
                            f"lower {'yes' if lo_ok else 'NO'}, upper {'yes' if hi_ok else 'NO'}")
            if not ok:
                msgs.append("REJECTED: enclosure lambda_min does not reproduce")
                return False, msgs
        fresh_ver = fresh["verdicts"]
    elif kind == KINDS["C2"]:
        _reload(_need(inputs, "data", "inputs."), "data", path.parent)
        _reload(_need(inputs, "labels", "inputs."), "labels", path.parent, column=True)
        kappa = float(inputs["kappa"]) if inputs.get("kappa_given") else None
        eta = float(inputs["eta"]) if inputs.get("eta_given") else None
        fresh = convergence_certificate(_located(inputs["data"], path.parent), _located(inputs["labels"], path.parent),
                                        int(_need(inputs, "m", "inputs.")), sigma, int(_need(inputs, "seed", "inputs.")),
                                        scheme=_need(inputs, "scheme", "inputs."), kappa=kappa, eta=eta,
                                        gd_steps=0, trust=False, transform=_transform_of(inputs["data"]),
                                        method=_c2_method(inputs))
        for k in ("eta", "R0", "kappa"):
            if fresh["inputs"][k] != inputs.get(k):
                msgs.append(f"REJECTED: {k} = {inputs.get(k)} does not reproduce ({fresh['inputs'][k]})")
                return False, msgs
        fe = fresh["enclosures"]
        bad = [k for k in set(stored_enc) | set(fe) if not _contains(stored_enc.get(k), fe.get(k))]
        hy_s, hy_f = cert.get("hypotheses", {}), fresh["hypotheses"]
        for name in set(hy_s) | set(hy_f):
            for part in ("lhs", "rhs", "margin"):
                a, b = (hy_s.get(name) or {}).get(part), (hy_f.get(name) or {}).get(part)
                if not _contains(a, b):
                    bad.append(f"{name}.{part}")
        if bad:
            msgs.append(f"REJECTED: enclosures {sorted(bad)} do not reproduce")
            return False, msgs
        said = {k: v for k, v in (cert.get("methods") or {}).items() if k != "float64_bounds"}
        done = {k: v for k, v in fresh["methods"].items() if k != "float64_bounds"}
        if said != done:
            msgs.append(f"REJECTED: the methods {sorted(k for k in set(said) | set(done) if said.get(k) != done.get(k))} "
                        "are not the ones the recomputation used")
            return False, msgs
        fresh_ver = fresh["verdicts"]
    else:
        raise CertificateError(f"certificate: unknown kind {kind!r}")
    if fresh_ver != stored_ver:
        msgs.append(f"REJECTED: verdicts {stored_ver} do not reproduce ({fresh_ver})")
        return False, msgs
    if cert.get("theorem") != fresh.get("theorem"):
        msgs.append("REJECTED: the stated theorem does not reproduce")
        return False, msgs
    stored_exports = (cert.get("trust_base") or {}).get("exports") or {}
    for key, src in stored_exports.items():
        mod, _, name = key.partition(".")
        try:
            now = A.source_arb(mod, name)
        except (KeyError, ImportError):
            now = None
        if now != src:
            msgs.append(f"REJECTED: export {key} is now {now!r}, the certificate used {src!r}")
            return False, msgs
    msgs.append("accepted: every enclosure and verdict reproduces")
    return True, msgs


def _c2_method(inputs: dict) -> str:
    """The route a C2 file was made with ("ball" for files written before the float64 route existed)."""
    method = inputs.get("method", "ball")
    if method not in ("ball", "float64"):
        raise CertificateError(f"certificate: unknown method {method!r}")
    return method


def _candidates(info: dict, cert_dir: Path) -> list[Path]:
    """Where a certificate's data file may be: its path relative to the certificate's folder (as
    :func:`write` records it), an absolute path of older files, and its name beside the certificate."""
    rec = str(info.get("path", ""))
    cands = [cert_dir / rec] if rec else []
    if info.get("resolved"):
        cands.append(Path(info["resolved"]))
    if rec:
        cands += [Path(rec), cert_dir / Path(rec).name]
    return cands


def _located(info: dict, cert_dir: Path):
    for p in _candidates(info, cert_dir):
        if str(p) and p.is_file():
            return p
    raise CertificateError(f"data file {info.get('path')!r} not found")
