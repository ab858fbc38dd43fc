"""Results on disk: the run folder, its manifest, atomic writes, checkpoint parts.

::

    outputs/<run>/
      manifest.json          resolved scenarios and their hashes, run controls, versions, commit,
                             timings, status
      replications.csv       one row per scenario x replication, one column per KPI
      summary.csv            kpi, mean, ci_low, ci_high, n (plus scenario for several)
      patients.parquet       one row per patient: milestones and attributes
      series.parquet         weekly series per scenario x replication (warm-up included)
      parts/<scenario>/      one checkpoint per finished replication (written atomically):
                             rep_NNNNN.journeys.parquet, rep_NNNNN.series.parquet, then
                             rep_NNNNN.json (KPIs; its presence marks the replication finished)

A folder is reused only by the same run (same scenarios, hashes and run controls); a different
run's folder is refused unless ``force`` is given. Every file is written to a temporary name and
renamed into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import OutputExistsError, RunControlError

MANIFEST = "manifest.json"
PARTS = "parts"
_PACKAGES = (
    "nen-pathway",
    "simpy",
    "numpy",
    "scipy",
    "pandas",
    "pydantic",
    "pyarrow",
    "matplotlib",
    "dask",
    "distributed",
)


@contextlib.contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it into place on success."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; results are for sharing
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: Path, data: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_csv(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)


def write_parquet(path: Path, df: pd.DataFrame) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def concat_parquet(parts: list[Path], out: Path) -> int:
    """Stream ``parts`` into one parquet file (without holding them all in memory)."""
    rows = 0
    with atomic_path(out) as tmp:
        writer = None
        try:
            for part in parts:
                table = pq.read_table(part)
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema)
                elif table.schema != writer.schema:
                    table = table.cast(writer.schema)
                writer.write_table(table)
                rows += table.num_rows
            if writer is None:
                pq.write_table(pa.table({}), tmp)
        finally:
            if writer is not None:
                writer.close()
    return rows


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            continue
    return out


def git_commit() -> str | None:
    """The commit of the source tree this package runs from, if it is a git checkout."""
    here = Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=here,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def read_manifest(folder: Path) -> dict[str, Any] | None:
    path = folder / MANIFEST
    if not path.is_file():
        return None
    try:
        data: dict[str, Any] = json.loads(path.read_text())
        return data
    except (OSError, json.JSONDecodeError):
        return None


def prepare_folder(folder: Path, fingerprint: str, *, force: bool, resume: bool) -> bool:
    """Make ``folder`` ready for a run with ``fingerprint``.

    Returns True if finished replications in it may be reused (``resume`` of the same run).
    Raises :class:`OutputExistsError` if it holds something else and ``force`` is not given.
    """
    if folder.exists() and not folder.is_dir():
        raise RunControlError(f"{folder}: output path exists and is not a folder")
    if not folder.exists() or not any(folder.iterdir()):
        folder.mkdir(parents=True, exist_ok=True)
        return False
    manifest = read_manifest(folder)
    same = manifest is not None and manifest.get("fingerprint") == fingerprint
    if same and resume:
        _remove_temporaries(folder)
        return True
    if same or force:
        _clear(folder)
        return False
    if manifest is not None and resume:
        raise OutputExistsError(
            f"{folder}: --resume can only continue the same run, but this folder holds a run "
            "with other scenarios, seed, years, warm-up or model code; run it again with those, "
            "or choose another --out, or pass --force to replace it"
        )
    what = "a different run" if manifest is not None else "files that are not a nenpath run"
    raise OutputExistsError(
        f"{folder}: holds {what}; choose another --out, or pass --force to replace it"
        + (" (or --resume to continue it with the same settings)" if manifest else "")
    )


def _remove_temporaries(folder: Path) -> None:
    """Delete files an interrupted run was writing (``.<name>.<random>.tmp``, never renamed)."""
    for tmp in folder.rglob(".*.tmp"):
        with contextlib.suppress(OSError):
            tmp.unlink()


def _clear(folder: Path) -> None:
    for child in folder.iterdir():
        if child.is_dir():
            shutil.rmtree(child)
        else:
            child.unlink()


def part_paths(folder: Path, scenario: str, replication: int) -> dict[str, Path]:
    base = folder / PARTS / scenario / f"rep_{replication:05d}"
    return {
        "kpis": base.with_suffix(".json"),
        "journeys": base.parent / f"{base.name}.journeys.parquet",
        "series": base.parent / f"{base.name}.series.parquet",
        "resources": base.parent / f"{base.name}.resources.parquet",
    }
