"""The U−B versus V−I diagram with the age boxes, a model track and a reddening vector."""

import numpy as np
from astropy import units as u
from matplotlib.patches import Rectangle

from .._utils.columns import float_values, require_columns
from .._utils.validation import check_choice, check_float
from ..classes import CLASS_COLORS, validate_classes
from ..compare import COLOR_BOXES, assign_color_boxes
from ..tables import check_table
from ._axes import new_axes

__all__ = ['plot_color_color', 'reddening_vector', 'TRACK_AGE_LABELS', 'COLOR_BANDS',
           'R_V']

#: Ages (Myr) marked and labelled on the model track.
TRACK_AGE_LABELS = (1, 10, 100, 1000, 10000)

#: The two bands of each colour: ``ub`` = F336W − F438W, ``vi`` = F555W −
#: F814W, and the other colours of the BC03 track.
COLOR_BANDS = {'ub': ('F336W', 'F438W'), 'vi': ('F555W', 'F814W'),
               'bv': ('F438W', 'F555W'), 'nuvb': ('F275W', 'F438W'),
               'nuvu': ('F275W', 'F336W')}

#: A_V / E(B−V) of the extinction law of the simulations (Fitzpatrick 1999).
R_V = 3.1

_UBVI = ('F336W', 'F438W', 'F555W', 'F814W')

# Class 4's DS9 yellow is unreadable on white paper.
_POINT_COLORS = {**CLASS_COLORS, 4: 'goldenrod', 0: 'grey'}

# The diagram's extent: V−I, then U−B from the bottom (red) to the top (blue).
_XLIM, _YLIM = (-1.0, 2.0), (1.2, -2.2)

# Where the labels go, chosen so that they stay clear of the track, of each
# other and of the legend (upper right, where real catalogues have few
# objects). Box labels sit in a corner inside their box; "upper" is on the
# screen (U−B grows downwards).
_BOX_LABEL_CORNERS = {1: ('lower', 'right'), 2: ('lower', 'left'), 3: ('upper', 'left'),
                      4: ('upper', 'right')}
# Age (Myr) → offset in points, horizontal and vertical alignment.
_AGE_LABEL_PLACEMENT = {1: ((-4, 3), 'right', 'bottom'), 10: ((5, 2), 'left', 'bottom'),
                        100: ((5, 0), 'left', 'center'), 1000: ((-5, -4), 'right', 'top'),
                        10000: ((5, -3), 'left', 'top')}
_LABEL_BOX = {'boxstyle': 'round,pad=0.15', 'fc': 'white', 'ec': 'none', 'alpha': 0.75}

# The reddening arrow and the typical-error cross go in the lower left,
# which no real object reaches (blue in V−I but red in U−B).
_REDDENING_ORIGIN = (-0.9, 0.3)
_ERROR_CROSS_AT = (-0.55, 0.95)


def _label_age(age_myr):
    return f'{age_myr / 1000:g} Gyr' if age_myr >= 1000 else f'{age_myr:g} Myr'


