"""``clusterclass review``: serving (in a subprocess, stopped by Ctrl-C) and ``--export``."""

import json
import signal
import subprocess
import sys
import threading
import urllib.request

import numpy as np
import pytest
from astropy.table import QTable

pytest.importorskip('tornado')

from astro_clusterclass.cli import build_parser, main  # noqa: E402
from astro_clusterclass.cli.review import queue_options  # noqa: E402
from astro_clusterclass.review import LabelStore  # noqa: E402


@pytest.fixture(scope='module')
def field_files(tmp_path_factory):
    from astro_clusterclass.datasets import make_cluster_field

    folder = tmp_path_factory.mktemp('review_cli')
    field = make_cluster_field((200, 200), 15, seed=4)
    paths = field.write(folder)
    images = [paths[b] for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')]
    return {'catalog': paths['candidates'], 'images': images, 'table': field.candidates,
            'folder': folder}


def one_error(capsys):
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith('clusterclass review: error: ')
    return lines[0]


def parse(*argv):
    return build_parser(['review']).parse_args(['review', *argv])


def test_queue_flags():
    args = parse('c.ecsv', *'abcde', '--db', 'l.sqlite')
    assert queue_options(args) == {'order': 'doubtful'}
    args = parse('c.ecsv', *'abcde', '--db', 'l', '--queue', 'disagreement', 'class',
                 'class_mode', '--unreviewed', '--mag-range', '18', '23', '--region', '0',
                 '100', '10', '90', '--only-class', '4', '--queue-class-column', 'class_mode')
    assert queue_options(args) == {
        'order': 'disagreement', 'columns': ('class', 'class_mode'), 'unreviewed': True,
        'mag_range': (18.0, 23.0), 'region': (0.0, 100.0, 10.0, 90.0), 'only_class': 4,
        'class_column': 'class_mode'}
    assert queue_options(parse('c', *'abcde', '--queue', 'random', '7')) == \
        {'order': 'random', 'seed': 7}


def test_region_file(tmp_path):
    from regions import PixCoord, RectanglePixelRegion

    path = tmp_path / 'box.reg'
    RectanglePixelRegion(PixCoord(50, 60), 20, 30).write(str(path), format='ds9')
    region = queue_options(parse('c', *'abcde', '--region', str(path)))['region']
    assert isinstance(region, RectanglePixelRegion)
    assert region.contains(PixCoord(55, 70)) and not region.contains(PixCoord(70, 60))


@pytest.mark.parametrize('argv, flag', [
    (['--queue', 'disagreement', 'class'], '--queue disagreement needs two class columns'),
    (['--queue', 'random', 'x'], 'the seed must be an integer'),
    (['--queue', 'brightest', 'x'], '--queue brightest takes no arguments'),
    (['--queue-class-column', 'class'], '--queue-class-column is used with --only-class'),
    (['--region', '1', '2', '3'], '--region'),
    (['--region', '5', '1', '0', '9'], '--region: XMIN XMAX YMIN YMAX must be'),
    (['--region', 'missing.reg'], "--region: region file 'missing.reg' does not exist"),
])
def test_bad_queue_flags(argv, flag):
    with pytest.raises((ValueError, FileNotFoundError), match=flag):
        queue_options(parse('c.ecsv', *'abcde', '--db', 'l.sqlite', *argv))


@pytest.mark.parametrize('argv, message', [
    (['review'], 'give CATALOG and its five IMAGE files'),
    (['review', 'c.ecsv', 'a.fits', 'b.fits'], 'give the five band IMAGE files after CATALOG, '
                                               'got 2'),
    (['review', 'c.ecsv', *'abcde'], '--db: give the label database'),
    (['review', 'c.ecsv', *'abcde', '--db', 'l.sqlite', '-o', 'x.ecsv'],
     '-o/--output is used with --export only'),
    (['review', '--export', 'l.sqlite'], '--export needs -o/--output'),
    (['review', '--export', 'missing.sqlite', '-o', 'x.ecsv'],
     "--export: label database 'missing.sqlite' does not exist"),
    (['review', '--export', 'l.sqlite', 'c.ecsv', 'a.fits', '-o', 'x.ecsv'],
     '--export takes no IMAGE arguments'),
    (['review', 'missing.ecsv', *'abcde', '--db', 'l.sqlite'],
     "catalogue 'missing.ecsv' does not exist"),
])
def test_errors_name_the_flag(capsys, argv, message):
    assert main(argv) == 1
    assert message in one_error(capsys)


def test_another_catalog_is_refused(tmp_path, capsys, field_files):
    db = tmp_path / 'labels.sqlite'
    LabelStore(db, catalog=field_files['table'], catalog_path=field_files['catalog']).close()
    other = QTable(field_files['table'], copy=True)
    other['x'][0] += 3
    path = tmp_path / 'other.ecsv'
    other.write(path)
    assert main(['review', str(path), *field_files['images'], '--db', str(db)]) == 1
    line = one_error(capsys)
    assert str(path) in line and field_files['catalog'] in line


def test_export(tmp_path, capsys, field_files):
    db = tmp_path / 'labels.sqlite'
    table = field_files['table']
    with LabelStore(db, catalog=table, catalog_path=field_files['catalog']) as store:
        store.add_label(int(table['id'][2]), reviewer='ann', label=4, subclass='4.2')
        store.add_label(int(table['id'][2]), reviewer='bob', label=4, subclass='4.2')
        store.add_label(int(table['id'][5]), reviewer='ann', label=1)
    out = tmp_path / 'labelled.ecsv'
    assert main(['review', '--export', str(db), '-o', str(out)]) == 0
    assert capsys.readouterr().out.strip() == \
        f'wrote {len(table)} rows (2 with a human class) to {out}'
    back = QTable.read(out)
    assert list(back['id']) == list(table['id'])
    assert (back['class_human'][2], back['subclass_human'][2], back['n_reviews'][2]) == \
        (4, '4.2', 2)
    assert back['class_human'][5] == 1
    assert np.ma.getmaskarray(back['class_human']).sum() == len(table) - 2
    # The output policy: an existing file needs --overwrite.
    assert main(['review', '--export', str(db), '-o', str(out)]) == 1
    assert '--overwrite' in one_error(capsys)
    assert main(['review', '--export', str(db), '-o', str(out), '--overwrite', '-q']) == 0
    assert capsys.readouterr().out == ''


def _serve(field_files, db, *extra):
    command = [sys.executable, '-m', 'astro_clusterclass', 'review', field_files['catalog'],
               *field_files['images'], '--db', str(db), *extra]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True)
    return process


