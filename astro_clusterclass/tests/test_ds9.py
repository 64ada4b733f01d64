"""DS9 region files: written with regions, read back, loaded in SAOImage DS9."""

import os
import re
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
from astro_clusterclass.ds9 import PAPER_MAGNITUDE_RADII, catalog_regions
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
    groups = [r.meta['tag'] for r in back]
    assert groups == [['unclassified'] if c == 0 else [f'class {c}'] for c in tbl['class']]
    with open(path) as fh:
        text = fh.read()
    first = text.splitlines()[2]
    assert first.startswith(f'circle({tbl["x"][0] + 1:.8f},{tbl["y"][0] + 1:.8f},')


def test_groups_and_arcsec_radii_read_back(tmp_path):
    from astro_clusterclass.datasets import make_cluster_field

    field = make_cluster_field((400, 400), 80, seed=2)
    truth = field.truth
    path = tmp_path / 'sky.reg'
    write_ds9_regions(truth, path, coordinates='sky', wcs=field.images.wcs, radius=5)
    lines = path.read_text().splitlines()
    assert lines[:2] == ['# Region file format: DS9 astropy/regions', 'icrs']
    assert all(re.match(r'circle\([^,]+,[^,]+,0\.2"\)', line) for line in lines[2:])
    back = Regions.read(path, format='ds9')
    assert len(back) == len(truth)
    # 5 pixels of the field's WCS, computed here from its CD matrix.
    scale = np.sqrt(np.abs(np.linalg.det(field.images.wcs.pixel_scale_matrix))) * 3600
    for region, row in zip(back, truth):
        assert region.radius.unit == u.arcsec
        assert region.radius.value == pytest.approx(5 * scale, rel=1e-6)
        expected = [f'class {row["class"]}']
        if row['class'] == 4:
            expected.append(f'class {row["subclass"]}')
        assert region.meta['tag'] == expected
        assert region.center.separation(row['coord']) < 1e-3 * u.arcsec
    assert sum(r.meta['tag'][0] == 'class 4' for r in back) == np.sum(truth['class'] == 4)


def test_a_subclass_of_another_class_gives_no_group():
    tbl = QTable({'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.0], 'class_mode': [4, 1, 4],
                  'subclass': ['4.2', '4.2', '']})
    tags = [r.meta['tag'] for r in catalog_regions(tbl)]
    assert tags == [['class 4', 'class 4.2'], ['class 1'], ['class 4']]
    assert [r.meta['tag'] for r in catalog_regions(tbl, subclass_column=None)] == [
        ['class 4'], ['class 1'], ['class 4']]


@pytest.mark.parametrize('coordinates, frame', [('pixel', 'image'), ('sky', 'icrs')])
def test_empty_table_gives_the_ds9_header(tmp_path, coordinates, frame):
    tbl = QTable({'x': [1.0], 'y': [2.0], 'class': [1]})[:0]
    path = tmp_path / 'empty.reg'
    regs = write_ds9_regions(tbl, path, coordinates=coordinates, wcs=simple_wcs((10, 10)))
    assert len(regs) == 0
    # The header regions writes for a non-empty file, then the frame.
    header = write_ds9_regions(QTable({'x': [1.0], 'y': [2.0], 'class': [1]}),
                               tmp_path / 'one.reg').serialize(format='ds9').splitlines()[0]
    assert path.read_text() == f'{header}\n{frame}\n'
    assert header.startswith('# Region file format: DS9')
    assert len(Regions.read(path, format='ds9')) == 0


