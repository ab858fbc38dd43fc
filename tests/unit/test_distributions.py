"""Distribution specs sample by inversion with the right moments."""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError
from scipy import special, stats

from sim.core.distributions import Distribution

ADAPTER = TypeAdapter(Distribution)
U = (np.arange(200_000) + 0.5) / 200_000  # quasi-uniform grid: moments by quadrature


def parse(**kw: object):  # type: ignore[no-untyped-def]
    return ADAPTER.validate_python(kw)


@pytest.mark.parametrize(
    "spec, mean, median",
    [
        ({"dist": "fixed", "value": 4}, 4, 4),
        ({"dist": "exponential", "mean": 10}, 10, 10 * math.log(2)),
        ({"dist": "exponential", "median": 10}, 10 / math.log(2), 10),
        ({"dist": "gamma", "mean": 10, "sd": 5}, 10, stats.gamma(4, scale=2.5).median()),
        ({"dist": "weibull", "shape": 2, "scale": 3}, 3 * math.gamma(1.5), 3 * math.log(2) ** 0.5),
        ({"dist": "weibull", "shape": 1.5, "median": 7}, None, 7),
        ({"dist": "lognormal", "mean": 30, "sd": 12}, 30, 30 / math.sqrt(1 + 0.16)),
        ({"dist": "uniform", "low": 2, "high": 6}, 4, 4),
        ({"dist": "triangular", "low": 0, "mode": 3, "high": 6}, 3, 3),
        ({"dist": "discrete", "values": [1, 2, 10], "weights": [0.5, 0.3, 0.2]}, 3.1, None),
        ({"dist": "empirical", "quantiles": [[0, 0], [0.5, 10], [1, 30]]}, 12.5, 10),
    ],
)
def test_inversion_moments(spec: dict, mean: float | None, median: float | None) -> None:
    d = parse(**spec)
    x = d.ppf(U)
    if mean is not None:
        assert x.mean() == pytest.approx(mean, rel=2e-3)
        assert d.mean() == pytest.approx(mean, rel=1e-9)
    if median is not None:
        assert float(d.ppf(0.5)) == pytest.approx(median, rel=1e-6)
    assert (np.diff(x) >= 0).all()  # monotone in u: common random numbers work


def test_lognormal_sd() -> None:
    x = parse(dist="lognormal", mean=30, sd=12).ppf(U)
    assert x.std() == pytest.approx(12, rel=5e-3)


def test_scaled_keeps_family_and_scales_mean() -> None:
    for spec in (
        {"dist": "gamma", "mean": 10, "sd": 5},
        {"dist": "weibull", "shape": 2, "median": 3},
        {"dist": "exponential", "median": 4},
    ):
        d = parse(**spec)
        s = d.scaled(1.5)
        assert s.dist == d.dist and s.mean() == pytest.approx(1.5 * d.mean())


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "exponential"},
        {"dist": "exponential", "mean": 1, "median": 1},
        {"dist": "gamma", "mean": 0, "sd": 1},
        {"dist": "uniform", "low": 3, "high": 3},
        {"dist": "triangular", "low": 0, "mode": 5, "high": 4},
        {"dist": "discrete", "values": [1, 2], "weights": [0.5, 0.6]},
        {"dist": "discrete", "values": [1, 2], "weights": [1.0]},
        {"dist": "empirical", "quantiles": [[0.1, 0], [1, 3]]},
        {"dist": "empirical", "quantiles": [[0, 5], [1, 3]]},
        {"dist": "fixed", "value": 1, "extra": 2},
        {"dist": "fixed", "value": "1"},
    ],
)
def test_invalid_specs_rejected(spec: dict) -> None:
    with pytest.raises(ValidationError):
        parse(**spec)


@pytest.mark.parametrize(
    "spec",
    [
        {"dist": "fixed", "value": 4},
        {"dist": "exponential", "median": 10},
        {"dist": "gamma", "mean": 10, "sd": 5},
        {"dist": "weibull", "shape": 1.5, "median": 7},
        {"dist": "lognormal", "mean": 30, "sd": 12},
        {"dist": "uniform", "low": 2, "high": 6},
        {"dist": "triangular", "low": 0, "mode": 3, "high": 6},
        {"dist": "discrete", "values": [1, 2, 10], "weights": [0.5, 0.3, 0.2]},
        {"dist": "empirical", "quantiles": [[0, 0], [0.5, 10], [1, 30]]},
    ],
)
def test_scalar_path_equals_vector_path(spec: dict) -> None:
    d = parse(**spec)
    us = [0.0, 1e-9, 0.1, 0.3, 0.5, 0.5 - 1e-12, 0.8, 0.999999]
    assert [d.sample1(u) for u in us] == pytest.approx(d.ppf(np.array(us)).tolist(), rel=1e-12)


def test_gamma_and_lognormal_scalar_paths_are_the_ufuncs_bit_for_bit() -> None:
    """The scalar samplers call scipy.special's C functions through cython_special (three times
    faster in the event loop than a ufunc on one number): they must give the very values the
    ufuncs give, or every result of the model would move in its last bits."""
    us = [*np.random.default_rng(7).random(20_000).tolist(), 0.0, 2.0**-53, 0.5, 1 - 2.0**-53]
    for mean, sd in ((10, 5), (30, 12), (3, 6), (400, 20)):
        g = parse(dist="gamma", mean=mean, sd=sd)
        shape, scale = (mean / sd) ** 2, sd**2 / mean
        assert [g.sample1(u) for u in us] == (special.gammaincinv(shape, us) * scale).tolist()
        assert [g.sample1(u) for u in us] == g.ppf(np.array(us)).tolist()
        ln = parse(dist="lognormal", mean=mean, sd=sd)
        mu, sigma = ln._mu_sigma
        expected = [math.exp(mu + sigma * float(z)) for z in special.ndtri(us)]
        assert [ln.sample1(u) for u in us] == expected
