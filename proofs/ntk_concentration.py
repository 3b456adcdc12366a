"""B7 ntk-concentration (MATH.md §3): an explicit finite-m bound ε(m, δ, σ, X) with
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

from proofs._core import BY_HAND, NUMERIC, Derivation, Export, cached_derivation
from proofs.definitions import g, m, sigma
from proofs.init_bound import MGF, gaussian_mgf_steps, lam, s_dev
from proofs.softmax_ratio import prove_abs_le

CODE = "B7"
ID = "ntk-concentration"
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
    "n_events": Export((n, d_out), N_EV, "the number of empirical means in the union bound"),
    "tau_A": Export((m, delta, n, d_out, sigma, nu), _tau(VAR_A(nu)),
                    "Chebyshev radius of A_i = ᾱ_i/μ_i; ε is finite only if it is < 1 for every i"),
    "entry_same": Export(_PAIR_ARGS, ENTRY_SAME, "bound on |H − H*|_{(i,ℓ),(j,ℓ)} on the event"),
    "entry_cross": Export(_PAIR_ARGS, ENTRY_CROSS, "bound on |H − H*|_{(i,ℓ₁),(j,ℓ₂)}, ℓ₁ ≠ ℓ₂, on the event"),
    "entry_same_tau": Export((g, b_, tau_i, tau_j, tau_B, tau_C, gam_i, gam_j), ENTRY_SAME_TAU,
                             "the deterministic part: the ℓ₁ = ℓ₂ entry bound in terms of the radii"),
    "entry_cross_tau": Export((g, b_, tau_i, tau_j, tau_B, tau_C, gam_i, gam_j), ENTRY_CROSS_TAU,
                              "the deterministic part: the ℓ₁ ≠ ℓ₂ entry bound in terms of the radii"),
}


def _moment_steps(d: Derivation) -> None:
    gaussian_mgf_steps(d)
    xs = sp.symbols("x0:3", real=True)
    ys = sp.symbols("y0:3", real=True)
    d.identity("‖x_i + x_j‖² = ν_i + ν_j + 2g_ij (d = 3 coordinates)", sum((a + b)**2 for a, b in zip(xs, ys)),
               sum(a**2 for a in xs) + sum(b**2 for b in ys) + 2 * sum(a * b for a, b in zip(xs, ys)),
               simplifier=sp.expand)
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
    d.identity("H in empirical means (κ = m, m = 3, free symbols)", H, rhs, simplifier=sp.cancel,
               note="H_{(i,ℓ₁),(j,ℓ₂)} = g/(A_iA_j)[B^{ℓ₁ℓ₂} − c_{jℓ₂}C^{ℓ₁} − c_{iℓ₁}C^{ℓ₂} + c_{iℓ₁}c_{jℓ₂}B], "
                    "c_{iℓ} = D_{iℓ}/A_i = ⟨a_ℓ,S_i⟩; the same algebra at every m.  For ℓ₁ = ℓ₂, a² = 1 makes B^{ℓℓ} = B.")


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


@cached_derivation
def derive() -> Derivation:
    d = Derivation(CODE, ID, STATEMENT)
    d.define("log-normal features", sp.Symbol("u_{i,r}"), sp.Symbol("exp(w_rᵀx_i)"),
             note="κ = m: m S_{i,r} = (u_{i,r}/μ_i)/A_i; the empirical means A, D, B, C, B^{ℓℓ'} as in the module docstring")
    _moment_steps(d)
    from proofs.ntk_limit import EXPORTS as G5
    d.identity("H* entry = g_ij b_ij δ_{ℓ₁ℓ₂}", G5["limit_kernel"].expr, g * B_MEAN,
               note="K_ij = ⟨x_i,x_j⟩ e^{σ²⟨x_i,x_j⟩} (G5), H* = K ⊗ I: the population value of the expansion below")
    _expansion_step(d)
    var, tau = sp.symbols("V tau", positive=True)
    d.inequality("Chebyshev", sp.Symbol("P(|Z̄ − EZ̄| ≥ τ)"), var / (m * tau**2), kind=BY_HAND,
                 note="Z̄ = (1/m)Σ_r Z_r with Z_r i.i.d. over r (the neurons are i.i.d.; the sign a_{ℓ,r} is independent of "
                      "w_r), so Var Z̄ = V/m, V the per-term variance; Markov's inequality on (Z̄ − EZ̄)².")
    d.identity("radius for failure probability δ/N_ev", var / (m * _tau(var)**2), DELTA_EV,
               note="τ = √(N_ev V/(mδ))")
    d.inequality("union bound over the means", sp.Symbol("P(some mean leaves its radius)"), delta, kind=BY_HAND,
                 note="N_ev = n (A_i) + nd' (D_{iℓ}) + n(n+1)/2 (B_ij, i ≤ j) + n(n+1)/2·d' (C^ℓ_ij) + "
                      "n(n+1)/2·d'(d'−1)/2 (B^{ℓℓ'}_ij, ℓ < ℓ'): every mean that occurs in an entry of H, using the "
                      "symmetries i ↔ j and ℓ ↔ ℓ'; each fails with probability ≤ δ/N_ev.")
    _ratio_steps(d)
    d.inequality("|c_{iℓ}| ≤ γ_i = min(1, τ_{D,i}/(1 − τ_i))", sp.Symbol("|c_{iℓ}|"), GAMMA_I, kind=BY_HAND,
                 note="the previous step, and |⟨a_ℓ,S_i⟩| ≤ 1 always (B3).")
    d.inequality("entry ℓ₁ = ℓ₂", sp.Symbol("|H − H*|_{(i,ℓ),(j,ℓ)}"), ENTRY_SAME_TAU, kind=BY_HAND,
                 note="triangle inequality on the expansion minus g b: |g|·[|B/(A_iA_j) − b| + |c_j||C/(A_iA_j)| + "
                      "|c_i||C/(A_iA_j)| + |c_i||c_j||B/(A_iA_j)|] with the four bounds above.")
    d.inequality("entry ℓ₁ ≠ ℓ₂", sp.Symbol("|H − H*|_{(i,ℓ₁),(j,ℓ₂)}"), ENTRY_CROSS_TAU, kind=BY_HAND,
                 note="the same with H* = 0 and |B^{ℓ₁ℓ₂}/(A_iA_j)| ≤ τ_C/((1 − τ_i)(1 − τ_j)) (variance s_ij, mean 0).")
    d.define("the radii of the event", sp.Symbol("τ_B, τ_C, τ_i, γ_i"), sp.Symbol("√(N_ev V/(mδ)), min(1, τ_D/(1 − τ_i))"),
             note="substituting the Chebyshev radii gives the exported entry_same / entry_cross; the numeric check "
                  "also tests the deterministic part alone, with the radii set to the observed deviations of a draw")
    d.inequality("spectral norm", sp.Symbol("‖H(W(0)) − H*‖₂"), sp.Symbol("‖N_same ⊗ I + N_cross ⊗ (11ᵀ − I)‖₂"),
                 kind=BY_HAND, note="|H − H*| ≤ N entrywise with N ≥ 0 implies ‖H − H*‖₂ ≤ ‖N‖₂ (as in B3).")
    # the heavy-tail threshold: the radius of C_ii at ν = 1 is √(N_ev e^{6σ²}/(mδ))
    d.identity("τ_C at i = j, ‖x_i‖ = 1", _tau(VAR_C).subs({nu_i: 1, nu_j: 1, g: 1}),
               sp.sqrt(N_EV * sp.exp(6 * sigma**2) / (m * delta)),
               note="so ε < ‖H*‖ needs m ≳ N_ev e^{6σ²}/δ: the exp(cσ²) width threshold of the log-normal tails")
    d.remark("coverage", NUMERIC,
             "check B7: over many initializations the fraction with ‖H(W(0)) − H*‖₂ ≤ ε is ≥ 1 − δ (binomial bound); "
             "the mean error decays like m^{−1/2} at σ = 0.5 and has not started to at σ = 2 and moderate m.")
    return d
