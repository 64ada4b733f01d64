"""Classify star-cluster candidates in five-band HST images with CNN ensembles."""

from ._version import __version__  # noqa: F401
from .bands import BANDS  # noqa: F401
from .classes import *  # noqa: F401,F403
from .classes import __all__ as _classes_all
from .cutouts import (CutoutFlag, Cutouts, iter_cutouts, make_cutouts,  # noqa: F401
                      read_cutout_fits, write_cutout_fits)
from .ds9 import write_ds9_regions  # noqa: F401
from .images import BandImages, load_images  # noqa: F401
from .io import read_legus  # noqa: F401

__all__ = ['__version__', 'BANDS', 'BandImages', 'load_images', 'CutoutFlag',
           'Cutouts', 'make_cutouts', 'iter_cutouts', 'write_cutout_fits',
           'read_cutout_fits', 'read_legus', 'write_ds9_regions', *_classes_all]
