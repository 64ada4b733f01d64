"""Catalogue readers registered with `astropy.io.registry` (``format='legus'``)."""

from .legus import *  # noqa: F401,F403
from .legus import __all__  # noqa: F401
