"""
Reader for PHANGS-HST star-cluster catalogues (``hlsp_phangs-cat_hst_*.fits``).

The PHANGS-HST data releases (Lee et al. 2022; Maschmann et al. 2024;
MAST, doi:10.17909/jray-9798) hold, per galaxy, catalogues of human- and
machine-classified clusters (``..._obs-human-cluster-class12.fits``,
``..._obs-machine-compact-association-class3.fits``, ``sed`` and
``obs-sed`` variants) and the table of all classified candidates
(``..._obs-sed-candidates.fits``). Registered with `astropy.io.registry`,
so that::

    QTable.read('hlsp_phangs-cat_hst_uvis_ngc1433_multi_v1_obs-human-cluster-class12.fits',
                format='phangs')

works; ``format`` may be omitted for files named like the release or whose
first table has the ``PHANGS_X``/``PHANGS_Y``/``PHANGS_RA``/``PHANGS_DEC``
columns (``format='fits'`` still gives the file as it is).

The reader gives the package's column names (as the LEGUS reader does):
0-based pixels ``x``/``y`` (PHANGS positions are already 0-based), one
SkyCoord ``coord``, masked magnitudes ``mag_<band>`` and fluxes
``flux_<band>`` (the release writes −9999 outside a band's footprint),
``class_human``/``class_ml`` in the package's classes 1-4 with the paper's
class-4 subclasses (`PHANGS_CLASS_CODES`) next to the original codes, and
every other column under its original name. ``meta['original_names']``
maps each new name to the release column it came from.
"""

import io
import os
import re
import warnings

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.io import fits, registry
from astropy.table import MaskedColumn, QTable, Table
from astropy.utils.exceptions import AstropyUserWarning
from astropy.utils.masked import Masked

from ..bands import BANDS
from .tables import cached_url_name

__all__ = ['read_phangs', 'parse_phangs_name', 'PHANGS_CLASS_CODES', 'PHANGS_PIXEL_SCALE_ARCSEC',
           'PHANGS_SENTINELS']

#: Pixel scale (arcsec per pixel) of the PHANGS-HST drizzled images the
#: positions refer to.
PHANGS_PIXEL_SCALE_ARCSEC = 0.03962

#: Values the releases write for missing data: −9999 (photometry outside a
#: band's footprint), −999 (SED not fitted; ``ID_PHANGS_CLUSTER`` of
#: objects that are not clusters).
PHANGS_SENTINELS = (-9999.0, -999.0)

#: PHANGS-HST class codes (release readme; Whitmore et al. 2021, Table 3)
#: → (class 1-4, subclass, description). Subclasses are the paper's '4.x'
#: codes of `astro_clusterclass.classes.SUBCLASSES` ('' where there is none).
PHANGS_CLASS_CODES = {
    1: (1, '', 'class 1: symmetric compact cluster'),
    2: (2, '', 'class 2: asymmetric compact cluster'),
    3: (3, '', 'class 3: compact association'),
    4: (4, '4.1', 'star'),
    5: (4, '4.2', 'star pair'),
    6: (4, '4.4', 'saturated star'),
    7: (4, '4.9', 'redundant (within 5 px of a brighter object)'),
    8: (4, '4.5', 'diffraction spike or bleeding'),
    9: (4, '4.7', 'background galaxy'),
    10: (4, '4.10', 'too faint to tell'),
    11: (4, '4.1', 'clean star'),
    12: (4, '4.11', 'edge'),
    13: (4, '4.3', 'triple'),
    14: (4, '4.12', 'bad pixel'),
    15: (4, '4.6', 'galaxy nucleus'),
    16: (4, '4.8', 'fluff (no clear peak)'),
    17: (4, '', 'uncategorised artefact'),
    19: (4, '4.1', 'very red star (V-I > 2, CI < 1.45)'),
}

_NAME = re.compile(
    r'^hlsp_phangs-cat_hst_(?P<instrument>acs-uvis|uvis|acs)_(?P<target>.+?)_multi_'
    r'v(?P<version>\d+)_(?:(?P<kind>obs|sed|obs-sed)-(?P<classification>human|machine)-'
    r'(?P<sample>cluster-class12|compact-association-class3)|(?P<candidates>obs-sed-'
    r'candidates))\.fits(?:\.gz)?$')

