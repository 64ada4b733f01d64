"""The shared fixtures and helpers, for the tests still outside the package."""
from astro_clusterclass.conftest import *  # noqa
