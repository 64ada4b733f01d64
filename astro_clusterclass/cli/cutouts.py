"""``clusterclass cutouts``: five-band stamps of every candidate."""

import contextlib
import os

from ._common import (add_catalog_arguments, add_image_arguments,
                      catalog_from_args, check_output_folder, position_columns, position_names,
                      progress)

__all__ = ['add_parser', 'run', 'file_names']

#: Stamp side of the PHANGS-HST tutorial files (``io.cutout_fits.TUTORIAL_SIZE``,
#: not imported here so that the parser is built without the library).
DEFAULT_SIZE = 299

#: Candidates cut and written at once; memory is about CHUNK x 5 x SIZE^2 x 4 bytes.
DEFAULT_CHUNK = 128

#: Name of the table listing every candidate, its flags and its file.
SUMMARY = 'cutouts.ecsv'

#: Name of the single array file of ``--npz``.
NPZ = 'cutouts.npz'


def add_parser(subparsers):
    """
    Register ``clusterclass cutouts`` on ``subparsers``; its ``func`` default is `run`.

    Examples
    --------
    >>> import argparse
    >>> from astro_clusterclass.cli import cutouts
    >>> subparsers = argparse.ArgumentParser(prog='clusterclass').add_subparsers()
    >>> cutouts.add_parser(subparsers)
    >>> subparsers.choices['cutouts'].prog
    'clusterclass cutouts'
    """
    parser = subparsers.add_parser(
        'cutouts', help='cut five-band stamps around every candidate',
        description='Cut one stamp per candidate from five aligned band images, '
                    'a chunk of candidates at a time (bounded memory). Writes one '
                    'multi-extension FITS file per candidate (the PHANGS-HST tutorial '
                    f'format; repeated ids get the row number in the name) or a single '
                    f'{NPZ}, plus {SUMMARY} listing each candidate, its flags and its file. '
                    'The folder is written under a temporary name and renamed when complete.')
    add_catalog_arguments(parser, positions=True)
    add_image_arguments(parser)
    parser.add_argument('-o', '--output', required=True, metavar='DIR',
                        help='output folder (created; its parent must exist)')
    parser.add_argument('--size', type=int, default=DEFAULT_SIZE, metavar='PX',
                        help='stamp side in pixels')
    parser.add_argument('--chunk-size', type=int, default=DEFAULT_CHUNK, metavar='N',
                        help='candidates cut and written at once (memory: N x 5 x PX^2 x '
                             '4 bytes)')
    parser.add_argument('--npz', action='store_true',
                        help=f'write one {NPZ} (data (N, 5, PX, PX), flags, ids) instead of '
                             f'one FITS file per candidate')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--overwrite', action='store_true',
                        help='write into an existing, non-empty folder, replacing files of '
                             'the same names')
    parser.set_defaults(func=run)


def file_names(ids, *, prefix='cutout_'):
    """
    One file name per row: ``{prefix}{id}.fits``, with the row number for repeated ids.

    Raises a `ValueError` naming the ids when names would still collide or
    hold a path separator (nothing has been written then).

    Examples
    --------
    >>> from astro_clusterclass.cli.cutouts import file_names
    >>> file_names([7, 8, 7])
    ['cutout_7.fits', 'cutout_8.fits', 'cutout_7_row2.fits']
    """
    ids = [str(i) for i in ids]
    seen = {}
    for value in ids:
        seen[value] = seen.get(value, 0) + 1
    names, first = [], set()
    for row, value in enumerate(ids):
        if seen[value] > 1 and value in first:
            names.append(f'{prefix}{value}_row{row}.fits')
        else:
            first.add(value)
            names.append(f'{prefix}{value}.fits')
    bad = sorted({v for v in ids if os.sep in v or (os.altsep and os.altsep in v)})
    if bad:
        msg = f'ids {bad[:10]} contain a path separator and cannot name files'
        raise ValueError(msg)
    if len(set(names)) != len(names):
        clash = sorted({n for n in names if names.count(n) > 1})
        msg = (f'the ids give the same file name to several rows ({clash[:10]}); give the '
               f'catalogue unique ids, or use --npz')
        raise ValueError(msg)
    return names


def _subset(cutouts, index):
    """The stamps ``index`` of a `~astro_clusterclass.cutouts.Cutouts`."""
    import dataclasses

    return dataclasses.replace(
        cutouts, data=cutouts.data[index], flags=cutouts.flags[index], x=cutouts.x[index],
        y=cutouts.y[index], x0=cutouts.x0[index], y0=cutouts.y0[index],
        ids=cutouts.ids[index])


def _write_fits(chunk, start, names, folder):
    """Write the stamps of one chunk under their names (one library call per name pattern)."""
    import numpy as np

    from ..io.cutout_fits import write_cutout_fits

    mine = names[start:start + len(chunk)]
    plain = np.array([n == f'cutout_{i}.fits' for n, i in zip(mine, chunk.ids)])
    if plain.any():
        write_cutout_fits(_subset(chunk, np.flatnonzero(plain)), folder)
    for k in np.flatnonzero(~plain):  # repeated ids: rare, one file at a time
        row = start + int(k)
        write_cutout_fits(_subset(chunk, [k]), folder, prefix=f'.row{row}.')
        os.replace(os.path.join(folder, f'.row{row}.{chunk.ids[k]}.fits'),
                   os.path.join(folder, mine[k]))


