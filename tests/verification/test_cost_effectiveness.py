"""Verification of the PSA's decision measures against a table computed by hand: net monetary
benefit, the cost-effectiveness acceptability curve (CEAC) and the expected value of perfect
information (EVPI) (issue 14, PSA)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sim.reporting.cost_effectiveness import ceac, decision_tables, evpi, net_benefit

# Four PSA draws of three strategies: A (the comparator: nothing changes), B and C. Cost in GBP
# and QALYs, each a difference from A.
COST = np.array(
    [
        # A,   B,      C
        [0.0, 10_000.0, 20_000.0],
        [0.0, 10_000.0, 0.0],
        [0.0, 30_000.0, 40_000.0],
        [0.0, 5_000.0, 15_000.0],
    ]
)
QALYS = np.array(
    [
        [0.0, 1.0, 2.0],
        [0.0, 0.2, -0.1],
        [0.0, 2.0, 1.0],
        [0.0, -0.5, 1.5],
    ]
)


def test_net_monetary_benefit_by_hand() -> None:
    nmb = net_benefit(COST, QALYS, [20_000.0])[0]
    # lam * Q - C at GBP 20,000 per QALY
    expected = np.array(
        [
            [0.0, 10_000.0, 20_000.0],
            [0.0, -6_000.0, -2_000.0],
            [0.0, 10_000.0, -20_000.0],
            [0.0, -15_000.0, 15_000.0],
        ]
    )
    np.testing.assert_array_equal(nmb, expected)


def test_ceac_and_evpi_by_hand_at_20000() -> None:
    nmb = net_benefit(COST, QALYS, [20_000.0])
    # best per draw: C, A, B, C
    np.testing.assert_array_equal(ceac(nmb)[0], [0.25, 0.25, 0.5])
    # mean of the per-draw maxima (20,000 + 0 + 10,000 + 15,000) / 4 = 11,250; the best mean
    # is C's (20,000 - 2,000 - 20,000 + 15,000) / 4 = 3,250 (A 0, B -250): EVPI 8,000
    assert evpi(nmb)[0] == pytest.approx(8_000.0, abs=1e-9)


def test_ties_are_shared_and_evpi_is_zero_without_a_costlier_choice_at_zero() -> None:
    nmb = net_benefit(COST, QALYS, [0.0])
    # at a zero threshold NMB = -cost: A wins draws 1, 3, 4 and ties with C (cost 0) in draw 2
    np.testing.assert_array_equal(ceac(nmb)[0], [0.875, 0.0, 0.125])
    assert evpi(nmb)[0] == 0.0  # A is best (or tied best) in every draw


def test_a_strategy_best_in_every_draw_leaves_nothing_to_learn() -> None:
    cost = np.array([[0.0, -1.0], [0.0, -5.0], [0.0, -2.0]])  # B always cheaper ...
    qalys = np.array([[0.0, 0.5], [0.0, 0.1], [0.0, 0.0]])  # ... and never worse
    nmb = net_benefit(cost, qalys, [0.0, 30_000.0])
    np.testing.assert_array_equal(ceac(nmb), [[0.0, 1.0], [0.0, 1.0]])
    np.testing.assert_array_equal(evpi(nmb), [0.0, 0.0])


def test_evpi_is_never_negative_and_ceac_sums_to_one() -> None:
    rng = np.random.default_rng(5)
    cost, qalys = rng.normal(0, 1e5, (200, 4)), rng.normal(0, 3, (200, 4))
    nmb = net_benefit(cost, qalys, np.linspace(0, 1e5, 21))
    assert (evpi(nmb) >= -1e-9).all()
    np.testing.assert_allclose(ceac(nmb).sum(axis=1), 1.0)


def test_decision_tables_from_long_draws() -> None:
    long = pd.DataFrame(
        [
            {"draw": i, "scenario": s, "cost_per_year": COST[i, j], "qalys_per_year": QALYS[i, j]}
            for i in range(4)
            for j, s in enumerate("ABC")
        ]
    )
    ceac_t, evpi_t = decision_tables(
        long, ["A", "B", "C"], persons_per_year=2_000.0, thresholds=[0.0, 20_000.0]
    )
    at = ceac_t[ceac_t["threshold"] == 20_000.0].set_index("scenario")["probability_best"]
    assert at.to_dict() == {"A": 0.25, "B": 0.25, "C": 0.5}
    row = evpi_t.set_index("threshold").loc[20_000.0]
    assert row["evpi_per_year"] == pytest.approx(8_000.0)
    assert row["evpi_per_person"] == pytest.approx(4.0)  # 8,000 / 2,000 people a year
    assert row["best_expected"] == "C" and row["draws"] == 4
