"""Distribution specifications: data in the scenario file, samplers in code.

A scenario writes a distribution as a TOML inline table whose ``dist`` key names the family::

    consultation_interval_days = {dist = "lognormal", mean = 30, sd = 12}

Every family here describes a non-negative quantity (durations, ages, counts) and is sampled by
**inversion**: ``ppf(u)`` maps uniform numbers in [0, 1) to values. Inversion is what makes common
random numbers work across scenarios (Law, *Simulation Modeling and Analysis*, 5th ed., s. 11.2):
the same uniform gives a monotonically related value when a parameter changes, so a patient who
waits longer than average in one scenario also does in another. ``ppf`` accepts scalars or numpy
arrays, so batches are sampled in one call; ``sample1(u)`` is the same map for one Python float,
written with ``math`` so that per-patient draws in the event loop cost well under a microsecond.

Families (each validates its own parameters):

=============  ======================================  ============================================
``dist``       parameters                              meaning
=============  ======================================  ============================================
fixed          value                                   always ``value`` (deterministic tests)
exponential    mean *or* median                        memoryless waiting time
gamma          mean, sd                                shape = (mean/sd)^2
weibull        shape and scale *or* median             scale = median / ln(2)^(1/shape)
lognormal      mean, sd (of the variable itself)       sigma^2 = ln(1 + sd^2/mean^2)
uniform        low, high
triangular     low, mode, high
discrete       values, weights (weights sum to 1)      empirical choice among ``values``
empirical      quantiles = [[p, x], ...] from p=0..1   piecewise-linear inverse CDF
=============  ======================================  ============================================
"""

from __future__ import annotations

import bisect
import math
from functools import cached_property
from itertools import pairwise
from typing import Annotated, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import BaseModel, ConfigDict, Field, model_validator
from scipy import special
from scipy.special import cython_special

FloatArray = NDArray[np.float64]


class Sampler(Protocol):
    """Anything that turns uniforms into values: the one method the model needs."""

    def ppf(self, u: ArrayLike) -> FloatArray: ...

    def sample1(self, u: float) -> float: ...


MAX_VALUE = 1e9
"""Largest parameter or value of any distribution (days, years): beyond anything meaningful,
small enough that sums of them stay finite. No distribution means "never" by an infinite value."""
_PROBE_U = (0.0, 2.0**-53, 1e-6, 0.5, 1 - 1e-6, 1 - 2.0**-53)
"""Uniforms at which a distribution's quantile function is checked: the extremes a stream can
give (:meth:`numpy.random.Generator.random` is in [0, 1) with 53-bit resolution) and between."""


