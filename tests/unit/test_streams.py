"""Named random streams: stable across processes, independent, order-free."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

from sim.core.streams import PatientDraws, Streams, stream_id


def test_stream_id_is_crc32_not_salted_hash() -> None:
    # CRC32 of b"gp_consultation_interval", computed independently with zlib's reference value.
    assert stream_id("abc") == 0x352441C2
    code = "from sim.core.streams import stream_id; print(stream_id('gp_consultation_interval'))"
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("1", "2", "3")
    }
    assert len(outs) == 1


def test_same_seed_same_numbers_in_another_process() -> None:
    code = (
        "from sim.core.streams import Streams; "
        "print(Streams(7, 3).get('gp_consultation_interval').random(3).tolist())"
    )
    outs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={**os.environ, "PYTHONHASHSEED": seed},
        ).stdout
        for seed in ("0", "99")
    }
    assert len(outs) == 1
    assert eval(outs.pop()) == Streams(7, 3).get("gp_consultation_interval").random(3).tolist()


def test_adding_a_stream_leaves_others_unchanged() -> None:
    a = Streams(1, 0).get("mdt").random(5)
    s = Streams(1, 0)
    s.get("brand_new_stream").random(100)
    s.get("another").random(7)
    assert np.array_equal(s.get("mdt").random(5), a)


def test_streams_differ_by_name_replication_and_seed() -> None:
    base = Streams(1, 0).get("x").random(4)
    assert not np.array_equal(Streams(1, 0).get("y").random(4), base)
    assert not np.array_equal(Streams(1, 1).get("x").random(4), base)
    assert not np.array_equal(Streams(2, 0).get("x").random(4), base)


def test_streams_are_uncorrelated() -> None:
    s = Streams(5, 0)
    a, b = s.get("a").random(20000), s.get("b").random(20000)
    r = np.corrcoef(a, b)[0, 1]
    assert abs(r) < 4 / np.sqrt(20000)  # 4 standard errors


def test_patient_draws_depend_only_on_the_patients_own_region() -> None:
    s = Streams(3, 0)
    d1 = PatientDraws(s, [5, 10, 4])
    d2 = PatientDraws(s, [5, 999, 4])  # another region grows: the others are untouched
    c1, c2 = d1.column("site"), d2.column("site")
    assert np.array_equal(c1[:5], c2[:5])
    assert np.array_equal(c1[15:], c2[1004:])
    assert np.array_equal(c1[5:15], c2[5:15])  # the grown region keeps its first patients
    assert d1.u("site", 7, 0) == c1[7]
    assert d1.u("site", 7, 1) != d1.u("site", 7, 0)


def test_keep_only_changes_no_value() -> None:
    s = Streams(3, 0)
    full = PatientDraws(s, [50, 40])
    kept = PatientDraws(s, [50, 40])
    ids = np.array([88, 3, 51, 17])
    kept.keep_only(ids)
    for purpose, j in (("gp_outcome", 0), ("gp_outcome", 3), ("survival", 0)):
        for pid in ids:
            assert kept.u(purpose, int(pid), j) == full.u(purpose, int(pid), j)
    assert len(kept.column("survival")) == 4
