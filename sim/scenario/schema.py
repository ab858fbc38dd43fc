"""The scenario schema: every model parameter, its type, bounds and unit.

A :class:`Scenario` is a frozen pydantic object validated once from a TOML file
(:func:`sim.scenario.loader.load_scenario`). Unknown keys are errors; ints are accepted where
floats are expected but strings never are. Every duration carries its unit in its name (``_days``,
``_years``); rates say theirs (``_per_year``).

Run controls (replications, seed, years, warm-up, workers) are *not* model parameters: they live
in :class:`RunControls`, which a scenario file may give defaults for in its ``[run]`` table.

Categorical tables
------------------
Many parameters are tables over a category: ``{small_intestine = 0.17, pancreas = 0.12, ...}``.

* ``*_shares`` tables must name every category and sum to 1.
* ``*_by_site``, ``*_by_grade``, ``*_by_stage``, ``*_by_region`` tables name every category or
  give a ``default`` for those not named; the validated table always names every category.
"""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeAlias, TypeVar, get_args

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from sim.core.constants import DAYS_PER_YEAR, NAME_MAX_LENGTH, NAME_PATTERN
from sim.core.distributions import Distribution

# --------------------------------------------------------------------------------------------
# Vocabularies
# --------------------------------------------------------------------------------------------

if TYPE_CHECKING:
    # For the type checker the vocabularies are plain strings, so category tables can be
    # indexed with names held in variables (``table[SITES[i]]``); at run time they are Literal
    # types and pydantic rejects any other value, naming the allowed ones.
    Site: TypeAlias = str
    Grade: TypeAlias = str
    Stage: TypeAlias = str
    Region: TypeAlias = str
    Route: TypeAlias = str
    GPOutcome: TypeAlias = str
    Misattribution: TypeAlias = str
    CaseClass: TypeAlias = str
    Weekday: TypeAlias = str
    Treatment: TypeAlias = str
    ResourceName: TypeAlias = str
else:
    Site = Literal[
        "small_intestine",
        "pancreas",
        "lung",
        "appendix",
        "rectum",
        "stomach",
        "colon",
        "unknown_primary",
        "other",
    ]
    Grade = Literal["G1", "G2", "G3", "NEC"]
    Stage = Literal["localised", "regional", "distant"]
    Region = Literal[
        "london",
        "south_east",
        "south_west",
        "east_of_england",
        "midlands",
        "north_east_and_yorkshire",
        "north_west",
    ]
    Route = Literal["gp", "emergency", "incidental", "surveillance"]
    GPOutcome = Literal[
        "misattributed", "primary_care_tests", "urgent_referral", "routine_referral"
    ]
    Misattribution = Literal["ibs", "gastritis", "anxiety", "menopause", "asthma", "other"]
    CaseClass = Literal["new", "progression", "review"]
    Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    Treatment = Literal[
        "surgery_curative",
        "endoscopic_resection",
        "surgery_debulking",
        "ssa",
        "prrt",
        "everolimus",
        "sunitinib",
        "captem",
        "platinum_etoposide",
        "liver_directed",
        "transplant",
        "watchful_waiting",
        "best_supportive_care",
        "folfiri",
        "interferon",
        "mibg",
        "radiotherapy",
        "clinical_trial",
    ]
    ResourceName = Literal[
        "local_mdt", "specialist_mdt", "pet", "histopathology", "surgery", "prrt"
    ]

SITES: tuple[str, ...] = get_args(Site)
GRADES: tuple[str, ...] = get_args(Grade)
STAGES: tuple[str, ...] = get_args(Stage)
REGIONS: tuple[str, ...] = get_args(Region)
ROUTES: tuple[str, ...] = get_args(Route)
GP_OUTCOMES: tuple[str, ...] = get_args(GPOutcome)
MISATTRIBUTIONS: tuple[str, ...] = get_args(Misattribution)
CASE_CLASSES: tuple[str, ...] = get_args(CaseClass)
WEEKDAYS: tuple[str, ...] = get_args(Weekday)
TREATMENTS: tuple[str, ...] = get_args(Treatment)
RESOURCES: tuple[str, ...] = get_args(ResourceName)
GEP_SITES: tuple[str, ...] = (
    "small_intestine",
    "pancreas",
    "appendix",
    "rectum",
    "stomach",
    "colon",
)


# --------------------------------------------------------------------------------------------
# Building blocks
# --------------------------------------------------------------------------------------------


