"""The reliability diagram draws what reliability_curve computed."""

import numpy as np
import pytest
from astropy.table import QTable
from matplotlib.figure import Figure

from astro_clusterclass.calibration import expected_calibration_error, reliability_curve
from astro_clusterclass.visualization import plot_reliability_diagram


def test_points_are_the_curve():
    rng = np.random.default_rng(1)
    p = rng.dirichlet(np.full(4, 0.4), size=400)
    labels = 1 + np.argmax(rng.random((400, 1)) < p.cumsum(axis=1), axis=1)
    sharp = p ** 2 / (p ** 2).sum(axis=1, keepdims=True)
    curves = {'raw': reliability_curve(sharp, labels), 'other': reliability_curve(p, labels)}
    ax = plot_reliability_diagram(curves, ax=Figure().add_subplot(), title='t')
    assert len(ax.containers) == 2                     # one errorbar set per curve
    for container, name in zip(ax.containers, curves):
        used = curves[name]['n'] > 0
        data = container.lines[0]
        np.testing.assert_allclose(data.get_xdata(), curves[name]['confidence'][used])
        np.testing.assert_allclose(data.get_ydata(), curves[name]['accuracy'][used])
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[1] == f'raw (ECE {expected_calibration_error(sharp, labels):.3f})'
    assert ax.get_title() == 't'
    # The bars of the first curve sit on the twin axis: fractions summing to one.
    twin = [a for a in ax.figure.axes if a is not ax][0]
    assert sum(b.get_height() for b in twin.patches) == pytest.approx(1.0)


def test_wrong_table_is_refused():
    with pytest.raises(ValueError, match='missing columns'):
        plot_reliability_diagram(QTable({'n': [1]}), ax=Figure().add_subplot())
