"""
Public LEGUS and PHANGS-HST catalogues by galaxy name, through astropy's download cache.

The catalogues are fetched from the MAST archive with
`astropy.utils.data.download_file` (``cache=True``): the first call
downloads a file, later calls (and other programs using astropy) read the
cached copy without the network. A copy obtained elsewhere goes into the
cache with `astropy.utils.data.import_file_to_cache` under the URL that
`legus_catalog_url` or `phangs_bundle_url` gives; offline, a file that is
not in the cache is reported with the URL to fetch.

- LEGUS (Adamo et al. 2017): one ``.tab`` per field and its ``.readme``
  under ``https://archive.stsci.edu/hlsps/legus/<field>/cluster_catalogs/
  deterministic/``; `LEGUS_CATALOGS` lists the fields.
- PHANGS-HST (Maschmann et al. 2024): one ``.tar.gz`` bundle of a
  galaxy's catalogues per release; the catalogue asked for is taken from
  the bundle and cached on its own (under the bundle URL followed by
  ``#<file name>``).
"""

import os
import re
import tarfile
import tempfile
import urllib.error

from astropy.table import QTable
from astropy.utils import data as astropy_data

__all__ = ['LEGUS_ARCHIVE_URL', 'PHANGS_ARCHIVE_URL', 'LEGUS_CATALOGS', 'PHANGS_CATALOG_KINDS',
           'legus_catalog_url', 'download_legus_catalog', 'read_legus_catalog',
           'phangs_bundle_url', 'download_phangs_catalog', 'read_phangs_catalog']

#: Root of the LEGUS high-level science products at MAST.
LEGUS_ARCHIVE_URL = 'https://archive.stsci.edu/hlsps/legus'

#: Root of the PHANGS-HST catalogue products (PHANGS-CAT) at MAST.
PHANGS_ARCHIVE_URL = 'https://archive.stsci.edu/hlsps/phangs-cat'

#: LEGUS fields with a public cluster catalogue → (instruments, version) of
#: its file name ``hlsp_legus_hst_<instruments>_<field>_multiband_<version>_
#: padagb-mwext-avgapcor.tab``.
LEGUS_CATALOGS = {
    'eso486-g021': ('wfc3', 'v2'), 'ic4247': ('acs-wfc3', 'v2'), 'ic559': ('wfc3', 'v2'),
    'ngc1313-e': ('wfc3', 'v1'), 'ngc1313-w': ('wfc3', 'v1'), 'ngc1433': ('wfc3', 'v1'),
    'ngc1566': ('wfc3', 'v1'), 'ngc1705': ('wfc3', 'v2'), 'ngc3274': ('acs-wfc3', 'v2'),
    'ngc3344': ('wfc3', 'v1'), 'ngc3351': ('acs-wfc3', 'v1'), 'ngc3738': ('acs-wfc3', 'v2'),
    'ngc4242': ('wfc3', 'v1'), 'ngc4248': ('acs-wfc3', 'v2'), 'ngc4395-n': ('wfc3', 'v1'),
    'ngc4395-s': ('acs-wfc3', 'v1'), 'ngc4449': ('acs-wfc3', 'v2'),
    'ngc4485': ('acs-wfc3', 'v2'), 'ngc45': ('wfc3', 'v1'), 'ngc4656': ('wfc3', 'v2'),
    'ngc5238': ('acs-wfc3', 'v1'), 'ngc5253': ('acs-wfc3', 'v2'),
    'ngc5474': ('acs-wfc3', 'v1'), 'ngc5477': ('acs-wfc3', 'v2'),
    'ngc628-c': ('acs-wfc3', 'v1'), 'ngc628-e': ('acs-wfc3', 'v1'),
    'ngc6503': ('wfc3', 'v1'), 'ngc7793-e': ('wfc3', 'v1'), 'ngc7793-w': ('acs-wfc3', 'v1'),
    'ugc1249': ('acs-wfc3', 'v1'), 'ugc4305': ('acs-wfc3', 'v2'),
    'ugc4459': ('acs-wfc3', 'v2'), 'ugc5139': ('acs-wfc3', 'v2'),
    'ugc5340': ('acs-wfc3', 'v2'), 'ugc685': ('acs-wfc3', 'v2'), 'ugc695': ('acs-wfc3', 'v2'),
    'ugc7242': ('wfc3', 'v2'), 'ugc7408': ('acs-wfc3', 'v2'), 'ugca281': ('acs-wfc3', 'v2'),
}

