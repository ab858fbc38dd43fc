"""Units and constants shared by every layer, each defined once.

Time in the model is in days (floats); a year is the Julian year used throughout the evidence
(rates per year are divided by :data:`DAYS_PER_YEAR`).
"""

from __future__ import annotations

DAYS_PER_YEAR = 365.25
"""Days in a (Julian) year: the model's unit of time is the day."""

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"
"""A scenario name, usable as one folder or file name anywhere: letters, digits, ``_ . -``,
starting with a letter or digit (so never ``.``, ``..``, hidden or a path)."""
NAME_MAX_LENGTH = 100

MIN_CAPACITY_SCALE = 1.0
"""The smallest population scale at which every KPI set by queues at finite capacity (the KPI
registry's "capacity" view) stayed within the full-scale 95% CI of current practice, measured
by ``scripts/scale_bias.py`` on 2026-12-02 (5 replications, 5 measured years): none smaller
did. At 0.5 the biases were small (62-day share -0.9 points, MDT within 14 days -1.5 points,
PET wait +0.8 days); at 0.1 large (62-day share -11 points, PET wait +13 days); README,
"Scale". Below it the report, ``nenpath size`` and ``nenpath calibrate`` warn that such figures
are biased, not only noisier."""
