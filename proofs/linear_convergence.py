"""T1 linear-convergence (the book's T1 part), and its conditional variant T1'.

Let λ = λ_min(H*) > 0 and p = ηmλ/4.  If, for some R₀ > 0,
  (i)   ‖H(W(0)) − H*‖₂ ≤ λ/4,
  (ii)  6(e^{4R₀} − 1) d' ‖Q(W(0))‖₂ ≤ λ/4                      (B3 with W̃ = W(0)),
  (iii) η ≤ 1/(m(‖H*‖₂ + λ/2)) and η ≤ λ/(2β√(nd')(‖H*‖₂ + λ/2)‖e(0)‖₂), β = 2κ max‖x‖² e^{2R₀} S₀ (B4, B2),
  (iv)  2ηκ e^{2R₀} S₀ √(nd') ‖e(0)‖₂ / p ≤ R₀                   (B6, S₀ = max_{i,r} S_{i,r}(W(0))),
then for every t: max_r ‖w_r(t) − w_r(0)‖₂ ≤ R₀, λ_min(H(W(t))) ≥ λ/2 and ‖e(t)‖₂ ≤ (1 − p)^t ‖e(0)‖₂.
T1': λ₀ = λ_min(H(W(0))) for λ, ‖H(W(0))‖₂ for ‖H*‖₂, (i) dropped, λ₀/2 on the right of (ii).

The exports are the scalar sides of the hypotheses and the rate as functions of named symbols: the
numeric layer (ntkcheck.theorem) evaluates the matrix quantities (‖Q‖, S₀, β, ‖H‖, λ) and feeds them in.
"""
from __future__ import annotations

import sympy as sp

from ._core import BY_HAND, EXPORT_BY_HAND, EXPORT_SYMPY, PROVED, Derivation, Export, ProofError, cached_derivation
from .definitions import kappa, m

CODE = "T1"
ID = "linear-convergence"
# H* (G5) with λ > 0 (G6); the induction runs on B3 (with (i)–(ii) and Weyl), B5 (β from B4 with B2), B6 (with
# B2) and G4's ‖∇L‖² = m eᵀHe
USES = ("G4", "G5", "G6", "B2", "B3", "B4", "B5", "B6")
# T1' (conditional on the draw), proved by the same derivation: λ₀ = λ_min(H(W(0))) and ‖H(W(0))‖ take the
# place of λ and ‖H*‖, so it needs neither the limit H* (G5) nor its positive definiteness (G6).
# code -> (id, title, uses)
VARIANTS = {"T1'": ("linear-convergence-conditional", "Linear convergence, conditional on the draw",
                    ("G4", "B2", "B3", "B4", "B5", "B6"))}
STATEMENT = ("If λ = λ_min(H*) > 0 and (i) ‖H(0)−H*‖ ≤ λ/4, (ii) 6(e^{4R₀}−1)d'‖Q‖ ≤ λ/4, (iii) η small, "
             "(iv) 2ηκe^{2R₀}S₀√(nd')‖e(0)‖/p ≤ R₀, then max_r‖w_r(t)−w_r(0)‖ ≤ R₀, λ_min(H(t)) ≥ λ/2 and "
             "‖e(t)‖ ≤ (1 − ηmλ/4)^t ‖e(0)‖ for all t (T1': λ₀ = λ_min(H(0)), (i) dropped, λ₀/2 in (ii)).")

# --- the named symbols of the exports (the numeric layer binds them by position) --------------------
eta = sp.Symbol("eta", positive=True)          # step size η
lam = sp.Symbol("lambda", positive=True)       # λ = λ_min(H*) (T1) or λ₀ = λ_min(H(W(0))) (T1')
R0 = sp.Symbol("R_0", positive=True)           # the weight radius R₀
d_out = sp.Symbol("d_out", positive=True, integer=True)   # d'
n = sp.Symbol("n", positive=True, integer=True)
Qn = sp.Symbol("Q_norm", positive=True)        # ‖Q(W(0))‖₂ (B3)
Hn = sp.Symbol("H_norm", positive=True)        # ‖H*‖₂ (T1) or ‖H(W(0))‖₂ (T1')
beta = sp.Symbol("beta", positive=True)        # the Hessian bound β of B5 along the path
e0 = sp.Symbol("e0_norm", positive=True)       # ‖e(0)‖₂
S0 = sp.Symbol("S_0", positive=True)           # max_{i,r} S_{i,r}(W(0))
t = sp.Symbol("t", integer=True, nonnegative=True)
p = sp.Symbol("p", positive=True)              # the rate p = ηmλ/4
q = sp.Symbol("q", positive=True)              # 1 − p (positive: p < 1 under (iii-a), see derive())
s = sp.Symbol("s", integer=True, nonnegative=True)
R = sp.Symbol("R", positive=True)