# Release column → package name of the classification columns.
_CLASS_COLUMNS = (('PHANGS_CLUSTER_CLASS_HUMAN', 'human', 'human visual classification'),
                  ('PHANGS_CLUSTER_CLASS_ML_VGG', 'ml', 'mode of 10 VGG models'),
                  ('PHANGS_CLUSTER_CLASS_ML_VGG_CORR', 'ml_corr',
                   'VGG class corrected for human-identified artefacts'))

# Filters that can fill each band slot, in the order they are looked for.
_SLOT_FILTERS = {'F275W': ('F275W',), 'F336W': ('F336W',), 'F438W': ('F438W', 'F435W'),
                 'F555W': ('F555W', 'F606W'), 'F814W': ('F814W',)}

# SED fits: the first family whose age column is present gives age, mass
# and E(B-V) (+ their ranges or errors); the others keep their names.
_SED_FAMILIES = (
    ('SEDfix (Thilker et al.)', {
        'age': 'SEDfix_age', 'age_min': 'SEDfix_age_limlo', 'age_max': 'SEDfix_age_limhi',
        'mass': 'SEDfix_mass', 'mass_min': 'SEDfix_mass_limlo',
        'mass_max': 'SEDfix_mass_limhi', 'ebv': 'SEDfix_ebv', 'ebv_min': 'SEDfix_ebv_limlo',
        'ebv_max': 'SEDfix_ebv_limhi'}),
    ('DR5 Thilker et al. (2025)', {
        'age': 'PHANGS_DR5_THILKER25_AGE', 'age_min': 'PHANGS_DR5_THILKER25_AGE_LIMLO',
        'age_max': 'PHANGS_DR5_THILKER25_AGE_LIMHI', 'mass': 'PHANGS_DR5_THILKER25_MASS',
        'mass_min': 'PHANGS_DR5_THILKER25_MASS_LIMLO',
        'mass_max': 'PHANGS_DR5_THILKER25_MASS_LIMHI', 'ebv': 'PHANGS_DR5_THILKER25_EBV',
        'ebv_min': 'PHANGS_DR5_THILKER25_EBV_LIMLO', 'ebv_max': 'PHANGS_DR5_THILKER25_EBV_LIMHI',
        'chi2_red': 'PHANGS_DR5_THILKER25_REDUCED_MINCHISQ'}),
    ('minimum chi2 (Turner et al. 2021)', {
        'age': 'PHANGS_AGE_MINCHISQ', 'age_err': 'PHANGS_AGE_MINCHISQ_ERR',
        'mass': 'PHANGS_MASS_MINCHISQ', 'mass_err': 'PHANGS_MASS_MINCHISQ_ERR',
        'ebv': 'PHANGS_EBV_MINCHISQ', 'ebv_err': 'PHANGS_EBV_MINCHISQ_ERR',
        'chi2_red': ('PHANGS_REDUCEDCHISQ_MINCHISQ', 'PHANGS_REDUCED_MINCHISQ')}),
)
_SED_UNITS = {'age': u.Myr, 'mass': u.solMass, 'ebv': u.mag, 'chi2_red': None}

_REQUIRED = ('PHANGS_X', 'PHANGS_Y', 'PHANGS_RA', 'PHANGS_DEC')

# Enough of a file for the headers of its first tables.
_HEADER_BYTES = 2880 * 200


def parse_phangs_name(name):
    """
    What a PHANGS-HST release file name says about the catalogue, or `None`.

    Parameters
    ----------
    name : str
        File name or path.

    Returns
    -------
    info : dict or None
        ``instrument`` (``'uvis'``, ``'acs-uvis'``), ``target``, ``version``,
        ``kind`` (``'obs'``, ``'sed'``, ``'obs-sed'``), ``classification``
        (``'human'``, ``'machine'`` or ``'human+machine'`` for candidates) and
        ``sample`` (``'cluster-class12'``, ``'compact-association-class3'``
        or ``'candidates'``); None when the name is not a release name.

    Examples
    --------
    >>> from astro_clusterclass.io import parse_phangs_name
    >>> info = parse_phangs_name(
    ...     'hlsp_phangs-cat_hst_acs-uvis_ngc628c_multi_v1_obs-machine-cluster-class12.fits')
    >>> info['target'], info['classification'], info['sample']
    ('ngc628c', 'machine', 'cluster-class12')
    >>> parse_phangs_name('catalog.fits') is None
    True
    """
    match = _NAME.match(os.path.basename(os.fspath(name)))
    if match is None:
        return None
    info = match.groupdict()
    if info.pop('candidates'):
        info.update(kind='obs-sed', classification='human+machine', sample='candidates')
    return info


