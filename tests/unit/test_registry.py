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

TABLE_BEFORE = (
    "diagnosed_per_year",
    "symptom_to_diagnosis_days_median",
    "primary_care_interval_days_median",
    "diagnostic_interval_days_median",
    "gp_consultations_before_referral_mean",
    "emergency_presentation_share",
    "urgent_referral_share",
    "stage_localised_at_diagnosis_share",
    "stage_distant_at_diagnosis_share",
    "distant_diagnosed_per_year",
    "spread_before_diagnosis_per_year",
    "fds_28d_share",
    "dtt_31d_share",
    "rtt_62d_share",
    "specialist_mdt_discussed_share",
    "diagnosis_to_specialist_mdt_days_median",
    "specialist_mdt_within_14d_share",
    "specialist_mdt_utilisation",
    "specialist_mdt_backlog_mean",
    "pet_wait_days_median",
    "prrt_wait_days_median",
    "one_year_survival_share",
)
"""The report's main table as it was kept by hand before the registry (independent truth: the
move to tags was to change no row and no order)."""

PSA_BEFORE = {
    "diagnosed_per_year", "urgent_referral_share", "emergency_presentation_share",
    "primary_care_interval_days_median", "diagnostic_interval_days_median",
    "symptom_to_diagnosis_days_median", "stage_distant_at_diagnosis_share", "fds_28d_share",
    "rtt_62d_share", "specialist_mdt_within_14d_share", "one_year_survival_share",
}  # fmt: skip

HEADLINES_BEFORE = {
    "diagnostic_interval_days_median", "symptom_to_diagnosis_days_median",
    "distant_diagnosed_per_year", "spread_before_diagnosis_per_year", "nen_deaths_per_year",
    "one_year_survival_share", "five_year_survival_share", "emergency_presentation_share",
    "fds_28d_share", "rtt_62d_share", "specialist_mdt_discussed_share",
    "diagnosis_to_specialist_mdt_days_median", "diagnostic_interval_days_median_region_range",
}  # fmt: skip


def test_the_tags_give_the_lists_that_were_kept_by_hand() -> None:
    """The report table keeps its rows and order; the PSA defaults, the headline KPIs and the
    regional gaps keep their members (headlines now follow registry order)."""
    assert report.TABLE_KPIS == TABLE_BEFORE
    assert set(PSA_KPIS) == PSA_BEFORE
    assert {k for k, _ in compare.HEADLINE_KPIS} == HEADLINES_BEFORE
    assert set(RANGE_KPIS) == {
        "diagnostic_interval_days_median", "symptom_to_diagnosis_days_median",
        "stage_distant_at_diagnosis_share", "rtt_62d_share", "specialist_mdt_discussed_share",
        "diagnosis_to_specialist_mdt_days_median",
    }  # fmt: skip
    order = list(REGISTRY)
    for names in (report.TABLE_KPIS, PSA_KPIS, RANGE_KPIS):
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
