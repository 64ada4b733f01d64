"""The U−B versus V−I diagram with the age boxes and a model track."""

import numpy as np
from astropy import units as u
from matplotlib.patches import Rectangle

from .._utils.columns import float_values, require_columns
from ..classes import CLASS_COLORS, validate_classes
from ..compare import COLOR_BOXES, assign_color_boxes
from ..tables import check_table
from ._axes import new_axes

__all__ = ['plot_color_color', 'TRACK_AGE_LABELS']

#: Ages (Myr) marked and labelled on the model track.
TRACK_AGE_LABELS = (1, 10, 100, 1000, 10000)

# Class 4's DS9 yellow is unreadable on white paper.
_POINT_COLORS = {**CLASS_COLORS, 4: 'goldenrod', 0: 'grey'}


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


def _label_age(age_myr):
    return f'{age_myr / 1000:g} Gyr' if age_myr >= 1000 else f'{age_myr:g} Myr'


def plot_color_color(tbl, *, class_column=None, classes=None, track=None,
                     boxes=COLOR_BOXES, mag_columns=None, ax=None, title=None,
                     track_ages=TRACK_AGE_LABELS, marker_size=8, alpha=0.7):
    """
    Plot U−B against V−I, with the age boxes and a model track.

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        Catalogue with ``ub`` and ``vi`` columns, or with the four Vega
        magnitudes they are made of (see
        `~astro_clusterclass.compare.assign_color_boxes`).
    class_column : str, optional
        Colour points by this class column (1 red, 2 green, 3 blue,
        4 goldenrod); all points black otherwise.
    classes : sequence of int, optional
        Only plot these classes (and say so in the legend).
    track : `~astropy.table.QTable`, optional
        Model track with ``age`` (Myr), ``ub`` and ``vi``, e.g. from
        `~astro_clusterclass.io.read_bc03_track`; drawn as a line with
        the ages of ``track_ages`` marked.
    boxes : dict or None, optional
        Boxes to draw (default :data:`~astro_clusterclass.compare.COLOR_BOXES`);
        None draws none.
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

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        U−B increases downwards (redder at the bottom), as in the paper.
        Rows without colours are left out; the legend gives the numbers
        plotted.

    Examples
    --------
    >>> import astropy.units as u
    >>> from astropy.table import QTable
    >>> from matplotlib.figure import Figure
    >>> from astro_clusterclass.datasets import bc03_track
    >>> from astro_clusterclass.visualization import plot_color_color
    >>> mags = {'mag_F336W': [20.0, 21.5, 20.1], 'mag_F438W': [21.2, 21.1, 21.3],
    ...         'mag_F555W': [21.0, 20.5, 21.1], 'mag_F814W': [20.8, 19.3, 20.9]}
    >>> tbl = QTable({name: values * u.mag for name, values in mags.items()})
    >>> tbl['class'] = [1, 1, 2]
    >>> ax = plot_color_color(tbl, class_column='class', track=bc03_track(),
    ...                         ax=Figure().add_subplot())
    >>> [text.get_text() for text in ax.get_legend().get_texts()]
    ['class 1 (2)', 'class 2 (1)', 'BC03 solar']
    >>> ax.figure.savefig('color_color.png')  # doctest: +SKIP
    """
    check_table(tbl)
    if 'ub' not in tbl.colnames or 'vi' not in tbl.colnames:
        tbl = assign_color_boxes(tbl, mag_columns=mag_columns)
    ub = float_values(tbl['ub'], 'ub')
    vi = float_values(tbl['vi'], 'vi')
    ok = np.isfinite(ub) & np.isfinite(vi)
    ax = new_axes(ax)
    if class_column is not None:
        require_columns(tbl, class_column, parameter='class_column')
        labels = validate_classes(tbl[class_column],
                                  parameter=f'column {class_column!r}').filled(0)
        shown = sorted(set(labels[ok].tolist())) if classes is None else list(classes)
        for k in shown:
            sel = ok & (labels == k)
            ax.scatter(vi[sel], ub[sel], s=marker_size, alpha=alpha, lw=0,
                       color=_POINT_COLORS.get(int(k), 'black'),
                       label=f'class {k} ({int(sel.sum())})')
    else:
        ax.scatter(vi[ok], ub[ok], s=marker_size, alpha=alpha, lw=0, color='black',
                   label=f'{int(ok.sum())} objects')
    if boxes:
        for number, limits in boxes.items():
            (x0, x1), (y0, y1) = limits['vi'], limits['ub']
            ax.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, lw=1,
                                   ls='--', ec='0.3', zorder=2.5))
            vertical, horizontal = _BOX_LABEL_CORNERS.get(number, ('upper', 'right'))
            x, ha = (x0 + 0.03, 'left') if horizontal == 'left' else (x1 - 0.03, 'right')
            y, va = (y0 + 0.04, 'top') if vertical == 'upper' else (y1 - 0.04, 'bottom')
            ax.text(x, y, f'box {number}', ha=ha, va=va, fontsize=8, color='0.25',
                    bbox=_LABEL_BOX, zorder=4)
    if track is not None:
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
    ax.set_xlim(-1.0, 2.0)
    ax.set_ylim(1.2, -2.2)  # U−B grows downwards: bluer, younger clusters on top
    ax.set_xlabel('V − I (F555W − F814W, Vega mag)')
    ax.set_ylabel('U − B (F336W − F438W, Vega mag)')
    ax.legend(loc='upper right', fontsize=8, markerscale=2, framealpha=0.9)
    if title:
        ax.set_title(title)
    return ax