def _has_phangs_columns(names):
    return all(name in names for name in _REQUIRED)


def _identify(origin, path, fileobj, *args, **kwargs):
    name = os.fspath(path) if isinstance(path, (str, os.PathLike)) else \
        getattr(fileobj, 'name', '') or ''
    if isinstance(name, str) and parse_phangs_name(name) is not None:
        return True
    if fileobj is None or not hasattr(fileobj, 'seek'):
        return False
    position = fileobj.tell()
    try:
        start = fileobj.read(_HEADER_BYTES)
    finally:
        fileobj.seek(position)
    if not isinstance(start, bytes) or not start.startswith(b'SIMPLE'):
        return False
    try:
        # The headers only, from a copy: closing an HDUList closes its file.
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with fits.open(io.BytesIO(start), lazy_load_hdus=True) as hdul:
                for hdu in hdul[1:3]:
                    if isinstance(hdu, fits.BinTableHDU):
                        return _has_phangs_columns(hdu.columns.names)
    except Exception:  # not a readable FITS file: not ours to judge
        return False
    return False


def _float(column):
    """Float values of a raw column, NaN where masked."""
    data = np.ma.asarray(column, dtype=float)
    return np.ma.filled(data, np.nan)


def _unit(column, default):
    unit = getattr(column, 'unit', None)
    if unit is None or default is None:
        return default
    if isinstance(unit, u.UnrecognizedUnit):
        return default
    try:
        unit.to(default)
    except u.UnitConversionError:
        return default
    return unit


def _masked(values, unit, mask):
    if unit is None:
        return MaskedColumn(values, mask=mask)
    return Masked(u.Quantity(values, unit), mask=mask)


def _sentinel_mask(values):
    return ~np.isfinite(values) | np.isin(values, PHANGS_SENTINELS)


def _class_codes(raw, name, path):
    """Integer codes (masked where not inspected) of a class column."""
    values = _float(raw[name])
    inspected = np.isfinite(values)
    if not np.all(values[inspected] == np.round(values[inspected])):
        msg = f'{path}: column {name} holds non-integer class codes'
        raise ValueError(msg)
    codes = np.where(inspected, values, 0).astype(np.int64)
    return np.ma.MaskedArray(codes, mask=~inspected)


def _map_classes(codes, name, path):
    """Package classes (masked) and subclasses of PHANGS codes."""
    classes = np.zeros(len(codes), dtype=np.int64)
    subclasses = np.full(len(codes), '', dtype='U4')
    known = np.zeros(len(codes), dtype=bool)
    data = codes.filled(0)
    for code, (klass, subclass, _) in PHANGS_CLASS_CODES.items():
        rows = (data == code) & ~np.ma.getmaskarray(codes)
        classes[rows] = klass
        subclasses[rows] = subclass
        known |= rows
    unknown = ~known & ~np.ma.getmaskarray(codes)
    if unknown.any():
        found, counts = np.unique(data[unknown], return_counts=True)
        listed = ', '.join(f'{c}: {n} rows' for c, n in zip(found, counts))
        warnings.warn(f'{os.path.basename(path)}: column {name} holds class codes outside '
                      f'the PHANGS-HST scheme ({listed}); their class is masked (the code '
                      f'is kept)', AstropyUserWarning)
    return MaskedColumn(classes, mask=~known), subclasses


def _source_name(path, fileobj_name=None):
    """The file name to record: the release name even for astropy's cache files."""
    name = fileobj_name or (os.fspath(path) if isinstance(path, (str, os.PathLike)) else '')
    if os.path.basename(name) == 'contents':
        return cached_url_name(name) or os.path.basename(name)
    return os.path.basename(name)