def reddening_vector(a_v=1.0 * u.mag, *, photometry=None):
    """
    How much the colours of an object change when it is reddened by ``a_v``.

    The extinction law is the one of the simulated fields
    (`~astro_clusterclass.datasets.make_cluster_field`): Fitzpatrick
    (1999) with R_V = 3.1, evaluated at the pivot wavelength of each HST
    band (``r_ext`` = A_band / E(B−V) of
    `~astro_clusterclass.datasets.default_photometry`). With
    E(B−V) = A_V / R_V, a colour X − Y grows by
    A_V (r_ext,X − r_ext,Y) / R_V.

    Parameters
    ----------
    a_v : `~astropy.units.Quantity` or float, optional
        Extinction in the V band (mag).
    photometry : `~astropy.table.Table`, optional
        Band table with ``band`` and ``r_ext`` columns (default
        `~astro_clusterclass.datasets.default_photometry`).

    Returns
    -------
    vector : dict
        Colour name (``'ub'``, ``'vi'``, ``'bv'``, ``'nuvb'``, ``'nuvu'``;
        see :data:`~astro_clusterclass.visualization.COLOR_BANDS`) → colour
        excess (`~astropy.units.Quantity`, mag).

    Examples
    --------
    >>> from astro_clusterclass.visualization import reddening_vector
    >>> vector = reddening_vector()
    >>> round(float(vector['vi'].value), 3), round(float(vector['ub'].value), 3)
    (0.482, 0.301)
    """
    a_v = u.Quantity(a_v, u.mag)
    check_float(a_v.value, 'a_v')
    if photometry is None:
        from ..datasets import default_photometry
        photometry = default_photometry()
    require_columns(photometry, ['band', 'r_ext'], parameter='photometry')
    r_ext = dict(zip(np.asarray(photometry['band']).astype(str),
                     np.asarray(photometry['r_ext'], dtype=float)))
    out = {}
    for name, (blue, red) in COLOR_BANDS.items():
        if blue in r_ext and red in r_ext:
            out[name] = a_v * (r_ext[blue] - r_ext[red]) / R_V
    return out


def _error_columns(tbl, mag_columns, error_columns):
    """Band → error column of the four bands of U−B and V−I, or None if one is missing."""
    if error_columns is not None:
        columns = dict(error_columns)
        require_columns(tbl, list(columns.values()), parameter='error_columns')
        return columns
    mags = {band: f'mag_{band}' for band in _UBVI}
    mags.update(mag_columns or {})
    columns = {band: mags[band].replace('mag_', 'magerr_', 1) for band in _UBVI}
    if all(name in tbl.colnames for name in columns.values()):
        return columns
    return None


def _color_errors(tbl, columns):
    if columns is None:
        return None, None
    missing = sorted(set(_UBVI) - set(columns))
    if missing:
        msg = f'error_columns has no column for {missing}'
        raise ValueError(msg)
    err = {band: float_values(tbl[name], f'column {name!r}', unit=u.mag)
           for band, name in columns.items()}
    return np.hypot(err['F336W'], err['F438W']), np.hypot(err['F555W'], err['F814W'])


