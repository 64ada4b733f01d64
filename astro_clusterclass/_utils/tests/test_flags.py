"""One flag mechanism for the cutout, photometry and selection flags."""

import numpy as np
import pytest

from astro_clusterclass.cutouts import CutoutFlag
from astro_clusterclass.photometry import PhotFlag, SelectionFlag


@pytest.mark.parametrize('flag, values', [
    (CutoutFlag, {'NONE': 0, 'EDGE': 1, 'OFF_IMAGE': 2, 'NONFINITE': 4, 'MISSING_BAND': 8}),
    (PhotFlag, {'NONE': 0, 'EDGE': 1, 'OFF_IMAGE': 2, 'NONFINITE': 4, 'NONPOSITIVE': 8}),
    (SelectionFlag, {'NONE': 0, 'CI_LOW': 1, 'CI_HIGH': 2, 'FAINT': 4, 'FEW_BANDS': 8,
                     'MCI': 16}),
])
def test_flags_share_one_mechanism(flag, values):
    assert {name: int(member) for name, member in flag.__members__.items()} == values
    descriptions = flag.descriptions()
    assert sorted(descriptions) == sorted(n for n, v in values.items() if v)
    assert all(text.endswith('.') for text in descriptions.values())
    assert flag['NONE'].description
    combined = flag(values[list(values)[1]] | values[list(values)[2]])
    assert flag.describe(combined) == '|'.join(list(values)[1:3])
    assert flag.decode(np.uint8(0)) == []
    assert flag.describe(0) == 'NONE'
