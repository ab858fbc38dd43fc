"""``python -m sim`` runs the ``nenpath`` command."""

import sys

from sim.app.cli import main

sys.exit(main())