def read_phangs(path, *, hdu=1):
    """
    Read a PHANGS-HST cluster or candidate catalogue into a `~astropy.table.QTable`.

    Parameters
    ----------
    path : str, path-like or file-like
        A release FITS table (see the module description).
    hdu : int or str, optional
        The table extension.

    Returns
    -------
    table : `~astropy.table.QTable`
        Every row of the file, in order. Columns, where the file has them:

        - ``id`` (``ID_PHANGS_CANDIDATE``, else ``ID_PHANGS_CLUSTER``, else
          ``INDEX``), ``running_index`` (``INDEX``, 1 to N by y), ``id_cluster``
          (``ID_PHANGS_CLUSTER``, masked where −999: not a cluster),
          ``id_candidate``, ``id_allsources``
        - ``x``, ``y`` -- 0-based pixels of the PHANGS drizzled grid
          (``PHANGS_X``/``PHANGS_Y``, :data:`PHANGS_PIXEL_SCALE_ARCSEC` per pixel)
        - ``coord`` -- ICRS `~astropy.coordinates.SkyCoord` from
          ``PHANGS_RA``/``PHANGS_DEC``
        - ``galaxy``, ``distance_modulus`` (mag), ``distance`` (Mpc)
        - ``mag_<band>``, ``magerr_<band>`` (Vega mag), ``flux_<band>``,
          ``fluxerr_<band>`` (mJy; the F555W and F814W errors come from
          ``_mJy_TOT_ERR`` where the file names them so) per band slot
          (ACS F435W in the F438W slot, see ``meta['bands']``), masked where
          the release wrote −9999 or NaN
        - ``ci`` (mag), ``non_detection_flag``, ``no_coverage_flag``,
          ``cc_class`` (``CC_CLASS`` or ``PHANGS_COLORCOLOR_CLASS_UBVI``)
        - ``class_human``, ``subclass_human``, ``class_human_code``;
          ``class_ml``, ``subclass_ml``, ``class_ml_code``,
          ``class_ml_quality`` (fraction of the 10 VGG models agreeing with
          their mode, 0.3-1); ``class_ml_corr``, ``subclass_ml_corr``,
          ``class_ml_corr_code`` in candidate tables. Classes 1-4 are masked
          where the object was not inspected (NaN or masked code);
          subclasses are the paper's ``'4.1'`` … ``'4.12'`` (`PHANGS_CLASS_CODES`)
        - ``age``, ``mass``, ``ebv`` with their ranges (``_min``/``_max``)
          or errors (``_err``) and ``chi2_red`` from the first SED family
          present (``meta['sed']`` says which), masked where −999
        - every other column under its original name.

        ``meta``: ``file``, ``galaxy``, ``release`` (what the file name
        says, see `parse_phangs_name`), ``bands`` (slot → filter),
        ``class_column`` (``class_human``, or ``class_ml`` for machine
        catalogues), ``class_columns`` (name → description),
        ``class_codes`` (code → description), ``pixel_frame``,
        ``pixel_scale_arcsec``, ``pixel_origin``, ``sentinels``, ``sed``,
        ``original_names`` (new name → release column) and ``header``
        (the table's scalar FITS keywords). The file as it is:
        ``QTable.read(path, format='fits')``.

    Raises
    ------
    ValueError
        If the file is not a PHANGS-HST catalogue (the message names the
        missing columns) or a class column holds non-integer codes.

    Warns
    -----
    `~astropy.utils.exceptions.AstropyUserWarning`
        For class codes outside `PHANGS_CLASS_CODES` (their class is masked).

    Examples
    --------
    >>> from astropy.table import QTable
    >>> import astro_clusterclass.io  # registers format='phangs'
    >>> tbl = QTable.read(path, format='phangs')  # doctest: +SKIP
    """
    fileobj_name = None
    if hasattr(path, 'read'):
        fileobj_name = os.fspath(getattr(path, 'name', '') or '<file object>')
        content = path.read()
        source = io.BytesIO(content if isinstance(content, bytes) else content.encode())
    else:
        source = os.fspath(path)
    name = _source_name(path, fileobj_name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', u.UnitsWarning)  # unit strings of some releases
            raw = Table.read(source, format='fits', hdu=hdu)
    except (OSError, ValueError, TypeError, IndexError, KeyError) as exc:
        msg = f'{name} is not a PHANGS-HST catalogue: it cannot be read as a FITS table ({exc})'
        raise ValueError(msg) from exc
    missing = [c for c in _REQUIRED if c not in raw.colnames]
    if missing:
        msg = (f'{name} is not a PHANGS-HST catalogue: it lacks the columns {missing} '
               f'(its columns are {raw.colnames[:12]}{" ..." if len(raw.colnames) > 12 else ""})')
        raise ValueError(msg)

    release = parse_phangs_name(name) or {}
    out = QTable()
    used, original = set(), {}

    def take(new, old, values):
        out[new] = values
        olds = (old,) if isinstance(old, str) else tuple(old)
        used.update(olds)
        original[new] = ', '.join(olds)

    for new, old in (('id', 'ID_PHANGS_CANDIDATE'), ('id', 'ID_PHANGS_CLUSTER'),
                     ('id', 'INDEX')):
        if old in raw.colnames and 'id' not in out.colnames:
            take('id', old, np.asarray(raw[old]).astype(np.int64))
    if 'INDEX' in raw.colnames and 'INDEX' not in used:
        take('running_index', 'INDEX', np.asarray(raw['INDEX']).astype(np.int64))
    for new, old in (('id_cluster', 'ID_PHANGS_CLUSTER'), ('id_candidate', 'ID_PHANGS_CANDIDATE'),
                     ('id_allsources', 'ID_PHANGS_ALLSOURCES')):
        if old in raw.colnames and old not in used:
            values = _float(raw[old])
            bad = _sentinel_mask(values)
            take(new, old, MaskedColumn(np.where(bad, 0, values).astype(np.int64), mask=bad))
    # PHANGS pixels are already 0-based (release readme).
    take('x', 'PHANGS_X', _float(raw['PHANGS_X']))
    take('y', 'PHANGS_Y', _float(raw['PHANGS_Y']))
    ra = _float(raw['PHANGS_RA']) * _unit(raw['PHANGS_RA'], u.deg)
    dec = _float(raw['PHANGS_DEC']) * _unit(raw['PHANGS_DEC'], u.deg)
    take('coord', ('PHANGS_RA', 'PHANGS_DEC'), SkyCoord(ra, dec, frame='icrs'))
    if 'PHANGS_GALAXY' in raw.colnames:
        take('galaxy', 'PHANGS_GALAXY', np.char.strip(np.asarray(raw['PHANGS_GALAXY'], dtype=str)))
    for new, old, unit in (('distance_modulus', 'PHANGS_DM', u.mag),
                           ('distance', 'PHANGS_DMPC', u.Mpc)):
        if old in raw.colnames:
            values = _float(raw[old])
            take(new, old, _masked(values, _unit(raw[old], unit), _sentinel_mask(values)))

    bands = {}
    for slot in BANDS:
        for filt in _SLOT_FILTERS[slot]:
            mag = f'PHANGS_{filt}_VEGA'
            flux = f'PHANGS_{filt}_mJy'
            if mag not in raw.colnames and flux not in raw.colnames:
                continue
            bands[slot] = _filter_label(filt, release.get('instrument'))
            for kind, value_name, error_names, unit in (
                    ('mag', mag, (f'{mag}_ERR',), u.mag),
                    ('flux', flux, (f'{flux}_ERR', f'{flux}_TOT_ERR'), u.mJy)):
                if value_name not in raw.colnames:
                    continue
                values = _float(raw[value_name])
                bad = _sentinel_mask(values)
                take(f'{kind}_{slot}', value_name,
                     _masked(values, _unit(raw[value_name], unit), bad))
                error = next((e for e in error_names if e in raw.colnames), None)
                if error is not None:
                    errors = _float(raw[error])
                    take(f'{kind}err_{slot}', error,
                         _masked(errors, _unit(raw[error], unit), bad | _sentinel_mask(errors)))
            break
    if 'PHANGS_CI' in raw.colnames:
        values = _float(raw['PHANGS_CI'])
        take('ci', 'PHANGS_CI', _masked(values, _unit(raw['PHANGS_CI'], u.mag),
                                        _sentinel_mask(values)))
    for new, old in (('non_detection_flag', 'PHANGS_NON_DETECTION_FLAG'),
                     ('no_coverage_flag', 'PHANGS_NO_COVERAGE_FLAG')):
        if old in raw.colnames:
            take(new, old, raw[old].copy())
    for old in ('PHANGS_COLORCOLOR_CLASS_UBVI', 'CC_CLASS'):
        if old in raw.colnames and 'cc_class' not in out.colnames:
            take('cc_class', old, np.char.strip(np.asarray(raw[old], dtype=str)))

    class_columns, codes_seen = {}, set()
    for old, label, description in _CLASS_COLUMNS:
        if old not in raw.colnames:
            continue
        codes = _class_codes(raw, old, name)
        classes, subclasses = _map_classes(codes, old, name)
        take(f'class_{label}', old, classes)
        out[f'subclass_{label}'] = subclasses
        original[f'subclass_{label}'] = f'{old} (codes mapped to subclasses)'
        out[f'class_{label}_code'] = MaskedColumn(codes.filled(0), mask=np.ma.getmaskarray(codes))
        original[f'class_{label}_code'] = old
        class_columns[f'class_{label}'] = (f'{description} ({old}), mapped to classes 1-4; '
                                           f'masked where not inspected')
        codes_seen.update(int(c) for c in np.unique(codes.compressed()))
        if label == 'ml' and 'PHANGS_CLUSTER_CLASS_ML_VGG_QUAL' in raw.colnames:
            qual = 'PHANGS_CLUSTER_CLASS_ML_VGG_QUAL'
            values = _float(raw[qual])
            take('class_ml_quality', qual, MaskedColumn(values, mask=~np.isfinite(values)))

    sed = None
    for family, names in _SED_FAMILIES:
        if names['age'] not in raw.colnames:
            continue
        sed = family
        for new, olds in names.items():
            olds = (olds,) if isinstance(olds, str) else olds
            old = next((o for o in olds if o in raw.colnames), None)
            if old is None:
                continue
            values = _float(raw[old])
            unit = _SED_UNITS[new.split('_')[0] if new != 'chi2_red' else 'chi2_red']
            take(new, old, _masked(values, _unit(raw[old], unit), _sentinel_mask(values)))
        break

    for old in raw.colnames:
        if old not in used and old not in out.colnames:
            out[old] = raw[old]

    galaxy = release.get('target')
    if galaxy is None and 'galaxy' in out.colnames and len(np.unique(out['galaxy'])) == 1:
        galaxy = str(out['galaxy'][0]).lower()
    out.meta['file'] = name
    out.meta['galaxy'] = galaxy
    out.meta['release'] = release
    out.meta['bands'] = bands
    if 'class_human' in out.colnames and release.get('classification') != 'machine':
        out.meta['class_column'] = 'class_human'
    elif 'class_ml' in out.colnames:
        out.meta['class_column'] = 'class_ml'
    out.meta['class_columns'] = class_columns
    out.meta['class_codes'] = {int(c): PHANGS_CLASS_CODES[c][2] for c in sorted(codes_seen)
                               if c in PHANGS_CLASS_CODES}
    out.meta['pixel_frame'] = f'PHANGS-HST {galaxy}' if galaxy else None
    out.meta['pixel_scale_arcsec'] = PHANGS_PIXEL_SCALE_ARCSEC
    out.meta['pixel_origin'] = 'x, y are 0-based (PHANGS_X, PHANGS_Y as released)'
    out.meta['sentinels'] = ('photometry of -9999 (outside the band footprint), SED results, '
                             'distances and ID_PHANGS_CLUSTER of -999 and NaN are masked')
    out.meta['sed'] = sed
    out.meta['original_names'] = original
    out.meta['header'] = {k: v for k, v in raw.meta.items()
                          if isinstance(v, (str, int, float, bool))}
    return out


def _filter_label(filt, instrument):
    if filt in ('F435W', 'F606W'):
        return f'ACS/{filt}'
    if filt in ('F275W', 'F336W', 'F438W') or instrument == 'uvis':
        return f'WFC3/{filt}'
    return f'{filt} (WFC3/UVIS or ACS/WFC, see the release readme)'


def _register():
    # Registered for Table only (QTable inherits it), with a priority above
    # astropy's 'fits' so that files identified as PHANGS-HST releases are
    # read by this reader; format='fits' still gives the raw file.
    if 'phangs' not in registry.get_formats(Table)['Format']:
        registry.register_reader('phangs', Table, read_phangs, priority=1)
        # The registry looks priorities up for the exact class read into.
        registry.register_reader('phangs', QTable, read_phangs, priority=1)
        registry.register_identifier('phangs', Table, _identify)


_register()
