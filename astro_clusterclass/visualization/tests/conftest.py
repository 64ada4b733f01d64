"""The plots are drawn without a display, and closed after each test."""

import matplotlib
import pytest

matplotlib.use('Agg')


@pytest.fixture(autouse=True)
def _close_figures():
    import matplotlib.pyplot as plt
    yield
    plt.close('all')
