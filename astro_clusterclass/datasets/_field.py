"""
`make_cluster_field`: a simulated five-band HST field with ground truth.
"""

import os
import time
from typing import NamedTuple

import numpy as np
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS
from astropy.coordinates import SkyCoord
from scipy.spatial import cKDTree

from .._utils.distance import distance_modulus
from .._utils.files import atomic_path, check_output
from .._utils.validation import non_negative_float, non_negative_int, positive_float
from .._version import __version__
from ..bands import BANDS, normalize_band
from ..images import load_images
from ..tables import provenance
from ._background import (SATURATION_ELECTRONS, SKY_RATE, GalaxyModel, add_noise,
                          pixel_noise)
from ._photometry import default_photometry
from ._population import (POPULATIONS, RECIPES, Builder, FieldState, allocate_labels,
                          preset_tuning)
from ._render import Scene

__all__ = ['SimulatedField', 'make_cluster_field', 'DEFAULT_CENTER', 'CANDIDATE_DENSITY',
           'FIELD_STAR_DENSITY']

#: Default sky position of the image centre: NGC 3351, whose PHANGS-HST
#: zeropoints and exposure times the simulation uses.
DEFAULT_CENTER = SkyCoord(160.99064, 11.70367, unit='deg', frame='icrs')

#: Candidates per pixel when ``n_candidates`` is not given (5000 in 4000 x 4000).
CANDIDATE_DENSITY = 5000 / 4000 ** 2

#: Faint field stars (not candidates) per pixel at ``crowding=1``.
FIELD_STAR_DENSITY = 1.25e-3

#: Independent candidates stay this many pixels inside the image (except
#: those placed at the edge on purpose).
_MARGIN = 12


class SimulatedField:
    """
    A simulated five-band field: images, truth and candidate catalogue.

    Made by `make_cluster_field`.

    Attributes
    ----------
    hdus : list of `~astropy.io.fits.ImageHDU`
        One float32 image per band (e-/s, sky-subtracted) in
        :data:`~astro_clusterclass.bands.BANDS` order, with a celestial WCS
        and the photometric keywords of an HST drizzled product (FILTER,
        PHOTFLAM, PHOTPLAM, PHOTZPT, ZP_VEGA, EXPTIME, BUNIT, ...).
    images : `~astro_clusterclass.BandImages`
        The same images as returned by `~astro_clusterclass.load_images`.
    truth : `~astropy.table.QTable`
        One row per candidate with what it really is (see `make_cluster_field`).
    candidates : `~astropy.table.QTable`
        The candidate catalogue a detection step would return.
    field_stars : `~astropy.table.QTable`
        Faint stars added for crowding (not candidates): ``x``, ``y``, magnitudes.
    wcs : `~astropy.wcs.WCS`
    distance : `~astropy.units.Quantity`
    meta : dict
        Parameters and provenance.

    Examples
    --------
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> field = make_cluster_field((256, 256), 20, seed=1)
    >>> field
    <SimulatedField 256x256 px, 20 candidates, distance 10 Mpc, seed 1>
    >>> len(field.hdus), field.hdus[0].header['FILTER'], len(field.truth), len(field.candidates)
    (5, 'F275W', 20, 20)
    """

    def __init__(self, hdus, truth, candidates, field_stars, wcs, distance, meta):
        self.hdus = hdus
        self.images = load_images(hdus)
        self.truth = truth
        self.candidates = candidates
        self.field_stars = field_stars
        self.wcs = wcs
        self.distance = distance
        self.meta = meta

    def __repr__(self):
        ny, nx = self.images.shape
        return (f'<SimulatedField {nx}x{ny} px, {len(self.truth)} candidates, '
                f'distance {self.distance:.3g}, seed {self.meta["arguments"]["seed"]}>')

    def labelled_candidates(self, columns=('class', 'subclass')):
        """
        The candidate catalogue with truth columns joined through ``truth_id``.

        This is what a human-labelled catalogue looks like: detected
        positions (with centroid errors) and the true class of each
        candidate, ready for training or scoring a classifier.

        Parameters
        ----------
        columns : sequence of str, optional
            Truth columns to add (``'class'``, ``'subclass'``, ``'mag_F555W'``...).

        Returns
        -------
        table : `~astropy.table.QTable`
            A new table: the candidate columns, then ``columns``.

        Examples
        --------
        >>> from astro_clusterclass.datasets import make_cluster_field
        >>> field = make_cluster_field((256, 256), 20, seed=1)
        >>> field.labelled_candidates().colnames
        ['id', 'x', 'y', 'coord', 'truth_id', 'class', 'subclass']
        """
        unknown = [c for c in columns if c not in self.truth.colnames or c in ('x', 'y', 'id')]
        if unknown:
            msg = (f'columns {unknown} are not truth columns that can be joined; truth '
                   f'columns: {self.truth.colnames}')
            raise ValueError(msg)
        row_of = {int(i): r for r, i in enumerate(self.truth['id'])}
        rows = np.array([row_of[int(i)] for i in self.candidates['truth_id']], dtype=int)
        out = QTable(self.candidates, copy=True)
        for name in columns:
            out[name] = self.truth[name][rows]
        return out

    def write(self, directory, *, prefix='field', overwrite=False):
        """
        Write one FITS file per band and the truth and candidate tables (ECSV).

        Parameters
        ----------
        directory : str or path-like
            Output folder (created if needed).
        prefix : str, optional
            File-name prefix: ``<prefix>_f275w.fits`` …, ``<prefix>_truth.ecsv``,
            ``<prefix>_candidates.ecsv``.
        overwrite : bool, optional
            Replace existing files.

        Returns
        -------
        paths : dict
            ``band → path`` for the images plus ``'truth'`` and ``'candidates'``.

        Raises
        ------
        FileExistsError
            If a file exists and ``overwrite`` is False (nothing is written).
        """
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        paths = {band: os.path.join(directory, f'{prefix}_{band.lower()}.fits')
                 for band in BANDS}
        paths['truth'] = os.path.join(directory, f'{prefix}_truth.ecsv')
        paths['candidates'] = os.path.join(directory, f'{prefix}_candidates.ecsv')
        for path in paths.values():
            check_output(path, overwrite=overwrite, parameter='directory')
        for band, hdu in zip(BANDS, self.hdus):
            primary = fits.PrimaryHDU()
            for key in ('TELESCOP', 'INSTRUME', 'DETECTOR', 'FILTER', 'EXPTIME', 'ORIGIN'):
                primary.header[key] = (hdu.header[key], hdu.header.comments[key])
            with atomic_path(paths[band]) as tmp:
                fits.HDUList([primary, hdu]).writeto(tmp)
        for name in ('truth', 'candidates'):
            with atomic_path(paths[name]) as tmp:
                getattr(self, name).write(tmp, format='ascii.ecsv')
        return paths


