"""Warm-up analysis: Welch's moving average and MSER-5 on series with a known answer
(``nenpath warmup`` end to end on a small run is in tests/e2e/test_commands.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.app.cli import main
from sim.core.errors import RunControlError
from sim.experiment.warmup import (
    SeriesWarmup,
    analyse_series,
    average_series,
    check_series,
    recommended_years,
    welch_moving_average,
)
from tests.helpers import BASELINE


def test_welch_moving_average_by_hand() -> None:
    # Law s. 9.5.1 with w = 2 on y_i = i^2, i = 1..7:
    # i=1: y1; i=2: (y1+y2+y3)/3; i>w: (y_{i-2} .. y_{i+2})/5, up to i = m - w = 5
    y = np.arange(1, 8) ** 2
    assert welch_moving_average(y, 2) == pytest.approx([1, 14 / 3, 11, 18, 27])


def test_average_series_by_hand() -> None:
    rows = [
        {"replication": r, "week": w, "time": 7.0 * w, "diagnoses": v}
        for r, values in enumerate([[1, 2, 3], [3, 4, 8]])
        for w, v in enumerate(values)
    ]
    avg = average_series(pd.DataFrame(rows), ("diagnoses",))
    assert list(avg["week"]) == [0, 1, 2]
    assert list(avg["diagnoses"]) == [2.0, 3.0, 5.5]


def test_a_transient_that_ends_is_found_and_levels_off() -> None:
    """Exponential approach to 100 (time constant 30 weeks) plus noise, over 1,000 weeks: the
    bias is below the noise (sd 5) from week 30 ln(40/5) = 62 and below 1 from week 111."""
    rng = np.random.default_rng(1)
    t = np.arange(1000)
    y = 100 - 40 * np.exp(-t / 30) + rng.normal(0, 5, t.size)
    r = analyse_series("caseload", y)
    assert 50 <= r.truncation_week <= 160
    assert r.searched_weeks == 500 and not r.at_search_limit
    assert abs(r.drift_share) < 0.01 and r.levelled_off
    assert r.level == pytest.approx(100, abs=1)


def test_a_series_still_rising_is_not_called_levelled_off() -> None:
    """A caseload that grows through the whole run: MSER-5 can only stop at the end of the half
    it searches, and the series still rises after it."""
    rng = np.random.default_rng(2)
    t = np.arange(1000)
    y = 1000 * (1 - np.exp(-t / 800)) + rng.normal(0, 5, t.size)
    r = analyse_series("in_follow_up", y)
    assert r.at_search_limit and r.truncation_week >= 495
    assert r.drift_share > 0.1 and not r.levelled_off


def test_noise_and_yearly_spikes_are_not_a_trend() -> None:
    """A stationary backlog with a spike every 52nd week (bank holidays): the fitted trend may
    move it by 20% of its low level by chance, but yearly means show no trend (p = 0.15)."""
    rng = np.random.default_rng(0)
    t = np.arange(1000)
    y = 2 + rng.normal(0, 3, t.size) + np.where(t % 52 == 51, 30, 0)
    r = analyse_series("specialist_backlog", y)
    assert r.truncation_week <= 25
    assert abs(r.drift_share) > 0.05 and r.trend_p_value > 0.05
    assert r.levelled_off


def test_recommended_years_round_up() -> None:
    def res(week: int) -> SeriesWarmup:
        return SeriesWarmup("x", week, 500, False, 0.0, 0.5, 1.0)

    assert recommended_years([res(0)]) == 0
    assert recommended_years([res(10), res(53)]) == 2  # 53 weeks = 1.015 years
    assert recommended_years([res(52)]) == 1  # 52 weeks = 0.997 years
    assert recommended_years([res(156)]) == 3  # 156 x 7 = 1092 days < 3 x 365.25 = 1095.75
    assert recommended_years([res(157)]) == 4  # 1099 days: just over three years


def test_unknown_series_is_refused_naming_the_choices() -> None:
    with pytest.raises(RunControlError, match="--kpi backlog: not a weekly series; choose from"):
        check_series(["backlog"])
    assert check_series(None)[0] == "specialist_backlog"


def test_nenpath_warmup_bad_series_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["warmup", str(BASELINE), "--kpi", "nonsense"]) == 2
    err = capsys.readouterr().err
    assert "--kpi nonsense" in err and "specialist_backlog" in err and "Traceback" not in err
