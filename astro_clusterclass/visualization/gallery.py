"""
Stamp galleries of candidates per class: colour composites, band strips, a scale bar.

The colour composite follows what the PHANGS-HST classifiers look at
(Whitmore et al. 2021, §3, step 4: the Hubble Legacy Archive colour image
"generally created using images in the F336W, F555W and F814W filters"):
red F814W, green F555W, blue F336W, combined with the Lupton et al. (2004)
asinh scaling of `astropy.visualization.make_lupton_rgb`, which stretches
the summed intensity and keeps the ratios of the bands, so that a young
blue cluster stays blue and an old one red at any brightness.
"""

import warnings

import numpy as np
from astropy import units as u
from astropy.stats import mad_std
from astropy.utils.exceptions import AstropyUserWarning
from astropy.visualization import (AsinhStretch, ImageNormalize, LuptonAsinhStretch,
                                   ManualInterval, PercentileInterval, make_lupton_rgb)

from .._utils.validation import check_choice, non_negative_int, positive_float, positive_int
from ..bands import normalize_band
from ..classes import CLASSES, validate_classes
from ._axes import new_figure

__all__ = ['plot_gallery', 'select_gallery_candidates', 'GALLERY_ORDERS', 'DEFAULT_RGB_BANDS']

#: How `plot_gallery` chooses the candidates of each class: at random
#: (reproducibly, with a seed), the most or least confident first, the
#: brightest or faintest first.
GALLERY_ORDERS = ('random', 'most_confident', 'least_confident', 'brightest', 'faintest')

#: Bands of the red, green and blue channels (a tuple of bands is summed).
DEFAULT_RGB_BANDS = ('F814W', 'F555W', 'F336W')

# Scale-bar lengths tried by scale_bar='auto', the longest under 40 % of the stamp.
_BAR_LENGTHS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0) * u.arcsec

# Stamps whose centres set the balance of the bands, at most.
_BALANCE_SAMPLE = 1000

# Layout, in inches.
_LEFT, _RIGHT, _TOP, _BOTTOM = 0.62, 0.05, 0.34, 0.05
_TITLE, _GAP, _BLOCK_GAP = 0.15, 0.03, 0.12


def _values(values, n, parameter):
    """Float array of ``values`` (NaN where masked or not finite), of length ``n``."""
    out = np.ma.filled(np.ma.masked_invalid(np.ma.asarray(
        getattr(values, 'value', values), dtype=float)), np.nan)
    if out.shape != (n,):
        msg = f'{parameter} has {out.size} entries but there are {n} candidates'
        raise ValueError(msg)
    return out


