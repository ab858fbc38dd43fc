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
