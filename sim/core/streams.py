"""Named, order-independent random streams.

Every stochastic decision in the model draws from a stream with a name. A stream's seed is derived
from ``(base seed, replication, CRC32 of the name)`` through numpy's ``SeedSequence``, so

* a stream does not depend on which other streams exist or in what order they were first used
  (adding a stream changes no other stream);
* replication *k* of every scenario sees the same streams (common random numbers);
* CRC32 is stable across processes and Python versions, unlike the salted built-in ``hash()``.

Patient-level draws go further: :class:`PatientDraws` addresses a uniform by
``(purpose, patient, draw number)``. Column *j* of a purpose is one vector with one uniform per
patient, generated on first use from its own seed. The *j*-th GP consultation of patient 17 thus
uses the same uniform in every scenario, whatever happened to other patients, so the same
synthetic patient lives the same life wherever the scenario leaves it alone.
"""

from __future__ import annotations

import zlib

import numpy as np
from numpy.typing import NDArray


def stream_id(name: str) -> int:
    """Stable 32-bit id of a stream name (CRC32 of its UTF-8 bytes)."""
    return zlib.crc32(name.encode("utf-8"))


class Streams:
    """The named streams of one replication.

    Parameters
    ----------
    seed:
        Base seed of the experiment (a run control).
    replication:
        Replication number (0-based).
    """

    def __init__(self, seed: int, replication: int):
        if seed < 0 or replication < 0:
            raise ValueError("seed and replication must be non-negative")
        self.seed = seed
        self.replication = replication
        self._cache: dict[str, np.random.Generator] = {}

    def seed_sequence(self, name: str, *extra: int) -> np.random.SeedSequence:
        """The ``SeedSequence`` of stream ``name`` (optionally sub-keyed by ``extra`` ints)."""
        return np.random.SeedSequence([self.seed, self.replication, stream_id(name), *extra])

    def get(self, name: str) -> np.random.Generator:
        """The generator of stream ``name`` (created on first use, then reused)."""
        rng = self._cache.get(name)
        if rng is None:
            rng = np.random.Generator(np.random.PCG64(self.seed_sequence(name)))
            self._cache[name] = rng
        return rng

    def fresh(self, name: str, *extra: int) -> np.random.Generator:
        """A new generator for ``name`` sub-keyed by ``extra`` (not cached, starts from the top)."""
        return np.random.Generator(np.random.PCG64(self.seed_sequence(name, *extra)))


class PatientDraws:
    """Uniform numbers addressed by (purpose, patient, draw number).

    Patients are generated region by region; patient ids run through the regions in a fixed
    order. A column is built from one generator per region, keyed by (purpose, region, draw
    number), so a patient's uniforms depend only on their position within their own region:
    changing one region's incidence leaves every other region's patients untouched.

    Parameters
    ----------
    streams:
        The replication's streams (supplies seed and replication).
    counts:
        Number of patients in each region, in the fixed region order.
    """

    def __init__(self, streams: Streams, counts: list[int]):
        self._streams = streams
        self.counts = list(counts)
        self.n_patients = int(sum(counts))
        self._columns: dict[tuple[str, int], NDArray[np.float64]] = {}
        self._views: dict[tuple[str, int], memoryview] = {}
        self._keep: NDArray[np.int64] | None = None
        self._row: memoryview | None = None

    def column(self, purpose: str, j: int = 0) -> NDArray[np.float64]:
        """The *j*-th uniform of ``purpose`` for every patient (a vector of ``n_patients``).

        After :meth:`keep_only`, only the kept patients' entries are stored (in kept order).
        """
        key = (purpose, j)
        col = self._columns.get(key)
        if col is None:
            parts = [
                self._streams.fresh("patient/" + purpose, r, j).random(n)
                for r, n in enumerate(self.counts)
            ]
            col = np.concatenate(parts) if parts else np.empty(0)
            if self._keep is not None:
                col = np.ascontiguousarray(col[self._keep])
            self._columns[key] = col
        return col

    def keep_only(self, patients: NDArray[np.int64]) -> None:
        """From now on store uniforms only for ``patients`` (ids still address them).

        The whole population is needed to decide who presents; only those who do need the
        pathway's draws. The values are unchanged (each column is generated in full and
        subset), so this saves memory without changing any result.
        """
        self._keep = np.sort(np.asarray(patients, dtype=np.int64))
        row = np.full(self.n_patients, -1, dtype=np.int64)
        row[self._keep] = np.arange(len(self._keep))
        self._row = row.data
        self._columns.clear()
        self._views.clear()

    def u(self, purpose: str, patient: int, j: int = 0) -> float:
        """The *j*-th uniform of ``purpose`` for one patient (a zero-copy view makes this a
        plain Python float lookup, cheap enough for the event loop)."""
        view = self._views.get((purpose, j))
        if view is None:
            view = self.column(purpose, j).data
            self._views[(purpose, j)] = view
        if self._row is not None:
            patient = self._row[patient]
            if patient < 0:
                raise KeyError("no uniforms kept for this patient (see keep_only)")
        value: float = view[patient]
        return value