RATE_P = eta * m * lam / 4
RATE = (1 - RATE_P) ** t
HYP_I_RHS = lam / 4
HYP_II_LHS = 6 * (sp.exp(4 * R0) - 1) * d_out * Qn
HYP_II_RHS = {"T1": lam / 4, "T1'": lam / 2}
ETA_CAP_SPECTRAL = 1 / (m * (Hn + lam / 2))
ETA_CAP_SECOND_ORDER = lam / (2 * beta * sp.sqrt(n * d_out) * (Hn + lam / 2) * e0)
HYP_IV_LHS = 2 * eta * kappa * sp.exp(2 * R0) * S0 * sp.sqrt(n * d_out) * e0 / RATE_P
# the steps after which the conclusion's bound gives loss ≤ ε: ½((1 − p)^T ‖e(0)‖)² ≤ ε
eps_loss = sp.Symbol("epsilon", positive=True)
STEPS_TO_LOSS = sp.log(e0**2 / (2 * eps_loss)) / (-2 * sp.log(1 - RATE_P))
# (ii) solved for R₀ (it is increasing in R₀): the largest radius (ii) allows
R0_MAX = {v: sp.log(1 + rhs / (6 * d_out * Qn)) / 4 for v, rhs in HYP_II_RHS.items()}
# (iv) reads R₀e^{−2R₀} ≥ C with C free of η and R₀; R e^{−2R} is largest at R = 1/2
R0_IV_BEST = sp.Rational(1, 2)

EXPORTS = {
    "rate_p": Export((eta, m, lam), RATE_P, "p = ηmλ/4"),
    "rate": Export((eta, m, lam, t), RATE, "(1 − ηmλ/4)^t, the factor on ‖e(0)‖ in the conclusion"),
    "hyp_i_rhs": Export((lam,), HYP_I_RHS, "right side of (i): λ/4"),
    "hyp_ii_lhs": Export((R0, d_out, Qn), HYP_II_LHS, "left side of (ii): 6(e^{4R₀} − 1) d' ‖Q‖₂ (B3)"),
    "hyp_ii_rhs_T1": Export((lam,), HYP_II_RHS["T1"], "right side of (ii) in T1: λ/4"),
    "hyp_ii_rhs_T1p": Export((lam,), HYP_II_RHS["T1'"], "right side of (ii) in T1': λ₀/2"),
    "eta_cap_spectral": Export((m, Hn, lam), ETA_CAP_SPECTRAL, "(iii), first part: 1/(m(‖H‖ + λ/2))"),
    "eta_cap_second_order": Export((lam, beta, n, d_out, Hn, e0), ETA_CAP_SECOND_ORDER,
                                   "(iii), second part: λ/(2β√(nd')(‖H‖ + λ/2)‖e(0)‖)"),
    "hyp_iv_lhs": Export((eta, kappa, R0, S0, n, d_out, e0, m, lam), HYP_IV_LHS,
                         "left side of (iv): 2ηκe^{2R₀}S₀√(nd')‖e(0)‖/p with p = ηmλ/4 (B6)"),
    "steps_to_loss": Export((eta, m, lam, e0, eps_loss), STEPS_TO_LOSS,
                            "T with ½((1 − ηmλ/4)^T‖e(0)‖)² = ε; the predicted steps are its ceiling"),
    "R0_max_T1": Export((lam, d_out, Qn), R0_MAX["T1"], "the largest R₀ that (ii) allows in T1"),
    "R0_max_T1p": Export((lam, d_out, Qn), R0_MAX["T1'"], "the largest R₀ that (ii) allows in T1'"),
    "R0_iv_best": Export((), R0_IV_BEST, "the R₀ that makes (iv) easiest: argmax R e^{−2R}", EXPORT_SYMPY),
}


