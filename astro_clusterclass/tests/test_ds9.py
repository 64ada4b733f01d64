"""DS9 region files: written with regions, read back, loaded in SAOImage DS9."""

import os
import shutil
import subprocess
import time

import numpy as np
import pytest
from astropy import units as u
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning
from regions import Regions

from astro_clusterclass import write_ds9_regions
from astro_clusterclass.classes import CLASS_COLORS
from astro_clusterclass.conftest import legus_file, simple_wcs
from astro_clusterclass.ds9 import PAPER_MAGNITUDE_RADII
from astro_clusterclass.io import read_legus


def _color(region):
    # regions >= 0.8 reads DS9 'color' into edgecolor/facecolor.
    return region.visual.get('edgecolor', region.visual.get('color'))


def test_ngc1566_regions_read_back_with_class_colors(tmp_path):
    tbl = read_legus(legus_file('ngc1566'))
    path = tmp_path / 'ngc1566.reg'
    write_ds9_regions(tbl, path, label='id')
    back = Regions.read(path, format='ds9')
    assert len(back) == len(tbl)
    expected = [CLASS_COLORS[int(c)] for c in tbl['class']]
    assert [_color(r) for r in back] == expected
    # 1-based on disk, 0-based in memory: regions converts both ways.
    assert back[10].center.x == pytest.approx(tbl['x'][10], abs=1e-6)
    assert str(back[10].meta['text']) == str(tbl['id'][10])
    dashed = [r.visual.get('linestyle') == 'dashed' for r in back]
    assert sum(dashed) == 301  # class 0 rows: white dashed
    with open(path) as fh:
        text = fh.read()
    first = text.splitlines()[2]
    assert first.startswith(f'circle({tbl["x"][0] + 1:.8f},{tbl["y"][0] + 1:.8f},')


def test_sky_regions_and_paper_radii(tmp_path):
    tbl = read_legus(legus_file('ngc1433'))
    path = tmp_path / 'sky.reg'
    regs = write_ds9_regions(tbl, path, coordinates='sky',
                             radius_by_magnitude=PAPER_MAGNITUDE_RADII, radius=2)
    back = Regions.read(path, format='ds9')
    assert len(back) == len(tbl)
    mag = tbl['mag_F555W'].filled(np.nan * u.mag).value
    radii = np.array([r.radius.to_value(u.arcsec) for r in back])
    large = (mag >= 20) & (mag < 23.5)
    small = (mag >= 23.5) & (mag < 24.5)
    np.testing.assert_allclose(radii[large], 8 * 0.04, rtol=1e-6)
    np.testing.assert_allclose(radii[small], 4 * 0.04, rtol=1e-6)
    np.testing.assert_allclose(radii[~large & ~small], 2 * 0.04, rtol=1e-6)
    sep = back[0].center.separation(tbl['coord'][0])
    assert sep < 1e-6 * u.arcsec
    assert len(regs) == len(tbl)


def test_masked_class_and_class_label(tmp_path):
    tbl = QTable({'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.0],
                  'class_mode': np.ma.array([2, 4, 1], mask=[False, False, True])})
    regs = write_ds9_regions(tbl, tmp_path / 'm.reg', label='class')
    assert [r.visual['color'] for r in regs] == ['green', 'yellow', 'white']
    assert regs[2].visual['linestyle'] == 'dashed'
    assert [r.meta['text'] for r in regs] == ['2', '4', '?']


def test_pixel_regions_from_sky_only_table(tmp_path):
    wcs = simple_wcs((100, 100))
    coords = wcs.pixel_to_world([10.0, 50.0], [20.0, 60.0])
    tbl = QTable({'coord': coords, 'class': [3, 1]})
    regs = write_ds9_regions(tbl, tmp_path / 'p.reg', wcs=wcs)
    assert regs[0].center.x == pytest.approx(10.0)
    assert regs[1].center.y == pytest.approx(60.0)


def test_rows_without_position_warn(tmp_path):
    tbl = QTable({'x': [1.0, np.nan], 'y': [1.0, 2.0], 'class': [1, 2]})
    with pytest.warns(AstropyUserWarning, match='1 of 2 rows have no finite position'):
        regs = write_ds9_regions(tbl, tmp_path / 'n.reg')
    assert len(regs) == 1


_LABELLED = QTable({'x': [1.0], 'y': [1.0], 'class': [1]})


