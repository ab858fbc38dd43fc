"""Output folders cannot escape or delete the user's files, and one process at a time works in
one (issue 16). Each test reproduces a bullet of the issue: the name that made the default folder
the working directory, --force deleting foreign files, two runs mixing their files in one folder,
tracebacks on --out beneath a file and on a foreign manifest."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sim import io
from sim.cli import main
from sim.errors import RunControlError
from tests.helpers import BASELINE, quick_run_options

ARGS = [*quick_run_options(1), "--workers", "1", "--no-progress"]


def _run(out: Path, *extra: str) -> int:
    return main(["run", str(BASELINE), *ARGS, "--out", str(out), *extra])


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("finished") / "run"
    assert _run(out) == 0
    return out


def _overlay(tmp_path: Path, text: str, name: str = "variant.toml") -> Path:
    path = tmp_path / name
    path.write_text(f'extends = "{BASELINE}"\n{text}\n')
    return path


@pytest.mark.parametrize("name", ["..", ".", ".hidden", "a/b", "x" * 101])
def test_a_name_that_is_not_one_plain_file_name_is_refused(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _overlay(tmp_path, f"name = {json.dumps(name)}")
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: name: ") and "\n" not in err, err


def test_default_folder_stays_inside_outputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    assert io.default_folder("compare", "a_vs_b") == Path("outputs/compare_a_vs_b")
    long = io.default_folder("x" * 300)
    assert long.parent == Path("outputs") and len(long.name) <= 200
    for bad in ("..", ".", "a/../../b", ""):
        with pytest.raises(RunControlError, match="give --out"):
            io.default_folder("size", bad)
    # A KPI typed as a path no longer names a folder outside outputs/.
    args = ["size", str(BASELINE), "--resource", "prrt", "--kpi", "../../escaped", "--target", "1"]
    assert main(args) == 2
    assert "cannot be part of a folder name" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_force_refuses_a_folder_that_is_not_a_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    assert _run(tmp_path, "--force") == 2
    err = capsys.readouterr().err
    assert str(tmp_path) in err and "not a nenpath run" in err and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.txt"]


def test_foreign_manifest_is_not_ours(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text('{"tool": "something else", "fingerprint": "x"}')
    assert _run(tmp_path, "--force") == 2
    assert (tmp_path / "manifest.json").read_text().startswith('{"tool": "something else"')


def test_force_deletes_only_what_nenpath_wrote(finished: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert _run(out) == 0
    (out / "notes.txt").write_text("mine")
    (out / "parts" / "mine.csv").write_text("mine")
    assert _run(out, "--seed", "5", "--force") == 0
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "parts" / "mine.csv").read_text() == "mine"
    assert json.loads((out / "manifest.json").read_text())["controls"]["seed"] == 5


def test_out_beneath_a_regular_file_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "file").write_text("x")
    assert _run(tmp_path / "file" / "sub") == 2
    err = capsys.readouterr().err.strip()
    assert err == f"nenpath: {tmp_path / 'file' / 'sub'}: cannot create the output folder: " + (
        f"{tmp_path / 'file'} is a file, not a folder"
    )


@pytest.mark.parametrize(
    "manifest",
    [
        '{"tool": "other", "scenarios": []}',
        '{"tool": "nen-pathway", "fingerprint": "f", "scenarios": [{"nom": 1}]}',
        "[1, 2]",
    ],
)
def test_report_on_a_foreign_manifest_is_one_line(
    manifest: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text(manifest)
    (tmp_path / "replications.csv").write_text("scenario,replication,x\na,0,1\n")
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nenpath: {tmp_path}") and "\n" not in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["manifest.json", "replications.csv"]


def test_report_of_a_missing_folder_creates_nothing(tmp_path: Path) -> None:
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    assert not (tmp_path / "nowhere").exists()


# ---------------------------------------------------------------------------------------------
# One process at a time
# ---------------------------------------------------------------------------------------------

_HOLD = (
    "import sys; from pathlib import Path; from sim import io\n"
    "with io.folder_lock(Path(sys.argv[1])):\n"
    "    print('held', flush=True)\n"
    "    sys.stdin.read()\n"
)


def _holder(folder: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD, str(folder)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_in_the_same_folder_is_refused(
    finished: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    proc = _holder(finished)
    before = {p.name: p.stat().st_mtime_ns for p in finished.iterdir()}
    try:
        for argv in (
            ["run", str(BASELINE), *ARGS, "--out", str(finished)],
            ["run", str(BASELINE), *ARGS, "--out", str(finished), "--resume"],
            ["run", str(BASELINE), *ARGS, "--out", str(finished), "--force"],
            ["report", str(finished)],
        ):
            assert main(argv) == 2, argv
            err = capsys.readouterr().err.strip()
            assert err == (
                f"nenpath: {finished}: in use by another nenpath process (pid {proc.pid}); "
                "wait for it to finish, or choose another --out"
            )
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait()
    after = {p.name: p.stat().st_mtime_ns for p in finished.iterdir()}
    assert after == before


def test_a_lock_left_by_a_killed_run_is_reclaimed(tmp_path: Path) -> None:
    out = tmp_path / "run"
    proc = _holder(out)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert (out / io.OWNER).is_file()  # the dead holder's traces are still there
    assert _run(out) == 0
    assert json.loads((out / io.OWNER).read_text())["pid"] == os.getpid()


def test_the_lock_is_reentrant_in_one_process(tmp_path: Path) -> None:
    with io.folder_lock(tmp_path), io.folder_lock(tmp_path):
        pass
    with io.folder_lock(tmp_path):
        pass


def test_a_file_name_that_is_not_a_plain_name_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "..toml"  # no name key: the name would be the file's, "."
    path.write_text(f'extends = "{BASELINE}"\n')
    assert main(["validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}: name: must be a plain name") and "the file's name" in err


@pytest.mark.parametrize("name", ["..", "."])
def test_a_dot_name_with_force_deletes_nothing(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The issue's first bullet: outputs/.. was the working directory, outputs/. all of outputs/,
    and --force emptied them."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outputs").mkdir()
    (tmp_path / "outputs" / "other_run.txt").write_text("keep")
    (tmp_path / "thesis.txt").write_text("keep")
    path = _overlay(tmp_path, f'name = "{name}"')
    assert main(["run", str(path), *ARGS, "--force"]) == 2
    assert (tmp_path / "outputs" / "other_run.txt").read_text() == "keep"
    assert (tmp_path / "thesis.txt").read_text() == "keep"


def test_force_removes_every_file_a_run_writes(tmp_path: Path) -> None:
    """Whatever files a run (and a sizing, with its per-capacity runs) writes, --force can
    remove: a new output file left off io.OWN_FILES or the part pattern would stay behind and,
    in a sizing's per-capacity folder, make the next --force refuse the folder as foreign."""
    out = tmp_path / "size"
    args = [
        "size",
        str(BASELINE),
        "--resource",
        "specialist_mdt.north_west",
        "--kpi",
        "specialist_mdt_backlog_mean__north_west",
        "--target",
        "50",
        "--scale",
        "0.02",
        "--years",
        "0.5",
        "--warmup-years",
        "0.5",
        "--replications",
        "2",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    assert main([*args, "--force"]) == 0  # the per-capacity folders are this tool's too
    io.prepare_folder(out, "another run", force=True, resume=False)
    left = [p for p in out.rglob("*") if p.is_file() and p.name not in (io.LOCK, io.OWNER)]
    assert left == []
