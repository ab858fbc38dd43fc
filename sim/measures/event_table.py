"""The event log as a table for other tools: columns in the vidigi event-log convention.

Kept out of :mod:`sim.core.events` so that the model, which writes the log, never imports pandas.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sim.core.events import EVENT_NAMES


def events_frame(
    arrays: dict[str, NDArray[np.generic]],
    resource_names: list[str] | None = None,
    run_number: int | None = None,
) -> pd.DataFrame:
    """Event arrays as a DataFrame in the vidigi convention.

    Columns: ``entity_id`` (patient, -1 for resource events), ``event`` (lower-case kind name),
    ``time`` (days), ``resource_id`` (int, -1 if none), ``resource`` (name, if
    ``resource_names`` is given), ``code`` and, if given, ``run_number``.
    """
    df = pd.DataFrame(
        {
            "entity_id": arrays["patient"],
            "event": pd.Categorical.from_codes(
                np.searchsorted(sorted(EVENT_NAMES), arrays["kind"]),
                categories=[EVENT_NAMES[k] for k in sorted(EVENT_NAMES)],
            ),
            "time": arrays["time"],
            "resource_id": arrays["resource"],
            "code": arrays["code"],
        }
    )
    if resource_names is not None:
        names = np.array([*resource_names, ""], dtype=object)
        df["resource"] = names[np.where(df["resource_id"] >= 0, df["resource_id"], -1)]
    if run_number is not None:
        df["run_number"] = run_number
    return df
