"""The plots: what they draw, checked on the returned Figure/Axes."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from astro_clusterclass.compare import (COLOR_BOXES, agreement_vs_property, confusion_matrix,
                                        read_bc03_track)
from astro_clusterclass.conftest import shared_data_path
from astro_clusterclass.visualization import (plot_agreement_vs_property, plot_color_color,
                                              plot_confusion_grid, plot_confusion_matrix)


def _catalog(n=300, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.uniform(20, 24, n)
    return QTable({'mag_F336W': (v + rng.uniform(-1.8, 0.5, n)) * u.mag,
                   'mag_F438W': v * u.mag, 'mag_F555W': v * u.mag,
                   'mag_F814W': (v - rng.uniform(-0.3, 1.3, n)) * u.mag,
                   'class': rng.integers(1, 5, n), 'ml': rng.integers(1, 5, n)})


def _track():
    # Ages in yr, as the packaged track (astro_clusterclass.datasets) gives them.
    age = np.array([1e6, 1e7, 1e8, 1e9, 1e10]) * u.yr
    return QTable({'age': age, 'ub': [-1.65, -1.2, -0.59, 0.1, 0.45] * u.mag,
                   'vi': [-0.33, 0.7, 0.46, 0.9, 1.3] * u.mag})


def test_color_color_diagram_draws_points_boxes_and_track():
    tbl = _catalog()
    tbl['mag_F814W'][0] = np.nan * u.mag  # no colour: left out
    ax = plot_color_color(tbl, class_column='class', classes=(1, 2, 3), track=_track(),
                          title='test')
    assert isinstance(ax, Axes)
    boxes = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert len(boxes) == 4
    corners = sorted((round(b.get_x(), 2), round(b.get_y(), 2)) for b in boxes)
    assert corners == sorted((lim['vi'][0], lim['ub'][0]) for lim in COLOR_BOXES.values())
    points = ax.collections
    assert len(points) == 3
    plotted = sum(len(c.get_offsets()) for c in points)
    klass = np.asarray(tbl['class'])
    assert plotted == np.sum(np.isin(klass[1:], (1, 2, 3)))
    line = [li for li in ax.lines if li.get_label() == 'BC03 solar'][0]
    np.testing.assert_allclose(line.get_xdata(), _track()['vi'].value)
    assert ax.get_ylim()[0] > ax.get_ylim()[1]  # U-B grows downwards
    labels = [t.get_text() for t in ax.texts]
    assert {'1 Myr', '10 Myr', '100 Myr', '1 Gyr', '10 Gyr'} <= set(labels)
    assert ax.get_title() == 'test'


def test_color_color_without_classes_and_into_given_axes():
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots()
    out = plot_color_color(_catalog(), ax=ax, boxes=None)
    assert out is ax and not ax.patches and len(ax.collections) == 1


@pytest.mark.parametrize('tbl, kwargs, match', [
    (_catalog(), {'class_column': 'nope'}, "class_column: 'nope' is not a column"),
    (_catalog(), {'track': QTable({'age': [1.0]})}, 'track lacks'),
    (QTable({'mag_F555W': [20.0]}), {}, 'lacks magnitude column'),
])
def test_color_color_errors(tbl, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_color_color(tbl, **kwargs)


def test_color_color_with_the_bc03_track():
    path = shared_data_path('bc03_phangs', 'bc03_solar_hst_vega_colours.csv')
    track = read_bc03_track(path)
    # The data README's solar check points.
    for age, ub, vi in ((1, -1.65, -0.33), (100, -0.59, 0.46), (13750, 0.47, 1.36)):
        row = track[np.argmin(np.abs(track['age'].to_value(u.Myr) - age))]
        assert row['ub'].value == pytest.approx(ub, abs=0.01)
        assert row['vi'].value == pytest.approx(vi, abs=0.01)
    folder = read_bc03_track(path.parent)  # the .npy files give the same track
    np.testing.assert_allclose(folder['ub'], track['ub'], atol=1e-4 * u.mag)
    ax = plot_color_color(_catalog(), class_column='class', track=track)
    assert any(li.get_label() == 'BC03 solar' for li in ax.lines)


def test_confusion_matrix_plot_writes_every_cell():
    tbl = _catalog()
    matrix = confusion_matrix(tbl, 'class', 'ml')
    ax = plot_confusion_matrix(matrix, title='mean')
    values = np.array([np.asarray(matrix[c]) for c in matrix.colnames[1:]]).T
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == sorted(f'{100 * v:.0f}' for v in values.ravel())
    np.testing.assert_allclose(ax.images[0].get_array(), values)
    assert ax.get_xlabel() == 'class (ml)' and ax.get_ylabel() == 'class (class)'
    counts = plot_confusion_matrix(confusion_matrix(tbl, 'class', 'ml', normalize=None))
    assert sum(int(t.get_text()) for t in counts.texts) == len(tbl)
    with pytest.raises(ValueError, match="first column 'class_a'"):
        plot_confusion_matrix(tbl)


def test_confusion_grid_layout():
    tbl = _catalog()
    mats = {k: confusion_matrix(tbl, 'class', 'ml', normalize=k) for k in (None, 'a', 'b')}
    fig = plot_confusion_grid({str(k): v for k, v in mats.items()}, ncols=2)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert len(visible) == 3 and len(fig.axes) == 4
    assert [ax.get_title() for ax in visible] == ['None', 'a', 'b']
    with pytest.raises(ValueError, match='empty'):
        plot_confusion_grid([])
    with pytest.raises(ValueError, match='titles has 1 entries for 3'):
        plot_confusion_grid(list(mats.values()), titles=['x'])


def test_agreement_vs_property_panels():
    tbl = _catalog(n=800)
    tbl['V'] = tbl['mag_F555W'].value
    trend = agreement_vs_property(tbl, 'class', 'ml', 'V', n_bins=4)
    fig = plot_agreement_vs_property({'A vs B': trend, 'B vs A':
                                      agreement_vs_property(tbl, 'ml', 'class', 'V')})
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ['class 1', 'class 2', 'class 3', 'class 4',
                                               'mean of classes', 'class 1+2']
    assert axes[-1].get_xlabel() == 'V'
    line = axes[0].lines[0]
    np.testing.assert_allclose(line.get_ydata(), trend['fraction_1'])
    single = plot_agreement_vs_property(trend, panels=('1+2',))
    assert len([a for a in single.axes if a.get_visible()]) == 1
    with pytest.raises(ValueError, match="no column 'fraction_5'"):
        plot_agreement_vs_property(trend, panels=('5',))
