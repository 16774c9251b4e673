"""``python -m afmcurrent.cli`` runs the ``afmcurrent`` command."""

import sys

from . import main

sys.exit(main())