class _Dist(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @model_validator(mode="after")
    def _finite_quantiles(self) -> _Dist:
        """Every value the sampler can give is a finite number of at most :data:`MAX_VALUE`
        (a Weibull shape of 1e-5, or a gamma with sd 1e300, passes every bound on its
        parameters and still overflows)."""
        try:
            values = [self.sample1(u) for u in _PROBE_U]
        except ArithmeticError:  # OverflowError from math.pow or math.exp
            values = [math.inf]
        except (AssertionError, ValueError, TypeError, IndexError, NotImplementedError):
            # Malformed parameters (neither mean nor median, say): this check runs before the
            # family's own, which says what is wrong.
            return self
        bad = next((v for v in values if not (0 <= v <= MAX_VALUE)), None)
        if bad is not None:
            raise ValueError(
                f"its quantile function must give finite values of at most {MAX_VALUE:g} over "
                f"(0, 1), but gives {bad:g}: make the spread smaller (or the shape larger)"
            )
        return self

    def ppf(self, u: ArrayLike) -> FloatArray:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample1(self, u: float) -> float:
        """``ppf`` for a single uniform (fast scalar path; families override it)."""
        return float(self.ppf(u))

    def mean(self) -> float:  # pragma: no cover - overridden
        raise NotImplementedError

    def sample(self, rng: np.random.Generator, size: int | None = None) -> FloatArray:
        """Draw by inversion from ``rng`` (one uniform per value)."""
        return self.ppf(rng.random(size))

    def scaled(self, factor: float) -> _Dist:
        """The distribution of ``factor * X`` (every family here is closed under scaling)."""
        raise NotImplementedError(f"{type(self).__name__} cannot be scaled")


NonNeg = Annotated[float, Field(ge=0, le=MAX_VALUE, allow_inf_nan=False)]
Pos = Annotated[float, Field(gt=0, le=MAX_VALUE, allow_inf_nan=False)]


class Fixed(_Dist):
    """Always the same value: for deterministic tests and known fixed intervals."""

    dist: Literal["fixed"]
    value: NonNeg

    def ppf(self, u: ArrayLike) -> FloatArray:
        return np.full(np.shape(u), self.value, dtype=float)

    def sample1(self, u: float) -> float:
        return self.value

    def mean(self) -> float:
        return self.value

    def scaled(self, factor: float) -> Fixed:
        return Fixed(dist="fixed", value=self.value * factor)


class Exponential(_Dist):
    """Exponential waiting time, given by its ``mean`` or its ``median`` (one of the two)."""

    dist: Literal["exponential"]
    mean_: Pos | None = Field(default=None, alias="mean")
    median: Pos | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one_of(self) -> Exponential:
        if (self.mean_ is None) == (self.median is None):
            raise ValueError("give exactly one of 'mean' or 'median'")
        return self

    @cached_property
    def _mean(self) -> float:
        if self.mean_ is not None:
            return self.mean_
        assert self.median is not None
        return self.median / math.log(2)

    def ppf(self, u: ArrayLike) -> FloatArray:
        return -self._mean * np.log1p(-np.asarray(u, dtype=float))

    def sample1(self, u: float) -> float:
        return -self._mean * math.log1p(-u)

    def mean(self) -> float:
        return self._mean

    def scaled(self, factor: float) -> Exponential:
        return Exponential(dist="exponential", mean_=self._mean * factor)


class Gamma(_Dist):
    """Gamma by mean and standard deviation."""

    dist: Literal["gamma"]
    mean_: Pos = Field(alias="mean")
    sd: Pos

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @cached_property
    def _shape_scale(self) -> tuple[float, float]:
        return (self.mean_ / self.sd) ** 2, self.sd**2 / self.mean_

    def ppf(self, u: ArrayLike) -> FloatArray:
        shape, scale = self._shape_scale
        return np.asarray(special.gammaincinv(shape, np.asarray(u, dtype=float)) * scale)

    def sample1(self, u: float) -> float:
        # cython_special calls the C function behind the ufunc, without the ufunc's array
        # machinery: the same value as ``ppf`` element by element, three times faster.
        shape, scale = self._shape_scale
        return cython_special.gammaincinv(shape, u) * scale

    def mean(self) -> float:
        return self.mean_

    def scaled(self, factor: float) -> Gamma:
        return Gamma(dist="gamma", mean_=self.mean_ * factor, sd=self.sd * factor)


class Weibull(_Dist):
    """Weibull by ``shape`` and either ``scale`` or ``median`` (one of the two)."""

    dist: Literal["weibull"]
    shape: Pos
    scale: Pos | None = None
    median: Pos | None = None

    @model_validator(mode="after")
    def _one_of(self) -> Weibull:
        if (self.scale is None) == (self.median is None):
            raise ValueError("give exactly one of 'scale' or 'median'")
        return self

    @cached_property
    def _scale(self) -> float:
        if self.scale is not None:
            return self.scale
        assert self.median is not None
        return self.median / math.log(2) ** (1 / self.shape)

    def ppf(self, u: ArrayLike) -> FloatArray:
        return self._scale * (-np.log1p(-np.asarray(u, dtype=float))) ** (1 / self.shape)

    def sample1(self, u: float) -> float:
        return self._scale * (-math.log1p(-u)) ** (1 / self.shape)

    def mean(self) -> float:
        return self._scale * math.gamma(1 + 1 / self.shape)

    def scaled(self, factor: float) -> Weibull:
        return Weibull(dist="weibull", shape=self.shape, scale=self._scale * factor)


class Lognormal(_Dist):
    """Lognormal by the mean and standard deviation of the variable itself (not of its log)."""

    dist: Literal["lognormal"]
    mean_: Pos = Field(alias="mean")
    sd: Pos

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, populate_by_name=True)

    @cached_property
    def _mu_sigma(self) -> tuple[float, float]:
        sigma2 = math.log1p((self.sd / self.mean_) ** 2)
        return math.log(self.mean_) - sigma2 / 2, math.sqrt(sigma2)

    def ppf(self, u: ArrayLike) -> FloatArray:
        mu, sigma = self._mu_sigma
        return np.exp(mu + sigma * special.ndtri(np.asarray(u, dtype=float)))

    def sample1(self, u: float) -> float:
        mu, sigma = self._mu_sigma
        return math.exp(mu + sigma * cython_special.ndtri(u))

    def mean(self) -> float:
        return self.mean_

    def median(self) -> float:
        return math.exp(self._mu_sigma[0])

    def scaled(self, factor: float) -> Lognormal:
        return Lognormal(dist="lognormal", mean_=self.mean_ * factor, sd=self.sd * factor)


class Uniform(_Dist):
    """Uniform between ``low`` and ``high``."""

    dist: Literal["uniform"]
    low: NonNeg
    high: NonNeg

    @model_validator(mode="after")
    def _order(self) -> Uniform:
        if not self.low < self.high:
            raise ValueError(f"needs low < high, got low={self.low}, high={self.high}")
        return self

    def ppf(self, u: ArrayLike) -> FloatArray:
        return self.low + (self.high - self.low) * np.asarray(u, dtype=float)

    def sample1(self, u: float) -> float:
        return self.low + (self.high - self.low) * u

    def mean(self) -> float:
        return (self.low + self.high) / 2

    def scaled(self, factor: float) -> Uniform:
        return Uniform(dist="uniform", low=self.low * factor, high=self.high * factor)