def test_confidence_dashes_the_unsure_and_labels_them(tmp_path):
    prob = np.array([[0.9, 0.05, 0.03, 0.02], [0.2, 0.45, 0.3, 0.05],
                     [0.1, 0.1, 0.1, 0.7], [0.25, 0.25, 0.25, 0.25]])
    tbl = QTable({'id': [7, 8, 9, 10], 'x': [1.0, 2.0, 3.0, 4.0], 'y': [1.0, 2.0, 3.0, 4.0],
                  'class_mode': np.ma.array([1, 2, 4, 1], mask=[0, 0, 0, 1]),
                  'class_quality': [1.0, 0.4, 0.9, np.nan]})
    for k in range(4):
        tbl[f'prob_{k + 1}'] = prob[:, k]
    path = tmp_path / 'c.reg'
    write_ds9_regions(tbl, path, label='id', confidence_label=True)
    back = Regions.read(path, format='ds9')
    # The probability of the class drawn: 0.90, 0.45 (< 0.5: dashed), 0.70.
    assert [str(r.meta['text']) for r in back] == ['7 0.90', '8 0.45', '9 0.70', '10']
    assert [r.visual.get('linestyle') for r in back] == [None, 'dashed', None, 'dashed']
    assert [_color(r) for r in back] == ['red', 'green', 'yellow', 'white']
    assert back[1].meta['tag'] == ['class 2', 'low confidence']
    assert back[3].meta['tag'] == ['unclassified']
    # Another column and threshold.
    regs = catalog_regions(tbl, confidence='class_quality', confidence_threshold=0.95)
    assert [r.meta['tag'] for r in regs] == [['class 1'], ['class 2', 'low confidence'],
                                             ['class 4', 'low confidence'], ['unclassified']]
    plain = catalog_regions(tbl, confidence=None)
    assert not any(r.visual.get('linestyle') for r in plain[:3])
    with pytest.raises(ValueError, match="confidence: 'q' is not a column"):
        catalog_regions(tbl, confidence='q')
    with pytest.raises(ValueError, match='confidence_label=True needs a confidence'):
        catalog_regions(tbl['x', 'y', 'class_mode'], confidence_label=True)


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


_NEEDS_DS9 = pytest.mark.skipif(
    any(shutil.which(tool) is None for tool in ('ds9', 'Xvfb', 'xwd', 'xwdtopnm')),
    reason='SAOImage DS9, Xvfb, xwd and xwdtopnm are needed (apt-get install saods9 xvfb '
           'x11-apps netpbm)')

# Run inside DS9 (-source) once the regions are loaded: open the Groups
# dialog (Region > Groups...) next to the main window and write every group
# it lists with the number of regions DS9 selects for it.
_GROUPS_TCL = """GroupDialog
wm geometry $igroup(top) 270x380+905+0
update
set fh [open {%(out)s.tmp} w]
foreach tag [$dgroup(listbox) children {}] {
    $current(frame) marker unselect all
    $current(frame) marker [list $tag] select
    puts $fh "$tag\t[$current(frame) get marker select number]"
}
$current(frame) marker unselect all
close $fh
file rename {%(out)s.tmp} {%(out)s}
"""


