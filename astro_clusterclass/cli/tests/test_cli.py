"""The clusterclass command line (foundation subcommands and ``simulate``)."""

import subprocess
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.io import fits
from astropy.table import QTable
from regions import Regions

from astro_clusterclass import load_images
from astro_clusterclass.cli import main
from astro_clusterclass.conftest import legus_file


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as info:
        main(['--help'])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for name in ('regions', 'cutouts'):
        assert name in out


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, '-m', 'astro_clusterclass', '--version'],
                            capture_output=True, text=True)
    assert result.returncode == 0
    assert 'clusterclass' in result.stdout


def test_regions_command(tmp_path, capsys):
    out = tmp_path / 'ngc1566.reg'
    assert main(['regions', str(legus_file('ngc1566')), '-o', str(out),
                 '--paper-radii', '--label', 'id']) == 0
    assert 'wrote 2752 regions for 2752 rows' in capsys.readouterr().out
    assert len(Regions.read(out, format='ds9')) == 2752


def test_regions_command_ambiguous_layout(tmp_path, capsys):
    out = tmp_path / 'ngc3351.reg'
    assert main(['regions', str(legus_file('ngc3351')), '-o', str(out)]) == 1
    err = capsys.readouterr().err
    assert 'class_column=' in err and 'column 35' in err
    assert main(['regions', str(legus_file('ngc3351')), '--class-column', '35',
                 '-o', str(out)]) == 0


def test_cutouts_command(tmp_path, small_field_files, capsys):
    catalog = tmp_path / 'cands.ecsv'
    QTable({'id': [1, 2, 3], 'x': [60.0, 150.3, 239.0],
            'y': [50.0, 120.7, 199.0]}).write(catalog)
    outdir = tmp_path / 'stamps'
    assert main(['cutouts', str(catalog), *small_field_files, '-o', str(outdir),
                 '--size', '21']) == 0
    assert 'cut 3 stamps of 21 px (1 flagged)' in capsys.readouterr().out
    summary = QTable.read(outdir / 'cutouts.ecsv')
    assert summary['flag_names'].tolist() == ['NONE', 'NONE', 'EDGE']
    with fits.open(outdir / 'cutout_2.fits') as hdul:
        stamp = hdul['F814W'].data
    # The Gaussian source at (150.3, 120.7) peaks in the centre pixel.
    assert np.unravel_index(np.argmax(stamp), stamp.shape) == (10, 10)
    assert main(['cutouts', str(catalog), *small_field_files, '-o', str(outdir),
                 '--size', '9', '--npz', '--overwrite']) == 0
    data = np.load(outdir / 'cutouts.npz')
    assert data['data'].shape == (3, 5, 9, 9)


def test_missing_catalog(tmp_path, capsys):
    assert main(['regions', str(tmp_path / 'nope.tab'), '-o', str(tmp_path / 'x.reg')]) == 1
    assert "catalogue" in capsys.readouterr().err


def test_cli_simulate(tmp_path, capsys):
    out = tmp_path / 'sim'
    assert main(['simulate', '-o', str(out), '--shape', '128', '160', '--n-candidates', '8',
                 '--seed', '2', '--distance', '12']) == 0
    text = capsys.readouterr().out
    assert 'simulated 160x128 px, 8 candidates at 12 Mpc (seed 2)' in text
    images = load_images(sorted(str(p) for p in out.glob('field_f*.fits')))
    assert images.shape == (128, 160)
    images.close()
    truth = QTable.read(out / 'field_truth.ecsv')
    assert len(truth) == 8
    assert truth.meta['arguments']['distance'] == repr(12 * u.Mpc)
    # Errors are reported, not raised.
    assert main(['simulate', '-o', str(out), '--shape', '128', '128', '--n-candidates',
                 '8']) == 1
    assert 'exists and is not empty; pass --overwrite' in capsys.readouterr().err
    assert main(['simulate', '-o', str(tmp_path / 'x'), '--shape', '128', '128',
                 '--n-candidates', '-2']) == 1
    assert 'n_candidates must be a non-negative integer' in capsys.readouterr().err


# ----------------------------------------------------------------------------
# Damaged files on the command line: one line on stderr, status 1, no traceback
# ----------------------------------------------------------------------------

