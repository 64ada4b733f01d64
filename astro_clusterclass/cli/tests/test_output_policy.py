"""One output policy for every command: checks before the work, atomic writes, exit codes."""

import os
import subprocess
import sys

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import QTable, Table

from astro_clusterclass._utils.files import TEMPORARY_MARK
from astro_clusterclass.cli import main

ROOT = hasattr(os, 'geteuid') and os.geteuid() == 0


def _catalog(tmp_path, ids=(1, 2, 3), name='cat.ecsv'):
    path = tmp_path / name
    QTable({'id': list(ids), 'x': [60.0, 150.3, 100.0][:len(ids)],
            'y': [50.0, 120.7, 100.0][:len(ids)],
            'class': [1, 2, 3][:len(ids)]}).write(path)
    return str(path)


def _leftovers(folder):
    return [n for n in os.listdir(folder) if TEMPORARY_MARK in n]


def _one_error_line(err, command):
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f'clusterclass {command}: ')
    return lines[0]


# -- start-up ---------------------------------------------------------------------------

_PROBE = """
import sys
from astro_clusterclass.cli import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted(m for m in ('torch', 'torchvision') if m in sys.modules)
print('HEAVY', heavy, 'STATUS', status)
"""


@pytest.mark.parametrize('argv', [['--help'], ['--version'], ['regions', '--help'],
                                  ['compare', '--help'], ['simulate', '--help']])
def test_light_commands_import_no_torch(argv):
    result = subprocess.run([sys.executable, '-c', _PROBE, *argv], capture_output=True,
                            text=True, check=True)
    assert "HEAVY [] STATUS 0" in result.stdout, result.stdout + result.stderr


def test_regions_and_simulate_runs_import_no_torch(tmp_path):
    catalog = _catalog(tmp_path)
    for argv in (['regions', catalog, '-o', str(tmp_path / 'c.reg')],
                 ['simulate', '-o', str(tmp_path / 'sim'), '--shape', '120', '120']):
        result = subprocess.run([sys.executable, '-c', _PROBE, *argv], capture_output=True,
                                text=True, check=True)
        assert 'HEAVY [] STATUS 0' in result.stdout, result.stdout + result.stderr
    assert (tmp_path / 'c.reg').exists() and (tmp_path / 'sim').is_dir()


def test_usage_error_is_status_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(['regions'])
    assert info.value.code == 2


def test_every_option_has_help_and_shows_its_default():
    from astro_clusterclass.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.choices and 'regions' in a.choices)
    for name, sub in subparsers.choices.items():
        for action in sub._actions:
            if action.help == '==SUPPRESS==':
                continue
            assert action.help, f'{name} {action.option_strings or action.dest} has no help'
        assert '-q, --quiet' in sub.format_help() and '-v, --verbose' in sub.format_help()
    text = subparsers.choices['cutouts'].format_help()
    assert '(default: 299)' in ' '.join(text.split())


# -- regions ------------------------------------------------------------------------------