def _check_shape(shape):
    try:
        ny, nx = (int(v) for v in shape)
        ok = (ny, nx) == tuple(shape)
    except (TypeError, ValueError):
        ok = False
    if not ok or ny < 64 or nx < 64:
        msg = f'shape must be two integers (ny, nx), each at least 64, got {shape!r}'
        raise ValueError(msg)
    return ny, nx


def _check_distance(distance):
    if not isinstance(distance, u.Quantity):
        msg = (f'distance must be a Quantity with length units (e.g. 10 * u.Mpc), '
               f'got {distance!r} without units')
        raise TypeError(msg)
    if distance.unit.physical_type != 'length' or not distance.isscalar:
        msg = f'distance must be a scalar length (e.g. 10 * u.Mpc), got {distance!r}'
        raise ValueError(msg)
    if not np.isfinite(distance.value) or distance.to_value(u.Mpc) <= 0.01:
        msg = f'distance must be finite and beyond 10 kpc, got {distance!r}'
        raise ValueError(msg)
    return distance.to(u.Mpc)


def _band_mapping(values, parameter, unit):
    out = {}
    for key, value in (values or {}).items():
        band = normalize_band(key, parameter=parameter)
        if isinstance(value, u.Quantity):
            value = value.to_value(unit)
        out[band] = positive_float(value, f'{parameter}[{key!r}]')
    return out


def _make_wcs(shape, center, pixel_scale):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [center.icrs.ra.deg, center.icrs.dec.deg]
    wcs.wcs.crpix = [(shape[1] + 1) / 2, (shape[0] + 1) / 2]
    scale = pixel_scale.to_value(u.deg)
    wcs.wcs.cd = [[-scale, 0.0], [0.0, scale]]
    wcs.wcs.radesys = 'ICRS'
    wcs.wcs.equinox = 2000.0
    return wcs


