"""Numeric checks of the exact identities G1–G6 (their chapters in the book)."""
from __future__ import annotations

import mpmath
import numpy as np

import ntkcheck as nk
from ntkcheck import seeds
from ntkcheck.core.compile import compiled
from ntkcheck.checks import CERTIFIED, Claim, Outcome, register
from ntkcheck.core.stats import loglog_slope
from ntkcheck.core.network import get_activation

EPS = np.finfo(float).eps


def _random_case(rng, n_max=6, d_max=4, q_max=3, m_max=12, sigma_range=(1e-3, 10.0)):
    """A random small problem: sizes, σ log-uniform in sigma_range, data in the unit ball, labels, κ."""
    n, d, q = (int(rng.integers(1, t + 1)) for t in (n_max, d_max, q_max))
    m = int(rng.integers(1, m_max + 1))
    sigma = float(np.exp(rng.uniform(*np.log(sigma_range))))
    seed = int(rng.integers(2**31 - 1))
    p = nk.init_params(d, m, d_out=q, sigma=sigma, seed=seeds.derived_seed(seed, "check.init"))
    X = nk.ball(n, d, seed=seeds.derived_seed(seed, "check.data"))
    Y = nk.labels(n, q, seed=seeds.derived_seed(seed, "check.labels"))
    kappa = float(m) if rng.random() < 0.5 else float(np.sqrt(m))
    return p, X, Y, kappa


def _relmax(a, b, terms=None) -> float:
    """max |a − b| / max(max |b|, max terms): the normwise relative error, measured against the size of
    the summed terms where given.  A sum that cancels to ~0 (e.g. P ≡ 0 when a row of A has equal
    signs) can only be accurate relative to its terms, which is what floating point promises."""
    scale = max(float(np.max(np.abs(b))), 0.0 if terms is None else float(np.max(terms)))
    diff = float(np.max(np.abs(a - b)))
    return diff / scale if scale > 0 else diff


def _tangent_terms(p, X) -> np.ndarray:
    """S_{i,r}(|a_{ℓ,r}| + |⟨a_ℓ,S_i⟩|), shape (n, d', m): the size of the operands of P = S(a − ⟨a,S⟩)
    before the subtraction (softmax)."""
    S, _ = get_activation("softmax").features(X @ p.W)
    return S[:, None, :] * (np.abs(p.A)[None, :, :] + np.abs(S @ p.A.T)[:, :, None])


def gradient_terms(p, X, Y, kappa) -> np.ndarray:
    """Σ_{i,ℓ} |e_{iℓ}| κ S_{i,r}(|a_{ℓ,r}| + |⟨a_ℓ,S_i⟩|) |x_{ij}|: the size of the terms G1 sums (d×m)."""
    E = np.abs(nk.residual(p, X, Y, kappa))
    return kappa * np.abs(X).T @ np.einsum("il,ilr->ir", E, _tangent_terms(p, X))


def ntk_terms(p, X, kappa) -> np.ndarray:
    """(κ²/m)(T Tᵀ) ∘ (|X||X|ᵀ ⊗ 11ᵀ) with T the operand sizes of P: the size of the terms G4 sums."""
    T = _tangent_terms(p, X).reshape(X.shape[0] * p.d_out, p.m)
    return (kappa**2 / p.m) * (T @ T.T) * np.kron(np.abs(X) @ np.abs(X).T, np.ones((p.d_out, p.d_out)))


# G1 ----------------------------------------------------------------------------------------------
G1_TOL_MP = 1e-11     # float64 gradient vs the 50-digit twin, normwise relative
G1_TOL_FD = 1e-6      # vs central differences (h = ε^{1/3}·(1+|w|)), normwise relative, above rounding


def output_rounding(p, X, kappa) -> float:
    """A float64 rounding bound for one output F_ℓ(x): logits carry error ε|z|, S inherits twice that
    relatively, and the κ-weighted sum over m neurons adds mε: 4κε(m + 2 + max|z|)."""
    return 4 * kappa * EPS * (p.m + 2 + float(np.max(np.abs(X @ p.W))))


@register("G1", short="∂F_ℓ/∂w_r = κ S_r (a_ℓr − ⟨a_ℓ,S⟩) x", id="softmax-gradient", proof="softmax_gradient",
          what="∇L from G1 vs central finite differences and vs the 50-digit mpmath twin")