def select_gallery_candidates(classes, *, per_class=6, class_order=CLASSES, order='random',
                              seed=0, confidence=None, magnitude=None):
    """
    Choose the candidates a gallery shows, per class.

    Parameters
    ----------
    classes : array-like
        Class of each candidate (0-4, masked allowed).
    per_class : int, optional
        Candidates per class at most.
    class_order : sequence of int, optional
        Classes to choose from.
    order : {'random', 'most_confident', 'least_confident', 'brightest', 'faintest'}, optional
        ``'random'``: a random sample without replacement, the same for the
        same ``seed`` (each class draws from its own generator, seeded with
        ``seed`` and the class, so that the sample of one class does not
        depend on the others); ``'most_confident'`` / ``'least_confident'``:
        the largest / smallest ``confidence`` first; ``'brightest'`` /
        ``'faintest'``: the smallest / largest ``magnitude`` first. Ties
        keep the input order; candidates whose value is not finite are not
        chosen by the sorted orders.
    seed : int, optional
        Seed of the random order.
    confidence : array-like, optional
        How sure the classification of each candidate is (e.g. the
        probability of its class, ``prob_<class>`` of
        `~astro_clusterclass.classify.classify_table`); needed by the
        confidence orders.
    magnitude : array-like, optional
        Magnitude of each candidate; needed by the magnitude orders.

    Returns
    -------
    chosen : dict
        Class → integer array of candidate indices, in display order.

    Raises
    ------
    ValueError
        If ``order`` is unknown, or needs ``confidence`` or ``magnitude``
        and did not get it, or an array has another length than ``classes``.

    Examples
    --------
    >>> from astro_clusterclass.visualization import select_gallery_candidates
    >>> classes = [1, 1, 2, 1, 2, 1]
    >>> prob = [0.9, 0.4, 0.8, 0.99, 0.6, 0.7]
    >>> chosen = select_gallery_candidates(classes, per_class=2, class_order=(1, 2),
    ...                                    order='least_confident', confidence=prob)
    >>> {k: v.tolist() for k, v in chosen.items()}
    {1: [1, 5], 2: [4, 2]}
    >>> a = select_gallery_candidates(classes, per_class=2, seed=3)
    >>> b = select_gallery_candidates(classes, per_class=2, seed=3)
    >>> all((a[k] == b[k]).all() for k in a)
    True
    """
    labels = validate_classes(classes, parameter='classes').filled(-1)
    per_class = positive_int(per_class, 'per_class')
    check_choice(order, GALLERY_ORDERS, 'order')
    seed = non_negative_int(seed, 'seed')
    key = None
    if order in ('most_confident', 'least_confident'):
        if confidence is None:
            msg = (f"order={order!r} needs confidence= (e.g. the probability of each "
                   f"candidate's class)")
            raise ValueError(msg)
        key = _values(confidence, len(labels), 'confidence')
        key = -key if order == 'most_confident' else key
    elif order in ('brightest', 'faintest'):
        if magnitude is None:
            msg = f'order={order!r} needs magnitude= (a magnitude per candidate)'
            raise ValueError(msg)
        key = _values(magnitude, len(labels), 'magnitude')
        key = key if order == 'brightest' else -key
    chosen = {}
    for k in class_order:
        members = np.flatnonzero(labels == k)
        if key is None:
            rng = np.random.default_rng([seed, int(k)])
            picked = rng.choice(members, size=min(per_class, len(members)), replace=False)
        else:
            members = members[np.isfinite(key[members])]
            picked = members[np.argsort(key[members], kind='stable')][:per_class]
        chosen[k] = np.asarray(picked, dtype=int)
    return chosen


def _band_index(cutouts, band, parameter):
    band = normalize_band(band, parameter=parameter)
    bands = list(cutouts.bands)
    if band not in bands:
        msg = f'{parameter}: band {band!r} is not in the cutouts (they have {bands})'
        raise ValueError(msg)
    return bands.index(band)


def _channels(cutouts, rgb_bands):
    """Per channel, the band indices summed into it."""
    if len(rgb_bands) != 3:
        msg = f'rgb_bands must name three channels (red, green, blue), got {rgb_bands!r}'
        raise ValueError(msg)
    out = []
    for spec in rgb_bands:
        spec = (spec,) if isinstance(spec, str) else tuple(spec)
        if not spec:
            msg = f'rgb_bands: a channel has no band ({rgb_bands!r})'
            raise ValueError(msg)
        out.append(tuple(_band_index(cutouts, b, 'rgb_bands') for b in spec))
    return out


def _channel_name(cutouts, indices):
    return '+'.join(cutouts.bands[i] for i in indices)


