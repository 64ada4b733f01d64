"""``python -m astro_clusterclass`` runs the ``clusterclass`` command."""

import sys

from .cli import main

sys.exit(main())