def plot_color_color(tbl, *, class_column=None, classes=None, track=None,
                     boxes='paper', mag_columns=None, ax=None, title=None,
                     track_ages=TRACK_AGE_LABELS, marker_size=8, alpha=0.7,
                     class4='below', reddening=1.0 * u.mag, errors='auto',
                     error_columns=None, legend_loc='outside'):
    """
    Plot U−B against V−I, with the age boxes, a model track and a reddening vector.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with ``ub`` and ``vi`` columns, or with the four Vega
        magnitudes they are made of (see
        `~astro_clusterclass.compare.assign_color_boxes`).
    class_column : str, optional
        Colour points by this class column (1 red, 2 green, 3 blue,
        4 goldenrod, 0 grey); all points black otherwise.
    classes : sequence of int, optional
        Only plot these classes (and say so in the legend).
    track : `~astropy.table.QTable`, optional
        Model track with ``age`` (Myr), ``ub`` and ``vi``, e.g.
        `~astro_clusterclass.datasets.bc03_track` or
        `~astro_clusterclass.io.read_bc03_track`; drawn as a line with
        the ages of ``track_ages`` marked.
    boxes : ``'paper'``, dict or None, optional
        Boxes to draw: ``'paper'`` (default) draws the boxes of
        :data:`~astro_clusterclass.compare.COLOR_BOXES`, a dict in that
        layout draws its own, None draws none.
    mag_columns : dict, optional
        Band → magnitude column, when ``ub``/``vi`` must be computed.
    ax : `~matplotlib.axes.Axes`, optional
        Axes to draw in (a new figure otherwise).
    title : str, optional
        Axes title.
    track_ages : sequence of float, optional
        Ages (Myr) labelled on the track.
    marker_size, alpha : float, optional
        Point style.
    class4 : {'below', 'hide'}, optional
        Draw the class 4 (and class 0) points first, under the clusters and
        associations, or leave class 4 out (counted in the legend).
    reddening : `~astropy.units.Quantity` or None, optional
        A_V of the reddening arrow (`reddening_vector`, the extinction law
        of the simulations in these HST bands); None draws none.
    errors : {'auto', 'cross', 'bars', None}, optional
        ``'cross'``: one cross, in the lower left, of the median U−B and
        V−I errors of the points plotted; ``'bars'``: an error bar on every
        point; ``'auto'``: the cross when the table has error columns.
        The errors of U−B and V−I are those of their two magnitudes added
        in quadrature.
    error_columns : dict, optional
        Band → magnitude error column of F336W, F438W, F555W and F814W.
        By default the magnitude columns with ``mag_`` read as ``magerr_``
        (``mag_F555W`` → ``magerr_F555W``, ``phot_mag_F555W`` →
        ``phot_magerr_F555W``), used when all four exist.
    legend_loc : str, optional
        ``'outside'``: the legend to the right of the axes, so that it hides
        no point; else a matplotlib legend location inside the axes
        (``'upper right'``...).

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        U−B increases downwards (redder at the bottom), as in the paper.
        Every row of the table is accounted for: the legend gives, per
        class, the points inside the axes and the rows of that class when
        they differ, and its title says how many rows are plotted of all,
        and why the others are not (no colours, a class not shown, outside
        the axes).

    Raises
    ------
    ValueError
        If a column is missing, the track lacks a column, or an option is
        not one of its choices.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from matplotlib.figure import Figure
    >>> from astro_clusterclass.datasets import bc03_track
    >>> from astro_clusterclass.visualization import plot_color_color
    >>> mags = {'mag_F336W': [20.0, 21.5, 20.1, 20.0], 'mag_F438W': [21.2, 21.1, 21.3, 21.0],
    ...         'mag_F555W': [21.0, 20.5, 21.1, 21.0], 'mag_F814W': [20.8, 19.3, 20.9, None]}
    >>> tbl = QTable({name: values * u.mag for name, values in mags.items()})
    >>> tbl['class'] = [1, 1, 2, 2]
    >>> ax = plot_color_color(tbl, class_column='class', track=bc03_track(),
    ...                       ax=Figure().add_subplot())
    >>> legend = ax.get_legend()
    >>> print(legend.get_title().get_text())
    3 of 4 plotted;
    1 without colours
    >>> [text.get_text() for text in legend.get_texts()]
    ['class 1 (2)', 'class 2 (1 of 2)', 'BC03 solar']
    >>> ax.figure.savefig('color_color.png')  # doctest: +SKIP
    """
    check_table(tbl)
    check_choice(class4, ('below', 'hide'), 'class4')
    check_choice(errors, ('auto', 'cross', 'bars', None), 'errors')
    colored = tbl
    if 'ub' not in tbl.colnames or 'vi' not in tbl.colnames:
        colored = assign_color_boxes(tbl, mag_columns=mag_columns)
    ub = float_values(colored['ub'], 'ub')
    vi = float_values(colored['vi'], 'vi')
    ok = np.isfinite(ub) & np.isfinite(vi)
    if errors is None:
        sigma_ub = sigma_vi = None
    else:
        sigma_ub, sigma_vi = _color_errors(tbl, _error_columns(tbl, mag_columns,
                                                               error_columns))
        if sigma_ub is None and errors != 'auto':
            msg = (f'errors={errors!r} needs magnitude errors: the table has no magerr_ '
                   f'column for every magnitude of U-B and V-I; name them with '
                   f'error_columns={{band: column}}')
            raise ValueError(msg)
    mode = 'cross' if errors == 'auto' else errors
    inside = (ok & (vi >= min(_XLIM)) & (vi <= max(_XLIM))
              & (ub >= min(_YLIM)) & (ub <= max(_YLIM)))
    ax = new_axes(ax, figsize=(7.6, 5.0), layout='constrained')
    n_rows = len(tbl)
    plotted = np.zeros(n_rows, bool)
    if class_column is not None:
        require_columns(tbl, class_column, parameter='class_column')
        labels = validate_classes(tbl[class_column],
                                  parameter=f'column {class_column!r}').filled(0)
        present = sorted(set(labels.tolist()))
        shown = present if classes is None else [int(k) for k in classes]
        if class4 == 'hide':
            shown = [k for k in shown if k != 4]
        # Background classes first, under the others.
        shown = sorted(shown, key=lambda k: (k not in (0, 4), k))
        for k in shown:
            members = labels == k
            sel = ok & members
            if not np.any(members):
                continue
            n_in, n_all = int(np.sum(inside & members)), int(members.sum())
            count = f'{n_in}' if n_in == n_all else f'{n_in} of {n_all}'
            _points(ax, vi, ub, sel, mode, sigma_vi, sigma_ub, marker_size, alpha,
                    _POINT_COLORS.get(int(k), 'black'), f'class {k} ({count})',
                    zorder=1.8 if k in (0, 4) else 2.0)
            plotted |= sel
        not_shown = ok & ~np.isin(labels, shown)
    else:
        if n_rows:
            _points(ax, vi, ub, ok, mode, sigma_vi, sigma_ub, marker_size, alpha, 'black',
                    f'{int(inside.sum())} objects', zorder=2.0)
        plotted = ok.copy()
        not_shown = np.zeros(n_rows, bool)
    if isinstance(boxes, str) and boxes == 'paper':
        boxes = COLOR_BOXES
    elif boxes is not None and not isinstance(boxes, dict):
        msg = f"boxes must be 'paper', a dict like COLOR_BOXES or None, not {boxes!r}"
        raise TypeError(msg)
    if boxes:
        _draw_boxes(ax, boxes)
    if track is not None:
        _draw_track(ax, track, track_ages)
    if reddening is not None:
        _draw_reddening(ax, reddening)
    if mode == 'cross' and sigma_ub is not None:
        _draw_error_cross(ax, sigma_vi[plotted & inside], sigma_ub[plotted & inside])
    ax.set_xlim(*_XLIM)
    ax.set_ylim(*_YLIM)  # U−B grows downwards: bluer, younger clusters on top
    ax.set_xlabel('V − I (F555W − F814W, Vega mag)')
    ax.set_ylabel('U − B (F336W − F438W, Vega mag)')
    reasons = [(int(np.sum(~ok)), 'without colours')]
    if class_column is not None:
        hidden = ('class 4 hidden' if class4 == 'hide' and classes is None
                  else 'in classes not shown')
        reasons.append((int(not_shown.sum()), hidden))
    reasons.append((int(np.sum(plotted & ~inside)), 'outside the axes'))
    n_plotted = int(np.sum(plotted & inside))
    legend_title = f'{n_plotted} of {n_rows} plotted'
    said = [f'{n} {why}' for n, why in reasons if n]
    if said:
        legend_title += ';\n' + ',\n'.join(said)
    where = ({'loc': 'upper left', 'bbox_to_anchor': (1.02, 1.0), 'borderaxespad': 0.0}
             if legend_loc == 'outside' else {'loc': legend_loc})
    ax.legend(fontsize=8, markerscale=2, framealpha=0.9,
              title=legend_title if n_rows else None, title_fontsize=7, **where)
    if title:
        ax.set_title(title)
    return ax


