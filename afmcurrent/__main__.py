"""``python -m afmcurrent`` runs the ``afmcurrent`` command."""

import sys

from .cli import main

sys.exit(main())