def _center(side, scale_region):
    k = min(side, max(3, int(round(scale_region * side))))
    return slice((side - k) // 2, (side - k) // 2 + k)


def _signal(stamp, center, percentile):
    """Background-subtracted level of a stamp's centre (the median is the background)."""
    background = np.nanmedian(stamp)
    return np.nanpercentile(stamp[center, center], percentile) - background, background


def _band_weights(cutouts, bands, center, percentile, band_weights):
    """Per band index, the factor that balances the bands (see plot_gallery)."""
    if band_weights is not None:
        out = {}
        for band, weight in band_weights.items():
            index = _band_index(cutouts, band, 'band_weights')
            out[index] = positive_float(weight, f'band_weights[{band!r}]')
        missing = [cutouts.bands[b] for b in bands if b not in out]
        if missing:
            msg = f'band_weights has no weight for {missing}'
            raise ValueError(msg)
        return out
    # Every stamp (a fixed sample of a large set), not only those shown: the
    # balance is then the same whichever candidates a gallery shows.
    shown = np.arange(len(cutouts))
    if len(shown) > _BALANCE_SAMPLE:
        shown = np.sort(np.random.default_rng(0).choice(shown, _BALANCE_SAMPLE, replace=False))
    out = {}
    for b in bands:
        levels = np.array([_signal(cutouts.data[i, b], center, percentile)[0] for i in shown])
        level = np.nanmedian(levels[levels > 0]) if np.any(levels > 0) else np.nan
        if not np.isfinite(level):  # no signal in this band: balance on the noise
            level = np.nanmedian([np.nanstd(cutouts.data[i, b]) for i in shown])
        out[b] = 1.0 / level if np.isfinite(level) and level > 0 else 1.0
    return out


def _rgb(cutouts, i, channels, weights, center, percentile, stretch, q):
    planes = []
    for indices in channels:
        plane = 0.0
        for b in indices:
            stamp = cutouts.data[i, b].astype(float)
            plane = plane + weights[b] * (stamp - np.nanmedian(stamp))
        planes.append(np.nan_to_num(plane / len(indices)))
    intensity = sum(planes) / 3.0
    # The candidate sets the scale, but never below five times the noise, so
    # that a stamp with nothing in its centre shows dark noise, not bright.
    peak = max(np.nanpercentile(intensity[center, center], percentile),
               5.0 * mad_std(intensity, ignore_nan=True))
    if not (np.isfinite(peak) and peak > 0):
        peak = max(float(np.nanmax(intensity)), 1e-30)
    with np.errstate(invalid='ignore', divide='ignore'):
        return make_lupton_rgb(*(p / peak for p in planes),
                               interval=ManualInterval(vmin=0, vmax=None),
                               stretch_object=LuptonAsinhStretch(stretch=stretch, Q=q),
                               output_dtype=float)


def _pixel_scale(cutouts, pixel_scale):
    """Arcsec per pixel, from ``pixel_scale`` or the WCS of the cutouts; None if unknown."""
    if pixel_scale is not None:
        scale = u.Quantity(pixel_scale, u.arcsec / u.pix)
        if not (np.isfinite(scale.value) and scale.value > 0):
            msg = f'pixel_scale must be positive, got {pixel_scale!r}'
            raise ValueError(msg)
        return scale.value
    wcs = cutouts.wcs
    if wcs is None or not wcs.has_celestial:
        return None
    scales = u.Quantity(wcs.celestial.proj_plane_pixel_scales(), u.deg)
    return float(np.mean(np.abs(scales)).to_value(u.arcsec))


def _bar_length(scale_bar, scale, side):
    if scale_bar is None or scale is None:
        return None
    if isinstance(scale_bar, str):
        check_choice(scale_bar, ('auto',), 'scale_bar')
        fits = [length for length in _BAR_LENGTHS if length.value / scale <= 0.4 * side]
        return fits[-1] if fits else None
    length = u.Quantity(scale_bar, u.arcsec)
    if not (np.isfinite(length.value) and length.value > 0):
        msg = f"scale_bar must be a positive angle, 'auto' or None, got {scale_bar!r}"
        raise ValueError(msg)
    if length.value / scale > side:
        warnings.warn(f'scale_bar {length:g} is longer than the stamps '
                      f'({side * scale:.3g} arcsec); none drawn', AstropyUserWarning)
        return None
    return length


def _add_scale_bar(ax, length, scale, use_wcs):
    label = f'{length.to_value(u.arcsec):g}"'
    style = {'color': 'white', 'size_vertical': 0.4, 'fontproperties': {'size': 6},
             'label_top': True}
    if use_wcs:
        from astropy.visualization.wcsaxes import add_scalebar
        add_scalebar(ax, length, label=label, corner='bottom left', borderpad=0.1, pad=0.2,
                     **style)
        return
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar
    ax.add_artist(AnchoredSizeBar(ax.transData, length.to_value(u.arcsec) / scale, label,
                                  'lower left', frameon=False, borderpad=0.1, pad=0.2,
                                  **style))


def _plain(ax, use_wcs):
    """No ticks or tick labels."""
    if use_wcs:
        for coord in ax.coords:
            coord.set_ticks_visible(False)
            coord.set_ticklabel_visible(False)
            coord.set_axislabel('')
    else:
        ax.set_xticks([])
        ax.set_yticks([])


def _title(ids, i, order, confidence, magnitude):
    text = str(ids[i])
    if order in ('most_confident', 'least_confident'):
        text += f' p={confidence[i]:.2f}'
    elif order in ('brightest', 'faintest'):
        text += f' {magnitude[i]:.1f}'
    return text


def plot_gallery(cutouts, classes, *, per_class=6, class_order=CLASSES, order='random',
                 seed=0, confidence=None, magnitude=None, color=True,
                 rgb_bands=DEFAULT_RGB_BANDS, band='F555W', strips=False, band_weights=None,
                 percentile=99.5, stretch=0.2, q=8.0, scale_region=0.5, scale_bar='auto',
                 pixel_scale=None, wcs_axes=True, stamp_size=1.3):
    """
    Stamps of candidates per class: one row per class, colour composites by default.

    Parameters
    ----------
    cutouts : `~astro_clusterclass.cutouts.Cutouts`
        Stamps of the candidates (from `~astro_clusterclass.make_cutouts`).
    classes : array-like
        Class of each stamp (e.g. a table's class column), same length.
    per_class : int, optional
        Stamps per class at most.
    class_order : sequence of int, optional
        Classes, one row (or block of rows) each.
    order : str, optional
        How the stamps of a class are chosen and ordered (see
        `~astro_clusterclass.visualization.select_gallery_candidates`):
        ``'random'`` (reproducible with ``seed``), ``'most_confident'``,
        ``'least_confident'`` (with ``confidence``), ``'brightest'``,
        ``'faintest'`` (with ``magnitude``). The value that ordered them
        is printed after each stamp's id.
    seed : int, optional
        Seed of the random order.
    confidence, magnitude : array-like, optional
        One value per stamp, for the confidence and magnitude orders.
    color : bool, optional
        Colour composites of ``rgb_bands``; False shows ``band`` in grey.
    rgb_bands : sequence of three, optional
        Bands of the red, green and blue channels; a channel may be a tuple
        of bands, summed (e.g. ``('F814W', ('F438W', 'F555W'), ('F275W',
        'F336W'))``).
    band : str, optional
        Band of the grey stamps (``color=False``).
    strips : bool or sequence of str, optional
        Under each stamp, one grey stamp per band (True: every band of the
        cutouts, bluest first), each row labelled with its band.
    band_weights : dict, optional
        Band → factor applied before the colour composite (e.g. PHOTFLAM,
        to compose flux densities). By default each band is divided by the
        median brightness of the candidates' centres in that band (over all
        the stamps, or 1000 of them), so that the typical candidate is
        white, the colours show which candidates are bluer or redder than
        it, and they do not depend on which candidates are shown.
    percentile : float, optional
        Percentile of the central pixels that sets each stamp's brightness
        scale (grey stamps: the upper end of their asinh scale).
    stretch, q : float, optional
        Linear stretch and softening of the Lupton asinh scaling, in units
        of that level: smaller ``stretch`` shows fainter structure.
    scale_region : float, optional
        Side of the central square, as a fraction of the stamp side, whose
        pixels set each stamp's display range (brighter pixels outside it
        are clipped), so that a bright neighbour near the edge of the
        stamp does not hide a fainter candidate in its centre. ``1`` uses
        the whole stamp.
    scale_bar : `~astropy.units.Quantity`, 'auto' or None, optional
        Length of the scale bar drawn in the first stamp of each row (an
        angle; ``'auto'``: the longest of 0.05, 0.1, 0.2, 0.5, 1, 2, 5 ...
        arcsec shorter than 40 % of the stamp). It needs the pixel scale:
        the WCS of the cutouts, or ``pixel_scale``.
    pixel_scale : `~astropy.units.Quantity`, optional
        Arcsec per pixel, for stamps without a WCS.
    wcs_axes : bool, optional
        Draw each stamp in a `~astropy.visualization.wcsaxes.WCSAxes` with
        its own WCS (`~astro_clusterclass.cutouts.Cutouts.stamp_wcs`) when
        the cutouts have a celestial WCS, so that an interactive window
        shows the sky position under the cursor.
    stamp_size : float, optional
        Size of a stamp in inches.

    Returns
    -------
    fig : `~matplotlib.figure.Figure`
        ``fig.axes`` holds the stamps row by row (``per_class`` per row,
        empty slots blank), then nothing else; each stamp is titled with
        the candidate id (and the value that ordered it). The label of each
        row gives the class and how many of its candidates are shown; the
        figure's top line gives the bands of the channels and the order.

    Raises
    ------
    ValueError
        If ``classes`` (or ``confidence``, ``magnitude``) has another
        length than ``cutouts`` or holds labels outside the scheme, a band
        is not in the cutouts, ``order`` needs a value that is missing, or
        ``scale_region`` is not in (0, 1].

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> from astro_clusterclass import make_cutouts
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.visualization import plot_gallery
    >>> field = make_cluster_field((300, 300), 40, seed=1)
    >>> stamps = make_cutouts(field.images, field.truth, size=32)
    >>> fig = plot_gallery(stamps, field.truth['class'], per_class=4)
    >>> len(fig.axes)   # 4 classes x 4 stamps
    16
    >>> fig.texts[0].get_text()
    'R = F814W, G = F555W, B = F336W (Lupton asinh); random order, seed 0'
    >>> plt.close(fig)

    The brightest candidates, each with the five bands under its colour stamp:

    >>> fig = plot_gallery(stamps, field.truth['class'], per_class=3, order='brightest',
    ...                    magnitude=field.truth['mag_F555W'], strips=True)
    >>> len(fig.axes)   # 4 classes x (1 colour + 5 bands) rows x 3 stamps
    72
    >>> plt.close(fig)
    """
    labels = validate_classes(classes, parameter='classes').filled(-1)
    n = len(cutouts)
    if len(labels) != n:
        msg = f'classes has {len(labels)} entries but cutouts has {n} stamps'
        raise ValueError(msg)
    if not 0 < scale_region <= 1:
        msg = f'scale_region must be in (0, 1], got {scale_region!r}'
        raise ValueError(msg)
    conf = None if confidence is None else _values(confidence, n, 'confidence')
    mags = None if magnitude is None else _values(magnitude, n, 'magnitude')
    chosen = select_gallery_candidates(labels, per_class=per_class, class_order=class_order,
                                       order=order, seed=seed, confidence=conf, magnitude=mags)
    per_class = positive_int(per_class, 'per_class')
    stretch = positive_float(stretch, 'stretch')
    q = positive_float(q, 'q')
    if color:
        channels = _channels(cutouts, rgb_bands)
    else:
        grey = _band_index(cutouts, band, 'band')
    if strips is True:
        strip_bands = list(range(len(cutouts.bands)))
    elif strips is False or strips is None:
        strip_bands = []
    else:
        strip_bands = [_band_index(cutouts, b, 'strips') for b in strips]

    side = cutouts.data.shape[-1]
    center = _center(side, scale_region)
    if color:
        used = sorted({b for indices in channels for b in indices})
        weights = (_band_weights(cutouts, used, center, percentile, band_weights)
                   if len(cutouts) else dict.fromkeys(used, 1.0))
    use_wcs = bool(wcs_axes) and cutouts.wcs is not None and cutouts.wcs.has_celestial
    scale = _pixel_scale(cutouts, pixel_scale)
    bar = _bar_length(scale_bar, scale, side)

    # Blocks of rows, one block per class; a row holds (candidate, panel)
    # cells, the panel being 'main' (colour or grey) or a band index.
    if strip_bands:
        ncols = 1 + len(strip_bands)
        blocks = [[[(i, 'main')] + [(i, b) for b in strip_bands] for i in chosen[k]]
                  or [[(None, None)] * ncols] for k in class_order]
    else:
        ncols = per_class
        blocks = [[[(i, 'main') for i in chosen[k]]
                   + [(None, None)] * (per_class - len(chosen[k]))] for k in class_order]
    cell = positive_float(stamp_size, 'stamp_size')
    header = _TITLE if strip_bands else 0.0
    width = _LEFT + ncols * (cell + _GAP) - _GAP + _RIGHT
    height = (_TOP + header + sum(len(b) for b in blocks) * (_TITLE + cell)
              + (len(blocks) - 1) * _BLOCK_GAP + _BOTTOM)
    fig = new_figure(figsize=(width, height))
    if color:
        names = ', '.join(f'{c} = {_channel_name(cutouts, ch)}' for c, ch in zip('RGB', channels))
        caption = f'{names} (Lupton asinh)'
    else:
        caption = f'{cutouts.bands[grey]} (asinh)'
    caption += {'random': f'; random order, seed {seed}',
                'most_confident': '; most confident first',
                'least_confident': '; least confident first',
                'brightest': '; brightest first', 'faintest': '; faintest first'}[order]
    fig.text(0.5, 1 - 0.06 / height, caption, ha='center', va='top', fontsize=8)
    top = height - _TOP
    if strip_bands:
        heads = ['colour' if color else cutouts.bands[grey]] + [cutouts.bands[b]
                                                                for b in strip_bands]
        for c, text in enumerate(heads):
            fig.text((_LEFT + c * (cell + _GAP) + cell / 2) / width, (top - header / 2) / height,
                     text, ha='center', va='center', fontsize=7, weight='bold')
        top -= header

    for k, rows in zip(class_order, blocks):
        total = int(np.sum(labels == k))
        fig.text(0.1 / width, (top - _TITLE - cell / 2) / height,
                 f'class {k}\n{len(chosen[k])} of {total}', ha='left', va='center',
                 fontsize=8)
        for r, row in enumerate(rows):
            y = top - (r + 1) * (_TITLE + cell)
            for c, (i, panel) in enumerate(row):
                rect = ((_LEFT + c * (cell + _GAP)) / width, y / height,
                        cell / width, cell / height)
                if i is None:
                    ax = fig.add_axes(rect)
                    ax.set_axis_off()
                    continue
                ax = (fig.add_axes(rect, projection=cutouts.stamp_wcs(i).celestial)
                      if use_wcs else fig.add_axes(rect))
                if panel == 'main' and color:
                    ax.imshow(_rgb(cutouts, i, channels, weights, center, percentile,
                                   stretch, q), origin='lower')
                else:
                    stamp = cutouts.data[i, grey if panel == 'main' else panel]
                    vmin, vmax = PercentileInterval(percentile).get_limits(stamp[center, center])
                    norm = ImageNormalize(vmin=vmin, vmax=vmax, stretch=AsinhStretch(),
                                          clip=True)
                    ax.imshow(stamp, origin='lower', cmap='gray', norm=norm)
                _plain(ax, use_wcs)
                if panel == 'main':
                    ax.set_title(_title(cutouts.ids, i, order, conf, mags), fontsize=6,
                                 pad=2)
                    if r == 0 and c == 0 and bar is not None:
                        _add_scale_bar(ax, bar, scale, use_wcs)
        top -= len(rows) * (_TITLE + cell) + _BLOCK_GAP
    return fig