#: Catalogues of a PHANGS-HST release bundle, by the end of their file names.
PHANGS_CATALOG_KINDS = tuple(
    f'{kind}-{who}-{sample}' for kind in ('obs', 'sed', 'obs-sed')
    for who in ('human', 'machine')
    for sample in ('cluster-class12', 'compact-association-class3')) + ('obs-sed-candidates',)

# Instrument parts of PHANGS-HST bundle names, tried in this order.
_PHANGS_INSTRUMENTS = ('acs-uvis', 'uvis')


def _galaxy_key(galaxy):
    if not isinstance(galaxy, str) or not galaxy.strip():
        msg = f'galaxy must be a galaxy or field name such as "ngc1566", got {galaxy!r}'
        raise TypeError(msg)
    return re.sub(r'[\s_]+', '', galaxy.strip().lower())


def _download(url, *, show_progress, what):
    """Path of the cached copy of ``url``, downloading it when it is not cached."""
    try:
        return astropy_data.download_file(url, cache=True, show_progress=show_progress)
    except urllib.error.HTTPError:
        raise
    except (urllib.error.URLError, OSError) as exc:
        msg = (f'could not download {what} from {url} ({exc}). Offline, put a copy you have '
               f'into the download cache with astropy.utils.data.import_file_to_cache'
               f'({url!r}, path)')
        raise ConnectionError(msg) from exc


def legus_catalog_url(galaxy, *, readme=False):
    """
    URL of the public LEGUS cluster catalogue (or its readme) of a field.

    Parameters
    ----------
    galaxy : str
        A field of `LEGUS_CATALOGS` (``'ngc1566'``, ``'ngc628-c'``...; case
        and spaces do not matter).
    readme : bool, optional
        The ``.readme`` that describes the catalogue's columns instead.

    Returns
    -------
    url : str

    Raises
    ------
    ValueError
        If the field is not in `LEGUS_CATALOGS`.

    Examples
    --------
    >>> from astro_clusterclass.io import legus_catalog_url
    >>> print(legus_catalog_url('NGC 1566'))  # doctest: +NORMALIZE_WHITESPACE
    https://archive.stsci.edu/hlsps/legus/ngc1566/cluster_catalogs/deterministic/hlsp_legus_hst_wfc3_ngc1566_multiband_v1_padagb-mwext-avgapcor.tab
    """
    key = _galaxy_key(galaxy)
    if key not in LEGUS_CATALOGS:
        msg = (f'galaxy={galaxy!r} is not a LEGUS field with a public cluster catalogue; '
               f'known fields: {", ".join(sorted(LEGUS_CATALOGS))}')
        raise ValueError(msg)
    instruments, version = LEGUS_CATALOGS[key]
    name = (f'hlsp_legus_hst_{instruments}_{key}_multiband_{version}_padagb-mwext-avgapcor.'
            f'{"readme" if readme else "tab"}')
    return f'{LEGUS_ARCHIVE_URL}/{key}/cluster_catalogs/deterministic/{name}'


def download_legus_catalog(galaxy, *, readme=False, show_progress=False):
    """
    Local path of the LEGUS catalogue of a field, downloaded once into astropy's cache.

    Parameters
    ----------
    galaxy : str
        A field of `LEGUS_CATALOGS`.
    readme : bool, optional
        The catalogue's ``.readme`` instead.
    show_progress : bool, optional
        Show a progress bar while downloading.

    Returns
    -------
    path : str
        The cached copy (its name is astropy's; `read_legus_catalog` reads
        it under the archive's file name).

    Raises
    ------
    ValueError
        If the field is unknown.
    ConnectionError
        If the file is not cached and cannot be downloaded.

    Examples
    --------
    >>> from astro_clusterclass.io import download_legus_catalog
    >>> path = download_legus_catalog('ngc1566')  # doctest: +REMOTE_DATA
    """
    url = legus_catalog_url(galaxy, readme=readme)
    what = f'the LEGUS {"readme" if readme else "catalogue"} of {galaxy}'
    try:
        return _download(url, show_progress=show_progress, what=what)
    except urllib.error.HTTPError as exc:
        msg = f'could not download {what} from {url}: {exc}'
        raise ConnectionError(msg) from exc


