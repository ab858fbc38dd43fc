"""Run one app job in the background: ``python -m sim.app.web.job JOBDIR``.

Reads the ``nenpath`` arguments from ``JOBDIR/job.json`` and runs the command itself
(:func:`sim.app.cli.main`: the same runner, checkpoints and messages as the command line), with
its standard output in ``JOBDIR/out.txt`` and its standard error (progress lines, one per
finished replication, and any error) in ``JOBDIR/log.txt``; the exit status goes to
``JOBDIR/rc.json`` when it ends. SIGINT (the app's cancel button) interrupts it as Ctrl-C does
on a terminal: finished replications stay in the run folder for ``--resume``.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path


def run(folder: Path) -> int:
    from sim.app.cli import EXIT_INTERRUPTED, main
    from sim.core.io import write_json

    job = json.loads((folder / "job.json").read_text(encoding="utf-8"))
    args = [str(a) for a in job["args"]]
    started = time.time()
    rc = EXIT_INTERRUPTED
    with (
        (folder / "out.txt").open("w", encoding="utf-8", buffering=1) as out,
        (folder / "log.txt").open("w", encoding="utf-8", buffering=1) as err,
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
    ):
        try:
            rc = main(args)
        except KeyboardInterrupt:
            print("nenpath: interrupted; finished replications are kept", file=sys.stderr)
        except Exception as exc:  # a bug, not bad input: keep it for the log, say it plainly
            import traceback

            traceback.print_exc()
            print(f"nenpath: failed: {exc}", file=sys.stderr)
            rc = 1
    write_json(
        folder / "rc.json",
        {"rc": rc, "args": args, "started": started, "finished": time.time()},
    )
    return rc


if __name__ == "__main__":  # pragma: no cover - run as a process by sim.app.web.jobs
    sys.exit(run(Path(sys.argv[1])))