def _read_url(stream, lines):
    for line in stream:
        lines.append(line)
        for word in line.split():
            if 'token=' in word:
                return word
    return None


def test_a_starting_queue_that_cannot_be_made_is_an_error(tmp_path, field_files):
    # The simulated catalog has no magnitudes: 'brightest' fails before the address is
    # printed, naming the flag that would fix it.
    process = _serve(field_files, tmp_path / 'labels.sqlite', '--queue', 'brightest')
    out, err = process.communicate(timeout=120)
    assert process.returncode == 1 and 'token=' not in out
    assert 'clusterclass review: error: --mag-column: none of the columns' in err, err
    assert 'name the column with --mag-column' in err and 'mag_column=' not in err


@pytest.mark.parametrize('quiet', [False, True])
def test_serve_until_ctrl_c(tmp_path, field_files, quiet):
    db = tmp_path / 'labels.sqlite'
    process = _serve(field_files, db, '--reviewer', 'ann', '--queue', 'random', '3',
                     *(['-q'] if quiet else []))
    lines = []
    try:
        stream = process.stderr if quiet else process.stdout
        box = []
        reader = threading.Thread(target=lambda: box.append(_read_url(stream, lines)))
        reader.start()
        reader.join(120)
        url = box[0] if box else None
        assert url and url.startswith('http://127.0.0.1:'), lines
        base, token = url.split('/?token=')
        headers = {'Authorization': f'token {token}', 'Content-Type': 'application/json'}
        with urllib.request.urlopen(urllib.request.Request(
                base + '/api/session', headers=headers), timeout=30) as response:
            session = json.load(response)
        assert session['reviewer'] == 'ann' and session['queue']['order'] == 'random'
        assert session['queue']['seed'] == 3
        request = urllib.request.Request(base + '/api/label', method='POST', headers=headers,
                                         data=json.dumps({'row': 1, 'label': 3}).encode())
        with urllib.request.urlopen(request, timeout=30) as response:
            assert json.load(response)['saved']
        process.send_signal(signal.SIGINT)
        assert process.wait(60) == 0
        rest = (process.stderr if quiet else process.stdout).read()
        assert 'stopped; 1 label(s) by 1 reviewer(s)' in rest
        if quiet:
            assert process.stdout.read() == ''
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(30)
        process.stdout.close()
        process.stderr.close()
    with LabelStore(db) as store:
        assert store.current(reviewer='ann')[int(field_files['table']['id'][1])]['label'] == 3
        assert store.info['catalog_path'] == field_files['catalog']