def _points(ax, vi, ub, sel, mode, sigma_vi, sigma_ub, size, alpha, color, label, zorder):
    if mode == 'bars' and sigma_ub is not None:
        ax.errorbar(vi[sel], ub[sel], xerr=sigma_vi[sel], yerr=sigma_ub[sel], fmt='none',
                    ecolor=color, elinewidth=0.5, alpha=0.35 * alpha, zorder=zorder - 0.1)
    ax.scatter(vi[sel], ub[sel], s=size, alpha=alpha, lw=0, color=color, label=label,
               zorder=zorder)


def _draw_boxes(ax, boxes):
    for number, limits in boxes.items():
        (x0, x1), (y0, y1) = limits['vi'], limits['ub']
        ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1,
                               ls='--', ec='0.3', zorder=2.5))
        vertical, horizontal = _BOX_LABEL_CORNERS.get(number, ('upper', 'right'))
        x, ha = (x0 + 0.03, 'left') if horizontal == 'left' else (x1 - 0.03, 'right')
        y, va = (y0 + 0.04, 'top') if vertical == 'upper' else (y1 - 0.04, 'bottom')
        ax.text(x, y, f'box {number}', ha=ha, va=va, fontsize=8, color='0.25',
                bbox=_LABEL_BOX, zorder=4)