def _open_npz_data(zf, shape):
    """The ``data.npy`` member of an open npz, its header written; stamps are appended."""
    import numpy as np

    fh = zf.open('data.npy', 'w', force_zip64=True)
    header = {'descr': np.lib.format.dtype_to_descr(np.dtype(np.float32)),
              'fortran_order': False, 'shape': tuple(shape)}
    np.lib.format.write_array_header_2_0(fh, header)
    return fh


def _finish_npz(zf, flags, ids):
    import numpy as np

    for name, values in (('flags', flags), ('ids', ids)):
        with zf.open(f'{name}.npy', 'w', force_zip64=True) as fh:
            np.lib.format.write_array(fh, values, allow_pickle=False)


def run(args):
    """
    Run ``clusterclass cutouts`` with parsed arguments.

    Examples
    --------
    >>> import os, tempfile
    >>> from astro_clusterclass.cli import main
    >>> work = tempfile.mkdtemp()
    >>> main(['simulate', '-o', work, '--shape', '300', '300', '-q'])
    0
    >>> images = [os.path.join(work, f'field_{band}.fits')
    ...           for band in ('f275w', 'f336w', 'f438w', 'f555w', 'f814w')]
    >>> main(['cutouts', os.path.join(work, 'field_truth.ecsv'), *images, '--size', '32',
    ...       '-o', os.path.join(work, 'stamps')])  # doctest: +ELLIPSIS
    cut ... stamps of 32 px (... flagged) into .../stamps: one FITS file per row and cutouts.ecsv
    0
    """
    import zipfile

    import numpy as np
    from astropy.table import QTable
    from tqdm.auto import tqdm

    from .._utils.files import atomic_folder
    from .._utils.validation import positive_int
    from ..cutouts import CutoutFlag, iter_cutouts
    from ..images import load_images
    from ..io import write_table
    from ..tables import check_on_image, pixel_positions

    check_output_folder(args)
    size = positive_int(args.size, '--size')
    chunk_size = positive_int(args.chunk_size, '--chunk-size')
    tbl = catalog_from_args(args)
    columns = position_columns(tbl, args.positions)
    ids = np.asarray(tbl['id']) if 'id' in tbl.colnames else np.arange(len(tbl))
    if ids.dtype.kind == 'O':
        ids = ids.astype(str)
    names = None if args.npz else file_names(ids)  # refused here, before anything is cut
    n = len(tbl)
    with load_images(args.images, bands=args.bands) as images:
        option_names = position_names()
        x, y = pixel_positions(tbl, wcs=images.wcs, use=args.positions,
                               option_names=option_names)
        check_on_image(x, y, images.shape, option_names=option_names)
        flags = np.zeros(n, dtype=np.uint8)
        with atomic_folder(args.output) as tmp, contextlib.ExitStack() as stack:
            data = zf = None
            if args.npz:  # streamed into the (uncompressed) archive, chunk after chunk
                zf = stack.enter_context(zipfile.ZipFile(
                    os.path.join(tmp, NPZ), 'w', compression=zipfile.ZIP_STORED,
                    allowZip64=True))
                data = _open_npz_data(zf, (n, 5, size, size))
            with tqdm(total=n, unit='stamp', desc='cutouts', disable=not progress(args)) as bar:
                for start, chunk in iter_cutouts(images, tbl, size=size, chunk_size=chunk_size,
                                                 columns=columns):
                    flags[start:start + len(chunk)] = chunk.flags
                    if data is not None:
                        data.write(np.ascontiguousarray(chunk.data, dtype=np.float32).data)
                    else:
                        _write_fits(chunk, start, names, tmp)
                    bar.update(len(chunk))
                    del chunk  # not alive while the next one is cut
            summary = QTable({'id': ids, 'x': x, 'y': y, 'flags': flags,
                              'flag_names': [CutoutFlag.describe(f) for f in flags]})
            summary['x'].description = '0-based pixel x of the candidate'
            summary['y'].description = '0-based pixel y of the candidate'
            summary['flags'].description = 'CutoutFlag bits (0: a complete stamp)'
            if data is not None:
                data.close()
                _finish_npz(zf, flags, ids)
                zf.close()
            else:
                summary['file'] = names
                summary['file'].description = 'the FITS file of the stamp, in this folder'
            summary.meta['cutouts'] = {'size': size, 'images': list(map(str, args.images))}
            write_table(summary, os.path.join(tmp, SUMMARY))
    flagged = int(np.count_nonzero(flags))
    what = NPZ if args.npz else 'one FITS file per row'
    print(f'cut {n} stamps of {size} px ({flagged} flagged) into {args.output}: '
          f'{what} and {SUMMARY}')
