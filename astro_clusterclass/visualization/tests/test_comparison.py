"""`plot_comparison`: the figures of a comparison report, drawn and written."""

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from matplotlib.figure import Figure

from astro_clusterclass.compare import compare_catalogs
from astro_clusterclass.datasets import bc03_track
from astro_clusterclass.visualization import plot_comparison


def _pair(seed=0, n=300):
    rng = np.random.default_rng(seed)
    v = rng.uniform(20.0, 24.0, n)
    a = QTable({'x': rng.uniform(0, 400, n), 'y': rng.uniform(0, 400, n),
                'class': rng.integers(1, 5, n),
                'mag_F336W': (v + rng.uniform(-1.8, 0.5, n)) * u.mag, 'mag_F438W': v * u.mag,
                'mag_F555W': v * u.mag, 'mag_F814W': (v - rng.uniform(-0.3, 1.3, n)) * u.mag})
    b = a.copy()
    b['class'] = np.where(rng.uniform(size=n) < 0.7, a['class'], rng.integers(1, 5, n))
    return a, b


@pytest.fixture(scope='module')
def comparison():
    a, b = _pair()
    return compare_catalogs(a, b, name_a='human', name_b='M L', distance_modulus=30.0)


def test_figures_of_a_report(comparison):
    figures = plot_comparison(comparison)
    assert sorted(figures) == ['agreement_vs_mag_F555W.png', 'color_color_M_L.png',
                               'color_color_human.png', 'confusion.png']
    assert all(isinstance(fig, Figure) for fig in figures.values())
    grid = figures['confusion.png']
    titles = [ax.get_title() for ax in grid.axes if ax.get_visible()]
    assert titles == ['counts', 'no ground truth (mean)', 'human as truth', 'M L as truth']
    ax = figures['color_color_human.png'].axes[0]
    assert ax.get_title() == 'human, M_V < -7.8'
    # Only the objects brighter than the limit, classes 1-3.
    bright = comparison.bright_objects('human')
    n_shown = sum(len(c.get_offsets()) for c in ax.collections)
    assert 0 < n_shown <= np.sum(np.isin(np.asarray(bright['class']), (1, 2, 3)))


def test_color_color_only_with_a_distance_or_a_track():
    a, b = _pair(seed=1)
    plain = compare_catalogs(a, b)
    assert sorted(plot_comparison(plain)) == ['agreement_vs_mag_F555W.png', 'confusion.png']
    with_track = plot_comparison(plain, track=bc03_track())
    assert sorted(with_track) == ['agreement_vs_mag_F555W.png', 'color_color_A.png',
                                  'color_color_B.png', 'confusion.png']
    ax = with_track['color_color_A.png'].axes[0]
    assert ax.get_title() == 'A'  # every object: no magnitude limit without a distance
    assert any(line.get_label() == 'BC03 solar' for line in ax.lines)


def test_write_checks_every_file_first(comparison, tmp_path):
    out = tmp_path / 'report'
    figures = plot_comparison(comparison, output_dir=out)
    assert sorted(p.name for p in out.iterdir()) == sorted(figures)
    assert (out / 'confusion.png').read_bytes()[:4] == b'\x89PNG'
    import matplotlib.pyplot as plt
    assert not plt.get_fignums()  # written figures are closed as they go
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'color_color_human.png').write_text('keep')
    with pytest.raises(FileExistsError, match="output_dir: .*color_color_human.png' exists"):
        plot_comparison(comparison, output_dir=other)
    assert sorted(p.name for p in other.iterdir()) == ['color_color_human.png']  # nothing new
    plot_comparison(comparison, output_dir=other, overwrite=True)
    assert (other / 'color_color_human.png').read_bytes()[:4] == b'\x89PNG'


def test_not_a_comparison():
    with pytest.raises(TypeError, match='comparison must be a CatalogComparison'):
        plot_comparison({'agreement': None})


def test_color_color_draws_the_bundled_track_by_default(comparison):
    figures = plot_comparison(comparison)  # a distance modulus, no track given
    ax = figures['color_color_human.png'].axes[0]
    line = [li for li in ax.lines if li.get_label() == 'BC03 solar']
    assert len(line) == 1
    np.testing.assert_allclose(line[0].get_xdata(), bc03_track()['vi'].value)
    # The reddening arrow and the count of what is plotted come with it.
    assert any(getattr(t, 'arrow_patch', None) is not None for t in ax.texts)
    assert ' plotted' in ax.get_legend().get_title().get_text()
    bare = plot_comparison(comparison, track=False)['color_color_human.png'].axes[0]
    assert not [li for li in bare.lines if li.get_label() == 'BC03 solar']
