"""The README's main command (`make demo`), timed end to end (the environment already set up).

python benchmarks/demo.py
"""

from __future__ import annotations

import subprocess

from _common import ROOT, table, timed, write


def demo_command() -> str:
    """The nenpath command `make demo` runs, with the Makefile's variables expanded."""
    dry = subprocess.run(
        ["make", "-n", "-s", "demo"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    lines = [ln for ln in dry.stdout.splitlines() if "nenpath" in ln and " compare " in ln]
    if not lines:
        raise SystemExit(f"no nenpath compare command in `make -n demo`:\n{dry.stdout}")
    return lines[-1].strip()


def main() -> None:
    command = demo_command()
    wall, proc = timed(subprocess.run, command, shell=True, cwd=ROOT, check=False)
    rows = [
        {
            "command": command[:70] + ("..." if len(command) > 70 else ""),
            "exit": proc.returncode,
            "seconds": wall,
        }
    ]
    print(table(rows))
    print(f"\ndemo: {wall:.0f} s (target: under 300 s)")
    print("written:", write("demo", {"command": command, "seconds": wall, "exit": proc.returncode}))


if __name__ == "__main__":
    main()
