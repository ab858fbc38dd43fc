"""The README's main command (`make demo`), timed end to end (the environment already set up).

python benchmarks/demo.py
"""

from __future__ import annotations

import re
import subprocess

from _common import ROOT, table, timed, write


def main() -> None:
    makefile = (ROOT / "Makefile").read_text()
    recipe = re.search(r"^demo:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert recipe, "no demo target in the Makefile"
    command = recipe.group(1).replace("\\\n", " ").replace("\t", " ").strip()
    command = command.replace("$(BIN)", ".venv/bin")
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