class _NamedBytes:
    """A binary buffer that reports the archive's file name as its name."""

    def __init__(self, data, name):
        import io
        self._buffer = io.BytesIO(data)
        self.name = name

    def __getattr__(self, attr):
        return getattr(self._buffer, attr)


def read_legus_catalog(galaxy, *, show_progress=False, **kwargs):
    """
    The LEGUS catalogue of a field as a `~astropy.table.QTable`, downloaded once.

    Parameters
    ----------
    galaxy : str
        A field of `LEGUS_CATALOGS`.
    show_progress : bool, optional
        Show a progress bar while downloading.
    **kwargs
        Passed to the ``legus`` reader (e.g. ``class_column=``).

    Returns
    -------
    table : `~astropy.table.QTable`
        As `~astro_clusterclass.io.read_legus` gives it, read under the
        archive's file name (``meta['file']``, ``meta['galaxy']``, the band
        filters); ``meta['url']`` is where it came from.

    Examples
    --------
    >>> from astro_clusterclass.io import read_legus_catalog
    >>> ngc1566 = read_legus_catalog('ngc1566')  # doctest: +REMOTE_DATA
    >>> len(ngc1566), ngc1566.meta['layout']  # doctest: +REMOTE_DATA
    (2752, 'legus-ngc1566')
    """
    from . import legus  # noqa: F401  (registers format='legus')

    url = legus_catalog_url(galaxy)
    path = download_legus_catalog(galaxy, show_progress=show_progress)
    with open(path, 'rb') as f:
        named = _NamedBytes(f.read(), url.rsplit('/', 1)[-1])
    tbl = QTable.read(named, format='legus', **kwargs)
    tbl.meta['url'] = url
    return tbl


def phangs_bundle_url(galaxy, *, instrument='acs-uvis', release='dr4'):
    """
    URL of the bundle of PHANGS-HST catalogues of a galaxy.

    Parameters
    ----------
    galaxy : str
        PHANGS-HST target, e.g. ``'ngc1566'`` or ``'ngc628c'``.
    instrument : {'acs-uvis', 'uvis'}, optional
        Instrument part of the bundle name.
    release : str, optional
        Data release folder (``'dr4'``).

    Examples
    --------
    >>> from astro_clusterclass.io import phangs_bundle_url
    >>> print(phangs_bundle_url('NGC 1566'))  # doctest: +NORMALIZE_WHITESPACE
    https://archive.stsci.edu/hlsps/phangs-cat/dr4/bundles/hlsp_phangs-cat_hst_acs-uvis_ngc1566_multi_v1_cats.tar.gz
    """
    key = _galaxy_key(galaxy)
    if instrument not in _PHANGS_INSTRUMENTS:
        msg = f'instrument must be one of {_PHANGS_INSTRUMENTS}, got {instrument!r}'
        raise ValueError(msg)
    if not isinstance(release, str) or not re.fullmatch(r'dr\d+', release):
        msg = f"release must name a data release such as 'dr4', got {release!r}"
        raise ValueError(msg)
    return (f'{PHANGS_ARCHIVE_URL}/{release}/bundles/hlsp_phangs-cat_hst_{instrument}_{key}_'
            f'multi_v1_cats.tar.gz')


def _bundle(galaxy, instrument, release, show_progress):
    """(url, path) of the first bundle of the galaxy in the cache or at the archive."""
    instruments = _PHANGS_INSTRUMENTS if instrument is None else (instrument,)
    urls = [phangs_bundle_url(galaxy, instrument=i, release=release) for i in instruments]
    for url in urls:
        if astropy_data.is_url_in_cache(url):
            return url, astropy_data.download_file(url, cache=True)
    missing = []
    for url in urls:
        try:
            return url, _download(url, show_progress=show_progress,
                                  what=f'the PHANGS-HST catalogues of {galaxy}')
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise ConnectionError(f'could not download {url}: {exc}') from exc
            missing.append(url)
    msg = (f'no PHANGS-HST catalogue bundle of galaxy={galaxy!r} in release {release!r}: '
           f'not found at {", ".join(missing)}')
    raise ValueError(msg)