class Strict(BaseModel):
    """Base of every schema object: unknown keys forbidden, immutable, no type coercion, and
    every number finite (inf and nan are refused even by a field given no bounds)."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)

    @field_validator("*", mode="after")
    @classmethod
    def _finite(cls, value: Any) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("must be a finite number")
        return value


def _probability(x: float) -> float:
    if not 0.0 <= x <= 1.0 or math.isnan(x):
        raise ValueError("must be between 0 and 1")
    return x


MAX_NUMBER = 1e9
"""Largest value of any number in a scenario (days, years, rates, multipliers): far beyond
anything meaningful, and small enough that sums and products of them stay finite. No number
means "never" by being infinite: leave the key out where absence means that."""
MAX_COUNT = 1_000_000
"""Largest whole number in a scenario (slots, servers, consultations, cycles, lines)."""
MAX_INCIDENCE = 1_000_000.0
"""Largest ``incidence_per_year`` (England has about 6,000 NENs a year)."""
MAX_SCALE = 100.0
"""Largest ``population_scale`` (and ``--scale``): 100 Englands."""
MAX_YEARS = 200.0
"""Largest measured run, warm-up or prehistory, in years."""
MAX_REPLICATIONS = 10_000
MAX_WORKERS = 1024
MAX_SEED = 2**63 - 1

Probability = Annotated[float, AfterValidator(_probability)]
NonNegFloat = Annotated[float, Field(ge=0, le=MAX_NUMBER, allow_inf_nan=False)]
PosFloat = Annotated[float, Field(gt=0, le=MAX_NUMBER, allow_inf_nan=False)]
NonNegInt = Annotated[int, Field(ge=0, le=MAX_COUNT)]
PosInt = Annotated[int, Field(ge=1, le=MAX_COUNT)]


def _server_count(n: int) -> int:
    # Patients must pass through a server pool (histopathology, say) and cannot be routed
    # round it, so a pool with no servers would hold everyone sent there for ever: refused
    # rather than silently run with one server.
    if n < 1:
        raise ValueError(
            f"must be at least 1, got {n}: every patient sent to a server pool passes through "
            "it, so with no servers they would wait for ever (a step whose capacity is not "
            'modelled is kind = "delay")'
        )
    return n


ServerCount = Annotated[int, Field(le=MAX_COUNT), AfterValidator(_server_count)]

SUM_TOLERANCE = 1e-6
V = TypeVar("V")


def _shares_check(keys: tuple[str, ...]) -> Callable[[dict[str, float]], dict[str, float]]:
    def check(d: dict[str, float]) -> dict[str, float]:
        missing = [k for k in keys if k not in d]
        if missing:
            raise ValueError(f"must name every category; missing {', '.join(missing)}")
        total = sum(d.values())
        if abs(total - 1) > SUM_TOLERANCE:
            raise ValueError(f"probabilities must sum to 1, got {total:.6g}")
        return {k: d[k] for k in keys}

    return check


def _partial_shares_check(d: dict[str, float]) -> dict[str, float]:
    if not d:
        raise ValueError("must name at least one option")
    total = sum(d.values())
    if abs(total - 1) > SUM_TOLERANCE:
        raise ValueError(f"probabilities must sum to 1, got {total:.6g}")
    return d


def _table_fill(keys: tuple[str, ...]) -> Callable[[Any], Any]:
    """Before validation: expand a ``default`` entry to every category not named."""

    def fill(d: Any) -> Any:
        if not isinstance(d, dict):
            return d
        if "default" not in d:
            missing = [k for k in keys if k not in d]
            if missing:
                raise ValueError(
                    f"must name every category or give a 'default'; missing {', '.join(missing)}"
                )
            return d
        out = {k: d["default"] for k in keys}
        out.update({k: v for k, v in d.items() if k != "default"})
        return out

    return fill


def _reorder(keys: tuple[str, ...]) -> Callable[[dict[str, V]], dict[str, V]]:
    """After validation: the table in canonical category order (code indexes by position)."""

    def reorder(d: dict[str, V]) -> dict[str, V]:
        return {k: d[k] for k in keys}

    return reorder


def ordered(table: Mapping[Any, V], keys: tuple[str, ...]) -> list[V]:
    """Values of a complete category table in the order of ``keys`` (e.g. ``SITES``)."""
    return [table[k] for k in keys]


SiteShares = Annotated[dict[Site, Probability], AfterValidator(_shares_check(SITES))]
GradeShares = Annotated[dict[Grade, Probability], AfterValidator(_shares_check(GRADES))]
StageShares = Annotated[dict[Stage, Probability], AfterValidator(_shares_check(STAGES))]
GPOutcomeShares = Annotated[
    dict[GPOutcome, Probability], AfterValidator(_shares_check(GP_OUTCOMES))
]
MisattributionShares = Annotated[
    dict[Misattribution, Probability], AfterValidator(_shares_check(MISATTRIBUTIONS))
]
TreatmentChoice = Annotated[dict[Treatment, Probability], AfterValidator(_partial_shares_check)]

BySiteProb = Annotated[
    dict[Site, Probability], BeforeValidator(_table_fill(SITES)), AfterValidator(_reorder(SITES))
]
BySiteRate = Annotated[
    dict[Site, NonNegFloat], BeforeValidator(_table_fill(SITES)), AfterValidator(_reorder(SITES))
]
BySitePos = Annotated[
    dict[Site, PosFloat], BeforeValidator(_table_fill(SITES)), AfterValidator(_reorder(SITES))
]
BySiteNonNeg = Annotated[
    dict[Site, NonNegFloat], BeforeValidator(_table_fill(SITES)), AfterValidator(_reorder(SITES))
]
BySiteGradeShares = Annotated[
    dict[Site, GradeShares], BeforeValidator(_table_fill(SITES)), AfterValidator(_reorder(SITES))
]
ByGradeProb = Annotated[
    dict[Grade, Probability], BeforeValidator(_table_fill(GRADES)), AfterValidator(_reorder(GRADES))
]
ByGradeStageShares = Annotated[
    dict[Grade, StageShares], BeforeValidator(_table_fill(GRADES)), AfterValidator(_reorder(GRADES))
]
ByGradePos = Annotated[
    dict[Grade, PosFloat], BeforeValidator(_table_fill(GRADES)), AfterValidator(_reorder(GRADES))
]
ByGradeFraction = Annotated[
    dict[Grade, Annotated[float, Field(gt=0, le=1)]],
    BeforeValidator(_table_fill(GRADES)),
    AfterValidator(_reorder(GRADES)),
]
ByGradeDist = Annotated[
    dict[Grade, Distribution],
    BeforeValidator(_table_fill(GRADES)),
    AfterValidator(_reorder(GRADES)),
]
ByStageRate = Annotated[
    dict[Stage, NonNegFloat], BeforeValidator(_table_fill(STAGES)), AfterValidator(_reorder(STAGES))
]
ByRegionProb = Annotated[
    dict[Region, Probability],
    BeforeValidator(_table_fill(REGIONS)),
    AfterValidator(_reorder(REGIONS)),
]
ByRegionPos = Annotated[
    dict[Region, PosFloat], BeforeValidator(_table_fill(REGIONS)), AfterValidator(_reorder(REGIONS))
]
ByRegionCount = Annotated[
    dict[Region, NonNegInt],
    BeforeValidator(_table_fill(REGIONS)),
    AfterValidator(_reorder(REGIONS)),
]
ByRegionServers = Annotated[
    dict[Region, ServerCount],
    BeforeValidator(_table_fill(REGIONS)),
    AfterValidator(_reorder(REGIONS)),
]

# --------------------------------------------------------------------------------------------
# Population and natural history
# --------------------------------------------------------------------------------------------


class Population(Strict):
    """Who gets a NEN, where and when (see :mod:`sim.model.population`)."""

    incidence_per_year: float = Field(
        ge=0,
        le=MAX_INCIDENCE,
        allow_inf_nan=False,
        description="New NENs per year in all of England at the simulation start (scale 1).",
    )
    annual_growth: float = Field(
        ge=-0.5, le=0.5, description="Relative change in incidence per year (0.02 = +2%/yr)."
    )
    population_scale: float = Field(
        1.0,
        gt=0,
        le=MAX_SCALE,
        allow_inf_nan=False,
        description="Fraction (or multiple) of England simulated; KPIs that count "
        "patients are reported England-scaled.",
    )
    prehistory_years: float = Field(
        ge=0,
        le=MAX_YEARS,
        allow_inf_nan=False,
        description="Onsets are generated from this long before the simulation start, so that "
        "patients with long pre-presentation intervals are already on their way at t=0.",
    )
    region_population_millions: ByRegionPos
    site_shares: SiteShares
    grade_shares_by_site: BySiteGradeShares
    functional_share_by_site: BySiteProb = Field(
        description="Share with a functional syndrome (e.g. carcinoid syndrome)."
    )
    sstr_positive_share_by_grade: ByGradeProb = Field(
        description="Share with somatostatin-receptor-positive disease (PRRT and SSA eligibility)."
    )
    age_years: Distribution
    female_share: Probability
    men1_share: Probability = Field(description="Share of incident NENs in known MEN1 carriers.")


class NaturalHistory(Strict):
    """Stage (localised -> regional -> distant) while undiagnosed; arithmetic, no events."""

    stage_at_onset_by_grade: ByGradeStageShares
    localised_to_regional_days: ByGradeDist
    regional_to_distant_days: ByGradeDist
    progression_time_multiplier_by_site: BySitePos = Field(
        description="Multiplies both stage-progression times (1 = as the grade says)."
    )
    stage_at_onset_by_site: dict[Site, StageShares] = Field(
        default_factory=dict,
        description="Stage at onset for the sites named, instead of the grade's shares (e.g. "
        "an unknown primary is by definition found through its spread).",
    )


# --------------------------------------------------------------------------------------------
# Presentation and diagnostics
# --------------------------------------------------------------------------------------------


class GP(Strict):
    """Consultations in primary care: each may misattribute, test or refer."""

    first_consultation: GPOutcomeShares
    repeat_consultation: GPOutcomeShares
    reconsultation_interval_days: Distribution
    misattribution_labels: MisattributionShares
    primary_care_test_days: Distribution
    cga_requested_probability: Probability = Field(
        description="Chance a primary-care test round includes chromogranin A."
    )
    imaging_requested_probability: Probability = Field(
        description="Chance a primary-care test round includes direct-access CT/ultrasound."
    )
    imaging_detection_probability: Probability = Field(
        description="Chance direct-access imaging shows a lesion that triggers urgent referral."
    )
    max_consultations: PosInt = Field(
        description="After this many consultations a routine referral is made (persistence)."
    )
    misattribution_to_urgent_share: Probability = Field(
        0.0,
        description="Policy lever (referral guidance): share of the consultations that would "
        "misattribute the symptoms that instead refer urgently. 0 in current practice.",
    )
    misattribution_to_tests_share: Probability = Field(
        0.0,
        description="Policy lever (GP awareness): share of the consultations that would "
        "misattribute the symptoms that instead order primary-care tests. 0 in current practice.",
    )

    @model_validator(mode="after")
    def _levers_add_up(self) -> GP:
        total = self.misattribution_to_urgent_share + self.misattribution_to_tests_share
        if total > 1 + SUM_TOLERANCE:
            raise ValueError(
                "misattribution_to_urgent_share + misattribution_to_tests_share must be at most "
                f"1, got {total:.6g}"
            )
        return self

    def outcome_shares(self, first: bool) -> list[float]:
        """Outcome probabilities of a consultation (first or repeat) after the policy levers,
        in the order of ``GP_OUTCOMES``: misattributed, tests, urgent, routine."""
        table = self.first_consultation if first else self.repeat_consultation
        mis, tests, urgent, routine = (table[k] for k in GP_OUTCOMES)
        to_urgent = mis * self.misattribution_to_urgent_share
        to_tests = mis * self.misattribution_to_tests_share
        return [mis - to_urgent - to_tests, tests + to_tests, urgent + to_urgent, routine]


class ResectedAtPresentation(Strict):
    """Tumours removed by the operation or endoscopy that found them: an appendix NET at
    appendicectomy, a rectal NET at polypectomy, a tumour resected at emergency surgery. The
    specimen's histology is the diagnosis (no biopsy) and the resection is the first treatment
    (``surgery_curative``, or ``endoscopic_resection`` at the endoscopy sites)."""

    incidental: BySiteProb = Field(description="Share of incidental findings found this way.")
    emergency: BySiteProb = Field(description="Share of emergency presentations resected.")


class Presentation(Strict):
    """Competing routes to first presentation (see :mod:`sim.model.natural_history`)."""

    symptomatic_share_by_site: BySiteProb
    patient_interval_days: Distribution = Field(
        description="Symptom onset to first GP consultation (the patient-reported interval)."
    )
    distant_symptom_interval_days: Distribution = Field(
        description="Distant spread to a first GP consultation about its symptoms (liver "
        "capsule pain, weight loss, carcinoid syndrome), whatever the patient did before; "
        "scaled like the patient interval by grade."
    )
    patient_interval_multiplier_by_grade: ByGradePos = Field(
        description="Multiplies the patient interval (aggressive tumours cause symptoms that "
        "bring people to their GP sooner)."
    )
    emergency_rate_per_year_by_stage: ByStageRate
    emergency_rate_multiplier_by_grade: ByGradePos = Field(
        description="Multiplies the emergency-presentation hazard by grade."
    )
    incidental_rate_per_year_by_site: BySiteRate
    men1_surveillance_interval_days: PosFloat
    terminal_presentation_fraction: Probability = Field(
        description="Undiagnosed distant disease brings the patient to hospital as an emergency "
        "at the latest after this fraction of its untreated survival (the decline before a NEN "
        "death); 1 = no such presentation."
    )
    resected_at_presentation: ResectedAtPresentation
    gp: GP


class Diagnostics(Strict):
    """Secondary-care work-up, from first seen to histological diagnosis."""

    urgent_first_seen_days: Distribution
    routine_first_seen_days: Distribution
    emergency_workup_days: Distribution
    incidental_referral_days: Distribution
    surveillance_referral_days: Distribution
    imaging_wait_days: Distribution
    endoscopy_wait_days: Distribution
    bloods_turnaround_days: Distribution
    endoscopy_sites: list[Site]
    cga_sensitivity: Probability
    workup_detection_probability_by_site: BySiteProb
    failed_workup_return_days: Distribution
    biopsy_wait_days: Distribution
    biopsy_nondiagnostic_probability: Probability
    pet_share_by_grade: ByGradeProb = Field(
        description="Share of newly diagnosed patients who have Ga-68 DOTATATE PET for staging "
        "(for G3 and NEC, the PET staging they get, FDG or Ga-68, on the same PET lists)."
    )
    pet_after_local_resection_factor: Probability = Field(
        description="Multiplies that share for a tumour the operation or endoscopy that found "
        "it removed while still localised (appendicectomy, polypectomy): such small, completely "
        "removed tumours mostly need no staging."
    )
    ct_misses_distant_probability: Probability = Field(
        description="Conventional imaging (CT/MRI) misses distant spread that is there: the "
        "patient is staged regional unless SSTR PET finds it."
    )
    pet_finds_missed_distant_probability: Probability = Field(
        description="Staging PET finds distant spread that CT/MRI missed (restaging)."
    )
    echocardiogram_sites: list[Site] = Field(
        description="Sites whose functional tumours (carcinoid syndrome) have an "
        "echocardiogram for carcinoid heart disease before surgery."
    )
    echocardiogram_days: Distribution = Field(
        description="Diagnosis to echocardiogram reported (no modelled capacity)."
    )
    sstr_imaging_at_progression_probability: Probability = Field(
        description="A specialist NET MDT discussing a progressing G1/G2 patient whose SSTR "
        "status is not known from imaging asks for Ga-68 PET before deciding (PET lists)."
    )


class MDT(Strict):
    """Who is discussed where."""

    specialist_referral_probability_by_region: ByRegionProb
    local_mdt_first_probability: Probability = Field(
        description="Share of specialist-referred patients discussed at a local MDT first."
    )
    referral_processing_days: Distribution = Field(
        description="Local MDT outcome to listing at the specialist MDT."
    )
    outcome_to_decision_days: Distribution = Field(
        description="MDT discussion to the decision to treat agreed with the patient."
    )
    specialist_referral_at_progression_probability: Probability = Field(
        description="Share of progressions discussed at a local MDT that it refers on to the "
        "specialist NET MDT, which then holds the patient's care."
    )


# --------------------------------------------------------------------------------------------
# Capacity
# --------------------------------------------------------------------------------------------


class SessionTime(Strict):
    weekday: Weekday
    hour: float = Field(ge=0, lt=24)


class Sessions(Strict):
    """Weekly sessions with a number of slots (MDT meetings, scan lists, treatment days)."""

    kind: Literal["sessions"]
    scope: Literal["region", "national"]
    sessions: list[SessionTime] = Field(min_length=1)
    slots_per_session: ByRegionCount | NonNegInt | None = Field(
        None,
        description="Cases per session: one number, a table by region, or absent for unlimited. "
        "0 means the sessions take no case: everyone sent there waits for ever (the lower end "
        "`nenpath size` explores; 0 in every region is reported as a warning).",
    )
    cancel_probability: Probability = 0.0
    results_cutoff_days: NonNegFloat = 0.0
    skip_bank_holidays: bool = True
    priority: Literal["fifo", "class", "deadline"] = "fifo"
    class_order: list[CaseClass] = ["new", "progression", "review"]
    escalation_days: NonNegFloat | None = Field(
        None,
        description="With priority 'class': cases this close to their 62-day breach jump "
        "the queue.",
    )

    def slots_for(self, region: str | None) -> int | None:
        s = self.slots_per_session
        if isinstance(s, dict):
            return s[region] if region is not None else sum(s.values())
        return s


class Shift(Strict):
    """From ``weekday`` at ``hour`` until the next shift, ``share`` of the servers work."""

    weekday: Weekday
    hour: float = Field(ge=0, lt=24)
    share: Probability


class Servers(Strict):
    """``servers`` parallel servers with a service time (e.g. pathologists reporting).

    With a weekly ``schedule`` (e.g. weekdays 08:00-18:00 share 1, nights and weekends share
    0) the number working follows it: ``round(share x servers)``. A server going off duty
    finishes the case in hand (no pre-emption) and takes no new one.
    """

    kind: Literal["servers"]
    scope: Literal["region", "national"]
    servers: ByRegionServers | ServerCount
    service_days: Distribution
    priority: Literal["fifo", "class"] = "fifo"
    class_order: list[CaseClass] = ["new", "progression", "review"]
    schedule: list[Shift] | None = Field(
        None, description="Weekly availability; absent means every server works all the time."
    )

    @model_validator(mode="after")
    def _distinct_shift_times(self) -> Servers:
        times = [(s.weekday, s.hour) for s in self.schedule or []]
        if len(set(times)) != len(times):
            raise ValueError("schedule: two shifts start at the same weekday and hour")
        if self.schedule is not None and not self.schedule:
            raise ValueError("schedule: give at least one shift, or leave it out")
        return self

    def servers_for(self, region: str | None) -> int:
        s = self.servers
        if isinstance(s, dict):
            return s[region] if region is not None else sum(s.values())
        return s


class Delay(Strict):
    """No capacity modelled: an exogenous wait drawn from a distribution."""

    kind: Literal["delay"]
    wait_days: Distribution


ResourceSpec = Annotated[Sessions | Servers | Delay, Field(discriminator="kind")]
RESOURCE_KINDS: tuple[str, ...] = tuple(
    get_args(spec.model_fields["kind"].annotation)[0]
    for spec in get_args(get_args(ResourceSpec)[0])
)
"""The ``kind`` values a resource may take (``sessions``, ``servers``, ``delay``): each has
its schema class in :data:`ResourceSpec` and its behaviour in :mod:`sim.model.resources`."""


class Resources(Strict):
    local_mdt: ResourceSpec
    specialist_mdt: ResourceSpec
    pet: ResourceSpec
    histopathology: ResourceSpec
    surgery: ResourceSpec
    prrt: ResourceSpec


# --------------------------------------------------------------------------------------------
# Treatment, follow-up and survival
# --------------------------------------------------------------------------------------------


class TreatmentOption(Strict):
    resource: Literal["surgery", "prrt"] | None = None
    start_days: Distribution = Field(
        description="Decision to treat to start (or to joining the resource's list)."
    )
    cycles: PosInt = 1
    cycle_interval_days: NonNegFloat = 0.0
    curative: bool = Field(
        False, description="Removes the disease unless it recurs (see treatment.recurrence_*)."
    )
    progression_free_days: Distribution | None = Field(
        None,
        description="Time from start to progression of distant disease; absent means no "
        "further line.",
    )
    progression_free_days_by_grade: dict[Grade, Distribution] = Field(
        default_factory=dict,
        description="Overrides progression_free_days for the grades named.",
    )
    specialist_only: bool = Field(
        False, description="Only a specialist NET MDT recommends it (NHS England)."
    )
    requires_sstr_imaging: bool = Field(
        False, description="Only for patients whose SSTR-positive status is known from imaging."
    )
    repeatable: bool = Field(
        False, description="May be given again at a later line (otherwise never twice)."
    )
    surveillance: bool = Field(
        False,
        description="Active monitoring, not a line of treatment: the first-line rules still "
        "apply after it, and for localised disease it ends when the tumour reaches the nodes.",
    )

    def pfs(self, grade: str) -> Distribution | None:
        """The progression-free time distribution for a patient of ``grade``."""
        return self.progression_free_days_by_grade.get(grade, self.progression_free_days)


class Conditions(Strict):
    site: list[Site] | None = None
    grade: list[Grade] | None = None
    stage: list[Stage] | None = None
    functional: bool | None = None
    sstr_positive: bool | None = None
    line: list[PosInt] | None = None
    specialist: bool | None = Field(
        None, description="Whether a specialist NET MDT holds the patient's care."
    )
    min_age: NonNegFloat | None = Field(None, description="Age at the decision at least this.")
    not_given: list[Treatment] | None = Field(
        None, description="None of these treatments has been given before."
    )


class Rule(Strict):
    when: Conditions = Conditions()
    choose: TreatmentChoice


def _catch_all_last(rules: list[Rule]) -> list[Rule]:
    if not rules:
        raise ValueError("needs at least one rule")
    if rules[-1].when != Conditions():
        raise ValueError("the last rule must have no 'when' conditions (a catch-all)")
    return rules


Rules = Annotated[list[Rule], AfterValidator(_catch_all_last)]


class ResectedStageFactors(Strict):
    """A factor for each stage at which resection can cure (not distant)."""

    localised: PosFloat
    regional: PosFloat


class TreatmentParams(Strict):
    options: dict[Treatment, TreatmentOption]
    first_line: Rules
    later_lines: Rules
    max_lines: PosInt
    recurrence_probability_by_grade: ByGradeProb = Field(
        description="Chance that curative treatment leaves disease that later recurs as distant "
        "disease, by grade (multiplied by the site and stage factors, capped at 1)."
    )
    recurrence_multiplier_by_site: BySiteNonNeg
    recurrence_multiplier_by_stage: ResectedStageFactors = Field(
        description="By the true stage at resection; resection of disease already distant "
        "never cures, whatever this says."
    )
    recurrence_time_multiplier: float = Field(
        ge=1.0,
        le=100.0,
        description="Residual disease left by a resection becomes distant this many times "
        "later than the untreated tumour would have spread (1 = resection does not delay it).",
    )
    fallback: Treatment = Field(
        "best_supportive_care",
        description="What is given when a rule's options are all ruled out (given before, "
        "specialist-only, or needing SSTR imaging).",
    )

    @model_validator(mode="after")
    def _options_defined(self) -> TreatmentParams:
        used = {t for rules in (self.first_line, self.later_lines) for r in rules for t in r.choose}
        used.add(self.fallback)
        missing = sorted(used - set(self.options))
        if missing:
            raise ValueError(
                f"rules choose treatments with no [treatment.options] entry: {missing}"
            )
        return self


class FollowUp(Strict):
    scan_interval_days_by_grade: ByGradePos = Field(
        description="Surveillance imaging interval on non-curative management."
    )
    scan_interval_days_after_curative_by_grade: ByGradePos
    surveillance_years_after_cure_by_site: BySiteNonNeg = Field(
        description="Follow-up after curative treatment before discharge if nothing recurs."
    )
    post_surgery_review_probability: Probability
    post_surgery_review_days: Distribution


class Survival(Strict):
    distant_survival_days: ByGradeDist = Field(
        description="NEN death clock: survival from distant spread for disease cared for by a "
        "local team from the start, for a 65-year-old at the reference site (multiplied by "
        "the site and age factors)."
    )
    site_hazard_ratio: BySitePos = Field(
        description="Hazard ratio of NEN death by primary site (survival divided by it)."
    )
    untreated_survival_factor: ByGradeFraction = Field(
        description="Distant disease with no care kills after this fraction of the time it "
        "takes under care (undiagnosed, or best supportive care only), by grade."
    )
    specialist_care_hazard_ratio: ByGradeFraction = Field(
        description="Hazard ratio of NEN death for distant disease whose care a specialist NET "
        "MDT plans, against a local team, by grade (1 = no difference)."
    )
    progression_survival_correlation: float = Field(
        ge=0.0,
        le=0.99,
        allow_inf_nan=False,
        description="Correlation (Gaussian copula) between a patient's survival from distant "
        "spread and the progression-free time of each line for distant disease: a patient "
        "whose disease kills sooner also progresses sooner on each line (0 = independent).",
    )
    post_progression_survival_days: ByGradeDist = Field(
        description="Survival after progression, by grade: a line for distant disease "
        "progresses no later than the NEN death minus a draw of this (a NEN death follows a "
        "progression) and is found by then, unless it starts too close to death to leave that "
        "much (the patient dies on it). Never moves a death."
    )
    age_time_ratio_per_decade: PosFloat = Field(
        description="Accelerated-failure-time factor on survival per decade of age above 65."
    )
    other_cause_modal_age_years: PosFloat
    other_cause_dispersion_years: PosFloat


# --------------------------------------------------------------------------------------------
# The scenario and run controls
# --------------------------------------------------------------------------------------------


# --------------------------------------------------------------------------------------------
# Economics (measures only: nothing here changes what the model simulates; sim/economics.py)
# --------------------------------------------------------------------------------------------

if TYPE_CHECKING:  # plain strings for the type checker, as the vocabularies above
    HealthState: TypeAlias = str
    CostCategory: TypeAlias = str
else:
    HealthState = Literal[
        "undiagnosed_symptomatic",
        "undiagnosed_asymptomatic",
        "not_distant",
        "distant_awaiting_treatment",
        "stable_disease",
        "on_ssa",
        "on_prrt",
        "on_systemic",
        "progressed",
        "best_supportive_care",
    ]
    CostCategory = Literal[
        "gp",
        "primary_care_tests",
        "outpatient",
        "imaging",
        "endoscopy",
        "biopsy_pathology",
        "pet",
        "mdt_local",
        "mdt_specialist",
        "surgery",
        "ssa",
        "prrt",
        "targeted",
        "chemotherapy",
        "liver_directed",
        "other_treatment",
        "follow_up",
        "emergency",
        "end_of_life",
        "fixed",
    ]
HEALTH_STATES: tuple[str, ...] = get_args(HealthState)
COST_CATEGORIES: tuple[str, ...] = get_args(CostCategory)
Utility = Annotated[float, Field(ge=-0.6, le=1.0, allow_inf_nan=False)]


class UnitCosts(Strict):
    """GBP per activity found in the event log (one price year: ``Economics.price_year``)."""

    gp_consultation: NonNegFloat
    primary_care_test: NonNegFloat
    first_outpatient: NonNegFloat
    workup_imaging: NonNegFloat = Field(description="CT/MRI per secondary-care work-up.")
    endoscopy: NonNegFloat
    endoscopy_share_of_workups: Probability
    biopsy_and_pathology: NonNegFloat
    ga68_pet: NonNegFloat
    local_mdt_discussion: NonNegFloat
    specialist_mdt_discussion: NonNegFloat
    surveillance_visit: NonNegFloat = Field(
        description="Follow-up clinic and scan, once per surveillance interval of the scenario."
    )
    emergency_admission: NonNegFloat
    end_of_life_nen_death: NonNegFloat


class TreatmentCost(Strict):
    """What a treatment line costs and the health state it puts the patient in."""

    category: CostCategory
    state: HealthState
    per_start: NonNegFloat = 0.0
    per_cycle: NonNegFloat = Field(0.0, description="Every cycle, the first included.")
    drug_per_cycle: NonNegFloat = 0.0
    per_month: NonNegFloat = Field(
        0.0, description="Drug and delivery per month (30.44 days) on the line."
    )
    max_months: PosFloat | None = Field(None, description="A fixed course: months costed at most.")
    drug_discount: Probability = Field(
        0.0, description="Confidential discount on drug_per_cycle and per_month (sensitivity)."
    )


FinancialYear = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{4}-[0-9]{2}$",
        description="An NHS financial year, written 2021-22 (a bare TOML key in tables).",
    ),
]


class UtilityNorms(Strict):
    """UK population EQ-5D norms by age and sex (Ara & Brazier 2010 [S180]):
    ``intercept + male * [male] + age * years + age_squared * years**2``. With ``apply`` every
    health-state utility is multiplied by the norm at the patient's age and sex at each moment,
    over the norm at ``reference_age`` for a population ``reference_male_share`` male (the
    people the state utilities were measured in)."""

    apply: bool = Field(description="Adjust the health-state utilities by age and sex.")
    reference_age: float = Field(ge=0, le=110, allow_inf_nan=False)
    reference_male_share: Probability
    intercept: float = Field(ge=0, le=2, allow_inf_nan=False)
    male: float = Field(ge=-1, le=1, allow_inf_nan=False)
    age: float = Field(ge=-1, le=1, allow_inf_nan=False)
    age_squared: float = Field(ge=-1, le=1, allow_inf_nan=False)

    @model_validator(mode="after")
    def _positive(self) -> UtilityNorms:
        # the norm must stay positive over the ages the model reaches (up to 120)
        for male in (0.0, 1.0):
            for years in range(121):
                v = self.intercept + self.male * male + self.age * years
                v += self.age_squared * years**2
                if v <= 0:
                    sex = "male" if male else "female"
                    raise ValueError(
                        f"the utility norm is {v:.3g} at age {years} ({sex}): it must stay "
                        "positive from 0 to 120 years"
                    )
        return self


class Economics(Strict):
    """Unit costs, utilities and discounting of the measures layer (sim/economics.py)."""

    price_year: FinancialYear = Field(
        description="The one price year of every cost in the scenario (unit, treatment and "
        "fixed costs)."
    )
    report_price_year: FinancialYear | None = Field(
        None,
        description="Express costs in this year's prices: every cost is multiplied by the "
        "ratio of cost_inflation_percent_by_year between price_year and it (absent: "
        "price_year, no inflation).",
    )
    cost_inflation_percent_by_year: dict[FinancialYear, float] = Field(
        default_factory=dict,
        description="NHS cost inflation index, percent change into each financial year from "
        "the year before (consecutive years).",
    )
    discount_rate: float = Field(ge=0.0, le=0.2, allow_inf_nan=False)
    utilities: dict[HealthState, Utility]
    utility_norms: UtilityNorms | None = Field(
        None, description="Age and sex adjustment of the utilities (absent: none)."
    )
    unit_costs: UnitCosts
    treatments: dict[Treatment, TreatmentCost]
    fixed_costs_per_year: dict[str, NonNegFloat] = Field(
        default_factory=dict,
        description="The scenario's own yearly costs (an intervention's staff, campaign, "
        "sessions), England, on top of activity costs.",
    )
    fixed_costs_multiplier: PosFloat = Field(
        1.0,
        le=100.0,
        description="Multiplies every fixed yearly cost (1: as stated); lets PSA draw the "
        "uncertainty of intervention costs that only overlays declare.",
    )

    @model_validator(mode="after")
    def _inflation(self) -> Economics:
        years = sorted(self.cost_inflation_percent_by_year)
        for a, b in itertools.pairwise(years):
            if int(b[:4]) != int(a[:4]) + 1:
                raise ValueError(
                    f"cost_inflation_percent_by_year must list consecutive financial years; "
                    f"{a} is followed by {b}"
                )
        for y in years:
            if int(y[5:]) != (int(y[:4]) + 1) % 100:
                raise ValueError(f"cost_inflation_percent_by_year: {y} is not a financial year")
            if not -50 < self.cost_inflation_percent_by_year[y] < 100:
                raise ValueError(f"cost_inflation_percent_by_year.{y} must lie in (-50, 100)")
        target = self.report_price_year
        if target is not None and target != self.price_year:
            absent = [y for y in (self.price_year, target) if y not in years]
            if absent:
                have = f"{years[0]} to {years[-1]}" if years else "no years"
                raise ValueError(
                    f"report_price_year {target} needs cost_inflation_percent_by_year to cover "
                    f"{' and '.join(absent)} (it has {have})"
                )
        return self

    @model_validator(mode="after")
    def _complete(self) -> Economics:
        missing = sorted(set(HEALTH_STATES) - set(self.utilities))
        untreated = sorted(set(TREATMENTS) - set(self.treatments))
        if missing or untreated:
            raise ValueError(
                f"[economics] needs a utility for every health state (missing {missing}) and "
                f"a cost for every treatment (missing {untreated})"
            )
        return self


class Scenario(Strict):
    """Every model parameter of one scenario (a pure value; no runtime objects)."""

    name: str = Field(
        min_length=1,
        max_length=NAME_MAX_LENGTH,
        pattern=NAME_PATTERN,
        description="Identifier of the scenario: names its output folder (outputs/<name>) and "
        "its checkpoint folder, so it is one plain file name (never '.', '..' or hidden).",
    )
    title: str | None = Field(None, description="How reports name the scenario.")
    short_title: str | None = Field(None, description="Shorter title for charts and tables.")
    description: str = ""
    start_date: dt.date = Field(description="Calendar date of t=0; must be a Monday.")
    population: Population
    natural_history: NaturalHistory
    presentation: Presentation
    diagnostics: Diagnostics
    mdt: MDT
    resources: Resources
    treatment: TreatmentParams
    follow_up: FollowUp
    survival: Survival
    economics: Economics | None = Field(
        None, description="Costs and utilities (measures only; absent: no economic KPIs)."
    )
    policy_from_start: bool = Field(
        False,
        description="Compared with a base, this scenario's differences hold from t = 0 (a "
        "counterfactual history, or a change to what is drawn for each patient before the run: "
        "population, natural history, survival, presentation clocks), not from the policy "
        "start: it runs under its own rules from an empty system, with its own warm-up.",
    )

    @model_validator(mode="after")
    def _monday(self) -> Scenario:
        if self.start_date.weekday() != 0:
            raise ValueError(
                f"start_date must be a Monday, got {self.start_date} "
                f"({self.start_date.strftime('%A')})"
            )
        return self


class RunControls(Strict):
    """How to run a scenario: not part of the model, never part of its hash."""

    replications: int = Field(10, ge=1, le=MAX_REPLICATIONS)
    seed: int = Field(12345, ge=0, le=MAX_SEED)
    years: float = Field(10.0, gt=0, le=MAX_YEARS, allow_inf_nan=False)
    warmup_years: float | None = Field(
        None,
        ge=0,
        le=MAX_YEARS,
        allow_inf_nan=False,
        description="Warm-up before measurement; absent means the recommended default.",
    )
    workers: int | None = Field(None, ge=1, le=MAX_WORKERS)
    policy_start_years: float | None = Field(
        None,
        ge=0,
        le=MAX_YEARS,
        allow_inf_nan=False,
        description="When a compared scenario's differences from the base take effect, in years "
        "from t=0; absent means the end of the warm-up. 0 runs every scenario under its own "
        "rules from t=0 (each from an empty system, as before policy starts existed).",
    )
    settle_years: float = Field(
        0.0,
        ge=0,
        le=MAX_YEARS,
        allow_inf_nan=False,
        description="Years after the policy start left out of the measured window (0: measure "
        "the transition from its first day; a few years: a steady-state comparison).",
    )

    @property
    def horizon_days(self) -> float:
        """End of the run: the measured window's start plus ``years``."""
        return self.measure_start_days + self.years * DAYS_PER_YEAR

    @property
    def policy_start_days(self) -> float:
        """When the scenarios' differences from their base take effect (days from t=0)."""
        if self.policy_start_years is None:
            return self.warmup_days
        return self.policy_start_years * DAYS_PER_YEAR

    @property
    def measure_start_days(self) -> float:
        """Start of the measured window: the later of the warm-up's end and the policy start,
        plus ``settle_years``. With the defaults it is the end of the warm-up."""
        return max(self.warmup_days, self.policy_start_days) + self.settle_years * DAYS_PER_YEAR

    @property
    def warmup_days(self) -> float:
        return (self.warmup_years if self.warmup_years is not None else DEFAULT_WARMUP_YEARS) * (
            DAYS_PER_YEAR
        )


DEFAULT_WARMUP_YEARS = 12.0
"""Warm-up used when neither the scenario nor the command line sets one. From ``nenpath warmup``
(MSER-5 over 4 x 40-year replications at half scale): diagnoses settle within 2 years and MDT
re-discussions, the load the prevalent caseload puts on MDT slots, by 11; the count of people
alive after a diagnosis keeps growing for decades (cured patients accumulate) and loads nothing."""