def EXPORTS_AT(export, *values):  # noqa: N802
    """An export's expression with its arguments replaced, in order, by ``values``."""
    return export.expr.xreplace(dict(zip(export.args, values)))


def _nonneg(expr) -> bool:
    """sympy's assumption system decides ``expr ≥ 0`` (from the positivity of the symbols): the numerator
    and denominator of ``expr``, expanded, must be sums of products of nonnegative symbols."""
    num, den = sp.fraction(sp.together(expr))
    return bool(sp.expand(num).is_nonnegative) and bool(sp.expand(den).is_positive)


@cached_derivation
def derive() -> Derivation:
    from .ntk_perturbation import EXPORTS as B3
    from .softmax_ratio import EXPORTS as B2
    from .weight_movement import EXPORTS as B6

    d = Derivation(CODE, ID, STATEMENT)
    # every step below runs on the exported expressions (rebinding the module-level names)
    X = {name: ex.expr for name, ex in EXPORTS.items()}
    RATE_P, RATE, HYP_I_RHS, HYP_II_LHS = X["rate_p"], X["rate"], X["hyp_i_rhs"], X["hyp_ii_lhs"]
    HYP_II_RHS = {"T1": X["hyp_ii_rhs_T1"], "T1'": X["hyp_ii_rhs_T1p"]}
    ETA_CAP_SPECTRAL, ETA_CAP_SECOND_ORDER = X["eta_cap_spectral"], X["eta_cap_second_order"]
    HYP_IV_LHS, STEPS_TO_LOSS, R0_IV_BEST = X["hyp_iv_lhs"], X["steps_to_loss"], X["R0_iv_best"]
    R0_MAX = {"T1": X["R0_max_T1"], "T1'": X["R0_max_T1p"]}
    lam_t = sp.Symbol("λ_min(H(W(t)))", real=True)
    b3 = EXPORTS_AT(B3["spectral_bound"], R0, d_out, Qn)
    d.identity("(ii)'s left side = B3's spectral_bound at R = R₀, W̃ = W(0)", HYP_II_LHS, b3)
    b6 = EXPORTS_AT(B6["movement"], eta, kappa, EXPORTS_AT(B2["ratio_upper"], R0) * S0, n, d_out, e0, RATE_P)
    d.identity("(iv)'s left side = B6's movement with S̄ = B2's ratio_upper(R₀)·S₀ and p = rate_p", HYP_IV_LHS, b6)

    d.define("p", p, RATE_P, note="the per-step contraction of the residual")
    d.define("(i)", sp.Symbol("(i)"), sp.Le(sp.Symbol("‖H(W(0)) − H*‖₂"), HYP_I_RHS), note="hypothesis (i)")
    d.define("(ii)", sp.Symbol("(ii)"), sp.Le(HYP_II_LHS, HYP_II_RHS["T1"]),
             note="hypothesis (ii): B3's bound with W̃ = W(0) at radius R₀ (T1' has λ₀/2 on the right)")
    d.define("(iii)", sp.Symbol("(iii)"), sp.Le(eta, sp.Min(ETA_CAP_SPECTRAL, ETA_CAP_SECOND_ORDER)),
             note="hypothesis (iii); β = 2κ max_i‖x_i‖² e^{2R₀} S₀ (B4 with B2 at R₀)")
    d.define("(iv)", sp.Symbol("(iv)"), sp.Le(HYP_IV_LHS, R0),
             note="hypothesis (iv): B6's bound with S̄ ≤ e^{2R₀}S₀ (B2) and p = ηmλ/4")

    # -- 1. the kernel stays well conditioned along the ball of radius R₀ -------------------------------
    d.inequality("Weyl: λ_min(H(t)) ≥ λ_min(H*) − ‖H(0) − H*‖₂ − ‖H(t) − H(0)‖₂", lam_t,
                 lam - lam / 4 - lam / 4, BY_HAND, ">=",
                 note="Weyl's inequality |λ_min(A) − λ_min(B)| ≤ ‖A − B‖₂ twice; ‖H(0) − H*‖ ≤ λ/4 is (i); "
                      "‖H(t) − H(0)‖₂ ≤ 6(e^{4R₀}−1)d'‖Q(W(0))‖₂ ≤ λ/4 is B3 (valid while max_r‖w_r(t) − "
                      "w_r(0)‖ ≤ R₀) with (ii).  Likewise ‖H(t)‖₂ ≤ ‖H*‖₂ + λ/4 + λ/4.")
    d.identity("λ − λ/4 − λ/4 = λ/2 (T1)", sp.Add(lam, -HYP_I_RHS, -HYP_II_RHS["T1"], evaluate=False), lam / 2)
    d.identity("λ₀ − λ₀/2 = λ₀/2 (T1': no (i), λ₀/2 in (ii))", sp.Add(lam, -HYP_II_RHS["T1'"], evaluate=False), lam / 2)
    d.identity("‖H*‖ + λ/4 + λ/4 = ‖H*‖ + λ/2, the norm that (iii) is written with",
               sp.Add(Hn, HYP_I_RHS, HYP_II_RHS["T1"], evaluate=False), Hn + lam / 2)

    # -- 2. the linear part of the step: ‖I − ηmH(t)‖₂ ≤ 1 − ηmλ/2 under (iii), first part -----------
    theta, u, v = sp.symbols("theta u v", positive=True)
    # write η = θ·cap with 0 < θ ≤ 1 and an eigenvalue μ = λ/2 + u with 0 ≤ u ≤ ‖H*‖ (so μ ≤ ‖H*‖ + λ/2)
    mu = lam / 2 + u
    one_minus = 1 - theta * ETA_CAP_SPECTRAL * m * mu
    d.identity("1 − ηmμ at η = θ/(m(‖H‖ + λ/2)), μ = λ/2 + u", one_minus,
               ((1 - theta) * (Hn + lam / 2) + theta * (Hn - u)) / (Hn + lam / 2))
    # with θ ≤ 1 and u ≤ ‖H‖: substitute θ = 1/(1 + v'), u = ‖H‖/(1 + v) (v, v' > 0, and the limits) —
    # every term is then a ratio of positive quantities, which sympy's assumptions decide.
    vp = sp.Symbol("v_p", positive=True)
    low = one_minus.subs({theta: 1 / (1 + vp), u: Hn / (1 + v)})
    if not _nonneg(low):
        raise ProofError("T1: could not show 1 − ηmμ ≥ 0")
    d.inequality("0 ≤ 1 − ηmμ for every eigenvalue μ ≤ ‖H‖ + λ/2 when η ≤ 1/(m(‖H‖ + λ/2))", one_minus, 0, PROVED, ">=",
                 note="with θ = 1/(1 + v'), u = ‖H‖/(1 + v), v, v' > 0 (and θ = 1, u = ‖H‖ by continuity) "
                      "1 − ηmμ is a sum of products of positive symbols; sympy's assumption system decides it")
    d.identity("1 − ηmμ ≤ 1 − ηmλ/2 for μ ≥ λ/2: the difference is ηm(μ − λ/2) = ηmu", (1 - eta * m * lam / 2)
               - (1 - eta * m * mu), eta * m * u)
    d.inequality("‖I − ηmH(t)‖₂ = max_μ |1 − ηmμ| ≤ 1 − ηmλ/2", sp.Symbol("‖I − ηmH(t)‖₂"), 1 - eta * m * lam / 2,
                 BY_HAND, note="H(t) is symmetric with eigenvalues μ ∈ [λ/2, ‖H*‖ + λ/2] (step 1); by the two "
                               "previous steps 0 ≤ 1 − ηmμ ≤ 1 − ηmλ/2 for each of them")
    d.inequality("p < 1 (so q = 1 − p > 0)", RATE_P, 1, BY_HAND, "<=",
                 note="p = ηmλ/4 ≤ (λ/4)/(‖H‖ + λ/2) < 1/2 under (iii), first part")

    # -- 3. the second-order part of B5 is at most p‖e‖ under (iii), second part ----------------------
    gradsq = m * (Hn + lam / 2) * e0**2   # ‖∇L‖_F² = m eᵀHe ≤ m‖H(t)‖‖e(t)‖² ≤ m(‖H*‖ + λ/2)‖e(0)‖²
    second = eta**2 * beta * sp.sqrt(n * d_out) * gradsq / 2
    d.inequality("‖∇L(W(t))‖_F² = m e(t)ᵀH(t)e(t) ≤ m(‖H*‖ + λ/2)‖e(0)‖²", sp.Symbol("‖∇L(W(t))‖_F²"), gradsq,
                 BY_HAND, note="G4's m eᵀHe (also in B5), ‖H(t)‖ ≤ ‖H*‖ + λ/2 (step 1) and ‖e(t)‖ ≤ ‖e(0)‖ "
                               "(the induction hypothesis)")
    d.identity("(½η²β√(nd')‖∇L‖²)/(p‖e(0)‖) = η / (the second cap of (iii))", second / (RATE_P * e0),
               eta / ETA_CAP_SECOND_ORDER)
    if not _nonneg((RATE_P * e0 - second).subs(eta, ETA_CAP_SECOND_ORDER / (1 + v))):
        raise ProofError("T1: could not show the second-order term is at most p‖e(0)‖")
    d.inequality("½η²β√(nd')‖∇L‖_F² ≤ p‖e(0)‖ when η ≤ λ/(2β√(nd')(‖H*‖ + λ/2)‖e(0)‖)", second, RATE_P * e0, PROVED,
                 note="with η = cap/(1 + v), v > 0 (and v = 0 by continuity), p‖e(0)‖ − ½η²β√(nd')‖∇L‖² is a "
                      "ratio of positive terms, which sympy's assumptions decide; β is B4 with B2 at R₀ (the "
                      "segment [W(t), W(t+1)] lies in the convex set max_r‖w_r − w_r(0)‖ ≤ R₀)")
    d.inequality("the second-order term is at most p‖e(t)‖ as well", sp.Symbol("½η²β√(nd')‖∇L(W(t))‖²"),
                 RATE_P * sp.Symbol("‖e(t)‖"), BY_HAND,
                 note="the same bound with ‖e(t)‖² in place of ‖e(0)‖² in ‖∇L‖²: ½η²β√(nd')m(‖H*‖ + λ/2)"
                      "‖e(t)‖² = (η/cap)·p‖e(t)‖·(‖e(t)‖/‖e(0)‖) ≤ p‖e(t)‖ since ‖e(t)‖ ≤ ‖e(0)‖")

    # -- 4. the rate ---------------------------------------------------------------------------------
    d.identity("(1 − ηmλ/2) + p = 1 − ηmλ/4 (B5 with steps 2 and 3)",
               sp.Add(1 - eta * m * lam / 2, RATE_P, evaluate=False), 1 - eta * m * lam / 4)
    d.identity("rate at t = 0 is 1 (the base case)", RATE.subs(t, 0), 1)
    d.identity("(1 − p)·(1 − p)^t ‖e(0)‖ = (1 − p)^{t+1} ‖e(0)‖ (the induction step)",
               (1 - RATE_P) * RATE * e0, RATE.subs(t, t + 1) * e0)

    T_ = sp.Symbol("T", positive=True)
    d.identity("½((1 − p)^T ‖e(0)‖)² = ε at T = log(‖e(0)‖²/(2ε)) / (−2 log(1 − p))",
               sp.expand_log(sp.log(((1 - RATE_P)**T_ * e0)**2 / 2), force=True).subs(T_, STEPS_TO_LOSS),
               sp.log(eps_loss), simplifier=lambda e: sp.simplify(sp.expand_log(e, force=True)),
               note="the logarithm of both sides; for t ≥ T the conclusion gives loss ≤ ε (0 < p < 1)")

    # -- 5. the weights stay in the ball: B6 and the geometric sum ----------------------------------
    geo = sp.summation(q**s, (s, 0, t - 1))   # Piecewise((t, q = 1), ((1 − q^t)/(1 − q), otherwise))
    branch = [expr for expr, cond in geo.args if cond == sp.true]
    if len(branch) != 1:
        raise ProofError(f"T1: unexpected form of the geometric sum: {geo}")
    d.identity("Σ_{s<t} (1 − p)^s = (1 − (1 − p)^t)/p", branch[0].subs(q, 1 - p), (1 - (1 - p)**t) / p,
               note="sympy sums the geometric series; the branch q = 1 − p ≠ 1 applies since p > 0")
    gap = 1 / p - (1 - q**t) / p
    d.identity("1/p − (1 − q^t)/p = q^t/p", gap, q**t / p)
    if not _nonneg(q**t / p):
        raise ProofError("T1: could not show q^t/p ≥ 0")
    d.inequality("Σ_{s<t} (1 − p)^s ≤ 1/p", (1 - q**t) / p, 1 / p, PROVED,
                 note="the gap q^t/p is a ratio of positive quantities (q = 1 − p > 0, step 2)")
    d.inequality("max_r ‖w_r(t+1) − w_r(0)‖₂ ≤ 2ηκe^{2R₀}S₀√(nd')‖e(0)‖/p ≤ R₀",
                 sp.Symbol("max_r ‖w_r(t+1) − w_r(0)‖₂"), R0, BY_HAND,
                 note="B6: ‖w_r(t+1) − w_r(0)‖ ≤ η Σ_{s≤t} ‖∇_{w_r}L(W(s))‖ ≤ η Σ_s 2κS̄√(nd')‖e(s)‖ with "
                      "‖e(s)‖ ≤ (1 − p)^s‖e(0)‖ (induction) and S̄ ≤ e^{2R₀}S₀ (B2: every W(s), s ≤ t, is "
                      "within R₀ of W(0)); the geometric sum is ≤ 1/p; the last inequality is (iv)")
    d.identity("(iv) does not depend on η: 2ηκe^{2R₀}S₀√(nd')e₀/p = 8κe^{2R₀}S₀√(nd')e₀/(mλ)", HYP_IV_LHS,
               8 * kappa * sp.exp(2 * R0) * S0 * sp.sqrt(n * d_out) * e0 / (m * lam))

    # -- 6. choosing R₀ --------------------------------------------------------------------------------
    dlhs = sp.diff(HYP_II_LHS, R0)
    if not bool(dlhs.is_positive):
        raise ProofError("T1: (ii)'s left side is not increasing in R₀")
    d.inequality("(ii)'s left side is increasing in R₀: d/dR₀ = 24 e^{4R₀} d'‖Q‖ > 0", dlhs, 0, PROVED, ">=",
                 note="a product of positive symbols; so (ii) holds exactly for R₀ ≤ R₀,max")
    for v_ in ("T1", "T1'"):
        d.identity(f"(ii) at R₀ = R₀,max ({v_}) is an equality", HYP_II_LHS.subs(R0, R0_MAX[v_]), HYP_II_RHS[v_])
    crit = sp.solve(sp.diff(R * sp.exp(-2 * R), R), R)
    if crit != [R0_IV_BEST]:
        raise ProofError(f"T1: d/dR (R e^{{-2R}}) = 0 at {crit}, expected 1/2")
    d.identity("d/dR (R e^{−2R}) = (1 − 2R)e^{−2R}, zero only at R = 1/2", sp.diff(R * sp.exp(-2 * R), R),
               (1 - 2 * R) * sp.exp(-2 * R))
    deriv = sp.diff(R * sp.exp(-2 * R), R)
    if not (_nonneg(deriv.subs(R, R0_IV_BEST / (1 + v))) and _nonneg(-deriv.subs(R, R0_IV_BEST * (1 + v)))):
        raise ProofError("T1: R e^{-2R} is not increasing then decreasing around 1/2")
    d.inequality("R e^{−2R} is increasing on (0, 1/2]", deriv, 0, PROVED, ">=",
                 note="at R = (1/2)/(1 + v), v > 0, the derivative is a product of positive terms; at "
                      "R = (1/2)(1 + v) its negative is.  So (iv), R₀e^{−2R₀} ≥ 8κS₀√(nd')‖e(0)‖/(mλ), is "
                      "easiest at R₀ = min(R₀,max, 1/2), and holds for some R₀ allowed by (ii) iff it holds there")

    # -- 7. the induction ----------------------------------------------------------------------------------
    d.remark("induction on t", BY_HAND,
             "Claim at t: for all s ≤ t, max_r‖w_r(s) − w_r(0)‖ ≤ R₀ and ‖e(s)‖ ≤ (1 − p)^s‖e(0)‖.  t = 0 is "
             "trivial.  Step: from the claim at t, step 5 (B6, B2, geometric sum, (iv)) puts W(t+1) in the "
             "ball of radius R₀; step 1 ((i), (ii), B3, Weyl) gives λ_min(H(t)) ≥ λ/2 and ‖H(t)‖ ≤ ‖H*‖ + λ/2; "
             "the ball is convex, so the segment [W(t), W(t+1)] is inside and B4 with B2 bounds the Hessian "
             "on it by β = 2κ max_i‖x_i‖² e^{2R₀} S₀; B5 then gives ‖e(t+1)‖ ≤ ‖I − ηmH(t)‖‖e(t)‖ + "
             "½η²β√(nd')‖∇L(W(t))‖² ≤ (1 − ηmλ/2)‖e(t)‖ + p‖e(t)‖ (steps 2, 3) = (1 − p)‖e(t)‖ (step 4).  "
             "The three conclusions follow for every t (λ_min(H(t)) ≥ λ/2 from step 1 with the ball).")
    d.remark("T1'", BY_HAND,
             "The same induction with λ₀ = λ_min(H(W(0))) for λ and ‖H(W(0))‖ for ‖H*‖: no (i) is needed "
             "because Weyl is applied to H(t) − H(W(0)) alone, and (ii) with λ₀/2 keeps λ_min(H(t)) ≥ λ₀/2 "
             "and ‖H(t)‖ ≤ ‖H(W(0))‖ + λ₀/2 (step 1's T1' identity).")
    d.remark("certified T1 (B7)", BY_HAND,
             "B7 gives ‖H(W(0)) − H*‖₂ ≤ ε(m, δ, σ, X) with probability ≥ 1 − δ, so ε(m, δ, …) ≤ λ/4 "
             "implies (i) on that event; a union bound with the event on which (ii)–(iv) hold adds the "
             "failure probabilities.")
    d.remark("certified T1 with the symmetric init", BY_HAND,
             "With w_{r+m/2} = w_r and a_{r+m/2} = −a_r (h = m/2 independent neurons), ⟨a_ℓ, S⟩ = 0 exactly and, "
             "at κ = m, H_{(i,ℓ₁),(j,ℓ₂)}(W(0)) = g_ij (1/h) Σ_{r<h} (u_{i,r}/ᾱ_i)(u_{j,r}/ᾱ_j) a_{ℓ₁,r}a_{ℓ₂,r} with "
             "ᾱ_i = (1/h) Σ_{r<h} u_{i,r}: B7's expression at width h with the means D and C (the ⟨a,S⟩ terms) "
             "identically 0.  B7's Chebyshev events for A, B and B^{ℓℓ'} at width h hold with the same "
             "probabilities, and on them its entry bound (which only adds nonnegative terms for D and C) "
             "still holds, so ε(h, δ) bounds ‖H(W(0)) − H*‖₂.  B1 likewise applies to the h independent "
             "w_r: |w_rᵀx_i| ≤ B = σ√(2 ln(2nh/δ)) on an event of probability ≥ 1 − δ, on which "
             "S_{i,r} ≤ e^{2B}/m (every u is within [e^{−B}, e^{B}] and α sums m of them), "
             "⟨S_i, S_j⟩ ≤ m(e^{2B}/m)², so Q ≤ (κ²/m)|G|·m(e^{2B}/m)² entrywise and ‖Q‖₂ is at most the "
             "norm of that nonnegative matrix; and e(0) = −Y.  (ntkcheck.theorem.certified_width, variants "
             "T1-B7 and T1-B1B7.)")
    return d