def _ds9_session(tmp_path, image, regions, *, display, done, screenshot_to=None,
                 extra=(), tcl=None, timeout=40):
    """
    Show ``image`` and ``regions`` in DS9 on a virtual screen until ``done(xwd)`` holds.

    ``done`` gets the path of a fresh screen grab (xwd) every second. DS9 is
    killed at the end; -saveimage and -exit hang under Xvfb.
    """
    env = dict(os.environ, DISPLAY=display, XPA_METHOD='local')
    xvfb = subprocess.Popen(['Xvfb', display, '-screen', '0', '1180x900x24'],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ds9 = None
    screenshot = tmp_path / 'screen.xwd'
    try:
        time.sleep(1.5)
        command = ['ds9', '-geometry', '900x880+0+0', str(image), *extra,
                   '-zoom', 'to', 'fit', '-regions', 'load', str(regions)]
        if tcl is not None:
            command += ['-source', str(tcl)]
        ds9 = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
        for _ in range(timeout):  # DS9 takes a few seconds to draw thousands of regions
            time.sleep(1.0)
            assert ds9.poll() is None, 'ds9 exited early'
            subprocess.run(['xwd', '-root', '-silent', '-out', str(screenshot)],
                           env=env, check=True)
            if done(screenshot):
                break
        else:
            pytest.fail('DS9 did not show the regions in time')
        if screenshot_to:
            time.sleep(1.0)  # let DS9 draw the last changes
            subprocess.run(['xwd', '-root', '-silent', '-out', str(screenshot_to)],
                           env=env, check=True)
    finally:
        for process in (ds9, xvfb):
            if process is not None:
                process.kill()
                process.wait()
    return screenshot


def _group_counts(path):
    lines = path.read_text().splitlines() if path.exists() else []
    return {tag: int(n) for tag, n in (line.rsplit('\t', 1) for line in lines)}


@_NEEDS_DS9
def test_region_file_loads_in_ds9(tmp_path):
    """Load the ngc1566 regions in DS9 under Xvfb: coloured circles, and one group per class."""
    from astropy.io import fits

    tbl = read_legus(legus_file('ngc1566'))
    # A blank 8-bit image covering the catalogue's pixel frame, so that the
    # circles (written at full resolution) are on screen.
    shape = (int(tbl['y'].max()) + 50, int(tbl['x'].max()) + 50)
    fits.PrimaryHDU(np.zeros(shape, dtype=np.uint8)).writeto(tmp_path / 'blank.fits')
    write_ds9_regions(tbl, tmp_path / 'ngc1566.reg', radius=25)
    groups = tmp_path / 'groups.txt'
    (tmp_path / 'groups.tcl').write_text(_GROUPS_TCL % {'out': groups})
    colors = {}

    def done(screen):
        colors.update(_count_colors(screen))
        shown = all(colors[c] > 200 for c in ('red', 'green', 'blue', 'yellow'))
        return groups.exists() and shown

    _ds9_session(tmp_path, tmp_path / 'blank.fits', tmp_path / 'ngc1566.reg', display=':97',
                 done=done, tcl=tmp_path / 'groups.tcl',
                 screenshot_to=os.environ.get('ASTRO_CLUSTERCLASS_DS9_SCREENSHOT'))
    for color in ('red', 'green', 'blue', 'yellow'):
        assert colors[color] > 200, colors
    klass = np.asarray(tbl['class'])
    expected = {f'class {k}': int(np.sum(klass == k)) for k in (1, 2, 3, 4)}
    expected['unclassified'] = int(np.sum(klass == 0))
    assert _group_counts(groups) == expected


@_NEEDS_DS9
def test_ds9_lists_the_class_and_subclass_groups_of_a_sky_region_file(tmp_path):
    """A simulated field in sky coordinates (arcsec radii): DS9 places and groups every circle."""
    from astropy.io import fits

    from astro_clusterclass.datasets import make_cluster_field

    field = make_cluster_field((700, 700), 160, seed=11)
    truth = field.truth
    image = tmp_path / 'f555w.fits'
    fits.PrimaryHDU(field.images['F555W'].astype(np.float32),
                    header=field.images.wcs.to_header()).writeto(image)
    regions = tmp_path / 'field.reg'
    write_ds9_regions(truth, regions, coordinates='sky', wcs=field.images.wcs, radius=6)
    assert '"' in regions.read_text().splitlines()[2]  # arcsec radii
    groups = tmp_path / 'groups.txt'
    (tmp_path / 'groups.tcl').write_text(_GROUPS_TCL % {'out': groups})
    colors = {}

    def done(screen):
        colors.update(_count_colors(screen))
        return groups.exists() and colors['red'] > 100 and colors['yellow'] > 100

    _ds9_session(tmp_path, image, regions, display=':96', done=done,
                 tcl=tmp_path / 'groups.tcl',
                 extra=['-scale', 'asinh', '-scale', 'mode', '99.5', '-cmap', 'grey'],
                 screenshot_to=os.environ.get('ASTRO_CLUSTERCLASS_DS9_GROUPS_SCREENSHOT'))
    klass = np.asarray(truth['class'])
    expected = {f'class {k}': int(np.sum(klass == k)) for k in (1, 2, 3, 4)}
    sub = np.asarray(truth['subclass']).astype(str)
    for label in sorted(set(sub[sub != ''])):
        expected[f'class {label}'] = int(np.sum(sub == label))
    assert _group_counts(groups) == expected


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


def test_regions_command_line_confidence_and_sky(tmp_path, capsys):
    from astro_clusterclass.cli import main

    wcs = simple_wcs((100, 100))
    tbl = QTable({'id': [1, 2], 'coord': wcs.pixel_to_world([10.0, 50.0], [20.0, 60.0]),
                  'class_mode': [3, 1], 'prob_1': [0.1, 0.3], 'prob_2': [0.1, 0.3],
                  'prob_3': [0.7, 0.2], 'prob_4': [0.1, 0.2]})
    catalog = tmp_path / 'classified.ecsv'
    tbl.write(catalog)
    out = tmp_path / 'c.reg'
    assert main(['regions', str(catalog), '-o', str(out), '--coordinates', 'sky',
                 '--show-confidence', '--confidence-threshold', '0.4']) == 0
    assert 'wrote 2 regions for 2 rows' in capsys.readouterr().out
    assert re.findall(r'text=\{([^}]*)\}', out.read_text()) == ['0.70', '0.30']
    back = Regions.read(out, format='ds9')
    assert [r.meta['tag'] for r in back] == [['class 3'], ['class 1', 'low confidence']]
    assert back[0].radius.to_value(u.arcsec) == pytest.approx(0.2)  # 5 px at 0.04"
    assert main(['regions', str(catalog), '-o', str(out), '--overwrite',
                 '--coordinates', 'sky', '--confidence', 'none']) == 0
    assert not any(r.visual.get('linestyle') for r in Regions.read(out, format='ds9'))
