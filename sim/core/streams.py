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
        self.by_purpose: dict[str, list[memoryview | None]] = {}
        """The columns' views made so far by :meth:`view`, by purpose, then ``j`` (None: not
        made yet): ``by_purpose[purpose][j]`` spares the event loop building and hashing a
        ``(purpose, j)`` key at every draw."""
        self._keep: NDArray[np.int64] | None = None
        self._rows: range | dict[int, int] = range(self.n_patients)
        """Where a patient's uniform is in a column: the patient id itself, or after
        :meth:`keep_only` the position among the kept patients (absent: not kept)."""
        self._scratch: NDArray[np.float64] | None = None

    def column(self, purpose: str, j: int = 0) -> NDArray[np.float64]:
        """The *j*-th uniform of ``purpose`` for every patient (a vector of ``n_patients``).

        After :meth:`keep_only`, only the kept patients' entries are stored (in kept order).
        """
        key = (purpose, j)
        col = self._columns.get(key)
        if col is None:
            full = np.empty(self.n_patients) if self._keep is None else self._scratch
            assert full is not None
            start = 0
            for r, n in enumerate(self.counts):
                self._streams.fresh("patient/" + purpose, r, j).random(out=full[start : start + n])
                start += n
            col = full if self._keep is None else full.take(self._keep)
            self._columns[key] = col
        return col

    def keep_only(self, patients: NDArray[np.int64]) -> None:
        """From now on store uniforms only for ``patients`` (ids still address them), in the
        order given.

        The whole population is needed to decide who presents; only those who do need the
        pathway's draws. The values are unchanged (each column is generated in full and
        subset), so this saves memory without changing any result. Given in the order in which
        the patients enter the simulation, the patients in the pathway at the same time have
        their uniforms close together in memory, which the event loop's cache likes.
        """
        self._keep = np.asarray(patients, dtype=np.int64).copy()
        self._rows = {pid: row for row, pid in enumerate(self._keep.tolist())}
        if len(self._rows) != len(self._keep):
            raise ValueError("keep_only: patient ids must be unique")
        self._scratch = np.empty(self.n_patients)
        self._columns.clear()
        self.by_purpose.clear()

    def row(self, patient: int) -> int:
        """Where a patient's uniform is in every column (see :meth:`view`)."""
        try:
            return self._rows[patient]
        except KeyError:
            raise KeyError("no uniforms kept for this patient (see keep_only)") from None

    def view(self, purpose: str, j: int = 0) -> memoryview:
        """Column ``(purpose, j)`` as a zero-copy view indexed by :meth:`row` (kept in
        :attr:`by_purpose`): ``view[row]`` is a plain Python float, cheap enough for the event
        loop."""
        js = self.by_purpose.setdefault(purpose, [])
        if j < len(js):
            made = js[j]
            if made is not None:
                return made
        else:
            js.extend([None] * (j + 1 - len(js)))
        view = js[j] = self.column(purpose, j).data
        return view

    def u(self, purpose: str, patient: int, j: int = 0) -> float:
        """The *j*-th uniform of ``purpose`` for one patient."""
        value: float = self.view(purpose, j)[self.row(patient)]
        return value
