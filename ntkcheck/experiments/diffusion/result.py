"""The typed result of the diffusion experiment (:func:`ntkcheck.experiments.diffusion.run`): frozen
dataclasses whose :meth:`~DiffusionResult.to_json` is the JSON the CLI writes (``results/diffusion.json``)
and whose :meth:`~DiffusionResult.from_json` reads it back.  The CLI, the plots
(:mod:`ntkcheck.plots.diffusion`) and the book's D5 and D6 chapters read attributes, never keys.

Every class has ``to_json() -> dict`` and ``from_json(dict)``; a field's JSON key is its name except where
``field(metadata={"key": ...})`` says otherwise (the sampling floor's key).  ``from_json`` refuses a missing
or an unknown key (``ValueError`` naming it), so what it reads is what ``to_json`` writes back.
"""
from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field, fields, is_dataclass

import numpy as np


def _to_json(v):
    """``v`` as JSON-ready Python (dataclasses by their keys, tuples and arrays as lists)."""
    if is_dataclass(v) and not isinstance(v, type):
        return {f.metadata.get("key", f.name): _to_json(getattr(v, f.name)) for f in fields(v)}
    if isinstance(v, dict):
        return {k: _to_json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_to_json(x) for x in v]
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    return v


def _from_json(tp, v, where: str):
    """``v`` (parsed JSON) as type ``tp``: dataclasses field by field, ``tuple[X, ...]`` and
    ``dict[str, X]`` element-wise, ``X | None``; anything else is kept as it is."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        if v is None:
            return None
        (tp,) = [a for a in typing.get_args(tp) if a is not type(None)]
        return _from_json(tp, v, where)
    if isinstance(tp, type) and is_dataclass(tp):
        return _build(tp, v, where)
    if origin is tuple:
        if not isinstance(v, (list, tuple)):
            raise ValueError(f"{where} must be a list, got {type(v).__name__}")
        return tuple(_from_json(typing.get_args(tp)[0], x, f"{where}[{i}]") for i, x in enumerate(v))
    if origin is dict:
        if not isinstance(v, dict):
            raise ValueError(f"{where} must be an object, got {type(v).__name__}")
        return {k: _from_json(typing.get_args(tp)[1], x, f"{where}.{k}") for k, x in v.items()}
    return v


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise ValueError(f"{where} must be an object, got {type(data).__name__}")
    hints = typing.get_type_hints(cls)
    keys = {f.metadata.get("key", f.name): f for f in fields(cls)}
    unknown = [k for k in data if k not in keys]
    if unknown:
        raise ValueError(f"{where}: unknown key {unknown[0]!r} for {cls.__name__}")
    kw = {}
    for key, f in keys.items():
        if key not in data:
            raise ValueError(f"{where}: missing key {key!r} for {cls.__name__}")
        kw[f.name] = _from_json(hints[f.name], data[key], f"{where}.{key}")
    return cls(**kw)


class _JSON:
    """``to_json`` / ``from_json`` for the frozen dataclasses below."""

    def to_json(self) -> dict:
        """Returns: the JSON-ready dict (the keys of ``results/diffusion.json``)."""
        return _to_json(self)

    @classmethod
    def from_json(cls, data: dict):
        """Parameters: ``data`` the parsed JSON of this part of a result.  Returns: the instance.
        Raises ValueError naming a missing or an unknown key."""
        return _build(cls, data, cls.__name__)


@dataclass(frozen=True)
class Fit(_JSON):
    """A fitted log-log slope (:func:`ntkcheck.core.stats.loglog_slope`): slope, its interval, intercept, level."""
    slope: float
    ci: tuple[float, ...]
    intercept: float
    level: float


@dataclass(frozen=True)
class ErrorRun(_JSON):
    """One (n, seed) of the error-vs-n experiment (D6): each predictor's score error with its Monte Carlo
    interval, the network's early stopping and step size, the kernel's chosen k, the fits' times."""
    n: int
    seed: int
    error_nn: float
    error_nn_ci: tuple[float, ...]
    error_kernel: float
    error_kernel_ci: tuple[float, ...]
    error_kernel_budget: float
    error_kernel_budget_ci: tuple[float, ...]
    error_trivial: float
    error_trivial_ci: tuple[float, ...]
    error_affine: float
    error_affine_ci: tuple[float, ...]
    early_stop_step: int
    steps_run: int
    hit_budget: bool
    eta: float
    kernel_k: int
    kernel_k_budget: int
    val_loss_nn: float
    val_loss_kernel: float
    seconds_nn: float
    seconds_kernel: float


