"""StarcNet outputs (predictions.csv, <galaxy>.tab), written by the tests in StarcNet's layout."""

import numpy as np
import pytest
from astropy.table import QTable

from astro_clusterclass.conftest import legus_file
from astro_clusterclass.io import STARCNET_POSITION_ERROR, read_legus, read_starcnet

# The first rows of StarcNet's own output for NGC 3344 (output/predictions.csv
# and output/ngc3344.tab of piraruc/StarcNet): X/Y are the LEGUS 1-based
# positions 2422.000/921.000, 4736.864/6402.005, 4342.000/6077.541 truncated.
PREDICTIONS = ('Galaxy,Id,X,Y,Prediction\n'
               'ngc3344,1,2422,921,4\n'
               'ngc3344,2,4736,6402,4\n'
               'ngc3344,3,4342,6077,1\n'
               'ngc1566,1,100,200,2\n')
TAB = ('1\t2422\t921\t4\t[0.00 - 0.00 - 0.02 - 0.98]\n'
       '2\t4736\t6402\t4\t[0.01 - 0.02 - 0.05 - 0.91]\n'
       '3\t4342\t6077\t1\t[0.91 - 0.08 - 0.00 - 0.01]\n')
LEGUS_0_BASED = [(2421.0, 920.0), (4735.864, 6401.005), (4341.0, 6076.541)]


def test_predictions_csv(tmp_path):
    path = tmp_path / 'predictions.csv'
    path.write_text(PREDICTIONS)
    tbl = QTable.read(path)  # recognised from its header, not read as a plain CSV
    assert tbl.colnames == ['galaxy', 'id', 'x', 'y', 'class']
    assert tbl['galaxy'].tolist() == ['ngc3344'] * 3 + ['ngc1566']
    assert tbl['class'].tolist() == [4, 4, 1, 2]
    assert tbl.meta['galaxies'] == ['ngc1566', 'ngc3344'] and tbl.meta['galaxy'] is None
    assert tbl.meta['pixel_frame'] is None  # two fields: two pixel grids
    # Within half a pixel of the LEGUS positions they were truncated from.
    for (x, y), row in zip(LEGUS_0_BASED, tbl[:3]):
        assert abs(row['x'] - x) <= STARCNET_POSITION_ERROR
        assert abs(row['y'] - y) <= STARCNET_POSITION_ERROR
    assert (tbl['x'] + 0.5).tolist()[:3] == [2422, 4736, 4342]  # X given back
    one = read_starcnet(path, galaxy='NGC3344')
    assert len(one) == 3 and one.meta['pixel_frame'] == 'LEGUS ngc3344'
    with pytest.raises(ValueError, match=r"galaxy='ngc628-c': predictions.csv has no rows of "
                                         r"this field; its fields are \['ngc1566', 'ngc3344'\]"):
        read_starcnet(path, galaxy='ngc628-c')


def test_tab_with_probabilities(tmp_path):
    path = tmp_path / 'ngc3344.tab'
    path.write_text(TAB)
    tbl = QTable.read(path)
    assert tbl.colnames == ['galaxy', 'id', 'x', 'y', 'class', 'prob_1', 'prob_2', 'prob_3',
                            'prob_4']
    assert tbl['galaxy'].tolist() == ['ngc3344'] * 3
    assert tbl.meta['pixel_frame'] == 'LEGUS ngc3344'
    np.testing.assert_allclose(tbl['prob_4'], [0.98, 0.91, 0.01])
    # The class is the most probable of the four.
    probs = np.column_stack([tbl[f'prob_{k}'] for k in (1, 2, 3, 4)])
    assert (np.argmax(probs, axis=1) + 1).tolist() == tbl['class'].tolist()


@pytest.mark.parametrize('content, match', [
    ('Galaxy,Id,X,Y\nngc1,1,2,3\n', 'is not a StarcNet output'),
    ('Galaxy,Id,X,Y,Prediction\nngc1,1,2,3,7\n', r'Prediction must be classes 1-4, found \[7\]'),
    ('Galaxy,Id,X,Y,Prediction\nngc1,1,2.5,3,1\n', 'column X must hold integers'),
    ('1\t2\t3\t4\t[0.1 - 0.2 - 0.3 - 0.4]\n2\t3\t4\n', r'line 2: not a StarcNet row'),
])
def test_not_a_starcnet_file(tmp_path, content, match):
    path = tmp_path / 'out.csv'
    path.write_text(content)
    with pytest.raises(ValueError, match=match):
        read_starcnet(path)


def test_plain_csv_is_left_to_astropy(tmp_path):
    path = tmp_path / 'plain.csv'
    path.write_text('a,b\n1,2\n')
    assert QTable.read(path).colnames == ['a', 'b']


def test_positions_of_a_starcnet_file_made_from_legus_ngc1566(tmp_path):
    legus = read_legus(legus_file('ngc1566'))
    x1, y1 = legus['x'] + 1, legus['y'] + 1  # the file's 1-based values
    lines = ['Galaxy,Id,X,Y,Prediction']
    lines += [f'ngc1566,{i},{int(x)},{int(y)},{max(c, 1)}'
              for i, x, y, c in zip(legus['id'], x1, y1, legus['class_ml'])]
    path = tmp_path / 'predictions.csv'
    path.write_text('\n'.join(lines) + '\n')
    tbl = read_starcnet(path)
    assert len(tbl) == len(legus) == 2752
    assert tbl['id'].tolist() == legus['id'].tolist()
    assert np.max(np.abs(tbl['x'] - legus['x'])) <= STARCNET_POSITION_ERROR
    assert np.max(np.abs(tbl['y'] - legus['y'])) <= STARCNET_POSITION_ERROR
    # X - 1 (the obvious reading) is off by up to a whole pixel, X - 0.5 by half.
    assert np.max(np.abs((tbl['x'] - 0.5) - legus['x'])) > 0.9
