"""B7 ntk-concentration (the book's B1–B7 part): an explicit finite-m bound ε(m, δ, σ, X) with
P(‖H(W(0)) − H*‖₂ ≤ ε) ≥ 1 − δ, for κ = m and the iid initialization.

Derivation (Chebyshev on empirical means, a union bound, a deterministic ratio argument).  Write
u_{i,r} = e^{w_rᵀx_i}, μ_i = E u_{i,r} = e^{σ²ν_i/2} (ν_i = ‖x_i‖², g_ij = ⟨x_i,x_j⟩) and the empirical means

    A_i      = (1/m) Σ_r u_{i,r}/μ_i                                mean 1,            variance/term e^{σ²ν_i} − 1
    D_{iℓ}   = (1/m) Σ_r a_{ℓ,r} u_{i,r}/μ_i                        mean 0,            variance/term e^{σ²ν_i}
    B_ij     = (1/m) Σ_r u_{i,r}u_{j,r}/(μ_iμ_j)                    mean b_ij = e^{σ²g_ij}, variance/term s_ij − b_ij²
    C^ℓ_ij   = (1/m) Σ_r a_{ℓ,r} u_{i,r}u_{j,r}/(μ_iμ_j)            mean 0,            variance/term s_ij
    B^{ℓℓ'}_ij = (1/m) Σ_r a_{ℓ,r}a_{ℓ',r} u_{i,r}u_{j,r}/(μ_iμ_j), ℓ ≠ ℓ'   mean 0,      variance/term s_ij

with s_ij = e^{σ²(ν_i + ν_j + 4g_ij)} (log-normal moments).  With κ = m, c_{iℓ} = ⟨a_ℓ,S_i⟩ = D_{iℓ}/A_i and
H_{(i,ℓ₁),(j,ℓ₂)} = g_ij/(A_iA_j) [B^{ℓ₁ℓ₂}_ij − c_{jℓ₂}C^{ℓ₁}_ij − c_{iℓ₁}C^{ℓ₂}_ij + c_{iℓ₁}c_{jℓ₂}B_ij]  (B^{ℓℓ} = B),
H*_{(i,ℓ₁),(j,ℓ₂)} = g_ij b_ij δ_{ℓ₁ℓ₂}.
Chebyshev with failure probability δ/N_ev for each of the N_ev = n + nd' + n(n+1)/2·(1 + d' + d'(d'−1)/2) means
(symmetric in i ↔ j and ℓ ↔ ℓ') gives |mean − E| ≤ τ = √(N_ev·variance/(mδ)) for all of them at once with
probability ≥ 1 − δ; on that event every entry error is at most N_same (ℓ₁ = ℓ₂) or N_cross (ℓ₁ ≠ ℓ₂) below,
and ‖H − H*‖₂ ≤ ‖N_same ⊗ I + N_cross ⊗ (11ᵀ − I)‖₂ =: ε.  Needs τ_{A,i} < 1 for all i (else ε = ∞).
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from .definitions import g, m, sigma, sum_simplify
from .init_bound import MGF, gaussian_mgf_steps, lam, s_dev
from .softmax_ratio import prove_abs_le

CODE = "B7"
ID = "ntk-concentration"
USES = ("G4", "G5")   # G4's entries as ratios of empirical means, around G5's limit H*
STATEMENT = ("For κ = m and the iid init, P(‖H(W(0)) − H*‖₂ ≤ ε(m, δ, σ, X)) ≥ 1 − δ with ε explicit "
             "(Chebyshev on log-normal empirical means, a union bound and a ratio argument).")

delta = sp.Symbol("delta", positive=True)
n = sp.Symbol("n", integer=True, positive=True)
d_out = sp.Symbol("d_out", integer=True, positive=True)
nu = sp.Symbol("nu", nonnegative=True)
nu_i, nu_j = sp.symbols("nu_i nu_j", nonnegative=True)

N_EV = n + n * d_out + n * (n + 1) / 2 * (1 + d_out + d_out * (d_out - 1) / 2)
DELTA_EV = delta / N_EV

VAR_A = lambda v: sp.exp(sigma**2 * v) - 1                                   # noqa: E731
VAR_D = lambda v: sp.exp(sigma**2 * v)                                       # noqa: E731
B_MEAN = sp.exp(sigma**2 * g)
S_PAIR = sp.exp(sigma**2 * (nu_i + nu_j + 4 * g))
VAR_B = S_PAIR - B_MEAN**2
VAR_C = S_PAIR


def _tau(var):
    return sp.sqrt(var / (m * DELTA_EV))


# the deterministic part: entry bounds in terms of the radii (τ_i, τ_j of A_i, A_j; τ_B of B_ij; τ_C of C^ℓ_ij and
# B^{ℓℓ'}_ij; γ_i ≥ |c_{iℓ}|) and b = b_ij, g = g_ij
b_, tau_i, tau_j, tau_B, tau_C, gam_i, gam_j = sp.symbols("b tau_i tau_j tau_B tau_C gamma_i gamma_j", nonnegative=True)
_LOW_T = (1 - tau_i) * (1 - tau_j)
_CROSS_T = (gam_i + gam_j) * tau_C + gam_i * gam_j * (b_ + tau_B)
ENTRY_SAME_TAU = sp.Abs(g) * (tau_B + b_ * (tau_i + tau_j + tau_i * tau_j) + _CROSS_T) / _LOW_T
ENTRY_CROSS_TAU = sp.Abs(g) * (tau_C + _CROSS_T) / _LOW_T
GAMMA = lambda v, t: sp.Min(1, _tau(VAR_D(v)) / (1 - t))   # noqa: E731  γ_i = min(1, τ_{D,i}/(1 − τ_i))

TAU_I, TAU_J = _tau(VAR_A(nu_i)), _tau(VAR_A(nu_j))
_RADII = {b_: B_MEAN, tau_i: TAU_I, tau_j: TAU_J, tau_B: _tau(VAR_B), tau_C: _tau(VAR_C),
          gam_i: GAMMA(nu_i, TAU_I), gam_j: GAMMA(nu_j, TAU_J)}
ENTRY_SAME = ENTRY_SAME_TAU.xreplace(_RADII)
ENTRY_CROSS = ENTRY_CROSS_TAU.xreplace(_RADII)
GAMMA_I = _RADII[gam_i]

_PAIR_ARGS = (m, delta, n, d_out, sigma, nu_i, nu_j, g)
EXPORTS = {
    "n_events": Export((n, d_out), N_EV, "the number of empirical means in the union bound", EXPORT_BY_HAND),
    "tau_A": Export((m, delta, n, d_out, sigma, nu), _tau(VAR_A(nu)),
                    "Chebyshev radius of A_i = ᾱ_i/μ_i; ε is finite only if it is < 1 for every i", EXPORT_BY_HAND),
    "entry_same": Export(_PAIR_ARGS, ENTRY_SAME, "bound on |H − H*|_{(i,ℓ),(j,ℓ)} on the event", EXPORT_BY_HAND),
    "entry_cross": Export(_PAIR_ARGS, ENTRY_CROSS, "bound on |H − H*|_{(i,ℓ₁),(j,ℓ₂)}, ℓ₁ ≠ ℓ₂, on the event", EXPORT_BY_HAND),
    "entry_same_tau": Export((g, b_, tau_i, tau_j, tau_B, tau_C, gam_i, gam_j), ENTRY_SAME_TAU,
                             "the deterministic part: the ℓ₁ = ℓ₂ entry bound in terms of the radii", EXPORT_BY_HAND),
    "entry_cross_tau": Export((g, b_, tau_i, tau_j, tau_B, tau_C, gam_i, gam_j), ENTRY_CROSS_TAU,
                              "the deterministic part: the ℓ₁ ≠ ℓ₂ entry bound in terms of the radii", EXPORT_BY_HAND),
}


def _moment_steps(d: Derivation) -> None:
    gaussian_mgf_steps(d)
    xb, yb = sp.IndexedBase("x", real=True), sp.IndexedBase("y", real=True)
    kk, dd = sp.Symbol("k", integer=True, nonnegative=True), sp.Symbol("d", integer=True, positive=True)
    sm = lambda f: sp.Sum(f, (kk, 0, dd - 1))  # noqa: E731
    d.identity("‖x_i + x_j‖² = ν_i + ν_j + 2g_ij  (symbolic d)", sm((xb[kk] + yb[kk])**2),
               sm(xb[kk]**2) + sm(yb[kk]**2) + 2 * sm(xb[kk] * yb[kk]), simplifier=sum_simplify)
    pair = nu_i + nu_j + 2 * g
    mgf = lambda lam_, var: MGF.subs({lam: lam_, s_dev: sp.sqrt(var)})  # noqa: E731
    mu_i, mu_j = mgf(1, sigma**2 * nu_i), mgf(1, sigma**2 * nu_j)
    d.identity("μ_i = E u_i", mu_i, sp.exp(sigma**2 * nu_i / 2),
               note="w_rᵀx_i ~ N(0, σ²ν_i); the MGF at λ = 1")
    d.identity("E[u_iu_j]/(μ_iμ_j) = b_ij", mgf(1, sigma**2 * pair) / (mu_i * mu_j), B_MEAN,
               note="u_iu_j = e^{w_rᵀ(x_i + x_j)}, w_rᵀ(x_i + x_j) ~ N(0, σ²‖x_i + x_j‖²): the normalization cancels the "
                    "e^{σ²ν/2} factors (G5's kernel)")
    d.identity("Var(u_i/μ_i) = e^{σ²ν_i} − 1", mgf(2, sigma**2 * nu_i) / mu_i**2 - 1, VAR_A(nu_i),
               note="E u_i² = MGF at λ = 2")
    d.identity("E[(a u_i/μ_i)²] = e^{σ²ν_i}", mgf(2, sigma**2 * nu_i) / mu_i**2, VAR_D(nu_i),
               note="a² = 1 and E a = 0 (a independent of w): D has mean 0")
    d.identity("E[(u_iu_j/(μ_iμ_j))²] = s_ij", mgf(2, sigma**2 * pair) / (mu_i * mu_j)**2, S_PAIR,
               note="the same second moment for C^ℓ and B^{ℓℓ'} (ℓ ≠ ℓ'), whose sign factors are ±1 with mean 0; "
                    "for B the variance is s_ij − b_ij²")


def _expansion_step(d: Derivation) -> None:
    """The entry of H (κ = m) in terms of the empirical means, at m = 3 with free symbols."""
    mm = 3
    ui = sp.symbols(f"ui0:{mm}", positive=True)
    uj = sp.symbols(f"uj0:{mm}", positive=True)
    a1 = sp.symbols(f"a1_0:{mm}", real=True)
    a2 = sp.symbols(f"a2_0:{mm}", real=True)
    mui, muj, gg = sp.Symbol("mu_i", positive=True), sp.Symbol("mu_j", positive=True), sp.Symbol("g", real=True)
    Si = [x / sum(ui) for x in ui]
    Sj = [x / sum(uj) for x in uj]
    ci1 = sum(a * s for a, s in zip(a1, Si))
    cj2 = sum(a * s for a, s in zip(a2, Sj))
    kap = sp.Integer(mm)   # κ = m
    H = kap**2 / mm * gg * sum(Si[r] * Sj[r] * (a1[r] - ci1) * (a2[r] - cj2) for r in range(mm))
    mean = lambda terms: sum(terms) / mm  # noqa: E731
    Ai, Aj = mean([x / mui for x in ui]), mean([x / muj for x in uj])
    Di1, Dj2 = mean([a * x / mui for a, x in zip(a1, ui)]), mean([a * x / muj for a, x in zip(a2, uj)])
    w = [ui[r] * uj[r] / (mui * muj) for r in range(mm)]
    B12 = mean([a1[r] * a2[r] * w[r] for r in range(mm)])
    C1, C2, B00 = mean([a1[r] * w[r] for r in range(mm)]), mean([a2[r] * w[r] for r in range(mm)]), mean(w)
    c_i1, c_j2 = Di1 / Ai, Dj2 / Aj
    rhs = gg / (Ai * Aj) * (B12 - c_j2 * C1 - c_i1 * C2 + c_i1 * c_j2 * B00)
    d.identity("H in empirical means (κ = m, m = 3, free symbols)", H, rhs, simplifier=sp.cancel, concrete=True,
               note="H_{(i,ℓ₁),(j,ℓ₂)} = g/(A_iA_j)[B^{ℓ₁ℓ₂} − c_{jℓ₂}C^{ℓ₁} − c_{iℓ₁}C^{ℓ₂} + c_{iℓ₁}c_{jℓ₂}B], "
                    "c_{iℓ} = D_{iℓ}/A_i = ⟨a_ℓ,S_i⟩, checked at m = 3 here; G5 proves the same expansion at symbolic m "
                    "(its identity in empirical means).  For ℓ₁ = ℓ₂, a² = 1 makes B^{ℓℓ} = B.")


def _ratio_steps(d: Derivation) -> None:
    ki, kj, xi, xj, y, bb, tB, tC, tD = sp.symbols("k_i k_j x_i x_j y b tau_B tau_C tau_D", nonnegative=True)
    Ai, Aj, Bs, Cs, Ds = sp.symbols("A_i A_j B C D", real=True)
    ti, tj = sp.symbols("tau_i tau_j", positive=True)
    box = [(ti, 1 / (1 + ki)), (tj, 1 / (1 + kj))]
    A_par = [(Ai, 1 + ti * (xi - 1) / (xi + 1)), (Aj, 1 + tj * (xj - 1) / (xj + 1))]
    low = (1 - ti) * (1 - tj)
    note = ("on the event |A_i − 1| ≤ τ_i < 1, |A_j − 1| ≤ τ_j < 1 and the deviation of the numerator within its "
            "radius; parametrized by τ = 1/(1 + k), A − 1 = τ(x − 1)/(x + 1), deviation = τ'(y − 1)/(y + 1) with k, x, y ≥ 0")
    prove_abs_le(d, "ratio: |B/(A_iA_j) − b| ≤ (τ_B + b(τ_i + τ_j + τ_iτ_j))/((1 − τ_i)(1 − τ_j))",
                 Bs / (Ai * Aj) - bb, (tB + bb * (ti + tj + ti * tj)) / low,
                 subs=A_par + [(Bs, bb + tB * (y - 1) / (y + 1))] + box, note=note)
    prove_abs_le(d, "|C/(A_iA_j)| ≤ τ_C/((1 − τ_i)(1 − τ_j))", Cs / (Ai * Aj), tC / low,
                 subs=A_par + [(Cs, tC * (y - 1) / (y + 1))] + box, note=note + " (C, and B^{ℓℓ'} for ℓ ≠ ℓ', have mean 0)")
    prove_abs_le(d, "|B/(A_iA_j)| ≤ (b + τ_B)/((1 − τ_i)(1 − τ_j))", Bs / (Ai * Aj), (bb + tB) / low,
                 subs=A_par + [(Bs, bb + tB * (y - 1) / (y + 1))] + box, note=note)
    prove_abs_le(d, "|c_{iℓ}| = |D_{iℓ}/A_i| ≤ τ_D/(1 − τ_i)", Ds / Ai, tD / (1 - ti),
                 subs=[A_par[0], (Ds, tD * (y - 1) / (y + 1)), box[0]], note=note)
    to_module = {ti: tau_i, tj: tau_j, tB: tau_B, tC: tau_C, bb: b_}
    return {key: val.xreplace(to_module) for key, val in
            (("B_dev", (tB + bb * (ti + tj + ti * tj)) / low), ("C", tC / low), ("B_abs", (bb + tB) / low))}


def _count_steps(d: Derivation, n_ev) -> None:
    """The number of empirical means the union bound runs over: a symbolic count (sympy sums the index sets)
    and an enumeration of the means that the entries of H actually use, at small n, d'."""
    i, j, l1, l2 = sp.symbols("i j l l'", integer=True, nonnegative=True)
    pairs_n = sp.Sum(sp.Sum(1, (i, 0, j)), (j, 0, n - 1)).doit()            # i ≤ j
    pairs_d = sp.Sum(sp.Sum(1, (l1, 0, l2 - 1)), (l2, 0, d_out - 1)).doit()  # ℓ < ℓ'
    d.identity("N_ev = #A_i + #D_{iℓ} + #{i ≤ j}·(#B_ij + #C^ℓ_ij + #B^{ℓℓ'}_ij (ℓ < ℓ'))  (symbolic n, d'; sympy sums)",
               n_ev, n + n * d_out + pairs_n * (1 + d_out + pairs_d),
               note="Σ_{j<n} Σ_{i≤j} 1 = n(n+1)/2 and Σ_{ℓ'<d'} Σ_{ℓ<ℓ'} 1 = d'(d'−1)/2: B_ij, C^ℓ_ij and B^{ℓℓ'}_ij are "
                    "symmetric in i ↔ j (and B^{ℓℓ'} in ℓ ↔ ℓ'); for d' = 1 the fifth kind is empty")
    counts = []
    for nn in (1, 2, 3):
        for dd in (1, 2, 3):
            used = set()
            for ii in range(nn):
                for jj in range(nn):
                    for a1 in range(dd):
                        for a2 in range(dd):
                            lo, hi = min(ii, jj), max(ii, jj)
                            used |= {("A", ii), ("A", jj), ("D", ii, a1), ("D", jj, a2), ("B", lo, hi),
                                     ("C", a1, lo, hi), ("C", a2, lo, hi)}
                            if a1 != a2:
                                used.add(("B'", min(a1, a2), max(a1, a2), lo, hi))
            counts.append((sp.Integer(len(used)), n_ev.xreplace({n: nn, d_out: dd})))
    d.identities("N_ev = the number of distinct means in the entries of H  (enumerated, n, d' ≤ 3)", counts,
                 concrete=True,
                 note="entry (i,ℓ₁),(j,ℓ₂) uses A_i, A_j, D_{iℓ₁}, D_{jℓ₂}, B_ij, C^{ℓ₁}_ij, C^{ℓ₂}_ij and, for ℓ₁ ≠ ℓ₂, "
                      "B^{ℓ₁ℓ₂}_ij (the expansion step); the set of them over all entries, counted")


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    n_ev = X["n_events"]
    tau = lambda var: sp.sqrt(n_ev * var / (m * delta))  # noqa: E731   the Chebyshev radius at failure δ/N_ev
    d.define("log-normal features", sp.Symbol("u_{i,r}"), sp.Symbol("exp(w_rᵀx_i)"),
             note="κ = m: m S_{i,r} = (u_{i,r}/μ_i)/A_i; the empirical means A, D, B, C, B^{ℓℓ'} as in the module docstring")
    _moment_steps(d)
    from .ntk_limit import EXPORTS as G5
    d.identity("H* entry = g_ij b_ij δ_{ℓ₁ℓ₂}", G5["limit_kernel"].expr, g * B_MEAN,
               note="K_ij = ⟨x_i,x_j⟩ e^{σ²⟨x_i,x_j⟩} (G5), H* = K ⊗ I: the population value of the expansion below")
    _expansion_step(d)
    _count_steps(d, n_ev)
    var, tau_s = sp.symbols("V tau", positive=True)
    d.inequality("Chebyshev", sp.Symbol("P(|Z̄ − EZ̄| ≥ τ)"), var / (m * tau_s**2), kind=BY_HAND,
                 note="Z̄ = (1/m)Σ_r Z_r with Z_r i.i.d. over r (the neurons are i.i.d.; the sign a_{ℓ,r} is independent of "
                      "w_r), so Var Z̄ = V/m, V the per-term variance; Markov's inequality on (Z̄ − EZ̄)².")
    d.identity("radius for failure probability δ/N_ev", var / (m * tau(var)**2), delta / n_ev,
               note="τ = √(N_ev V/(mδ))")
    d.identity("tau_A = the radius of A_i (V = e^{σ²ν_i} − 1)", X["tau_A"], tau(VAR_A(nu)))
    d.inequality("union bound over the means", sp.Symbol("P(some mean leaves its radius)"), n_ev * (delta / n_ev),
                 kind=BY_HAND,
                 note="the N_ev means counted above each leave their radius with probability ≤ δ/N_ev (Chebyshev); the "
                      "probability of a union is at most the sum.")
    bnd = _ratio_steps(d)
    d.inequality("|c_{iℓ}| ≤ γ_i = min(1, τ_{D,i}/(1 − τ_i))", sp.Symbol("|c_{iℓ}|"), GAMMA_I, kind=BY_HAND,
                 note="the previous step, and |⟨a_ℓ,S_i⟩| ≤ 1 always (B3).")
    # the entry bounds from the four pieces, each in its certified range (opaque radii r₁, r_C, r_B ≥ 0)
    r1, rC, rB = sp.symbols("r_1 r_C r_B", nonnegative=True)
    T, U1, U2, V, Bc, ci, cj = sp.symbols("T U_1 U_2 V B' c_i c_j", real=True)
    xs = sp.symbols("x0:7", nonnegative=True)
    rng = lambda bound, x: bound * (x - 1) / (x + 1)  # noqa: E731
    common = [(U1, rng(rC, xs[1])), (U2, rng(rC, xs[2])), (V, rng(rB, xs[3])), (ci, rng(gam_i, xs[4])),
              (cj, rng(gam_j, xs[5]))]
    same = r1 + (gam_i + gam_j) * rC + gam_i * gam_j * rB
    prove_abs_le(d, "entry ℓ₁ = ℓ₂: |(B/(A_iA_j) − b) − c_j C^ℓ/(A_iA_j) − c_i C^ℓ/(A_iA_j) + c_ic_j B/(A_iA_j)| ≤ "
                    "r_1 + (γ_i + γ_j) r_C + γ_iγ_j r_B", T - cj * U1 - ci * U2 + ci * cj * V, same,
                 subs=[(T, rng(r1, xs[0]))] + common,
                 note="(H − H*)/g_ij by the expansion with B^{ℓℓ} = B; each piece over its whole range: |T| ≤ r_1, "
                      "|C/(A_iA_j)| ≤ r_C, |B/(A_iA_j)| ≤ r_B (the ratio steps), |c| ≤ γ")
    cross = rC + (gam_i + gam_j) * rC + gam_i * gam_j * rB
    prove_abs_le(d, "entry ℓ₁ ≠ ℓ₂: |B^{ℓ₁ℓ₂}/(A_iA_j) − c_j C^{ℓ₁}/(A_iA_j) − c_i C^{ℓ₂}/(A_iA_j) + c_ic_j B/(A_iA_j)| ≤ "
                    "(1 + γ_i + γ_j) r_C + γ_iγ_j r_B", Bc - cj * U1 - ci * U2 + ci * cj * V, cross,
                 subs=[(Bc, rng(rC, xs[6]))] + common,
                 note="H* = 0 off the output diagonal; |B^{ℓ₁ℓ₂}/(A_iA_j)| ≤ r_C (mean 0, the same variance s_ij as C)")
    radii = {r1: bnd["B_dev"], rC: bnd["C"], rB: bnd["B_abs"]}
    d.identity("entry_same_tau = |g_ij| · (the ℓ₁ = ℓ₂ bound at the ratio-step radii)", X["entry_same_tau"],
               sp.Abs(g) * same.xreplace(radii))
    d.identity("entry_cross_tau = |g_ij| · (the ℓ₁ ≠ ℓ₂ bound at the ratio-step radii)", X["entry_cross_tau"],
               sp.Abs(g) * cross.xreplace(radii))
    t_i, t_j = tau(VAR_A(nu_i)), tau(VAR_A(nu_j))
    radii_ev = {b_: B_MEAN, tau_i: t_i, tau_j: t_j, tau_B: tau(VAR_B), tau_C: tau(VAR_C),
                gam_i: sp.Min(1, tau(VAR_D(nu_i)) / (1 - t_i)), gam_j: sp.Min(1, tau(VAR_D(nu_j)) / (1 - t_j))}
    d.define("the radii of the event", sp.Symbol("τ_B, τ_C, τ_i, γ_i"), sp.Symbol("√(N_ev V/(mδ)), min(1, τ_D/(1 − τ_i))"),
             note="V the per-term variance of each mean (the moment steps); the numeric check also tests the "
                  "deterministic part alone, with the radii set to the observed deviations of a draw")
    structural = lambda e: e  # noqa: E731   the two sides are the same expression tree (lhs − rhs cancels to 0)
    d.identity("entry_same = entry_same_tau at the Chebyshev radii", X["entry_same"],
               X["entry_same_tau"].xreplace(radii_ev), simplifier=structural,
               note="compared as expression trees: sympy cancels lhs − rhs to 0 on construction")
    d.identity("entry_cross = entry_cross_tau at the Chebyshev radii", X["entry_cross"],
               X["entry_cross_tau"].xreplace(radii_ev), simplifier=structural,
               note="compared as expression trees")
    d.inequality("spectral norm", sp.Symbol("‖H(W(0)) − H*‖₂"), sp.Symbol("‖N_same ⊗ I + N_cross ⊗ (11ᵀ − I)‖₂"),
                 kind=BY_HAND, note="|H − H*| ≤ N entrywise with N ≥ 0 implies ‖H − H*‖₂ ≤ ‖N‖₂ (as in B3).")
    # the heavy-tail threshold: τ_C at ν = 1 relative to H*_ii = e^{σ²}
    tauC_unit = tau(VAR_C).subs({nu_i: 1, nu_j: 1, g: 1})
    d.identity("(τ_C / H*_ii)² at i = j, ‖x_i‖ = 1", (tauC_unit / G5["limit_kernel"].expr.subs(g, 1))**2,
               n_ev * sp.exp(4 * sigma**2) / (m * delta),
               note="the unnormalized second moment is e^{6σ²}, H*_ii = K_ii = e^{σ²} (G5); so ε < ‖H*‖ needs "
                    "m ≳ N_ev e^{4σ²}/δ: the exp(cσ²) width threshold of the log-normal tails")
    d.remark("coverage", NUMERIC,
             "check B7: over many initializations the fraction with ‖H(W(0)) − H*‖₂ ≤ ε is ≥ 1 − δ (binomial bound); "
             "the mean error decays like m^{−1/2} at σ = 0.5 and has not started to at σ = 2 and moderate m.")
    return d
