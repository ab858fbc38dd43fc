"""Regenerate the pinned KPI table of the regression test. Run deliberately, after a change to
the model that is meant to change its results, and commit the new table with that change:

    .venv/bin/python tests/regression/regenerate.py
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from tests.regression.test_regression import EXPECTED, run_small  # noqa: E402

if __name__ == "__main__":
    table = run_small()
    table.to_csv(EXPECTED, index=False, float_format="%.17g")
    print(f"wrote {EXPECTED} ({len(table)} rows x {len(table.columns)} columns)")
