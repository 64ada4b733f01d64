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
"""

from .archive import *  # noqa: F401,F403
from .archive import __all__ as _archive_all
from .bc03 import *  # noqa: F401,F403
from .bc03 import __all__ as _bc03_all
from .cutout_fits import *  # noqa: F401,F403
from .cutout_fits import __all__ as _cutout_fits_all
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

__all__ = [*_legus_all, *_phangs_all, *_starcnet_all, *_archive_all, *_zeropoints_all,
           *_bc03_all, *_cutout_fits_all, *_tables_all]