#: The predictors of the error-vs-n experiment, by their column names in :class:`ErrorRun`.
ERRORS = ("error_nn", "error_kernel", "error_kernel_budget", "error_trivial", "error_affine")


@dataclass(frozen=True)
class ErrorRow(_JSON):
    """One n of the error-vs-n experiment: each error's mean over seeds, the seeds' values, their interval
    (t-interval over seeds; the Monte Carlo interval of seed 0 for one seed)."""
    n: int
    seeds: int
    error_nn: float
    error_nn_seeds: tuple[float, ...]
    error_nn_ci: tuple[float, ...]
    error_kernel: float
    error_kernel_seeds: tuple[float, ...]
    error_kernel_ci: tuple[float, ...]
    error_kernel_budget: float
    error_kernel_budget_seeds: tuple[float, ...]
    error_kernel_budget_ci: tuple[float, ...]
    error_trivial: float
    error_trivial_seeds: tuple[float, ...]
    error_trivial_ci: tuple[float, ...]
    error_affine: float
    error_affine_seeds: tuple[float, ...]
    error_affine_ci: tuple[float, ...]
    ratio_nn_trivial: float
    early_stop_steps: tuple[int, ...]
    kernel_k: tuple[int, ...]
    any_hit_budget: bool


@dataclass(frozen=True)
class ErrorFits(_JSON):
    """The fitted power laws of the network's and the kernel's error against n (D6)."""
    error_nn: Fit
    error_kernel: Fit


#: The tracking series (D5): f_lin with H* or H(W(0)), on the training or on fresh points.
SERIES = ("star_train", "star_fresh", "emp_train", "emp_fresh")


@dataclass(frozen=True)
class TrackingRun(_JSON):
    """One (m, seed) of the tracking experiment: RMS ‖f_NN(·; k) − f_lin(·; k)‖ at the recorded k per series,
    their maxima, c·λ_max(H(W(0))) and the scale of f_lin on fresh points."""
    m: int
    seed: int
    steps: tuple[int, ...]
    star_train: tuple[float, ...]
    star_fresh: tuple[float, ...]
    emp_train: tuple[float, ...]
    emp_fresh: tuple[float, ...]
    max_star_train: float
    max_star_fresh: float
    max_emp_train: float
    max_emp_fresh: float
    c_lambda_max_emp: float
    scale_f_lin: float


@dataclass(frozen=True)
class TrackingWidth(_JSON):
    """One width m: each series' max over k, averaged over seeds; for the H* series the fraction of
    f_lin(H(W(0))) − f_lin(H*) common to the inits (:func:`ntkcheck.experiments.diffusion.common_fraction`;
    None with one init) and the number of inits it is over."""
    m: int
    max_star_train: float
    max_star_fresh: float
    max_emp_train: float
    max_emp_fresh: float
    common_inits: int
    common_star_train: float | None
    common_star_fresh: float | None


@dataclass(frozen=True)
class TrackingSlopes(_JSON):
    """Each series' fitted log-log slope against m."""
    star_train: Fit
    star_fresh: Fit
    emp_train: Fit
    emp_fresh: Fit


@dataclass(frozen=True)
class TrackingDecreasing(_JSON):
    """Whether each series' per-m value decreases strictly in m."""
    star_train: bool
    star_fresh: bool
    emp_train: bool
    emp_fresh: bool


@dataclass(frozen=True)
class Tracking(_JSON):
    """The tracking experiment (D5, :func:`ntkcheck.experiments.diffusion.tracking`)."""
    n: int
    t: float
    sigma: float
    rho: float
    c: float
    eta_times_m: float
    steps: int
    record_steps: tuple[int, ...]
    widths: tuple[int, ...]
    seeds: int
    n_fresh: int
    rows: tuple[TrackingRun, ...]
    per_m: tuple[TrackingWidth, ...]
    slopes: TrackingSlopes
    strictly_decreasing: TrackingDecreasing


@dataclass(frozen=True)
class ScoreField(_JSON):
    """The score fields on a grid (points ``grid × grid``, rounded to 4 decimals)."""
    grid: typing.Any
    true: typing.Any
    network: typing.Any
    kernel: typing.Any


