"""Table helpers: positions and the errors that name the missing column."""

import pytest
from astropy.table import QTable

from astro_clusterclass.tables import pixel_positions


def test_pixel_positions_names_the_missing_column():
    with pytest.raises(ValueError, match=r"columns: 'ypix' is not a column; the columns are "
                                         r"\['xpix', 'y'\]"):
        pixel_positions(QTable({'xpix': [1.0], 'y': [2.0]}), columns=('xpix', 'ypix'))