class Triangular(_Dist):
    """Triangular with ``low <= mode <= high`` and ``low < high``."""

    dist: Literal["triangular"]
    low: NonNeg
    mode: NonNeg
    high: NonNeg

    @model_validator(mode="after")
    def _order(self) -> Triangular:
        if not (self.low <= self.mode <= self.high and self.low < self.high):
            raise ValueError(
                f"needs low <= mode <= high and low < high, got "
                f"low={self.low}, mode={self.mode}, high={self.high}"
            )
        return self

    def ppf(self, u: ArrayLike) -> FloatArray:
        a, c, b = self.low, self.mode, self.high
        u = np.asarray(u, dtype=float)
        fc = (c - a) / (b - a)
        left = a + np.sqrt(u * (b - a) * (c - a))
        right = b - np.sqrt((1 - u) * (b - a) * (b - c))
        return np.where(u < fc, left, right)

    def sample1(self, u: float) -> float:
        a, c, b = self.low, self.mode, self.high
        if u < (c - a) / (b - a):
            return a + math.sqrt(u * (b - a) * (c - a))
        return b - math.sqrt((1 - u) * (b - a) * (b - c))

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def scaled(self, factor: float) -> Triangular:
        return Triangular(
            dist="triangular",
            low=self.low * factor,
            mode=self.mode * factor,
            high=self.high * factor,
        )


class Discrete(_Dist):
    """Empirical choice among ``values`` with probabilities ``weights`` (summing to 1)."""

    dist: Literal["discrete"]
    values: list[NonNeg] = Field(min_length=1)
    weights: list[NonNeg] = Field(min_length=1)

    @model_validator(mode="after")
    def _weights(self) -> Discrete:
        if len(self.values) != len(self.weights):
            raise ValueError(
                f"'values' and 'weights' must have the same length, got "
                f"{len(self.values)} and {len(self.weights)}"
            )
        total = sum(self.weights)
        if abs(total - 1) > 1e-6:
            raise ValueError(f"'weights' must sum to 1, got {total:g}")
        return self

    @cached_property
    def _cum(self) -> list[float]:
        cum = np.cumsum(self.weights)
        cum[-1] = 1.0
        return [float(c) for c in cum]

    def ppf(self, u: ArrayLike) -> FloatArray:
        idx = np.searchsorted(self._cum, np.asarray(u, dtype=float), side="right")
        return np.asarray(self.values, dtype=float)[np.minimum(idx, len(self.values) - 1)]

    def sample1(self, u: float) -> float:
        return self.values[min(bisect.bisect_right(self._cum, u), len(self.values) - 1)]

    def mean(self) -> float:
        return float(np.dot(self.values, self.weights))

    def scaled(self, factor: float) -> Discrete:
        return Discrete(
            dist="discrete", values=[v * factor for v in self.values], weights=self.weights
        )


class Empirical(_Dist):
    """Continuous empirical distribution from quantiles ``[[p, x], ...]``.

    ``p`` runs from 0 to 1 (first 0, last 1, increasing) and ``x`` is non-decreasing; values are
    interpolated linearly between the given quantiles (e.g. a median and interquartile range
    from a registry, with plausible extremes).
    """

    dist: Literal["empirical"]
    quantiles: list[list[NonNeg]] = Field(min_length=2)

    @model_validator(mode="after")
    def _shape(self) -> Empirical:
        if any(len(q) != 2 for q in self.quantiles):
            raise ValueError("each quantile must be a pair [p, x]")
        ps = [p for p, _ in self.quantiles]
        xs = [x for _, x in self.quantiles]
        if ps[0] != 0 or ps[-1] != 1:
            raise ValueError(f"quantile probabilities must start at 0 and end at 1, got {ps}")
        if any(b <= a for a, b in pairwise(ps)):
            raise ValueError(f"quantile probabilities must increase, got {ps}")
        if any(b < a for a, b in pairwise(xs)):
            raise ValueError(f"quantile values must not decrease, got {xs}")
        return self

    def ppf(self, u: ArrayLike) -> FloatArray:
        ps = [p for p, _ in self.quantiles]
        xs = [x for _, x in self.quantiles]
        return np.asarray(np.interp(np.asarray(u, dtype=float), ps, xs))

    def sample1(self, u: float) -> float:
        return float(self.ppf(u))

    def mean(self) -> float:
        ps = np.array([p for p, _ in self.quantiles])
        xs = np.array([x for _, x in self.quantiles])
        return float(np.sum(np.diff(ps) * (xs[1:] + xs[:-1]) / 2))

    def scaled(self, factor: float) -> Empirical:
        return Empirical(dist="empirical", quantiles=[[p, x * factor] for p, x in self.quantiles])


Distribution = Annotated[
    Fixed | Exponential | Gamma | Weibull | Lognormal | Uniform | Triangular | Discrete | Empirical,
    Field(discriminator="dist"),
]
"""Any distribution spec; pydantic picks the family from the ``dist`` key."""

DIST_NAMES = (
    "fixed",
    "exponential",
    "gamma",
    "weibull",
    "lognormal",
    "uniform",
    "triangular",
    "discrete",
    "empirical",
)