@dataclass(frozen=True)
class PictureTime(_JSON):
    """One time of the pictures' grid: the network's score error there, the Fisher information (the trivial
    predictor's error), the network's early stopping."""
    t: float
    error_nn: float
    error_nn_ci: tuple[float, ...]
    fisher: float
    early_stop_step: int
    hit_budget: bool


@dataclass(frozen=True)
class Samples(_JSON):
    """Samples (rounded to 4 decimals): the probability-flow ODE with the learned and the true score, p_0."""
    learned_ode: typing.Any
    exact_ode: typing.Any
    p0: typing.Any


@dataclass(frozen=True)
class EnergyDistances(_JSON):
    """Energy distances to p_(t_min) (and to p_0); ``sampling_floor`` is that of two independent samples of
    p_(t_min), the value a perfect sampler would show."""
    learned_ode_vs_p_tmin: float
    exact_ode_vs_p_tmin: float
    learned_ode_vs_p0: float
    sampling_floor: float = field(metadata={"key": "p_tmin_vs_p_tmin (sampling floor)"})


@dataclass(frozen=True)
class ModeFractions(_JSON):
    """The fraction of samples nearest to each mixture component, and the mixture's weights."""
    weights: tuple[float, ...]
    learned_ode: tuple[float, ...]
    exact_ode: tuple[float, ...]
    p0: tuple[float, ...]


@dataclass(frozen=True)
class Pictures(_JSON):
    """The two-dimensional pictures' data (:func:`ntkcheck.experiments.diffusion.pictures`)."""
    t_field: float
    field: ScoreField
    times: tuple[float, ...]
    per_time: tuple[PictureTime, ...]
    samples: Samples
    energy_distance: EnergyDistances
    mode_fractions: ModeFractions
    design: str
    seconds: float | None = None


@dataclass(frozen=True)
class Settings(_JSON):
    """The run's settings: every :class:`~ntkcheck.experiments.diffusion.Config` field, the data's dimension
    and mixture, the lift's ρ and truncated mass, and the design choices in words."""
    t: float
    sigma: float
    delta: float
    m: int
    n_values: tuple[int, ...]
    seeds: int
    n_val: int
    n_eval: int
    steps: int
    record_every: int
    kernel_k_max: float
    track_n: int
    track_widths: tuple[int, ...]
    track_steps: int
    track_seeds: int
    pictures: bool
    pic_t_min: float
    pic_t_max: float
    pic_times: int
    pic_n: int
    pic_m: int
    pic_steps: int
    pic_samples: int
    field_grid: int
    seed: int
    d: int
    d_out: int
    mixture: dict[str, typing.Any]
    kappa: str
    init: str
    rho: float
    rho_method: str
    truncated_mass: float
    truncated_mass_kind: str
    rho_bound: float | None
    fisher_information: float
    eta_rule: str
    early_stopping: str
    kernel_regression: str
    error_ci: str


@dataclass(frozen=True)
class Claims(_JSON):
    """What the experiment claims (D5, D6), read off its rows, fits and tracking (JSON key ``assertions``)."""
    slope_nn: float
    slope_nn_ci: tuple[float, ...]
    slope_nn_negative: bool
    slope_kernel: float
    slope_kernel_ci: tuple[float, ...]
    slope_kernel_negative: bool
    ratio_nn_trivial: tuple[float, ...]
    ratio_nn_trivial_at_largest_n: float
    nn_below_trivial_every_n: bool
    nn_below_affine_at_largest_n: bool
    tracking_slopes: dict[str, float]
    tracking_slope_cis: dict[str, tuple[float, ...]]
    tracking_decreasing_in_m: bool


@dataclass(frozen=True)
class Seconds(_JSON):
    """Wall-clock seconds of the phases."""
    error_vs_n: float
    tracking: float
    total: float


@dataclass(frozen=True)
class DiffusionResult(_JSON):
    """The result of :func:`ntkcheck.experiments.diffusion.run`; ``to_json()`` is ``results/diffusion.json``.

    ``rows`` per n, ``runs`` per (n, seed), ``fit`` the power laws, ``tracking`` D5, ``pictures`` (None
    without them), ``claims`` what the experiment asserts (JSON key ``assertions``)."""
    experiment: str
    settings: Settings
    versions: dict[str, str]
    rows: tuple[ErrorRow, ...]
    runs: tuple[ErrorRun, ...]
    fit: ErrorFits
    tracking: Tracking
    pictures: Pictures | None
    claims: Claims = field(metadata={"key": "assertions"})
    seconds: Seconds | None = None
