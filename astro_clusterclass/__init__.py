"""Classify star-cluster candidates in five-band HST images with CNN ensembles."""

try:
    from ._version import __version__  # written by setuptools_scm at install time
except ImportError:  # a source tree that was never installed
    __version__ = ''
from .bands import BANDS  # noqa: F401
from .classes import *  # noqa: F401,F403
from .classes import __all__ as _classes_all
from .cutouts import CutoutFlag, Cutouts, iter_cutouts, make_cutouts  # noqa: F401
from .ds9 import write_ds9_regions  # noqa: F401
from .images import BandImages, load_images  # noqa: F401
from .io import read_cutout_fits, read_legus, write_cutout_fits  # noqa: F401

#: Functions that need torch, imported on first use so that reading
#: catalogues and comparing classifications do not load it.
_LAZY = {'classify_table': 'classify', 'train_model': 'training',
         'train_ensemble': 'training', 'evaluate': 'training', 'run_pipeline': 'pipeline'}

__all__ = ['__version__', 'BANDS', 'BandImages', 'load_images', 'CutoutFlag',
           'Cutouts', 'make_cutouts', 'iter_cutouts', 'write_cutout_fits',
           'read_cutout_fits', 'read_legus', 'write_ds9_regions', *_LAZY, *_classes_all]


def __getattr__(name):
    if name in _LAZY:
        import importlib
        return getattr(importlib.import_module(f'.{_LAZY[name]}', __name__), name)
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(_LAZY))
