"""Confidence intervals never leave the range their KPI can take.

Hypothesis draws replication values of every kind of KPI (shares in [0, 1], non-negative days
and counts), including values on the bounds and very spread ones, and checks each interval
lies within the kind's bounds and contains the mean. The same property is checked on a real
comparison in tests/report/test_report.py.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.experiment.analysis import bounded_interval, t_interval
from sim.measures.kpis import KINDS, KPIS
from sim.reporting.compare import comparison_table

SHARE = st.floats(0.0, 1.0, allow_nan=False)
NONNEG = st.one_of(st.just(0.0), st.floats(0.0, 1e6, allow_nan=False))


@settings(max_examples=300, deadline=None)
@given(values=st.lists(SHARE, min_size=2, max_size=12))
def test_share_intervals_within_0_and_1(values: list[float]) -> None:
    mean, lo, hi, n = bounded_interval(values, 0.0, 1.0)
    assert n == len(values)
    assert 0.0 <= lo <= mean <= hi <= 1.0


@settings(max_examples=300, deadline=None)
@given(values=st.lists(NONNEG, min_size=2, max_size=12))
def test_nonnegative_intervals_stay_nonnegative(values: list[float]) -> None:
    mean, lo, hi, _ = bounded_interval(values, 0.0, math.inf)
    assert 0.0 <= lo <= mean * (1 + 1e-12) and hi >= mean * (1 - 1e-12)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.floats(0.2, 0.8), min_size=30, max_size=30))
def test_far_from_the_bounds_the_width_is_the_t_intervals(values: list[float]) -> None:
    _, lo, hi, _ = bounded_interval(values, 0.0, 1.0)
    _, tlo, thi, _ = t_interval(values)
    # to first order: within a quarter of the t-interval's width (30 values, means near 0.5)
    assert abs((hi - lo) - (thi - tlo)) <= 0.25 * (thi - tlo) + 1e-12


@settings(max_examples=60, deadline=None)
@given(data=st.data(), n=st.integers(2, 5))
def test_every_kpi_of_a_comparison_within_its_bounds(data: st.DataObject, n: int) -> None:
    rows = []
    for scen in ("base", "other"):
        for rep in range(n):
            row: dict[str, float | str | int] = {"scenario": scen, "replication": rep}
            for k, info in KPIS.items():
                row[k] = data.draw(SHARE if info.kind == "share" else NONNEG, label=k)
            rows.append(row)
    table = comparison_table(pd.DataFrame(rows), "base")
    for _, r in table.iterrows():
        kind = KINDS[KPIS[r["kpi"]].kind]
        assert kind.lower <= r["ci_low"] <= r["mean"] <= r["ci_high"] <= kind.upper, r["kpi"]
        span = kind.upper - kind.lower
        assert -span <= r["diff_ci_low"] <= r["diff_ci_high"] <= span, r["kpi"]
    assert np.isfinite(table["ci_low"]).all()
