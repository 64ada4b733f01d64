"""
Readers and writers of the package's file formats, one module per format.

- ``astro_clusterclass.io.legus``: LEGUS cluster catalogues (``format='legus'``);
- ``astro_clusterclass.io.phangs``: PHANGS-HST cluster and candidate
  catalogues (``format='phangs'``);
- ``astro_clusterclass.io.starcnet``: StarcNet's ``predictions.csv`` and
  per-galaxy ``.tab`` outputs (``format='starcnet'``);
- ``astro_clusterclass.io.archive``: the public LEGUS and PHANGS-HST
  catalogues by galaxy name, through astropy's download cache;
- ``astro_clusterclass.io.zeropoints``: PHANGS-HST zeropoint tables
  (``format='phangs_zeropoints'``);
- ``astro_clusterclass.io.bc03``: Bruzual & Charlot (2003) colour tracks,
  the shipped solar track by default (``format='bc03'``);
- ``astro_clusterclass.io.cutout_fits``: per-candidate multi-extension FITS
  stamps (the PHANGS-HST tutorial format);
- ``astro_clusterclass.io.tables``: candidate tables with their metadata
  (FITS-safe provenance).

Importing this subpackage registers the table readers with
`astropy.io.registry`, so that ``QTable.read(path, format=...)`` works.
The stamp files' functions (``cutout_fits``), which need the cutting code
and registers nothing, are imported on first use (PEP 562), so that
reading and writing tables does not import it.
"""

from .archive import *  # noqa: F401,F403
from .archive import __all__ as _archive_all
from .bc03 import *  # noqa: F401,F403
from .bc03 import __all__ as _bc03_all
from .legus import *  # noqa: F401,F403
from .legus import __all__ as _legus_all
from .phangs import *  # noqa: F401,F403
from .phangs import __all__ as _phangs_all
from .starcnet import *  # noqa: F401,F403
from .starcnet import __all__ as _starcnet_all
from .tables import *  # noqa: F401,F403
from .tables import __all__ as _tables_all
from .zeropoints import *  # noqa: F401,F403
from .zeropoints import __all__ as _zeropoints_all

#: Names of the stamp files' module, imported on first use.
_CUTOUT_FITS = ('write_cutout_fits', 'read_cutout_fits')

__all__ = [*_legus_all, *_phangs_all, *_starcnet_all, *_archive_all, *_zeropoints_all,
           *_bc03_all, *_CUTOUT_FITS, *_tables_all]


def __getattr__(name):
    if name in _CUTOUT_FITS:
        from . import cutout_fits
        value = getattr(cutout_fits, name)
        globals()[name] = value  # later lookups skip this function
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(_CUTOUT_FITS))