def test_regions_policy(tmp_path, capsys, monkeypatch):
    catalog = _catalog(tmp_path)
    out = tmp_path / 'c.reg'
    assert main(['regions', catalog, '-o', str(out)]) == 0
    good = out.read_text()
    capsys.readouterr()
    # Existing output: one message naming the flag.
    assert main(['regions', catalog, '-o', str(out)]) == 1
    line = _one_error_line(capsys.readouterr().err, 'regions')
    assert 'exists; pass --overwrite to replace it' in line
    # Unknown extension and missing folder: refused before reading the catalogue.
    assert main(['regions', 'missing.ecsv', '-o', str(tmp_path / 'c.txt')]) == 1
    assert 'unknown extension; use .reg' in capsys.readouterr().err
    assert main(['regions', catalog, '-o', str(tmp_path / 'no' / 'c.reg')]) == 1
    assert 'does not exist' in capsys.readouterr().err
    # A write that fails half-way leaves the previous file as it was, and no temporary.
    import astro_clusterclass.ds9 as ds9

    real_open = open

    class _Failing:
        def __init__(self, path, mode='r', *a, **k):
            self.fh = real_open(path, mode, *a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, text):
            self.fh.write(text[:len(text) // 2])
            raise OSError(28, 'No space left on device')

    monkeypatch.setattr(ds9, 'open', _Failing, raising=False)
    assert main(['regions', catalog, '-o', str(out), '--overwrite']) == 1
    assert 'No space left on device' in _one_error_line(capsys.readouterr().err, 'regions')
    assert out.read_text() == good and not _leftovers(tmp_path)
    monkeypatch.undo()
    # Ctrl-C: status 130, one line, nothing written.
    monkeypatch.setattr(ds9, 'catalog_regions', _interrupt)
    new = tmp_path / 'new.reg'
    assert main(['regions', catalog, '-o', str(new)]) == 130
    assert _one_error_line(capsys.readouterr().err, 'regions').endswith('interrupted')
    assert not new.exists() and not _leftovers(tmp_path)
    monkeypatch.undo()
    # --quiet prints nothing; the file is written.
    assert main(['regions', catalog, '-o', str(new), '-q']) == 0
    captured = capsys.readouterr()
    assert captured.out == '' and captured.err == '' and new.exists()


@pytest.mark.skipif(ROOT, reason='root may write into read-only folders')
def test_unwritable_folder(tmp_path, capsys):
    catalog = _catalog(tmp_path)
    locked = tmp_path / 'locked'
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert main(['regions', catalog, '-o', str(locked / 'c.reg')]) == 1
        assert 'is not writable' in capsys.readouterr().err
        assert main(['cutouts', catalog, 'a', 'b', 'c', 'd', 'e',
                     '-o', str(locked / 'stamps')]) == 1
        assert 'is not writable' in capsys.readouterr().err
    finally:
        locked.chmod(0o700)


def test_unwritable_folder_checked_before_work(tmp_path, capsys, monkeypatch):
    # As root a read-only folder is writable; what the check asks the system is tested here.
    catalog = _catalog(tmp_path)
    real = os.access
    monkeypatch.setattr(os, 'access', lambda path, mode: False if 'locked' in str(path)
                        else real(path, mode))
    (tmp_path / 'locked').mkdir()
    assert main(['regions', catalog, '-o', str(tmp_path / 'locked' / 'c.reg')]) == 1
    assert 'is not writable' in capsys.readouterr().err


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


# -- cutouts ------------------------------------------------------------------------------

def test_cutouts_policy(tmp_path, small_field_files, capsys, monkeypatch):
    catalog = _catalog(tmp_path)
    out = tmp_path / 'stamps'
    argv = ['cutouts', catalog, *small_field_files, '-o', str(out), '--size', '15',
            '--chunk-size', '2']
    assert main(argv) == 0
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    assert sorted(before) == ['cutout_1.fits', 'cutout_2.fits', 'cutout_3.fits', 'cutouts.ecsv']
    capsys.readouterr()
    for extra in ([], ['--npz']):  # --npz does not overwrite silently either
        assert main(argv + extra) == 1
        assert 'exists and is not empty; pass --overwrite' in _one_error_line(
            capsys.readouterr().err, 'cutouts')
    # A write failing in the second chunk leaves the previous folder as it was.
    calls = []
    real = fits.HDUList.writeto

    def failing(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) == 3:
            with open(path, 'wb') as fh:
                fh.write(b'SIMPLE  =')
            raise OSError(28, 'No space left on device')
        return real(self, path, *args, **kwargs)

    monkeypatch.setattr(fits.HDUList, 'writeto', failing)
    assert main(argv + ['--overwrite']) == 1
    assert 'No space left' in _one_error_line(capsys.readouterr().err, 'cutouts')
    monkeypatch.undo()
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert not _leftovers(tmp_path)
    # Ctrl-C in the second chunk: 130, one line, no folder.
    import astro_clusterclass.cutouts as cutouts

    real_cut, seen = cutouts._cut, []

    def cut(*args, **kwargs):
        seen.append(1)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return real_cut(*args, **kwargs)

    monkeypatch.setattr(cutouts, '_cut', cut)
    new = tmp_path / 'new'
    assert main(argv[:7] + argv[9:] + ['-o', str(new)]) == 130
    assert _one_error_line(capsys.readouterr().err, 'cutouts').endswith('interrupted')
    assert not new.exists() and not _leftovers(tmp_path)
    monkeypatch.undo()
    # --quiet; and the .npz holds every row.
    assert main(argv[:7] + argv[9:] + ['-o', str(new), '--npz', '-q']) == 0
    assert capsys.readouterr().out == ''
    with np.load(new / 'cutouts.npz') as npz:
        assert npz['data'].shape == (3, 5, 15, 15) and npz['ids'].tolist() == [1, 2, 3]


def test_cutouts_repeated_ids(tmp_path, small_field_files, capsys):
    catalog = _catalog(tmp_path, ids=(7, 8, 7))
    out = tmp_path / 'stamps'
    assert main(['cutouts', catalog, *small_field_files, '-o', str(out), '--size', '9']) == 0
    summary = QTable.read(out / 'cutouts.ecsv')
    assert summary['file'].tolist() == ['cutout_7.fits', 'cutout_8.fits', 'cutout_7_row2.fits']
    assert sorted(os.listdir(out)) == sorted(summary['file'].tolist() + ['cutouts.ecsv'])
    with fits.open(out / 'cutout_7_row2.fits') as hdul:
        assert hdul[0].header['OBJ_ID'] == '7' and hdul[0].header['X'] == 100.0
    # Names that would still collide: refused before anything is written, naming them.
    clash = _catalog(tmp_path, ids=('7_row2', '7', '7'), name='clash.ecsv')
    assert main(['cutouts', clash, *small_field_files, '-o', str(tmp_path / 'c')]) == 1
    assert "cutout_7_row2.fits" in _one_error_line(capsys.readouterr().err, 'cutouts')
    assert not (tmp_path / 'c').exists()


# -- compare and simulate -----------------------------------------------------------------

def _failing_table_write(monkeypatch, after):
    real, calls = Table.__dict__['write'], []

    def write(self, path, *args, **kwargs):
        calls.append(path)
        if len(calls) > after:
            with open(path, 'w') as fh:
                fh.write('# %ECSV 1.0\n')
            raise OSError(28, 'No space left on device')
        return real.__get__(self, type(self))(path, *args, **kwargs)

    monkeypatch.setattr(Table, 'write', write)


def test_compare_policy(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(1)
    path = tmp_path / 'two.ecsv'
    QTable({'x': rng.uniform(0, 500, 80), 'y': rng.uniform(0, 500, 80),
            'class': rng.integers(1, 5, 80), 'class_b': rng.integers(1, 5, 80)}).write(path)
    out = tmp_path / 'report'
    argv = ['compare', str(path), str(path), '--class-column-b', 'class_b', '-o', str(out)]
    assert main(argv) == 0
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    capsys.readouterr()
    assert main(argv) == 1
    assert 'pass --overwrite' in _one_error_line(capsys.readouterr().err, 'compare')
    _failing_table_write(monkeypatch, after=1)
    assert main(argv + ['--overwrite']) == 1
    assert 'No space left' in _one_error_line(capsys.readouterr().err, 'compare')
    monkeypatch.undo()
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    assert not _leftovers(tmp_path)
    import astro_clusterclass.visualization as visualization

    monkeypatch.setattr(visualization, 'plot_comparison', _interrupt)
    new = tmp_path / 'new'
    assert main(argv[:-1] + [str(new)]) == 130
    assert _one_error_line(capsys.readouterr().err, 'compare').endswith('interrupted')
    assert not new.exists() and not _leftovers(tmp_path)
    monkeypatch.undo()
    assert main(argv[:-1] + [str(new), '--quiet']) == 0
    assert capsys.readouterr().out == ''
    # The earlier option name still works.
    assert main(['compare', str(path), str(path), '--column-b', 'class_b',
                 '-o', str(tmp_path / 'old'), '-q']) == 0


def test_simulate_policy(tmp_path, capsys, monkeypatch):
    out = tmp_path / 'sim'
    argv = ['simulate', '-o', str(out), '--shape', '100', '100', '--n-candidates', '5']
    assert main(argv) == 0
    before = {n: (out / n).read_bytes() for n in os.listdir(out)}
    capsys.readouterr()
    assert main(argv) == 1
    assert 'pass --overwrite' in _one_error_line(capsys.readouterr().err, 'simulate')
    assert main(['simulate', '-o', str(tmp_path / 'no' / 'sim')]) == 1
    assert 'does not exist' in capsys.readouterr().err
    _failing_table_write(monkeypatch, after=0)
    assert main(argv + ['--overwrite', '--seed', '3']) == 1
    assert 'No space left' in _one_error_line(capsys.readouterr().err, 'simulate')
    monkeypatch.undo()
    assert {n: (out / n).read_bytes() for n in os.listdir(out)} == before
    import astro_clusterclass.datasets as datasets

    monkeypatch.setattr(datasets, 'make_cluster_field', _interrupt)
    assert main(['simulate', '-o', str(tmp_path / 'new')]) == 130
    assert _one_error_line(capsys.readouterr().err, 'simulate').endswith('interrupted')
    assert not (tmp_path / 'new').exists()


# -- classify -----------------------------------------------------------------------------

def test_classify_checks_before_the_work(tmp_path, small_field_files, capsys, monkeypatch):
    catalog = _catalog(tmp_path)
    import astro_clusterclass.classify as classify

    monkeypatch.setattr(classify, 'classify_table', _interrupt)  # would say if it ran
    for name, text in (('out.txt', 'unknown extension'), ('no/out.fits', 'does not exist')):
        assert main(['classify', catalog, *small_field_files, '-o',
                     str(tmp_path / name)]) == 1
        assert text in _one_error_line(capsys.readouterr().err, 'classify')
    (tmp_path / 'old.fits').write_bytes(b'old')
    assert main(['classify', catalog, *small_field_files, '-o',
                 str(tmp_path / 'old.fits')]) == 1
    assert 'pass --overwrite' in capsys.readouterr().err
    # Ctrl-C during the classification: 130, one line, nothing written.
    assert main(['classify', catalog, *small_field_files, '-o',
                 str(tmp_path / 'new.fits')]) == 130
    assert _one_error_line(capsys.readouterr().err, 'classify').endswith('interrupted')
    assert not (tmp_path / 'new.fits').exists()
    assert (tmp_path / 'old.fits').read_bytes() == b'old'


def test_unexpected_error_is_one_line(tmp_path, capsys, monkeypatch):
    import astro_clusterclass.ds9 as ds9

    def broken(*args, **kwargs):
        raise RuntimeError('something\nbroke')

    monkeypatch.setattr(ds9, 'catalog_regions', broken)
    catalog = _catalog(tmp_path)
    assert main(['regions', catalog, '-o', str(tmp_path / 'c.reg')]) == 1
    assert _one_error_line(capsys.readouterr().err, 'regions') == \
        'clusterclass regions: error: RuntimeError: something broke'
    assert main(['regions', catalog, '-o', str(tmp_path / 'c.reg'), '-v']) == 1
    assert 'Traceback' in capsys.readouterr().err
