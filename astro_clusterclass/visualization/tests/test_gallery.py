"""`plot_gallery` and `select_gallery_candidates`: which stamps, drawn how."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from astropy.visualization.wcsaxes import WCSAxes
from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

from astro_clusterclass import load_images, make_cutouts
from astro_clusterclass.bands import BANDS
from astro_clusterclass.conftest import simple_wcs
from astro_clusterclass.visualization import plot_gallery, select_gallery_candidates


def _stamps(n=40, size=9, seed=3, wcs=None):
    rng = np.random.default_rng(seed)
    images = {b: rng.normal(size=(80, 80)) for b in BANDS}
    pos = QTable({'x': rng.uniform(5, 75, n), 'y': rng.uniform(5, 75, n),
                  'id': np.arange(100, 100 + n)})
    return make_cutouts(load_images(images, wcs=wcs), pos, size=size)


def _classes(n=40, seed=3):
    return np.random.default_rng(seed + 1).integers(1, 5, n)


def test_random_order_is_reproducible_and_drawn_from_each_class():
    classes = _classes()
    a = select_gallery_candidates(classes, per_class=4, seed=7)
    b = select_gallery_candidates(classes, per_class=4, seed=7)
    other = select_gallery_candidates(classes, per_class=4, seed=8)
    for k in (1, 2, 3, 4):
        assert a[k].tolist() == b[k].tolist()
        assert len(set(a[k].tolist())) == 4  # without replacement
        assert set(classes[a[k]].tolist()) == {k}
    assert any(a[k].tolist() != other[k].tolist() for k in a)
    # Not the first four of each class: over many seeds every member is drawn.
    members = np.flatnonzero(classes == 1)
    seen = set()
    for seed in range(50):
        seen.update(select_gallery_candidates(classes, per_class=4, seed=seed)[1].tolist())
    assert seen == set(members.tolist())
    # A class's sample does not depend on which other classes are drawn.
    alone = select_gallery_candidates(classes, per_class=4, seed=7, class_order=(3,))
    assert alone[3].tolist() == a[3].tolist()


def test_sorted_orders_against_an_independent_sort():
    classes = _classes()
    rng = np.random.default_rng(0)
    prob = rng.uniform(0.25, 1.0, len(classes))
    prob[np.flatnonzero(classes == 2)[0]] = np.nan  # never chosen
    mag = rng.uniform(18, 25, len(classes))
    for k in (1, 2, 3, 4):
        rows = [i for i in range(len(classes)) if classes[i] == k and np.isfinite(prob[i])]
        most = sorted(rows, key=lambda i: -prob[i])[:5]
        least = sorted(rows, key=lambda i: prob[i])[:5]
        assert select_gallery_candidates(classes, per_class=5, order='most_confident',
                                         confidence=prob)[k].tolist() == most
        assert select_gallery_candidates(classes, per_class=5, order='least_confident',
                                         confidence=prob)[k].tolist() == least
        rows = [i for i in range(len(classes)) if classes[i] == k]
        bright = sorted(rows, key=lambda i: mag[i])[:5]
        faint = sorted(rows, key=lambda i: -mag[i])[:5]
        assert select_gallery_candidates(classes, per_class=5, order='brightest',
                                         magnitude=mag)[k].tolist() == bright
        assert select_gallery_candidates(classes, per_class=5, order='faintest',
                                         magnitude=mag * u.mag)[k].tolist() == faint


@pytest.mark.parametrize('kwargs, match', [
    ({'order': 'first'}, "order must be one of 'random'"),
    ({'order': 'most_confident'}, "order='most_confident' needs confidence="),
    ({'order': 'faintest'}, "order='faintest' needs magnitude="),
    ({'order': 'brightest', 'magnitude': [1.0, 2.0]}, 'magnitude has 2 entries but there '
                                                      'are 40'),
    ({'per_class': 0}, 'per_class must be a positive integer'),
    ({'seed': -1}, 'seed must be a non-negative integer'),
])
def test_selection_errors(kwargs, match):
    with pytest.raises(ValueError, match=match):
        select_gallery_candidates(_classes(), **kwargs)


def test_gallery_shows_the_selection_row_by_row():
    stamps, classes = _stamps(), _classes()
    fig = plot_gallery(stamps, classes, per_class=3, seed=5, color=False)
    chosen = select_gallery_candidates(classes, per_class=3, seed=5)
    axes = np.array(fig.axes).reshape(4, 3)
    for row, k in zip(axes, (1, 2, 3, 4)):
        assert [ax.get_title() for ax in row] == [str(stamps.ids[i]) for i in chosen[k]]
        for ax, i in zip(row, chosen[k]):  # the F555W stamp of that candidate
            np.testing.assert_array_equal(ax.images[0].get_array(), stamps.data[i, 3])
    labels = [t.get_text() for t in fig.texts]
    assert labels[0] == 'F555W (asinh); random order, seed 5'
    for k in (1, 2, 3, 4):
        assert f'class {k}\n3 of {np.sum(classes == k)}' in labels


def test_empty_slots_and_ordered_titles():
    stamps = _stamps(n=10)
    classes = [1, 1, 1, 2, 3, 3, 4, 1, 2, 1]
    mag = np.linspace(25, 20, 10)
    fig = plot_gallery(stamps, classes, per_class=3, order='brightest', magnitude=mag)
    axes = np.array(fig.axes).reshape(4, 3)
    assert [[len(ax.images) for ax in row] for row in axes] == [[1, 1, 1], [1, 1, 0],
                                                                [1, 1, 0], [1, 0, 0]]
    # Class 1 rows 0, 1, 2, 7, 9: the brightest (largest index) first.
    assert [ax.get_title() for ax in axes[0]] == ['109 20.0', '107 21.1', '102 23.9']


def test_strips_one_row_per_candidate_with_each_band():
    stamps, classes = _stamps(), _classes()
    fig = plot_gallery(stamps, classes, per_class=2, strips=('F336W', 'F814W'),
                       class_order=(1, 3))
    axes = np.array(fig.axes).reshape(4, 3)  # 2 classes x 2 candidates, colour + 2 bands
    chosen = select_gallery_candidates(classes, per_class=2, class_order=(1, 3))
    rows = [i for k in (1, 3) for i in chosen[k]]
    for row, i in zip(axes, rows):
        assert row[0].images[0].get_array().shape == (9, 9, 3)  # colour
        np.testing.assert_array_equal(row[1].images[0].get_array(), stamps.data[i, 1])
        np.testing.assert_array_equal(row[2].images[0].get_array(), stamps.data[i, 4])
    texts = [t.get_text() for t in fig.texts]
    assert {'colour', 'F336W', 'F814W'} <= set(texts)


def _two_colored_sources():
    """A source seen only in F814W (and F555W) and one only in F336W (and F555W)."""
    yy, xx = np.mgrid[:100, :100]
    red = np.exp(-((xx - 30) ** 2 + (yy - 30) ** 2) / 6.0)
    blue = np.exp(-((xx - 70) ** 2 + (yy - 70) ** 2) / 6.0)
    noise = np.random.default_rng(0).normal(0, 1e-3, (100, 100))
    images = {'F275W': noise, 'F336W': blue + noise, 'F438W': noise,
              'F555W': red + blue + noise, 'F814W': red + noise}
    return make_cutouts(images, ([30.0, 70.0], [30.0, 70.0]), size=21)


def test_color_composite_keeps_the_colors():
    stamps = _two_colored_sources()
    fig = plot_gallery(stamps, [1, 2], per_class=1, class_order=(1, 2))
    red = fig.axes[0].images[0].get_array()[10, 10]
    blue = fig.axes[1].images[0].get_array()[10, 10]
    assert red[0] > 2 * red[2] and blue[2] > 2 * blue[0]
    assert red[1] > 0.2 * red[0]  # F555W is green: the red source is orange
    assert fig.texts[0].get_text().startswith('R = F814W, G = F555W, B = F336W')
    # Summed channels are named in the caption.
    summed = plot_gallery(stamps, [1, 2], per_class=1,
                          rgb_bands=('F814W', ('F438W', 'F555W'), ('F275W', 'F336W')))
    assert summed.texts[0].get_text().startswith('R = F814W, G = F438W+F555W, '
                                                 'B = F275W+F336W')


def test_scale_bar_from_the_wcs_and_wcsaxes():
    wcs = simple_wcs((80, 80), scale_arcsec=0.04)
    stamps = _stamps(size=32, wcs=wcs)
    fig = plot_gallery(stamps, _classes(), per_class=2, scale_bar=0.5 * u.arcsec)
    assert all(isinstance(ax, WCSAxes) for ax in fig.axes)
    bars = [a for a in fig.axes[0].artists if isinstance(a, AnchoredSizeBar)]
    assert len(bars) == 1
    length = bars[0].size_bar.get_children()[0].get_width()
    assert length == pytest.approx(0.5 / 0.04)  # pixels
    assert not [a for a in fig.axes[1].artists if isinstance(a, AnchoredSizeBar)]
    # 'auto' picks the longest round length under 40 % of the 32 px (1.28") stamp.
    auto = plot_gallery(stamps, _classes(), per_class=1)
    bar = [a for a in auto.axes[0].artists if isinstance(a, AnchoredSizeBar)][0]
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(0.5 / 0.04)
    plain = plot_gallery(stamps, _classes(), per_class=1, wcs_axes=False)
    assert not isinstance(plain.axes[0], WCSAxes)


def test_scale_bar_needs_a_pixel_scale():
    stamps = _stamps(size=32)  # no WCS
    fig = plot_gallery(stamps, _classes(), per_class=1)
    assert not fig.axes[0].artists
    given = plot_gallery(stamps, _classes(), per_class=1, pixel_scale=0.1 * u.arcsec / u.pix,
                         scale_bar=1 * u.arcsec)
    bar = [a for a in given.axes[0].artists if isinstance(a, AnchoredSizeBar)][0]
    assert bar.size_bar.get_children()[0].get_width() == pytest.approx(10.0)
    with pytest.warns(AstropyUserWarning, match='longer than the stamps'):
        plot_gallery(stamps, _classes(), per_class=1, pixel_scale=0.1 * u.arcsec / u.pix,
                     scale_bar=5 * u.arcsec)


def test_gallery_errors():
    stamps = _stamps(n=10)
    with pytest.raises(ValueError, match='classes has 3 entries'):
        plot_gallery(stamps, [1, 2, 3])
    with pytest.raises(ValueError, match='outside the class scheme'):
        plot_gallery(stamps, [9] * 10)
    with pytest.raises(ValueError, match='rgb_bands must name three channels'):
        plot_gallery(stamps, [1] * 10, rgb_bands=('F814W', 'F555W'))
    with pytest.raises(ValueError, match="band='F999W' is not a known band"):
        plot_gallery(stamps, [1] * 10, color=False, band='F999W')
    with pytest.raises(ValueError, match="strips='F999W' is not a known band"):
        plot_gallery(stamps, [1] * 10, strips=['F999W'])
    with pytest.raises(ValueError, match='confidence has 2 entries'):
        plot_gallery(stamps, [1] * 10, order='most_confident', confidence=[0.5, 0.6])


def test_gallery_scale_is_set_by_the_candidate_not_a_bright_neighbor():
    # A faint candidate in the centre and a source 100 times brighter in the
    # corner of the same 40 px stamp.
    yy, xx = np.mgrid[:200, :200]
    image = (np.exp(-((xx - 100) ** 2 + (yy - 100) ** 2) / 4.0)
             + 100 * np.exp(-((xx - 83) ** 2 + (yy - 83) ** 2) / 4.0))
    images = dict.fromkeys(BANDS, image)
    stamps = make_cutouts(images, ([100.0], [100.0]), size=40)
    fig = plot_gallery(stamps, [2], per_class=1, class_order=(2,), color=False)
    norm = fig.axes[0].images[0].norm
    assert 0.5 < norm.vmax <= 1.0  # near the candidate's peak
    assert norm.clip
    whole = plot_gallery(stamps, [2], per_class=1, class_order=(2,), scale_region=1,
                         color=False)
    assert whole.axes[0].images[0].norm.vmax > 50  # the neighbour's peak
    # The colour stamp: the candidate's centre is bright, not crushed by the neighbour.
    rgb = plot_gallery(stamps, [2], per_class=1, class_order=(2,)).axes[0].images[0]
    assert rgb.get_array()[20, 20].max() > 0.5
    for bad in (0, 1.5, np.nan):
        with pytest.raises(ValueError, match='scale_region must be in'):
            plot_gallery(stamps, [2], scale_region=bad)