class _Placer:
    """Greedy placement with a minimum separation (grid hashing)."""

    def __init__(self, min_sep):
        self.min_sep = float(min_sep)
        self.cell = max(self.min_sep, 1.0)
        self.grid = {}

    def fits(self, x, y):
        if self.min_sep <= 0:
            return True
        cx, cy = int(x // self.cell), int(y // self.cell)
        for i in (cx - 1, cx, cx + 1):
            for j in (cy - 1, cy, cy + 1):
                for px, py in self.grid.get((i, j), ()):
                    if (px - x) ** 2 + (py - y) ** 2 < self.min_sep ** 2:
                        return False
        return True

    def add(self, x, y):
        self.grid.setdefault((int(x // self.cell), int(y // self.cell)), []).append((x, y))


def _edge_positions(m, shape, rng):
    ny, nx = shape
    side = rng.integers(4, size=m)
    depth = rng.uniform(0.0, 3.0, m)
    along_x = rng.uniform(_MARGIN, nx - 1 - _MARGIN, m)
    along_y = rng.uniform(_MARGIN, ny - 1 - _MARGIN, m)
    x = np.select([side == 0, side == 1], [depth, nx - 1 - depth], along_x)
    y = np.select([side == 2, side == 3], [depth, ny - 1 - depth], along_y)
    return x, y


def _uniform_positions(m, shape, rng):
    ny, nx = shape
    return (rng.uniform(_MARGIN, nx - 1 - _MARGIN, m),
            rng.uniform(_MARGIN, ny - 1 - _MARGIN, m))


def _sample_positions(recipe, m, shape, galaxy, rng):
    """``m`` trial positions for a label placed as ``recipe.placement`` says."""
    if recipe.placement == 'edge':
        return _edge_positions(m, shape, rng)
    if recipe.placement == 'uniform':
        return _uniform_positions(m, shape, rng)
    return galaxy.sample(m, rng, young_fraction=recipe.young_fraction, margin=_MARGIN)


def _grouped(px, py, placed, shape, rng, fraction, min_sep, reach=10.0):
    """
    Move a ``fraction`` of the trial positions next to candidates already
    placed (``min_sep``-``reach`` px away): young objects form in groups.
    """
    ny, nx = shape
    move = np.nonzero(rng.random(len(px)) < fraction)[0]
    if not len(move) or not placed:
        return px, py
    anchor = np.asarray(placed)[rng.integers(len(placed), size=len(move))]
    r = rng.uniform(max(min_sep, 1.0), max(reach, min_sep + 1.0), len(move))
    phi = rng.uniform(0, 2 * np.pi, len(move))
    px, py = px.copy(), py.copy()
    px[move] = np.clip(anchor[:, 0] + r * np.cos(phi), _MARGIN, nx - 1 - _MARGIN)
    py[move] = np.clip(anchor[:, 1] + r * np.sin(phi), _MARGIN, ny - 1 - _MARGIN)
    return px, py


def _place_independent(labels, shape, galaxy, rng, min_sep, group_fraction=0.0):
    """
    Positions of the independent candidates, at least ``min_sep`` apart.

    The galaxy centre is taken first (``'center'`` placements), then the
    labels in the order of their first appearance in ``labels``, each from
    the positions its `~._population.Recipe` asks for. With
    ``group_fraction`` > 0, that fraction of the young labels' positions
    (``young_fraction`` >= 0.8: associations, stars, pairs, triplets,
    fluff) is drawn next to candidates placed before them.
    """
    placer = _Placer(min_sep)
    placed = []
    x = np.full(len(labels), np.nan)
    y = np.full(len(labels), np.nan)
    for i, label in enumerate(labels):
        if RECIPES[label].placement == 'center':
            x[i], y[i] = galaxy.center
            placer.add(*galaxy.center)
    for label in dict.fromkeys(labels):
        recipe = RECIPES[label]
        if recipe.placement == 'center':
            continue
        todo = [i for i, lab in enumerate(labels) if lab == label]
        tries = 0
        while todo:
            m = 2 * len(todo) + 16
            px, py = _sample_positions(recipe, m, shape, galaxy, rng)
            if group_fraction > 0 and (recipe.young_fraction or 0) >= 0.8:
                px, py = _grouped(px, py, placed, shape, rng, group_fraction, min_sep)
            for cx, cy in zip(px, py):
                if todo and placer.fits(cx, cy):
                    placer.add(cx, cy)
                    placed.append((cx, cy))
                    i = todo.pop()
                    x[i], y[i] = cx, cy
            tries += m
            if tries > 200 * len(labels) + 10000:
                msg = (f'shape {shape} is too small to place {len(labels)} candidates '
                       f'{min_sep} px apart (min_separation); use a larger shape, fewer '
                       f'candidates or a smaller min_separation')
                raise ValueError(msg)
    return x, y


def _independent_labels(counts, shape, galaxy, rng):
    """The labels of the independent candidates, in random order."""
    ny, nx = shape
    labels = [label for label, count in counts.items()
              if RECIPES[label].placement != 'parent' for _ in range(count)]
    labels = [labels[i] for i in rng.permutation(len(labels))]
    cx, cy = galaxy.center
    inside = _MARGIN <= cx <= nx - 1 - _MARGIN and _MARGIN <= cy <= ny - 1 - _MARGIN
    if not inside:  # pragma: no cover - the centre is always inside
        labels = ['4.1' if RECIPES[lab].placement == 'center' else lab for lab in labels]
    return labels


def make_cluster_field(shape=(4000, 4000), n_candidates=None, *, distance=10 * u.Mpc, seed=0,
                       class_fractions=None, subclass_fractions=None, v_limit=None,
                       n_field_stars=None, crowding=1.0, min_separation=None,
                       position_error=0.15, galaxy=True, noise=True, exptime=None,
                       nexp=None, zeropoints=None, center=None, pixel_scale=0.04 * u.arcsec,
                       preset='v1'):
    """
    Simulate a five-band HST field of cluster candidates with known classes.

    The field imitates a PHANGS-HST/LEGUS WFC3/UVIS mosaic of a nearby
    spiral (F275W, F336W, F438W, F555W, F814W; 0.04"/px; zeropoints and
    exposure times of NGC 3351): a host disc with spiral arms and clumps,
    sky, read and photon noise, faint field stars, and ``n_candidates``
    candidates whose morphology follows the class definitions of Whitmore
    et al. (2021, §3.2, Table 3):

    * class 1 — one round, smooth EFF profile broader than the PSF;
    * class 2 — a single peak made asymmetric by elongation, lopsided light
      or 1-2 bright stars off-centre;
    * class 3 — 4-7 resolved stars within 5 px of the brightest one, plus
      diffuse light;
    * class 4 — 4.1 single star, 4.2 pair, 4.3 triplet, 4.4 saturated
      foreground star with spikes and bleeding, 4.5 detection on a
      diffraction spike, 4.6 galaxy nucleus, 4.7 background galaxy, 4.8 fluff
      (no peak), 4.9 redundant detection 2.5-5 px from a bright cluster,
      4.10 too faint to tell, 4.11 at the image edge, 4.12 bad pixel.

    Cluster ages and masses are drawn from simple distributions and turned
    into magnitudes with the BC03 solar track, an approximate V-band
    mass-to-light ratio and Fitzpatrick (1999) reddening (see
    ``docs/simulations.rst`` for every ingredient and its source).
    Rendering is vectorised (postage stamps in batches); ``docs/simulations.rst``
    gives timings.

    Parameters
    ----------
    shape : tuple of int, optional
        Image shape ``(ny, nx)``, each at least 64.
    n_candidates : int, optional
        Number of candidates (rows of ``truth`` and ``candidates``).
        Default: 5000 per 4000 x 4000 pixels (:data:`CANDIDATE_DENSITY`).
    distance : `~astropy.units.Quantity`, optional
        Distance of the host galaxy (sets the distance modulus, the physical
        pixel size and so the apparent sizes of clusters).
    seed : int, optional
        Seed of all random draws; the same seed gives identical arrays.
    class_fractions : dict, optional
        Relative numbers of classes 1-4, e.g. ``{1: 1, 2: 1, 3: 1, 4: 1}`` for
        a balanced set. Default
        :data:`~astro_clusterclass.datasets.DEFAULT_CLASS_FRACTIONS` (the
        human classes of Whitmore et al. 2021, Table 3: 23, 18, 13, 45 %).
        Counts follow the fractions exactly (largest remainder).
    subclass_fractions : dict, optional
        Relative numbers of the class-4 subclasses (``'4.1'`` … ``'4.12'``).
        Default :data:`~astro_clusterclass.datasets.DEFAULT_SUBCLASS_FRACTIONS`
        (Table 3: mostly pairs, stars, triplets and redundant detections).
        At most one galaxy nucleus is made.
    v_limit : float, optional
        Faintest F555W Vega magnitude of a candidate (4.10 and 4.8 are
        fainter by construction); with the ``'legus'`` preset the magnitude
        of 50 % detection probability. Default that of the preset (24 for
        ``'v1'``).
    n_field_stars : int, optional
        Faint stars that are not candidates. Default
        ``crowding * FIELD_STAR_DENSITY * ny * nx``.
    crowding : float, optional
        Scales the default number of field stars.
    min_separation : float, optional
        Smallest distance (px) between independent candidates (redundant
        detections and spike detections are placed next to their parent);
        default that of the preset (12 px for ``'v1'``).
    position_error : float, optional
        Centroid error (px, per axis) of bright candidates; it grows as the
        inverse signal-to-noise ratio for faint ones.
    galaxy : bool, optional
        Include the host-galaxy light.
    noise : bool, optional
        Include sky, photon and read noise (False gives noiseless images).
    exptime : dict, optional
        Exposure times per band (s or Quantity) replacing the NGC 3351 ones.
    nexp : dict, optional
        Number of exposures combined per band (sets the read noise and the
        saturation level), replacing the NGC 3351 ones.
    zeropoints : dict, optional
        Vega zeropoints per band (mag of 1 e-/s) replacing the NGC 3351
        ones, e.g. from `~astro_clusterclass.io.read_phangs_zeropoints`.
    center : `~astropy.coordinates.SkyCoord`, optional
        Sky position of the image centre (default ``DEFAULT_CENTER``, the
        position of NGC 3351).
    pixel_scale : `~astropy.units.Quantity`, optional
        Pixel size (default 0.04 arcsec).
    preset : {'v1', 'legus'}, optional
        The population and morphology parameters: ``'v1'`` (default) the
        definitions of the paper as first implemented; ``'legus'`` tuned so
        that the measured candidates match the LEGUS catalogues of NGC 1566
        and NGC 628 (see `~astro_clusterclass.datasets.PRESETS` and
        ``docs/realism.rst``).

    Returns
    -------
    field : `SimulatedField`
        ``field.truth`` columns: ``id``, ``x``, ``y`` (0-based pixels),
        ``coord`` (SkyCoord), ``class`` (1-4), ``subclass`` (``''`` for
        classes 1-3, ``'4.1'`` … ``'4.12'``), ``mag_F275W`` … ``mag_F814W``
        (total apparent Vega magnitudes; NaN for 4.5, 4.9 and 4.12, which
        have no light of their own), ``abs_mag_F555W``, ``age`` (yr),
        ``mass`` (solMass; clusters and associations only), ``ebv`` (mag),
        ``r_eff`` (pc) and ``r_eff_pix`` (half-light radius; 0 for stars),
        ``axis_ratio``, ``n_stars`` (resolved stars in the object),
        ``parent_id`` (the bright source a 4.5/4.9 detection belongs to, or
        0) and ``description`` (what makes it that class).
        ``field.candidates`` columns: ``id``, ``x``, ``y`` (with centroid
        errors), ``coord``, ``truth_id``; sorted by ``y`` as a source finder
        returns them.

    Raises
    ------
    TypeError
        If ``distance`` has no units.
    ValueError
        For negative counts, a shape that is too small (under 64 px, or too
        small to hold the candidates ``min_separation`` apart), unknown
        classes or bands, or non-positive exposure times; messages name the
        parameter.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> field = make_cluster_field((256, 256), 20, distance=10 * u.Mpc, seed=1)
    >>> field
    <SimulatedField 256x256 px, 20 candidates, distance 10 Mpc, seed 1>
    >>> field.images
    <BandImages 256x256 px, bands: F275W, F336W, F438W, F555W, F814W, wcs: yes>
    >>> sorted(set(field.truth['class'].tolist()))
    [1, 2, 3, 4]
    """
    started = time.perf_counter()
    arguments = dict(shape=tuple(shape) if np.ndim(shape) else shape,
                     n_candidates=n_candidates, distance=distance, seed=seed,
                     class_fractions=class_fractions, subclass_fractions=subclass_fractions,
                     v_limit=v_limit, n_field_stars=n_field_stars, crowding=crowding,
                     min_separation=min_separation, position_error=position_error,
                     galaxy=galaxy, noise=noise, exptime=exptime, nexp=nexp,
                     zeropoints=zeropoints, center=center, pixel_scale=pixel_scale,
                     preset=preset)
    ny, nx = _check_shape(shape)
    if n_candidates is None:
        n_candidates = int(round(CANDIDATE_DENSITY * ny * nx))
    n_candidates = non_negative_int(n_candidates, 'n_candidates')
    distance = _check_distance(distance)
    crowding = non_negative_float(crowding, 'crowding')
    if n_field_stars is None:
        n_field_stars = int(round(crowding * FIELD_STAR_DENSITY * ny * nx))
    n_field_stars = non_negative_int(n_field_stars, 'n_field_stars')
    tuning = preset_tuning(preset)
    v_limit = tuning.v_limit if v_limit is None else float(v_limit)
    if min_separation is None:
        min_separation = tuning.min_separation
    min_separation = non_negative_float(min_separation, 'min_separation')
    position_error = non_negative_float(position_error, 'position_error')
    if not isinstance(pixel_scale, u.Quantity) or pixel_scale.unit.physical_type != 'angle':
        msg = f'pixel_scale must be an angle (e.g. 0.04 * u.arcsec), got {pixel_scale!r}'
        raise TypeError(msg)
    center = DEFAULT_CENTER if center is None else center
    if not isinstance(center, SkyCoord) or not center.isscalar:
        msg = f'center must be a scalar SkyCoord, got {center!r}'
        raise TypeError(msg)
    exptimes = _band_mapping(exptime, 'exptime', u.s)
    nexps = _band_mapping(nexp, 'nexp', u.one)
    zps = _band_mapping(zeropoints, 'zeropoints', u.mag)
    counts = allocate_labels(n_candidates,
                             tuning.class_fractions if class_fractions is None else class_fractions,
                             tuning.subclass_fractions if subclass_fractions is None
                             else subclass_fractions)
    _check_capacity((ny, nx), n_candidates, counts, min_separation)
    inst = _Instrument.make(exptimes, distance, pixel_scale, nexp=nexps, zeropoints=zps)

    rng_gal, rng_pos, rng_pop, rng_stars, rng_noise, rng_cand = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))
    host = GalaxyModel((ny, nx), inst.pc_per_pixel, rng_gal)
    labels = _independent_labels(counts, (ny, nx), host, rng_pos)
    xs, ys = _place_independent(labels, (ny, nx), host, rng_pos, min_separation,
                                tuning.group_fraction)

    scene = Scene((ny, nx))
    builder = Builder(rng_pop, dmod=inst.dmod, pc_per_pixel=inst.pc_per_pixel, zp=inst.zp,
                      noise=inst.pixel_noise, saturation=inst.saturation, v_limit=v_limit,
                      photometry=inst.photometry, scene=scene, tuning=tuning)
    state = _build_candidates(builder, labels, xs, ys, counts, (ny, nx), rng_pos)
    _add_field_stars(builder, scene, n_field_stars, host, rng_stars, v_limit)
    images = _render_images(scene, host if galaxy else None, inst, state.bad_pixels,
                            rng_noise if noise else None)

    wcs = _make_wcs((ny, nx), center, pixel_scale)
    hdus = _make_hdus(images, wcs, inst.photometry, pixel_scale, seed, distance)
    meta = provenance('make_cluster_field', arguments)
    meta['elapsed_s'] = round(time.perf_counter() - started, 3)
    truth = _truth_table(builder, wcs, inst.dmod, inst.pc_per_pixel, rng_cand, meta)
    candidates = _candidate_table(truth, wcs, rng_cand, position_error, inst, meta)
    field_stars = builder.field_stars
    field_stars.meta.update(meta)
    return SimulatedField(hdus, truth, candidates, field_stars, wcs, distance, meta)


def _check_capacity(shape, n_candidates, counts, min_separation):
    """Refuse more independent candidates than fit ``min_separation`` apart."""
    # Independent candidates need about min_separation^2 each (random
    # sequential packing fills about half of the area).
    ny, nx = shape
    n_independent = n_candidates - sum(count for label, count in counts.items()
                                       if RECIPES[label].placement == 'parent')
    usable = (ny - 2 * _MARGIN) * (nx - 2 * _MARGIN)
    if min_separation > 0 and n_independent * (np.pi / 4) * min_separation ** 2 > 0.45 * usable:
        most = int(0.45 * usable / ((np.pi / 4) * min_separation ** 2))
        msg = (f'shape {(ny, nx)} is too small for n_candidates={n_candidates} at '
               f'min_separation={min_separation} px: about {most} fit; use a larger shape, '
               f'fewer candidates or a smaller min_separation')
        raise ValueError(msg)


class _Instrument(NamedTuple):
    """Photometric set-up of a field: band table, zeropoints, noise, distance."""

    photometry: QTable
    zp: np.ndarray
    t_exp: np.ndarray
    nexp: np.ndarray
    sky: np.ndarray
    pixel_noise: np.ndarray
    saturation: np.ndarray
    dmod: float
    pc_per_pixel: float

    @classmethod
    def make(cls, exptimes, distance, pixel_scale, *, nexp=None, zeropoints=None):
        phot = default_photometry()
        for band, value in exptimes.items():
            phot['exptime'][BANDS.index(band)] = value * u.s
        for band, value in (nexp or {}).items():
            phot['nexp'][BANDS.index(band)] = max(int(round(value)), 1)
        for band, value in (zeropoints or {}).items():
            phot['zp_vega'][BANDS.index(band)] = value * u.mag
        t_exp = phot['exptime'].to_value(u.s)
        nexp = np.asarray(phot['nexp'], dtype=int)
        sky = np.array([SKY_RATE[b] for b in BANDS])
        return cls(photometry=phot, zp=phot['zp_vega'].to_value(u.mag), t_exp=t_exp,
                   nexp=nexp, sky=sky, pixel_noise=pixel_noise(t_exp, nexp, sky),
                   saturation=SATURATION_ELECTRONS * nexp / t_exp,
                   dmod=distance_modulus(distance, parameter='distance'),
                   pc_per_pixel=distance.to_value(u.pc) * pixel_scale.to_value(u.rad))


def _build_candidates(builder, labels, xs, ys, counts, shape, rng_pos):
    """
    Build every candidate through its `~._population.RECIPES` entry.

    Clusters are drawn per population first, then the spike orientation;
    the independent candidates follow in the order of ``labels``, and the
    ``'parent'`` placements last (their positions drawn from ``rng_pos``).
    """
    drawn = {key: builder.draw_clusters(sum(RECIPES[lab].population == key for lab in labels),
                                        key)
             for key in POPULATIONS}
    taken = dict.fromkeys(drawn, 0)
    state = FieldState(shape=shape, spike_angle=builder.rng.uniform(0, np.pi / 2),
                       position_rng=rng_pos)
    for label, x, y in zip(labels, xs, ys):
        recipe = RECIPES[label]
        cluster = None
        if recipe.population is not None:
            i = taken[recipe.population]
            taken[recipe.population] += 1
            cluster = tuple(column[i] for column in drawn[recipe.population])
        recipe.build(builder, x, y, cluster, state)
    for label, recipe in RECIPES.items():
        if recipe.placement == 'parent':
            recipe.build(builder, counts[label], state)
    return state


def _render_images(scene, host, inst, bad_pixels, rng_noise):
    """
    The five images: galaxy light (none without ``host``), the sources, noise
    (none without ``rng_noise``) and the bad pixels.
    """
    images = host.images(inst.zp, photometry=inst.photometry) if host is not None else None
    images = scene.render(images)
    ny, nx = scene.shape
    if rng_noise is not None:
        for b in range(len(BANDS)):
            images[b] = add_noise(images[b], rng_noise, exptime=inst.t_exp[b],
                                  nexp=inst.nexp[b], sky_rate=inst.sky[b])
    for ix, iy, band, values in bad_pixels:
        ok = (ix >= 0) & (ix < nx) & (iy >= 0) & (iy < ny)
        images[band][iy[ok], ix[ok]] += values[ok].astype(np.float32)
    return images


def _add_field_stars(builder, scene, n, host, rng, v_limit):
    tree = cKDTree(np.array([[r['x'], r['y']] for r in builder.rows]).reshape(-1, 2)) \
        if builder.rows else None
    xs, ys = [], []
    need = n
    for _ in range(50):
        if need <= 0:
            break
        x, y = host.sample(2 * need + 16, rng, young_fraction=0.7, margin=0)
        if tree is not None:
            far = tree.query(np.stack([x, y], axis=1), k=1)[0] >= 6.0
            x, y = x[far], y[far]
        xs.append(x[:need])
        ys.append(y[:need])
        need -= len(xs[-1])
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    builder.rng, saved = rng, builder.rng
    mags, ebv = builder.star_magnitudes(len(x), v_range=(v_limit - 1.5, v_limit + 2.0))
    builder.rng = saved
    if len(x):
        scene.add_points(x, y, builder.rates(mags))
    tbl = QTable()
    tbl['x'] = x
    tbl['y'] = y
    for b, band in enumerate(BANDS):
        tbl[f'mag_{band}'] = mags[:, b] * u.mag
    tbl['ebv'] = ebv * u.mag
    builder.field_stars = tbl


def _make_hdus(images, wcs, phot, pixel_scale, seed, distance):
    hdus = []
    for b, band in enumerate(BANDS):
        header = wcs.to_header()
        header['TELESCOP'] = ('HST', 'simulated')
        header['INSTRUME'] = ('WFC3', 'simulated')
        header['DETECTOR'] = (str(phot['detector'][b]), 'simulated')
        header['FILTER'] = (band, 'filter')
        header['BUNIT'] = ('ELECTRONS/S', 'units of the pixel values')
        header['EXPTIME'] = (float(phot['exptime'][b].to_value(u.s)), '[s] total exposure time')
        header['NCOMBINE'] = (int(phot['nexp'][b]), 'number of exposures combined')
        header['PHOTFLAM'] = (float(phot['photflam'][b].value),
                              'inverse sensitivity, ergs/cm2/A/e-')
        header['PHOTPLAM'] = (float(phot['photplam'][b].to_value(u.AA)),
                              '[Angstrom] pivot wavelength')
        header['PHOTZPT'] = (-21.1, 'ST magnitude zero point')
        header['ZP_VEGA'] = (float(phot['zp_vega'][b].value), 'Vega mag of 1 e-/s')
        header['D001SCAL'] = (float(pixel_scale.to_value(u.arcsec)), '[arcsec] pixel scale')
        header['ORIGIN'] = (f'astro_clusterclass {__version__}', 'simulated image')
        header['SIMULATE'] = (True, 'made by astro_clusterclass.datasets')
        header['SIMSEED'] = (int(seed), 'random seed of the simulation')
        header['SIMDIST'] = (float(distance.to_value(u.Mpc)), '[Mpc] simulated distance')
        hdus.append(fits.ImageHDU(images[b], header=header, name='SCI'))
    return hdus


def _truth_table(builder, wcs, dmod, pc_per_pixel, rng, meta):
    rows = builder.rows
    n = len(rows)
    order = rng.permutation(n)  # ids in random order, not grouped by class
    new_id = np.empty(n, dtype=int)
    new_id[order] = np.arange(1, n + 1)
    rows = [rows[i] for i in order]
    tbl = QTable()
    tbl['id'] = np.arange(1, n + 1)
    x = np.array([r['x'] for r in rows], dtype=float)
    y = np.array([r['y'] for r in rows], dtype=float)
    tbl['x'] = x
    tbl['y'] = y
    tbl['coord'] = wcs.pixel_to_world(x, y) if n else SkyCoord([], [], unit='deg')
    labels = [r['label'] for r in rows]
    tbl['class'] = np.array([int(lab.split('.')[0]) for lab in labels], dtype=int)
    tbl['subclass'] = np.array([lab if lab.startswith('4.') else '' for lab in labels],
                               dtype='U5')
    mags = np.array([r['mags'] for r in rows], dtype=float).reshape(n, len(BANDS))
    for b, band in enumerate(BANDS):
        tbl[f'mag_{band}'] = mags[:, b] * u.mag
    tbl['abs_mag_F555W'] = (mags[:, 3] - dmod) * u.mag
    tbl['age'] = np.array([r['age'] for r in rows], dtype=float) * u.yr
    tbl['mass'] = np.array([r['mass'] for r in rows], dtype=float) * u.solMass
    tbl['ebv'] = np.array([r['ebv'] for r in rows], dtype=float) * u.mag
    r_pix = np.array([r['r_eff_pix'] for r in rows], dtype=float)
    tbl['r_eff'] = r_pix * pc_per_pixel * u.pc
    tbl['r_eff_pix'] = r_pix
    tbl['axis_ratio'] = np.array([r['axis_ratio'] for r in rows], dtype=float)
    tbl['n_stars'] = np.array([r['n_stars'] for r in rows], dtype=int)
    tbl['parent_id'] = np.array([new_id[r['parent']] if r['parent'] >= 0 else 0
                                 for r in rows], dtype=int)
    tbl['description'] = [r['description'] for r in rows]
    tbl['x'].description = '0-based pixel x of the light-weighted centre'
    tbl['y'].description = '0-based pixel y of the light-weighted centre'
    tbl['r_eff'].description = 'half-light radius of the (untruncated) intrinsic profile'
    tbl['parent_id'].description = 'id of the source a 4.5/4.9 detection belongs to (0: none)'
    tbl.meta.update(meta)
    tbl.meta['table'] = 'truth'
    return tbl


def _candidate_table(truth, wcs, rng, position_error, inst, meta):
    n = len(truth)
    zp, t_exp, nexp, sky = inst.zp, inst.t_exp, inst.nexp, inst.sky
    rate = 10 ** (-0.4 * (truth['mag_F555W'].to_value(u.mag) - zp[3]))
    rate = np.where(np.isfinite(rate), rate, 0.0)
    electrons = rate * t_exp[3]
    background = np.pi * 9 * (sky[3] * t_exp[3] + nexp[3] * 3.1 ** 2)
    snr = electrons / np.sqrt(electrons + background)
    # Centroid error: position_error for bright sources, growing as
    # FWHM / (2.35 S/N) (about 1/SNR px) for faint ones.
    sigma = np.where(snr > 0, np.hypot(position_error, 1.0 / np.maximum(snr, 1e-3)),
                     position_error)
    sigma = np.minimum(sigma, 1.0)
    x = np.asarray(truth['x']) + rng.normal(0.0, 1.0, n) * sigma
    y = np.asarray(truth['y']) + rng.normal(0.0, 1.0, n) * sigma
    order = np.lexsort((x, y))
    tbl = QTable()
    tbl['id'] = np.arange(1, n + 1)
    tbl['x'] = x[order]
    tbl['y'] = y[order]
    tbl['coord'] = wcs.pixel_to_world(tbl['x'], tbl['y']) if n else SkyCoord([], [], unit='deg')
    tbl['truth_id'] = np.asarray(truth['id'])[order]
    tbl['x'].description = '0-based detected pixel x (with centroid error)'
    tbl['y'].description = '0-based detected pixel y (with centroid error)'
    tbl.meta.update(meta)
    tbl.meta['table'] = 'candidates'
    return tbl
