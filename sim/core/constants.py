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

MIN_CAPACITY_SCALE = 0.5
"""The smallest population scale at which KPIs set by queues at finite capacity (the KPI
registry's "capacity" view) stay within the full-scale 95% CI of current practice, as measured
by ``scripts/scale_bias.py`` (README, "Scale"). Below it the report, ``nenpath size`` and
``nenpath calibrate`` warn that such figures are biased, not only noisier."""