def _draw_track(ax, track, track_ages):
    missing = [c for c in ('age', 'ub', 'vi') if c not in track.colnames]
    if missing:
        msg = f'track lacks column(s) {missing}; see read_bc03_track'
        raise ValueError(msg)
    age = u.Quantity(track['age'], u.Myr).value
    t_ub, t_vi = float_values(track['ub'], 'track ub'), float_values(track['vi'], 'track vi')
    ax.plot(t_vi, t_ub, color='purple', lw=1.5, label='BC03 solar', zorder=3)
    for mark in track_ages:
        if age.min() <= mark <= age.max():
            i = int(np.argmin(np.abs(age - mark)))
            ax.plot(t_vi[i], t_ub[i], 'o', color='purple', ms=4, zorder=3)
            offset, ha, va = _AGE_LABEL_PLACEMENT.get(mark, ((4, -2), 'left', 'center'))
            ax.annotate(_label_age(mark), (t_vi[i], t_ub[i]), xytext=offset,
                        textcoords='offset points', ha=ha, va=va, fontsize=8,
                        color='purple', bbox=_LABEL_BOX, zorder=5)


def _draw_reddening(ax, reddening):
    a_v = u.Quantity(reddening, u.mag)
    vector = reddening_vector(a_v)
    x0, y0 = _REDDENING_ORIGIN
    dx, dy = vector['vi'].to_value(u.mag), vector['ub'].to_value(u.mag)
    ax.annotate('', xy=(x0 + dx, y0 + dy), xytext=(x0, y0),
                arrowprops={'arrowstyle': '-|>', 'color': 'black', 'lw': 1.3,
                            'shrinkA': 0, 'shrinkB': 0}, zorder=5)
    ax.annotate(f'$A_V$ = {a_v.to_value(u.mag):g} mag', (x0, y0), xytext=(0, 4),
                textcoords='offset points', ha='left', va='bottom', fontsize=7,
                bbox=_LABEL_BOX, zorder=5)


def _draw_error_cross(ax, sigma_vi, sigma_ub):
    good = np.isfinite(sigma_vi) & np.isfinite(sigma_ub)
    if not np.any(good):
        return
    ex, ey = float(np.median(sigma_vi[good])), float(np.median(sigma_ub[good]))
    x, y = _ERROR_CROSS_AT
    ax.errorbar([x], [y], xerr=[ex], yerr=[ey], fmt='none', ecolor='black', elinewidth=1,
                capsize=2, zorder=5)
    ax.annotate(f'median error\n(±{ex:.2f}, ±{ey:.2f})', (x, y), xytext=(6, 0),
                textcoords='offset points', ha='left', va='center', fontsize=7,
                bbox=_LABEL_BOX, zorder=5, xycoords='data')
