"""``python -m sim`` runs the ``nenpath`` command."""

import sys

from .cli import main

sys.exit(main())
