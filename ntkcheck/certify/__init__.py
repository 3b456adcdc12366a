"""Certificates (the book's C1–C3 part): computer-assisted proofs for one concrete instance, in ball arithmetic.

* C1 kernel-pd-certificate — :func:`ntkcheck.certify.kernel.certify_kernel`: a verified enclosure of
  λ_min(K), K = G∘exp(σ²G), proving K ≻ 0 for the given data.
* C2 convergence-certificate — :func:`ntkcheck.certify.convergence.certify_convergence`: T1' (linear
  convergence of exact-arithmetic gradient descent) proved for (X, Y, W(0), A, κ, η), or the failing
  hypotheses with rigorous margins.  Its sums over neurons are ball arithmetic or, for large n·m, float64
  with a-priori rounding bounds (:mod:`ntkcheck.certify.fp64`); the certificate names the route.
* Files — :mod:`ntkcheck.certify.files`: JSON certificates and ``check`` (recompute, reject what does
  not reproduce).  CLI: ``ntkcheck certify kernel|convergence|check`` (:mod:`ntkcheck.certify.cli`).

Needs python-flint (the ``certify`` extra).  Every expression evaluated comes from a proofs/ export,
compiled to balls by :mod:`ntkcheck.certify.arb`.
"""
