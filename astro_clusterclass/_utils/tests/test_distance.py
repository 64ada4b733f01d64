"""The one distance modulus of the package (`astro_clusterclass._utils.distance`)."""

import numpy as np
import pytest
from astropy import units as u

from astro_clusterclass._utils.distance import distance_modulus


@pytest.mark.parametrize('distance', [10 * u.pc, 1 * u.kpc, 9.8 * u.Mpc, 10 * u.Mpc,
                                      17.7 * u.Mpc, 3.2e7 * u.lyr])
def test_distance_is_five_log10_of_d_over_10_pc(distance):
    expected = 5 * np.log10(distance.to_value(u.pc) / 10)
    assert distance_modulus(distance) == pytest.approx(expected, abs=1e-9)
    assert isinstance(distance_modulus(distance), float)


@pytest.mark.parametrize('value, expected', [(29.5, 29.5), (30, 30.0), (31.2 * u.mag, 31.2),
                                             (np.float32(28.0), 28.0)])
def test_moduli_pass_through(value, expected):
    assert distance_modulus(value) == pytest.approx(expected)


@pytest.mark.parametrize('value, error, match', [
    (10 * u.s, TypeError, 'dist must be a distance'),
    ('far', TypeError, 'dist must be a distance or a modulus'),
    (-1 * u.Mpc, ValueError, 'dist must be a positive finite distance'),
    (np.inf * u.Mpc, ValueError, 'dist must be a positive finite distance'),
    (np.nan, ValueError, 'dist must be finite'),
])
def test_errors_name_the_parameter(value, error, match):
    with pytest.raises(error, match=match):
        distance_modulus(value, parameter='dist')