def download_phangs_catalog(galaxy, *, kind='obs-human-cluster-class12', instrument=None,
                            release='dr4', show_progress=False):
    """
    Local path of one PHANGS-HST catalogue of a galaxy, downloaded once into astropy's cache.

    Parameters
    ----------
    galaxy : str
        PHANGS-HST target, e.g. ``'ngc1566'``.
    kind : str, optional
        Which catalogue of the bundle: one of `PHANGS_CATALOG_KINDS`
        (``'obs-human-cluster-class12'``, ``'obs-sed-candidates'``...).
    instrument : {None, 'acs-uvis', 'uvis'}, optional
        Instrument part of the bundle name; None tries both.
    release : str, optional
        Data release (``'dr4'``).
    show_progress : bool, optional
        Show a progress bar while downloading.

    Returns
    -------
    path : str
        The cached FITS file (read it with ``QTable.read(path,
        format='phangs')``; its ``meta['file']`` is the release name).

    Raises
    ------
    ValueError
        If ``kind`` is unknown, the bundle does not exist or does not hold
        that catalogue (the message lists those it holds).
    ConnectionError
        If the bundle is not cached and cannot be downloaded.

    Examples
    --------
    >>> from astro_clusterclass.io import download_phangs_catalog
    >>> path = download_phangs_catalog('ngc1566')  # doctest: +REMOTE_DATA
    """
    if kind not in PHANGS_CATALOG_KINDS:
        msg = f'kind must be one of {list(PHANGS_CATALOG_KINDS)}, got {kind!r}'
        raise ValueError(msg)
    bundle_url, bundle = _bundle(galaxy, instrument, release, show_progress)
    with tarfile.open(bundle) as tar:
        members = [m for m in tar.getmembers() if m.isfile()
                   and os.path.basename(m.name).startswith('hlsp_phangs-cat_')
                   and m.name.endswith(('.fits', '.fits.gz'))]
        wanted = [m for m in members
                  if re.search(rf'_{re.escape(kind)}\.fits(\.gz)?$', os.path.basename(m.name))]
        if not wanted:
            held = sorted(os.path.basename(m.name) for m in members)
            msg = (f'the PHANGS-HST bundle {bundle_url.rsplit("/", 1)[-1]} holds no '
                   f'{kind!r} catalogue; it holds {held}')
            raise ValueError(msg)
        member = wanted[0]
        key = f'{bundle_url}#{os.path.basename(member.name)}'
        if astropy_data.is_url_in_cache(key):
            return astropy_data.download_file(key, cache=True)
        with tempfile.NamedTemporaryFile(delete=False, suffix='.fits') as tmp:
            tmp.write(tar.extractfile(member).read())
    return astropy_data.import_file_to_cache(key, tmp.name, remove_original=True)


def read_phangs_catalog(galaxy, *, kind='obs-human-cluster-class12', instrument=None,
                        release='dr4', show_progress=False):
    """
    One PHANGS-HST catalogue of a galaxy as a `~astropy.table.QTable`, downloaded once.

    Parameters are those of `download_phangs_catalog`; the table is
    `~astro_clusterclass.io.read_phangs`'s, with ``meta['url']``.

    Examples
    --------
    >>> from astro_clusterclass.io import read_phangs_catalog
    >>> tbl = read_phangs_catalog('ngc1566')  # doctest: +REMOTE_DATA
    """
    from .phangs import read_phangs

    path = download_phangs_catalog(galaxy, kind=kind, instrument=instrument, release=release,
                                   show_progress=show_progress)
    tbl = read_phangs(path)
    url = next((u for u, p in astropy_data.cache_contents(on_missing='ignore').items()
                if os.path.realpath(p) == os.path.realpath(path)), None)
    tbl.meta['url'] = url
    return tbl