@pytest.mark.parametrize('tbl, kwargs, error, match', [
    (QTable({'x': [1.0], 'y': [1.0], 'class': [7]}), {}, ValueError,
     r"column 'class' contains labels outside.*\[7\]"),
    (QTable({'x': [1.0], 'y': [1.0]}), {}, ValueError, "table has no class column"),
    (QTable({'x': [1.0], 'y': [1.0], 'class': [7]}), {'class_column': 'kind'}, ValueError,
     "class_column: 'kind' is not a column"),
    (_LABELLED, {'coordinates': 'galactic'}, ValueError,
     "coordinates must be one of 'pixel', 'sky'"),
    (_LABELLED, {'coordinates': 'sky'}, ValueError,
     "coordinates='sky' needs a SkyCoord column or wcs="),
    (_LABELLED, {'radius_by_magnitude': PAPER_MAGNITUDE_RADII}, ValueError,
     r"magnitude_column \(used by radius_by_magnitude\): 'mag_F555W' is not a column"),
    (_LABELLED, {'label': 'name'}, ValueError, 'label must be None'),
    ({'x': [1.0]}, {}, TypeError, 'must be an astropy Table'),
])
def test_bad_inputs(tmp_path, tbl, kwargs, error, match):
    with pytest.raises(error, match=match):
        write_ds9_regions(tbl, tmp_path / 'a.reg', **kwargs)


@pytest.mark.skipif(any(shutil.which(tool) is None
                        for tool in ('ds9', 'Xvfb', 'xwd', 'xwdtopnm')),
                    reason='SAOImage DS9, Xvfb, xwd and xwdtopnm are needed (apt-get '
                           'install saods9 xvfb x11-apps netpbm)')
def test_region_file_loads_in_ds9(tmp_path):
    """Load the ngc1566 regions in DS9 under Xvfb and look for coloured circles."""
    from astropy.io import fits

    tbl = read_legus(legus_file('ngc1566'))
    # A blank 8-bit image covering the catalogue's pixel frame, so that the
    # circles (written at full resolution) are on screen.
    shape = (int(tbl['y'].max()) + 50, int(tbl['x'].max()) + 50)
    fits.PrimaryHDU(np.zeros(shape, dtype=np.uint8)).writeto(tmp_path / 'blank.fits')
    write_ds9_regions(tbl, tmp_path / 'ngc1566.reg', radius=25)
    env = dict(os.environ, DISPLAY=':97', XPA_METHOD='local')
    xvfb = subprocess.Popen(['Xvfb', ':97', '-screen', '0', '1024x900x24'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ds9 = None
    try:
        time.sleep(1.5)
        ds9 = subprocess.Popen(['ds9', '-geometry', '1000x880', str(tmp_path / 'blank.fits'),
                                '-zoom', 'to', 'fit', '-regions', 'load',
                                str(tmp_path / 'ngc1566.reg')],
                               env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        screenshot = tmp_path / 'screen.xwd'
        colors = {}
        for _ in range(30):  # DS9 takes a few seconds to draw 2752 regions
            time.sleep(1.0)
            subprocess.run(['xwd', '-root', '-silent', '-out', str(screenshot)],
                           env=env, check=True)
            colors = _count_colors(screenshot)
            if all(colors[c] > 200 for c in ('red', 'green', 'blue', 'yellow')):
                break
        assert ds9.poll() is None, 'ds9 exited early'
        for color in ('red', 'green', 'blue', 'yellow'):
            assert colors[color] > 200, colors
        keep = os.environ.get('ASTRO_CLUSTERCLASS_DS9_SCREENSHOT')
        if keep:
            shutil.copy(screenshot, keep)
    finally:
        for process in (ds9, xvfb):
            if process is not None:
                process.kill()
                process.wait()


def _count_colors(path):
    """Pixels of pure red, green, blue and yellow in an X window dump."""
    from PIL import Image  # matplotlib depends on pillow

    # Pillow has no XWD reader: convert the dump with netpbm's xwdtopnm.
    ppm = subprocess.run(['xwdtopnm', str(path)], capture_output=True, check=True).stdout
    from io import BytesIO
    image = np.asarray(Image.open(BytesIO(ppm)).convert('RGB')).astype(int)
    r, g, b = image[..., 0], image[..., 1], image[..., 2]
    hi, lo = 200, 60
    return {'red': int(np.sum((r > hi) & (g < lo) & (b < lo))),
            'green': int(np.sum((g > hi) & (r < lo) & (b < lo))),
            'blue': int(np.sum((b > hi) & (r < lo) & (g < lo))),
            'yellow': int(np.sum((r > hi) & (g > hi) & (b < lo)))}


def test_write_ds9_regions_output_policy(tmp_path):
    tbl = QTable({'x': [10.0], 'y': [5.0], 'class': [1]})
    path = tmp_path / 'c.reg'
    write_ds9_regions(tbl, path)
    with pytest.raises(FileExistsError, match='exists; pass overwrite=True'):
        write_ds9_regions(tbl, path)
    write_ds9_regions(tbl, path, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ['c.reg']
