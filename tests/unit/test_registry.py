"""The KPI registry: every view of KPIs derives from the declarations, and a malformed
declaration fails at import."""

from __future__ import annotations

import re

import pytest

from sim.calibration.psa import PSA_KPIS
from sim.experiment.sizing import AT_LEAST, AT_MOST, default_direction
from sim.measures.kpis import BETTER, DERIVED_KPIS, KPIS, RANGE_KPIS, REGISTRY
from sim.measures.registry import HIGHER, LOWER, Kpi, check, view
from sim.reporting import compare, report


def test_views_are_the_tagged_kpis_in_registry_order() -> None:
    order = list(REGISTRY)
    for tag, names in (
        ("table", report.TABLE_KPIS),
        ("psa", PSA_KPIS),
        ("range", RANGE_KPIS),
        ("headline", tuple(k for k, _ in compare.HEADLINE_KPIS)),
    ):
        assert names == tuple(k for k in order if tag in REGISTRY[k].show), tag
        assert [order.index(k) for k in names] == sorted(order.index(k) for k in names)


def test_adding_a_tag_is_the_whole_change_to_show_a_kpi() -> None:
    """A KPI joins a view by its tag alone: the derived list changes, nothing else does."""
    extra = {
        **REGISTRY,
        "histology_28d_share": REGISTRY["histology_28d_share"]._replace(
            phrase="the share of urgent referrals with histology within 28 days",
            show=("headline", "psa"),
        ),
    }
    check(extra)
    assert "histology_28d_share" in view(extra, "headline")
    assert "histology_28d_share" in view(extra, "psa")
    assert "histology_28d_share" not in view(REGISTRY, "headline")


def test_every_headline_and_range_gap_has_a_direction_for_patients() -> None:
    """A headline KPI without a better direction would never be checked for an unexpected
    effect; every regional gap is better smaller."""
    for k, _ in compare.HEADLINE_KPIS:
        assert BETTER.get(k) in (HIGHER, LOWER), k
    for k in RANGE_KPIS:
        assert BETTER[f"{k}_region_range"] == LOWER
        assert f"{k}_region_range" in DERIVED_KPIS
    assert compare.BETTER is BETTER


def test_people_phrases_only_for_counts_of_people() -> None:
    for k in compare.PEOPLE_PHRASES:
        assert REGISTRY[k].kind == "per_year", k


def test_derived_and_measured_kpis_partition_the_registry() -> None:
    assert set(KPIS).isdisjoint(DERIVED_KPIS)
    assert set(KPIS) | set(DERIVED_KPIS) == set(REGISTRY)
    assert all(not v.derived for v in KPIS.values())


@pytest.mark.parametrize(
    ("kpi", "message"),
    [
        (Kpi("x", "furlongs"), "kind 'furlongs'"),
        (Kpi("x", "share", 2), "better 2"),
        (Kpi("x", "share", show=("poster",)), "views ['poster']"),
        (Kpi("x", "share", HIGHER, show=("headline",)), "a headline needs a phrase"),
    ],
)
def test_a_malformed_declaration_is_refused(kpi: Kpi, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        check({"broken": kpi})
    with pytest.raises(ValueError, match="unknown view"):
        view(REGISTRY, "poster")


def test_sizing_direction_comes_from_the_registry() -> None:
    assert default_direction("incidental_share") is None  # no better direction: must be given
    assert default_direction("histology_28d_share__london") == AT_LEAST
    assert default_direction("spread_before_diagnosis_per_year") == AT_MOST
    assert default_direction("not_a_kpi") is None