def check_g1(ctx) -> Outcome:
    trials = ctx.trials(25)
    worst_mp = worst_fd = 0.0
    for t in range(trials):
        p, X, Y, kappa = _random_case(ctx.rng)
        g = nk.gradient(p, X, Y, kappa)
        g_mp = nk.to_float(nk.gradient_mp(p, X, Y, kappa, dps=50))
        worst_mp = max(worst_mp, _relmax(g, g_mp, gradient_terms(p, X, Y, kappa)))
        fd = np.empty_like(g)
        for j in range(p.d):
            for r in range(p.m):
                h = EPS ** (1 / 3) * (1 + abs(p.W[j, r]))
                Wp, Wm = p.W.copy(), p.W.copy()
                Wp[j, r] += h
                Wm[j, r] -= h
                fd[j, r] = (nk.loss(p.with_W(Wp), X, Y, kappa) - nk.loss(p.with_W(Wm), X, Y, kappa)) / (2 * h)
        # a central difference cannot resolve below (rounding error of L)/h, with the rounding error of L
        # at most Σ|e|·(rounding of F) (+ its square); allow 10× that floor on top of the tolerance
        dF = output_rounding(p, X, kappa)
        e1 = float(np.abs(nk.residual(p, X, Y, kappa)).sum())
        floor = 10 * (e1 * dF + dF**2) / (EPS ** (1 / 3))
        worst_fd = max(worst_fd, float(np.max(np.abs(fd - g)) / (G1_TOL_FD * np.max(np.abs(g)) + floor)))
        ctx.advance((t + 1) / trials)
    ratio = max(worst_mp / G1_TOL_MP, worst_fd)
    claims = [Claim(f"normwise relative error of ∇L against its 50-digit mpmath twin, worst of {trials} cases",
                    worst_mp, "≤", G1_TOL_MP),
              Claim(f"|finite difference − ∇L| / (1e-6·max|∇L| + 10·rounding floor), worst of {trials} cases",
                    worst_fd, "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials, max_error=worst_mp, tolerance=G1_TOL_MP, claims=claims,
                   sizes={"n": "1–6", "d": "1–4", "d_out": "1–3", "m": "1–12", "sigma": "1e-3–10"},
                   details={"max_rel_error_mpmath": worst_mp, "fd_ratio": worst_fd,
                            "fd_meaning": "max|fd − ∇L| / (1e-6·max|∇L| + 10·rounding floor of the difference)",
                            "dps": 50})


# G2 ----------------------------------------------------------------------------------------------
@register("G2", short="F(W + v1ᵀ) = F(W); Σ_r w_r conserved by GD", id="shift-invariance", proof="shift_invariance",
          what="F(W+v1ᵀ)=F(W); rows of P sum to 0; Σ_r w_r conserved over 100 GD steps (vs rounding bounds)")
def check_g2(ctx) -> Outcome:
    trials = ctx.trials(12)
    steps = 100
    worst = {"shift": 0.0, "rowsum": 0.0, "drift": 0.0}
    for t in range(trials):
        p, X, Y, kappa = _random_case(ctx.rng, m_max=64)
        m = p.m
        # (a) F(W + v1ᵀ, x) = F(W, x), up to the rounding of both evaluations
        v = ctx.rng.normal(scale=3.0, size=(p.d, 1))
        F0 = nk.forward(p, X, kappa)
        pv = p.with_W(p.W + v)
        F1 = nk.forward(pv, X, kappa)
        bound = output_rounding(p, X, kappa) + output_rounding(pv, X, kappa)
        worst["shift"] = max(worst["shift"], float(np.max(np.abs(F1 - F0))) / bound)
        # (b) each row of P sums to 0: Σ_r S_r(a_r − c) = ⟨a,S⟩ − cΣS vanishes up to the rounding of c and
        # of ΣS = 1, at most (2m + 8)ε Σ_r S_r(|a_r| + |c|) = 2(2m + 8)ε for ±1 signs
        P = nk.tangent_features(p, X)
        worst["rowsum"] = max(worst["rowsum"], float(np.abs(P.sum(axis=1)).max() / (2 * (2 * m + 8) * EPS)))
        # (c) GD conserves Σ_r w_r: each step changes it by rounding only, at most
        # 4(m+2)ε (max|W| + η max|∇L|) per coordinate.
        # 4(m+2)ε (max|W| + η·(size of the terms summed into ∇L)) per coordinate.
        H = nk.empirical_ntk(p, X, kappa=kappa)
        eta = 0.5 / (m * max(np.linalg.norm(H, 2), 1e-6))
        q = p
        s0 = p.W.sum(axis=1)
        budget = 0.0
        for _ in range(steps):
            grad = nk.gradient(q, X, Y, kappa)
            terms = float(np.max(gradient_terms(q, X, Y, kappa)))
            budget += 4 * (m + 2) * EPS * (np.max(np.abs(q.W)) + eta * max(terms, np.max(np.abs(grad))))
            q = q.with_W(q.W - eta * grad)
        drift = float(np.max(np.abs(q.W.sum(axis=1) - s0)))
        worst["drift"] = max(worst["drift"], drift / budget)
        ctx.advance((t + 1) / trials)
    ratio = max(worst.values())
    claims = [Claim(f"|F(W + v1ᵀ) − F(W)| over its float64 rounding bound, worst of {trials} cases",
                    worst["shift"], "≤", 1.0),
              Claim(f"|row sum of P| over its rounding bound 2(2m + 8)ε, worst of {trials} cases",
                    worst["rowsum"], "≤", 1.0),
              Claim(f"drift of Σ_r w_r over {steps} GD steps / its rounding budget, worst of {trials} runs",
                    worst["drift"], "≤", 1.0)]
    return Outcome(holds=ratio <= 1, trials=trials, worst_ratio=ratio, claims=claims,
                   sizes={"n": "1–6", "d": "1–4", "d_out": "1–3", "m": "1–64", "gd_steps": steps},
                   details={f"worst_ratio_{k}": v for k, v in worst.items()}
                   | {"meaning": "observed / float64 rounding bound; the identities hold exactly in exact arithmetic"})


# G3 ----------------------------------------------------------------------------------------------
G3_TOL = 1e-6


def hessian_blocks(p, x, kappa) -> np.ndarray:
    """∇²_W F_ℓ(x) for every ℓ from the compiled G3 expression: shape (d_out, d·m, d·m), index (j, r)."""
    M_entry = compiled("hessian", "hessian_M_entry", "numpy")
    S, _ = get_activation("softmax").features((x @ p.W)[None, :])
    S = S[0]
    V = p.A - (p.A @ S)[:, None]                   # v = a_ℓ − ⟨a_ℓ,S⟩1, shape (d_out, m)
    delta = np.eye(p.m)
    M = M_entry(delta[None], S[None, :, None], S[None, None, :], V[:, :, None], V[:, None, :])
    xx = np.outer(x, x)
    # κ M_{rs} x_j x_{j'} arranged as [(j, r), (j', s)]
    return kappa * np.einsum("lrs,jk->ljrks", M, xx).reshape(p.d_out, p.d * p.m, p.d * p.m)


@register("G3", short="∇²F_ℓ = κ M ⊗ xxᵀ", id="hessian", proof="hessian",
          what="κ M ⊗ xxᵀ from G3 vs central differences of the Jacobian")
def check_g3(ctx) -> Outcome:
    trials = ctx.trials(20)
    worst = 0.0
    for t in range(trials):
        p, X, _, kappa = _random_case(ctx.rng, n_max=1, m_max=8)
        x = X[0]
        Hs = hessian_blocks(p, x, kappa)
        fd = np.empty_like(Hs)
        w = p.W.reshape(-1)
        for c in range(w.size):
            h = EPS ** (1 / 3) * (1 + abs(w[c]))
            wp, wm = w.copy(), w.copy()
            wp[c] += h
            wm[c] -= h
            Jp = nk.ntk_jacobian(p.with_W(wp.reshape(p.W.shape)), X, kappa)
            Jm = nk.ntk_jacobian(p.with_W(wm.reshape(p.W.shape)), X, kappa)
            fd[:, :, c] = (Jp - Jm) / (2 * h)
        # rounding floor of a central difference of the Jacobian (whose entries carry κ·P·x rounding)
        floor = 10 * output_rounding(p, X, kappa) * np.max(np.abs(x)) / EPS ** (1 / 3)
        worst = max(worst, float(np.max(np.abs(fd - Hs)) / (G3_TOL * np.max(np.abs(Hs)) + floor)))
        ctx.advance((t + 1) / trials)
    claims = [Claim(f"|finite difference of the Jacobian − κM⊗xxᵀ| / (1e-6·max|κM⊗xxᵀ| + 10·rounding floor), "
                    f"worst of {trials} cases", worst, "≤", 1.0)]
    return Outcome(holds=worst <= 1, trials=trials, worst_ratio=worst, claims=claims,
                   sizes={"n": 1, "d": "1–4", "d_out": "1–3", "m": "1–8"},
                   details={"meaning": "max|fd − κM⊗xxᵀ| / (1e-6·max|κM⊗xxᵀ| + 10·rounding floor)"})


# G4 ------------------------------------------------------------------------------------------------
G4_TOL = 1e-12        # H vs the independent analytic Jacobian Gram and vs the 50-digit twin, relative to terms
G4_TOL_FD = 1e-6      # the finite-difference Jacobian vs the analytic one, normwise relative, above rounding
G4_FD_COLS = 96       # columns of J differenced in the big cases (all of them in the small ones)


def independent_jacobian(p, X, kappa) -> np.ndarray:
    """J = ∂vec F/∂vec W from the definition, without tangent_features/P: the softmax is scipy's, its
    Jacobian is the dense matrix diag(S_i) − S_iS_iᵀ, and ∂F_ℓ(x_i)/∂W_{j,r} = κ Σ_k a_{ℓ,k}(diag(S_i) −
    S_iS_iᵀ)_{k,r} x_{ij}.  Rows (i, ℓ), columns (j, r) row-major (as network.ntk_jacobian)."""
    from scipy.special import softmax

    S = softmax(X @ p.W, axis=1)                                              # (n, m)
    dS = np.einsum("ik,kr->ikr", S, np.eye(p.m)) - S[:, :, None] * S[:, None, :]   # (n, m, m): ∂S_k/∂z_r
    dF = kappa * np.einsum("lk,ikr->ilr", p.A, dS)                           # ∂F_ℓ(x_i)/∂z_{i,r}
    J = dF[:, :, None, :] * X[:, None, :, None]                              # (n, d', d, m)
    return J.reshape(X.shape[0] * p.d_out, p.d * p.m)


def fd_jacobian(p, X, kappa, cols=None) -> tuple[np.ndarray, np.ndarray]:
    """Central differences of ``forward`` in the weights ``cols`` (indices into vec W; default all),
    h_c = ε^{1/3}(1 + |w_c|); also the rounding floor of each column, 10·(rounding of F)/h_c (two outputs,
    each within output_rounding)."""
    w = p.W.reshape(-1)
    cols = np.arange(w.size) if cols is None else np.asarray(cols)
    J = np.empty((X.shape[0] * p.d_out, len(cols)))
    floor = np.empty(len(cols))
    for k, c in enumerate(cols):
        h = EPS ** (1 / 3) * (1 + abs(w[c]))
        wp, wm = w.copy(), w.copy()
        wp[c] += h
        wm[c] -= h
        pp, pm = p.with_W(wp.reshape(p.W.shape)), p.with_W(wm.reshape(p.W.shape))
        J[:, k] = ((nk.forward(pp, X, kappa) - nk.forward(pm, X, kappa)) / (2 * h)).reshape(-1)
        floor[k] = 10 * (output_rounding(pp, X, kappa) + output_rounding(pm, X, kappa)) / (2 * h)
    return J, floor


@register("G4", short="H = (κ²/m)(PPᵀ)∘(G⊗11ᵀ) = JJᵀ/m ⪰ 0", id="ntk-factorization", proof="ntk_factorization",
          what="the fast-path H vs JJᵀ/m with J independent of P (dense softmax Jacobian; and central differences "
               "of forward), vs the 50-digit twin; H ⪰ 0")
def check_g4(ctx) -> Outcome:
    trials = ctx.trials(12)
    worst = {"jacobian": 0.0, "mpmath": 0.0, "psd": 0.0, "fd_jacobian": 0.0, "fd_gram": 0.0}
    for t in range(trials):
        big = t % 3 == 0
        p, X, _, kappa = _random_case(ctx.rng, n_max=24 if big else 5, d_max=8 if big else 4,
                                      m_max=256 if big else 10)
        H = nk.empirical_ntk(p, X, kappa=kappa)
        J = independent_jacobian(p, X, kappa)
        terms = ntk_terms(p, X, kappa)
        worst["jacobian"] = max(worst["jacobian"], _relmax(H, J @ J.T / p.m, terms))
        # central differences of F: J_fd within δ_c = 1e-6·max|J| + floor_c of J (entrywise, column c); then
        # |(J_fd J_fdᵀ − JJᵀ)_{ab}|/m ≤ Σ_c (|J_ac| + |J_bc| + δ_c)δ_c/m, which bounds H − J_fd J_fdᵀ/m
        # (on top of H's own rounding, measured in the previous line against 1e-12)
        # (every column for the small cases; G4_FD_COLS random columns of the big ones, to bound the cost)
        cols = None if J.shape[1] <= G4_FD_COLS else np.sort(ctx.rng.choice(J.shape[1], G4_FD_COLS, replace=False))
        Jfd, floor = fd_jacobian(p, X, kappa, cols)
        Jc = J if cols is None else J[:, cols]
        delta = G4_TOL_FD * float(np.max(np.abs(J))) + floor
        worst["fd_jacobian"] = max(worst["fd_jacobian"], float(np.max(np.abs(Jfd - Jc) / delta[None, :])))
        if cols is None:   # the Gram of the FD Jacobian needs every column
            row = (np.abs(J) * delta[None, :]).sum(axis=1)
            gram_bound = (row[:, None] + row[None, :] + float(delta @ delta)) / p.m \
                + G4_TOL * max(float(np.max(terms)), float(np.max(np.abs(H))))
            worst["fd_gram"] = max(worst["fd_gram"], float(np.max(np.abs(H - Jfd @ Jfd.T / p.m) / gram_bound)))
        if not big:
            H_mp = nk.to_float(nk.empirical_ntk_mp(p, X, kappa=kappa))
            worst["mpmath"] = max(worst["mpmath"], _relmax(H, H_mp, terms))
        lam = np.linalg.eigvalsh(H)
        # H ⪰ 0 up to rounding: λ_min ≥ −4·(size)·ε·max(‖H‖, size of its terms)
        scale = max(lam[-1], float(np.max(terms)), 1e-300)
        worst["psd"] = max(worst["psd"], float(-lam[0] / (H.shape[0] * EPS * scale * 4)))
        ctx.advance((t + 1) / trials)
    err = max(worst["jacobian"], worst["mpmath"])
    holds = err <= G4_TOL and max(worst["psd"], worst["fd_jacobian"], worst["fd_gram"]) <= 1
    claims = [Claim(f"relative error of H against JJᵀ/m (J from the dense softmax Jacobian, not from P), worst of "
                    f"{trials} cases", worst["jacobian"], "≤", G4_TOL),
              Claim("relative error of H against its 50-digit mpmath twin, worst of the small cases",
                    worst["mpmath"], "≤", G4_TOL),
              Claim("|finite-difference Jacobian − J| over its tolerance and rounding floor, worst",
                    worst["fd_jacobian"], "≤", 1.0),
              Claim("|H − J_fd J_fdᵀ/m| over the bound the finite-difference error implies, worst",
                    worst["fd_gram"], "≤", 1.0),
              Claim("−λ_min(H) over its rounding bound (H ⪰ 0), worst", worst["psd"], "≤", 1.0)]
    return Outcome(holds=bool(holds), trials=trials, max_error=err, tolerance=G4_TOL, claims=claims,
                   sizes={"n": "1–24", "d": "1–8", "d_out": "1–3", "m": "1–256"},
                   details={"max_rel_error_jacobian": worst["jacobian"], "max_rel_error_mpmath": worst["mpmath"],
                            "psd_ratio": worst["psd"], "fd_jacobian_ratio": worst["fd_jacobian"],
                            "fd_gram_ratio": worst["fd_gram"],
                            "meaning": "max_error: H vs JJᵀ/m (J from the dense softmax Jacobian, not from P) and "
                                       "vs mpmath, relative to the size of the summed terms (≤ 1e-12); fd ratios: "
                                       "|J_fd − J| / (1e-6·max|J| + 10·rounding floor/h) and |H − J_fd J_fdᵀ/m| / "
                                       "(the bound that error implies); psd: −λ_min / rounding bound"})


# G5 ----------------------------------------------------------------------------------------------
G5_SLOPE_TOL = 0.1


@register("G5", short="H(W(0)) → K⊗I, K = G∘exp(σ²G)", id="ntk-limit", proof="ntk_limit",
          what="‖H(W(0)) − K⊗I‖₂ at growing m (iid init, κ=m): fitted log-log slope ≈ −1/2")
def check_g5(ctx) -> Outcome:
    # σ = 0.5: the m^{-1/2} regime starts early; at σ = 1 the log-normal tails delay it past m = 2^15 (B7)
    n, d, q, sigma = 6, 3, 2, 0.5
    widths = [2**k for k in range(8, 16)]
    seeds = ctx.trials(16)
    X = nk.sphere(n, d, seed=ctx.seed_from_rng())
    Hstar = nk.limit_ntk(X, sigma=sigma, d_out=q)
    errs = []
    for a, m in enumerate(widths):
        e = [np.linalg.norm(nk.empirical_ntk(nk.init_params(d, m, q, sigma, seed=ctx.seed_from_rng()), X) - Hstar, 2)
             for _ in range(seeds)]
        errs.append(float(np.mean(e)))
        ctx.advance((a + 1) / len(widths))
    fit = loglog_slope(widths, errs)
    holds = abs(fit["slope"] + 0.5) <= G5_SLOPE_TOL
    claims = [Claim(f"|fitted log-log slope of mean ‖H(W(0)) − K⊗I‖₂ over m = 2^8…2^15 ({fit['slope']:.3f}) + 1/2|",
                    abs(fit["slope"] + 0.5), "≤", G5_SLOPE_TOL)]
    return Outcome(holds=holds, trials=seeds * len(widths), max_error=abs(fit["slope"] + 0.5), claims=claims,
                   tolerance=G5_SLOPE_TOL,
                   sizes={"n": n, "d": d, "d_out": q, "sigma": sigma, "m": widths, "seeds_per_m": seeds},
                   details={"mean_error": errs, "slope": fit["slope"], "slope_ci": fit["ci"],
                            "norm_Hstar": float(np.linalg.norm(Hstar, 2)),
                            "relative_error_at_largest_m": errs[-1] / float(np.linalg.norm(Hstar, 2)),
                            "meaning": "max_error is |slope + 1/2|"})


# G6 ----------------------------------------------------------------------------------------------
G6_TERMS = 12
G6_DPS = 100         # the digits at which λ_min(K) and the bound are recomputed where float64 cannot decide


def hadamard_bound(G: np.ndarray, sigma: float, terms: int = G6_TERMS, eig=None) -> float:
    """Σ_{k≤N} (σ^{2k}/k!) λ_min(G^{∘(k+1)}) (G6), with λ_min clipped below at 0 (G^{∘k} ⪰ 0)."""
    coef = compiled("ntk_positive_definite", "hadamard_coefficient", "numpy")
    eig = eig or (lambda M: np.linalg.eigvalsh(M)[0])
    total, Gk = 0.0, G.copy()
    for k in range(terms + 1):
        total += float(coef(sigma, k)) * max(eig(Gk), 0.0)
        Gk = Gk * G
    return total


def hadamard_bound_mp(X: np.ndarray, sigma: float, terms: int = G6_TERMS, dps: int = 100):
    """The bound of :func:`hadamard_bound` with every step at ``dps`` digits: G = XXᵀ from the inputs' float64
    values (taken exactly), its Hadamard powers, the coefficients σ^{2k}/k! and the eigenvalues, so that it can
    be compared with the ``dps``-digit λ_min(K) to about ``dps`` digits.  (Hadamard powers rounded to float64
    carry errors ~ε in every entry, far above a tight bound's slack when λ_min(G^{∘p}) is small.)

    Parameters: ``X`` (n×d), ``sigma`` > 0, ``terms`` N, ``dps``.  Returns the bound as an mpf."""
    coef = compiled("ntk_positive_definite", "hadamard_coefficient", "mpmath")
    with mpmath.workdps(dps):
        rows = [[mpmath.mpf(float(v)) for v in row] for row in np.asarray(X, float)]
        G = np.array([[mpmath.fsum(a * b for a, b in zip(xi, xj)) for xj in rows] for xi in rows], dtype=object)
        s = mpmath.mpf(float(sigma))
        total, Gk = mpmath.mpf(0), G.copy()
        for k in range(terms + 1):
            total += coef(s, k) * max(nk.eigvalsh_mp(Gk, dps=dps)[0], 0)
            Gk = Gk * G
        return +total


def certified_lambda_min(X: np.ndarray, sigma: float, lam_reference: float, lam_float64: float) -> dict:
    """C1 (ball arithmetic) on the G6 check's first data set, beside float64 and the 100-digit value.

    A certificate proves K ≻ 0 for this data; ``consistent`` says that the certified interval contains the
    reference λ_min (to its float rounding) and that K ≻ 0 was proved.  Without python-flint (the certify
    extra) nothing is certified and ``consistent`` is True: the sampled check stands alone, and says so."""
    out = {"n": int(X.shape[0]), "d": int(X.shape[1]), "sigma": float(sigma), "float64_lambda_min": lam_float64,
           "reference_lambda_min": lam_reference}
    from ntkcheck.certify import arb

    if arb.flint is None:               # python-flint absent: the core install
        return {**out, "certified": None, "consistent": True,
                "reason": "not certified (C1 needs python-flint: pip install -e '.[certify]')"}
    from ntkcheck.certify.kernel import certify_kernel

    cert = certify_kernel(X, sigma)
    lo, hi = cert["lambda_min"] if "lambda_min" in cert else (cert["lo"], cert["hi"])
    slack = 4 * EPS * abs(lam_reference)           # the reference is a float rounding of a 100-digit value
    contains = lo is not None and hi is not None and float(lo) - slack <= lam_reference <= float(hi) + slack
    out["slack"] = slack
    return {**out, "certified": [float(lo) if lo is not None else None, float(hi) if hi is not None else None],
            "positive_definite_proved": cert["positive_definite"] is True, "method": cert["method"],
            "bits": cert["prec"], "relative_width": cert["relative_width"],
            "consistent": bool(contains and cert["positive_definite"] is True)}


def near_duplicate_case(rng, seed: int, d_max: int = 5, delta_range=(1e-3, 0.1),
                        sigma_range=(0.1, 3.0)) -> tuple[np.ndarray, float, float]:
    """Data where the Hadamard-series bound of G6 is tight: n ≤ d unit inputs of which x₂ is x₁ moved by δ
    along a unit direction u orthogonal to x₁ and to every other input, x₂ = (x₁ + δu)/√(1 + δ²).

    Then v = (e₁ − e₂)/√2 is, up to O(δ²), the bottom eigenvector of every Hadamard power G^{∘p}, with
    eigenvalue ≈ pδ²/2, so the sum of the terms' λ_min loses only O(δ⁴) and the series' truncated tail: a
    bound that is too large by a constant factor exceeds λ_min(K) here (random sphere data often leave the
    bound 5× or more below λ_min, where such a bound passes).  Parameters: ``rng`` draws n, d, σ, δ and u;
    ``seed`` the inputs (``data.sphere``); d in 2…``d_max``, n in 2…d, δ and σ log-uniform in
    ``delta_range`` and ``sigma_range``.  Returns ``(X, sigma, delta)``."""
    d = int(rng.integers(2, d_max + 1))
    n = int(rng.integers(2, d + 1))
    sigma = float(np.exp(rng.uniform(*np.log(sigma_range))))
    delta = float(np.exp(rng.uniform(*np.log(delta_range))))
    X = nk.sphere(n, d, seed=seed)
    Q = np.linalg.qr(np.vstack([X[:1], X[2:]]).T)[0]       # an orthonormal basis of span{x₁, x₃, …, x_n}
    u = rng.standard_normal(d)
    u -= Q @ (Q.T @ u)
    X[1] = (X[0] + delta * u / np.linalg.norm(u)) / np.sqrt(1 + delta**2)
    return X, sigma, delta


@register("G6", short="λ_min(K) ≥ Σ_k σ^{2k}/k! λ_min(G^{∘k+1}) > 0", id="ntk-positive-definite", proof="ntk_positive_definite",
          what="λ_min(K) > 0 on sphere data (mpmath decides when float64 cannot) and ≥ the Hadamard-series bound")
def check_g6(ctx) -> Outcome:
    trials, tight = ctx.trials(20), ctx.trials(8)
    worst, n_mp, lam_min_seen = {"random": 0.0, "near_duplicate": 0.0}, 0, np.inf
    slack = {"random": np.inf, "near_duplicate": np.inf}   # smallest (λ_min − bound)/λ_min, per family
    holds = True
    cases = [(18, 2, 0.1)]  # the book's example: float64 eigvalsh says negative, 100 digits say positive
    while len(cases) < trials:
        cases.append((int(ctx.rng.integers(2, 21)), int(ctx.rng.integers(2, 6)),
                      float(np.exp(ctx.rng.uniform(np.log(0.1), np.log(3.0))))))
    # random sphere data for coverage, then the near-duplicate family where the bound is tight (its power)
    data = [(nk.sphere(n, d, seed=ctx.seed_from_rng()), sigma, "random") for n, d, sigma in cases]
    data += [(*near_duplicate_case(ctx.rng, ctx.seed_from_rng())[:2], "near_duplicate") for _ in range(tight)]
    for t, (X, sigma, family) in enumerate(data):
        n = X.shape[0]
        K = nk.limit_kernel(X, sigma=sigma)
        ev = np.linalg.eigvalsh(K)
        lam = float(ev[0])
        lam_float64 = lam
        bound = hadamard_bound(X @ X.T, sigma)
        resolution = 8 * n * EPS * ev[-1]
        if lam <= resolution or bound > lam - resolution:
            # float64 cannot decide: recompute λ_min(K) (and the bound) at 100 digits
            # (the bound too, from the inputs: float64 Hadamard powers carry ~ε per entry, more than the slack
            # of a tight bound, whose relative gap to λ_min is the series' tail, e.g. 1e-13 for two points)
            n_mp += 1
            lam_mp = nk.eigvalsh_mp(nk.limit_kernel_mp(X, sigma=sigma, dps=G6_DPS), dps=G6_DPS)[0]
            bound_mp = hadamard_bound_mp(X, sigma, dps=G6_DPS)
            with mpmath.workdps(G6_DPS):   # compared at G6_DPS digits (the default 15 would round λ_min)
                res_mp = mpmath.mpf(10) ** (10 - G6_DPS) * n * float(ev[-1])   # both exact to ~G6_DPS digits
                ok = bool(lam_mp > 0 and bound_mp <= lam_mp + res_mp)
                lam, ratio_t = float(lam_mp), float(bound_mp / (lam_mp + res_mp)) if lam_mp > 0 else np.inf
                slack_t = float((lam_mp - bound_mp) / lam_mp) if lam_mp > 0 else -np.inf
            ratio_t = ratio_t if ok or ratio_t > 1 else float(np.nextafter(1.0, 2.0))   # a failure never rounds to 1
        else:
            # the bound and λ are each computed to within `resolution`
            ok, ratio_t = lam > 0 and bound <= lam + resolution, bound / (lam + resolution)
            slack_t = (lam - bound) / lam
        holds &= ok
        if t == 0:
            c1 = certified_lambda_min(X, sigma, lam, lam_float64)
            holds &= c1["consistent"]
        lam_min_seen = min(lam_min_seen, lam)
        worst[family] = max(worst[family], ratio_t)
        slack[family] = min(slack[family], slack_t)
        ctx.advance((t + 1) / len(data))
    ratio = max(worst.values())
    claims = [Claim(f"smallest λ_min(K) over {trials + tight} sphere data sets ({tight} with a near-duplicate pair; "
                    f"{n_mp} decided at 100 digits)", float(lam_min_seen), ">", 0.0),
              Claim("Hadamard-series bound / (λ_min(K) + its resolution), worst", float(ratio), "≤", 1.0)]
    if c1.get("certified"):
        lo, hi = c1["certified"]
        claims += [Claim(f"C1's certified lower end of λ_min(K) on the first data set ({c1['n']} points)",
                         np.nan if lo is None else lo, ">", 0.0, kind=CERTIFIED),
                   Claim("the 100-digit λ_min(K) of that data set, inside C1's interval (± its float rounding)",
                         c1["reference_lambda_min"], "∈",
                         (np.nan if lo is None else lo - c1["slack"], np.nan if hi is None else hi + c1["slack"]),
                         kind=CERTIFIED)]
    return Outcome(holds=bool(holds), trials=trials + tight, worst_ratio=ratio, claims=claims,
                   sizes={"n": "2–20", "d": "2–5", "sigma": "0.1–3", "series_terms": G6_TERMS,
                          "random_cases": trials, "near_duplicate_cases": tight, "near_duplicate_delta": "1e-3–0.1"},
                   details={"decided_with_mpmath": n_mp, "smallest_lambda_min": lam_min_seen, "C1": c1,
                            "worst_ratio_random": worst["random"],
                            "worst_ratio_near_duplicate": worst["near_duplicate"],
                            "smallest_slack_random": slack["random"],
                            "smallest_slack_near_duplicate": slack["near_duplicate"],
                            "meaning": "worst_ratio is (Hadamard-series bound)/λ_min(K), over random sphere data and "
                                       "over n ≤ d inputs with one near-duplicate pair (where the bound is tight); "
                                       "slack is (λ_min − bound)/λ_min; λ_min > 0 in every trial"})
