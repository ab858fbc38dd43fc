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

Nothing a user types can make this module delete their files: a folder is this tool's only if
its ``manifest.json`` says so (:func:`is_own_manifest`); any other non-empty folder is refused,
even with ``force``, and ``force`` deletes only the files this tool writes (:data:`OWN_FILES`,
``parts/`` and sizing's run folders), never anything else found there. Default folders are
built from checked names and stay inside ``outputs/`` (:func:`default_folder`).

One process at a time works in a folder: :func:`folder_lock` holds an exclusive lock
(``.nenpath.lock``, with the holder's pid in ``.nenpath.owner``) for as long as a run, a resume
or a report writes there. The lock is an ``flock`` (the ``filelock`` package), which the
operating system releases when its holder dies, so a lock left by a killed run is reclaimed.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import json
import os
import platform
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from filelock import FileLock, Timeout

from sim.core.constants import NAME_PATTERN
from sim.core.errors import OutputExistsError, RunControlError

MANIFEST = "manifest.json"
PARTS = "parts"
LOCK = ".nenpath.lock"
OWNER = ".nenpath.owner"
OUTPUTS = Path("outputs")
OWN_FILES = frozenset(
    {
        MANIFEST,
        "replications.csv",
        "summary.csv",
        "patients.parquet",
        "series.parquet",
        "resources.parquet",
        "regions.csv",
        "utilisation.csv",
        "comparison.csv",
        "report.html",
        "scenario_sources.json",
        "warmup.csv",
        "warmup_series.csv",
        "warmup.png",
        "sizing.csv",
        "sizing.png",
        "draws.csv",
        "sensitivity.csv",
        "tornado.png",
        "psa.html",
    }
)
"""Every file name this tool writes at the top of a run folder: what ``force`` may delete."""
_OWN_PART = re.compile(
    r"rep_\d+(\.json|\.journeys\.parquet|\.series\.parquet|\.resources\.parquet)"
)
_OWN_SUBFOLDER = re.compile(r"[a-z][a-z_]*_\d{4,}|round_\d+|candidates")
"""A sizing's subfolders: one per capacity (``<capacity key>_<4-digit capacity>``), one per
round of its search, or its ``--candidates`` run."""
_TEMPORARY = re.compile(r"\..+\.tmp")
_FOLDER_MAX_LENGTH = 200
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


def png_bytes(fig: Any, dpi: int = 110) -> bytes:
    """A matplotlib figure as PNG bytes; the same figure gives the same bytes (no software
    stamp). Works on a :class:`~matplotlib.figure.Figure` made without pyplot."""
    import io as _io

    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    return buf.getvalue()


def png_base64(fig: Any, dpi: int = 110) -> str:
    """The figure as a base64-encoded PNG (for ``<img src="data:image/png;base64,...">``)."""
    import base64

    return base64.b64encode(png_bytes(fig, dpi)).decode("ascii")


def save_png(fig: Any, path: Path, dpi: int = 110) -> None:
    """Write the figure as a PNG file, atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(png_bytes(fig, dpi))


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
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def is_own_manifest(manifest: Any) -> bool:
    """Whether ``manifest`` (parsed ``manifest.json``) was written by this tool: a table whose
    ``tool`` names nen-pathway and which carries a run ``fingerprint``."""
    return (
        isinstance(manifest, dict)
        and isinstance(manifest.get("tool"), str)
        and manifest["tool"].startswith("nen-pathway")
        and isinstance(manifest.get("fingerprint"), str)
    )


def default_folder(*parts: str) -> Path:
    """``outputs/<parts joined by _>``: the default output folder of a command.

    Each part must be a name (:data:`NAME_PATTERN`), so the folder is one level inside
    ``outputs/`` whatever was typed; a long name is shortened with a hash of the whole.
    """
    for part in parts:
        if not re.fullmatch(NAME_PATTERN, part):
            raise RunControlError(
                f"{part!r} cannot be part of a folder name (letters, digits, '_', '.' and '-', "
                "starting with a letter or digit); give --out"
            )
    name = "_".join(parts)
    if len(name) > _FOLDER_MAX_LENGTH:
        digest = hashlib.sha256(name.encode()).hexdigest()[:12]
        name = f"{name[: _FOLDER_MAX_LENGTH - 13]}_{digest}"
    folder = OUTPUTS / name
    if folder.resolve().parent != OUTPUTS.resolve():  # pragma: no cover - the pattern ensures it
        raise RunControlError(f"{folder}: not inside {OUTPUTS}/; give --out")
    return folder


def prepare_folder(folder: Path, fingerprint: str, *, force: bool, resume: bool) -> bool:
    """Make ``folder`` ready for a run with ``fingerprint`` (call it holding
    :func:`folder_lock`).

    Returns True if finished replications in it may be reused (``resume`` of the same run).
    Raises :class:`OutputExistsError` if it holds another run and ``force`` is not given, or
    anything but this tool's files, ``force`` or not.
    """
    make_folder(folder)
    if not _contents(folder):
        return False
    manifest = read_manifest(folder)
    if not is_own_manifest(manifest):
        raise OutputExistsError(
            f"{folder}: holds files that are not a nenpath run (no manifest.json written by "
            "nenpath); nenpath never writes to or deletes them, even with --force: choose "
            "another --out"
        )
    assert manifest is not None
    same = manifest.get("fingerprint") == fingerprint
    if same and resume:
        _remove_temporaries(folder)
        return True
    if same or force:
        _clear(folder)
        return False
    if resume:
        raise OutputExistsError(
            f"{folder}: --resume can only continue the same run, but this folder holds a run "
            "with other scenarios, seed, years, warm-up or model code; run it again with those, "
            "or choose another --out, or pass --force to replace it"
        )
    raise OutputExistsError(
        f"{folder}: holds a different run; choose another --out, or pass --force to replace it "
        "(or --resume to continue it with the same settings)"
    )


def make_folder(folder: Path) -> None:
    """Create ``folder`` (and its parents); a clear :class:`RunControlError` if it cannot be."""
    if folder.exists() and not folder.is_dir():
        raise RunControlError(f"{folder}: output path exists and is not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        blocker = next((p for p in folder.parents if p.exists() and not p.is_dir()), None)
        why = f"{blocker} is a file, not a folder" if blocker else (exc.strerror or str(exc))
        raise RunControlError(f"{folder}: cannot create the output folder: {why}") from None


def _contents(folder: Path) -> list[Path]:
    """What is in ``folder`` besides its lock files."""
    return [p for p in folder.iterdir() if p.name not in (LOCK, OWNER)]


def _remove_temporaries(folder: Path) -> None:
    """Delete files an interrupted run was writing (``.<name>.<random>.tmp``, never renamed)."""
    parts = folder / PARTS
    where = [folder]
    if parts.is_dir() and not parts.is_symlink():
        where += [d for d in parts.iterdir() if d.is_dir() and not d.is_symlink()]
    for d in where:
        for tmp in d.glob(".*.tmp"):
            if _TEMPORARY.fullmatch(tmp.name) and tmp.is_file() and not tmp.is_symlink():
                with contextlib.suppress(OSError):
                    tmp.unlink()


def _clear(folder: Path) -> None:
    """Delete what this tool wrote in its run folder ``folder``, and nothing else: the files of
    :data:`OWN_FILES`, checkpoint parts, temporaries, and sizing's per-capacity run folders
    (each itself one of this tool's folders). Other files stay where they are."""
    for child in _contents(folder):
        if child.is_symlink():
            continue
        if child.is_file() and (child.name in OWN_FILES or _TEMPORARY.fullmatch(child.name)):
            child.unlink()
        elif child.is_dir() and child.name == PARTS:
            _clear_parts(child)
        elif (
            child.is_dir()
            and _OWN_SUBFOLDER.fullmatch(child.name)
            and is_own_manifest(read_manifest(child))
        ):
            _clear(child)
            _remove_if_empty(child)


def _clear_parts(parts: Path) -> None:
    for sub in parts.iterdir():
        if sub.is_dir() and not sub.is_symlink():
            for f in sub.iterdir():
                if f.is_file() and (_OWN_PART.fullmatch(f.name) or _TEMPORARY.fullmatch(f.name)):
                    f.unlink()
            _remove_if_empty(sub)
    _remove_if_empty(parts)


def _remove_if_empty(folder: Path) -> None:
    with contextlib.suppress(OSError):
        for lock in (folder / LOCK, folder / OWNER):
            lock.unlink(missing_ok=True)
        folder.rmdir()


_held: dict[Path, int] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def folder_lock(folder: Path) -> Iterator[None]:
    """Hold the run folder ``folder`` exclusively (created if need be) while the block runs.

    Another process holding it makes this raise :class:`RunControlError` at once, naming the
    folder and the holder's pid. Re-entrant within a process (a comparison holds its folder and
    then runs the experiment in it). A lock whose holder died is free again: ``flock`` locks go
    with their process.
    """
    if folder.is_dir() and _contents(folder) and not is_own_manifest(read_manifest(folder)):
        # Refused before the lock file is made: a folder that is not ours is left untouched.
        raise OutputExistsError(
            f"{folder}: holds files that are not a nenpath run (no manifest.json written by "
            "nenpath); nenpath never writes to or deletes them, even with --force: choose "
            "another --out"
        )
    created = next((p for p in [*reversed(folder.parents), folder] if not p.exists()), None)
    make_folder(folder)
    key = folder.resolve()
    with _held_guard:
        if key in _held:
            _held[key] += 1
            nested = True
        else:
            nested = False
    if nested:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    lock = FileLock(str(folder / LOCK), timeout=0)
    try:
        lock.acquire()
    except Timeout:
        raise RunControlError(
            f"{folder}: in use by another nenpath process ({_holder(folder)}); wait for it "
            "to finish, or choose another --out"
        ) from None
    except OSError as exc:
        raise RunControlError(f"{folder}: cannot lock the output folder: {exc}") from None
    try:
        with contextlib.suppress(OSError):
            (folder / OWNER).write_text(json.dumps({"pid": os.getpid()}) + "\n")
        with _held_guard:
            _held[key] = 1
        yield
    finally:
        with _held_guard:
            _held.pop(key, None)
        if created is not None and not _contents(folder):
            # Refused before writing anything (a bad option, say): leave no trace. The lock
            # file goes while still held, so a process that opens it afterwards makes a new one.
            _remove_if_empty(folder)
            for parent in folder.parents:
                if parent == created.parent:
                    break
                with contextlib.suppress(OSError):
                    parent.rmdir()
        lock.release()


F = TypeVar("F", bound=Callable[..., Any])


def holds_folder(param: str) -> Callable[[F], F]:
    """Decorate a function that writes in the folder passed as its argument ``param`` (or
    writes nothing when that is None) so it runs holding :func:`folder_lock` on it."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            folder = sig.bind(*args, **kwargs).arguments.get(param)
            if folder is None:
                return fn(*args, **kwargs)
            with folder_lock(Path(folder)):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    return decorate


def _holder(folder: Path) -> str:
    try:
        pid = json.loads((folder / OWNER).read_text())["pid"]
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"
    return f"pid {pid}"


def part_paths(folder: Path, scenario: str, replication: int) -> dict[str, Path]:
    base = folder / PARTS / scenario / f"rep_{replication:05d}"
    return {
        "kpis": base.with_suffix(".json"),
        "journeys": base.parent / f"{base.name}.journeys.parquet",
        "series": base.parent / f"{base.name}.series.parquet",
        "resources": base.parent / f"{base.name}.resources.parquet",
    }


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` is running (a zombie, dead but not yet reaped, is not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc (macOS): existence is all we can tell
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