def _cli(*argv):
    return subprocess.run([sys.executable, '-m', 'astro_clusterclass', *argv],
                          capture_output=True, text=True, timeout=300)


def _one_line_error(result, command, *needles):
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and 'Traceback' not in result.stderr, result.stderr
    assert lines[0].startswith(f'clusterclass {command}: error: ')
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


def test_damaged_checkpoint_on_the_command_line(tmp_path, small_field_files):
    import torch

    from astro_clusterclass.models import get_model, save_checkpoint
    torch.manual_seed(0)
    model = tmp_path / 'model.safetensors'
    save_checkpoint(get_model('compactnet', cutout_size=16, widths=(4, 8)), model)
    raw = model.read_bytes()
    catalog = tmp_path / 'cands.ecsv'
    QTable({'x': [60.0, 150.3], 'y': [50.0, 120.7]}).write(catalog)
    for name, data, needle in (('truncated.safetensors', raw[:len(raw) // 2], 'damaged'),
                               ('flipped.safetensors', raw[:-9] + bytes([raw[-9] ^ 1]) + raw[-8:],
                                'differ from the digest'),
                               ('text.safetensors', b'not a model\n' * 10, 'neither')):
        bad = tmp_path / name
        bad.write_bytes(data)
        result = _cli('classify', str(catalog), *small_field_files, '-o',
                      str(tmp_path / f'{name}.ecsv'), '-m', str(bad), '--no-progress')
        _one_line_error(result, 'classify', str(bad), needle)
        assert not (tmp_path / f'{name}.ecsv').exists()


def test_damaged_image_on_the_command_line(tmp_path, small_field_files):
    catalog = tmp_path / 'cands.ecsv'
    QTable({'id': [1], 'x': [60.0], 'y': [50.0]}).write(catalog)
    damaged = small_field_files[2]
    with open(damaged, 'r+b') as fh:
        fh.truncate(2880 * 2 + 1000)
    result = _cli('cutouts', str(catalog), *small_field_files, '-o', str(tmp_path / 'stamps'),
                  '--size', '9')
    _one_line_error(result, 'cutouts', damaged, 'HDU 1 (SCI)', 'truncated')


def test_damaged_catalog_on_the_command_line(tmp_path):
    good = tmp_path / 'good.ecsv'
    QTable({'x': [10.0, 20.0, 30.0], 'y': [10.0, 20.0, 30.0], 'class': [1, 2, 3]}).write(good)
    text = good.read_text()
    truncated = tmp_path / 'truncated.ecsv'
    truncated.write_text(text[:text.index('datatype') + 20])   # inside the YAML header
    ragged = tmp_path / 'ragged.csv'
    ragged.write_text('x,y\n1,2,3\n')
    for bad in (truncated, ragged):
        result = _cli('regions', str(bad), '-o', str(tmp_path / f'{bad.stem}.reg'))
        _one_line_error(result, 'regions', f'cannot read catalogue {str(bad)!r}')
        assert not (tmp_path / f'{bad.stem}.reg').exists()


def test_errors_with_notes_and_interruptions(monkeypatch, capsys):
    from astro_clusterclass import cli

    def failing(args):
        exc = ValueError('chunk 3 failed:\n  worker died')
        exc.add_note('The chunks already finished are kept; run again with resume=True.')
        raise exc

    def interrupted(args):
        raise KeyboardInterrupt

    parser = cli.build_parser()
    args = parser.parse_args(['regions', 'c.ecsv', '-o', 'c.reg'])
    for func, status, text in ((failing, 1, 'clusterclass regions: error: chunk 3 failed: '
                                            'worker died (The chunks already finished are '
                                            'kept; run again with resume=True.)\n'),
                               (interrupted, 130, 'clusterclass regions: interrupted\n')):
        args.func = func
        monkeypatch.setattr(cli, 'build_parser', lambda *_, args=args: _Fixed(args))
        assert cli.main(['regions', 'c.ecsv', '-o', 'c.reg']) == status
        assert capsys.readouterr().err == text


class _Fixed:
    """A parser whose parse_args returns prepared arguments."""

    def __init__(self, args):
        self.args = args

    def parse_args(self, argv):
        return self.args
