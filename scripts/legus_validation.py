"""
Reproduce the numbers of the comparison tools on real LEGUS catalogues.

Prints, for the resolution note of issue 6:

1. the quality ratios of every cell of Whitmore et al. (2021) Table 2 that
   prints one, recomputed from its counts;
2. LEGUS NGC 1566: agreement fractions and both confusion matrices between
   the three-human mode (``class_human``) and the machine-learning class
   (``class_ml``), on the objects both classify 1-4;
3. NGC 628: the c and e LEGUS fields cross-matched on the sky, and the
   agreement of their classes on the overlap;
4. colour-box counts (classes 1, 2, 3, 1+2) of the LEGUS catalogues of
   NGC 628 (c+e), 1433, 1566 and 3351 at M_V < -7.8, next to the paper's
   LEGUS column;
5. mass-function and age-distribution slopes of NGC 1566 classes 1+2,
   next to the paper's Tables 4 and 5;
6. the bright-end (M_V < -10) completeness of the LEGUS classes.

and writes the colour-colour diagram of NGC 1566, the confusion-matrix
grid and the agreement-versus-magnitude plot as PNG files.

Usage::

    python scripts/legus_validation.py [--data ../shared/data] [--plots docs/_static/compare]
"""

import argparse
import os
from pathlib import Path

import numpy as np
from astropy import units as u
from astropy.table import QTable, vstack

from astro_clusterclass.compare import (agreement_fractions, agreement_vs_property,
                                        color_box_counts, confusion_matrix, crossmatch,
                                        quality_ratio)
from astro_clusterclass.io import read_bc03_track  # also registers format='legus'
from astro_clusterclass.science import (bright_end_completeness, distance_modulus,
                                        mass_function, age_distribution)

ROOT = Path(__file__).resolve().parents[1]

#: Distances of Whitmore et al. (2021), Tables 1 and 2.
DISTANCES = {'ngc628': 9.8, 'ngc1433': 18.6, 'ngc1566': 17.7, 'ngc3351': 10.0}

#: The LEGUS (LG) counts of Table 2, classes 1, 2, 3 and 1+2, boxes 1-4.
PAPER_LG = {
    'ngc628': {'1': (27, 13, 32, 8), '2': (0, 3, 13, 35), '3': (0, 0, 3, 23),
               '1+2': (27, 16, 40, 43)},
    'ngc1433': {'1': (21, 3, 11, 13), '2': (1, 2, 9, 34), '3': (0, 1, 1, 37),
                '1+2': (23, 5, 18, 47)},
    'ngc1566': {'1': (34, 135, 84, 25), '2': (11, 26, 85, 127), '3': (6, 8, 69, 239),
                '1+2': (45, 161, 138, 152)},
    'ngc3351': {'1': (14, 0, 2, 6), '2': (0, 0, 5, 12), '3': (1, 1, 2, 5),
                '1+2': (14, 1, 12, 18)},
}

#: Counts and printed QR of every Table 2 cell that has one (classes 1-3, 1+2).
TABLE2_QR = [
    ((28, 27, 26, 28), 0.2), ((24, 21, 24, 22), 0.3), ((52, 34, 46, 45), 1.1),
    ((16, 14, 17, 18), 0.4), ((38, 37, 46, 46), 0.8), ((15, 13, 18, 18), 0.6),
    ((132, 135, 157, 148), 1.0), ((98, 104, 113, 114), 0.7), ((29, 32, 30, 30), 0.2),
    ((84, 84, 82, 76), 0.4), ((86, 80, 99, 80), 1.0), ((23, 25, 18, 16), 0.9),
    ((73, 85, 34, 45), 3.1), ((66, 51, 42, 55), 1.4), ((34, 35, 20, 21), 1.5),
    ((40, 34, 39, 41), 0.5), ((110, 127, 89, 101), 1.5), ((21, 12, 22, 17), 1.1),
    ((16, 19, 18, 13), 0.7), ((30, 69, 73, 89), 3.1), ((27, 26, 36, 37), 1.0),
    ((30, 23, 41, 54), 2.2), ((36, 37, 58, 62), 2.0), ((78, 239, 257, 327), 7.0),
    ((19, 17, 24, 28), 1.1), ((28, 27, 26, 28), 0.2), ((26, 23, 24, 22), 0.4),
    ((63, 45, 46, 50), 1.2), ((17, 14, 17, 18), 0.4), ((50, 44, 49, 52), 0.5),
    ((19, 16, 18, 18), 0.3), ((157, 161, 163, 157), 0.2), ((122, 120, 124, 125), 0.2),
    ((44, 40, 36, 40), 0.5), ((17, 18, 13, 12), 0.8), ((157, 138, 116, 121), 1.6),
    ((14, 12, 16, 17), 0.6), ((152, 131, 141, 136), 0.8), ((46, 43, 30, 29), 1.4),
    ((47, 47, 43, 44), 0.3), ((133, 152, 107, 117), 1.7), ((23, 18, 27, 20), 0.8),
    ((25, 22, 22, 17), 0.7),
]

#: Paper Table 4, LEGUS column: beta of C1+C2 in log age 6-7, 7-8, 8-8.6.
PAPER_BETA_LEGUS = (-1.73, -2.01, -2.00)
#: Paper Table 5, LEGUS column: gamma of C1+C2, log M 4-4.8 and > 4.8,
#: without (log age 6.5-9) and with (6-9) the youngest bin.
PAPER_GAMMA_LEGUS = {'without youngest': (-0.49, -0.57), 'with youngest': (-0.72, -0.77)}


def legus(data, galaxy, **kwargs):
    matches = sorted((data / 'legus_tab').glob(f'hlsp_legus_*_{galaxy}_multiband*.tab'))
    if len(matches) != 1:
        raise FileNotFoundError(f'no single LEGUS catalogue for {galaxy} in {data}')
    return QTable.read(matches[0], format='legus', **kwargs)


def show(tbl, fmt='.3f'):
    tbl = tbl.copy(copy_data=False)
    for name in tbl.colnames:
        if tbl[name].dtype.kind == 'f':
            tbl[name].info.format = fmt
    tbl.pprint(max_lines=-1, max_width=-1)


def section(title):
    print(f'\n=== {title} ' + '=' * max(0, 70 - len(title)))


def table2_qr():
    section('1. Quality ratios of Table 2 (Whitmore et al. 2021)')
    counts = np.array([c for c, _ in TABLE2_QR])
    printed = np.array([q for _, q in TABLE2_QR])
    ours = np.round(quality_ratio(counts), 1)
    print(f'{np.sum(ours == printed)} of {len(printed)} printed QRs reproduced '
          f'(std ddof=1 / sqrt(mean), rounded to 0.1); '
          f'{np.sum(ours <= 1.0)} good (QR <= 1), {np.sum(ours > 1.0)} poor '
          f'(paper: 28 and 15)')


def ngc1566_agreement(data, plots):
    section('2. LEGUS NGC 1566: three-human mode vs machine learning')
    tbl = legus(data, 'ngc1566')
    fractions = agreement_fractions(tbl, 'class_human', 'class_ml')
    print(f"{fractions.meta['n_used']} of {len(tbl)} objects classified 1-4 by both")
    show(fractions)
    matrices = {}
    for normalize, title in (('mean', 'no ground truth (mean of both normalisations)'),
                             (None, 'counts'), ('a', 'ordinary, three-human mode as truth'),
                             ('b', 'ordinary, ML class as truth')):
        matrix = confusion_matrix(tbl, 'class_human', 'class_ml', normalize=normalize)
        matrices[title] = matrix
        print(f'\nconfusion matrix, {title} (rows: class_human, columns: class_ml)')
        show(matrix, '.2f')
    trend = agreement_vs_property(tbl, 'class_human', 'class_ml', 'mag_F555W', n_bins=4)
    print('\nagreement versus V magnitude (equal-number bins)')
    show(trend['bin', 'mag_F555W_median', 'n', 'fraction_1', 'fraction_2', 'fraction_3',
               'fraction_4', 'fraction_1+2'], '.2f')
    if plots:
        from astro_clusterclass.visualization import (plot_agreement_vs_property,
                                                      plot_confusion_grid)
        short = dict(zip(matrices, ['no ground truth', 'counts', 'human as truth',
                                    'ML as truth']))
        fig = plot_confusion_grid({short[k]: v for k, v in matrices.items()}, ncols=2,
                                  label_a='three-human mode', label_b='ML class')
        fig.suptitle('LEGUS NGC 1566: human vs ML classes', fontsize=11)
        fig.savefig(plots / 'ngc1566_confusion.png', dpi=90)
        fig = plot_agreement_vs_property({'human vs ML': trend}, xlabel='V (F555W, Vega mag)')
        fig.savefig(plots / 'ngc1566_agreement_vs_mag.png', dpi=80)
        print(f"\nplots: {plots / 'ngc1566_confusion.png'}, "
              f"{plots / 'ngc1566_agreement_vs_mag.png'}")


def ngc628_overlap(data):
    section('3. NGC 628: c and e fields cross-matched on the sky')
    c, e = legus(data, 'ngc628-c'), legus(data, 'ngc628-e')
    radius = 0.08 * u.arcsec  # 2 px of 0.04 arcsec
    matches = crossmatch(c, e, radius=radius, footprint='hull')
    meta = matches.meta
    print(f"c: {meta['n_a']} rows, {meta['n_a_in_footprint']} inside e's footprint; "
          f"e: {meta['n_b']} rows, {meta['n_b_in_footprint']} inside c's footprint")
    print(f'one-to-one matches within {radius}: {len(matches)}; median separation '
          f"{np.median(matches['separation']):.3f}")
    both = (matches['class_a'] > 0) & (matches['class_b'] > 0)
    print(f'matched objects classified 1-4 in both fields: {int(both.sum())}')
    fractions = agreement_fractions(matches, 'class_a', 'class_b')
    show(fractions)
    print('confusion matrix (counts; rows: ngc628-c class, columns: ngc628-e class)')
    show(confusion_matrix(matches, 'class_a', 'class_b', normalize=None))
    dv = matches['mag_F555W_a'] - matches['mag_F555W_b']
    print(f'median V(c) - V(e) of the matches: {np.nanmedian(dv.filled(np.nan)):.3f}')
    return c, e, matches


def ngc3351_class_column(data):
    """Say which trailing column of the 37-column NGC 3351 file holds the class."""
    path = sorted((data / 'legus_tab').glob('hlsp_legus_*_ngc3351_multiband*.tab'))[0]
    raw = np.loadtxt(path)
    print('NGC 3351 LEGUS file, trailing columns (value: count):')
    for col in range(33, raw.shape[1]):
        values, counts = np.unique(raw[:, col], return_counts=True)
        print(f'  column {col + 1}: ' + ', '.join(f'{v:g}: {n}' for v, n in zip(values, counts)))
    added = raw[:, 33] == 1
    print(f'  rows with column 34 = 1 have column 35 in '
          f'{sorted(set(raw[added, 34].astype(int).tolist()))} (classes 1-3 only)')
    print('  -> column 35 is the class (0-4, many artefacts), column 36 a quality flag '
          '(1 certain, 2 likely, 3 possible), column 37 an H-alpha flag (4 = none for most), '
          'column 34 the flag of clusters added by eye; the layout of the LEGUS '
          '"class_whitmore" catalogues (BCW-only classes, as the paper says for NGC 3351).')
    return 35


def color_boxes(data, c, e, matches):
    section('4. Colour-box counts at M_V < -7.8 (LEGUS catalogues)')
    class_3351 = ngc3351_class_column(data)
    # NGC 628: field c plus the field-e objects that are not also in c.
    e_only = e[np.setdiff1d(np.arange(len(e)), matches['index_b'])]
    common = [n for n in c.colnames if n in e_only.colnames]
    ngc628 = vstack([c[common], e_only[common]], metadata_conflicts='silent')
    catalogs = {'ngc628': ngc628, 'ngc1433': legus(data, 'ngc1433'),
                'ngc1566': legus(data, 'ngc1566'),
                'ngc3351': legus(data, 'ngc3351', class_column=class_3351)}
    print(f'NGC 628 (c+e): {len(c)} + {len(e_only)} rows (the {len(matches)} overlap '
          f'matches counted once, from c)')
    for galaxy, tbl in catalogs.items():
        dm = distance_modulus(DISTANCES[galaxy] * u.Mpc)
        counts = color_box_counts({'LEGUS': tbl}, distance_modulus=dm,
                                  classes=('1', '2', '3', '1+2'))
        info = counts.meta['methods']['LEGUS']
        print(f"\n{galaxy}: distance {DISTANCES[galaxy]} Mpc, distance modulus "
              f"{dm.value:.2f} mag, V < {dm.value - 7.8:.2f}; {info['n_bright']} objects "
              f"brighter than M_V = -7.8 ({info['n_bright_no_color']} without U-B or V-I)")
        print('  class  box1 box2 box3 box4   | paper LG: box1 box2 box3 box4')
        for label in ('1', '2', '3', '1+2'):
            ours = counts['LEGUS'][counts['class'] == label].tolist()
            paper = PAPER_LG[galaxy][label]
            print(f'  {label:>5} ' + ''.join(f'{n:5d}' for n in ours) + '   |          '
                  + ''.join(f'{n:5d}' for n in paper))
    # The NGC 1566 file has three classifications: which one is the paper's LEGUS?
    tbl = catalogs['ngc1566']
    dm = distance_modulus(DISTANCES['ngc1566'] * u.Mpc)
    counts = color_box_counts({'hybrid': (tbl, 'class'), 'human': (tbl, 'class_human'),
                               'ml': (tbl, 'class_ml')}, distance_modulus=dm,
                              classes=('1', '2', '3', '1+2'))
    counts['paper_LG'] = [PAPER_LG['ngc1566'][k][b - 1]
                          for k, b in zip(counts['class'], counts['box'])]
    print('\nNGC 1566, the three class columns of the file (QR over hybrid, human, ml):')
    show(counts, '.2f')
    for name in ('hybrid', 'human', 'ml'):
        diff = np.abs(counts[name] - counts['paper_LG']).sum()
        print(f'  sum |{name} - paper LG| = {diff}')


def ngc1566_science(data):
    section('5. NGC 1566 classes 1+2: mass function and age distribution')
    tbl = legus(data, 'ngc1566')
    limits = (10 ** 3.5, 10 ** 4.25, 10 ** 4.5)
    print('mass function dN/dM ~ M^beta, 6 equal-number bins, open last bin; lower mass '
          'limit at the turnover (peak of dN/dlogM) of each age range: log M = 3.5, 4.25, 4.5')
    for column in ('class', 'class_human', 'class_ml'):
        for mass_min in (limits,):
            mf = mass_function(tbl, class_column=column, mass_min=mass_min, n_bins=6)
            text = ', '.join(f"log age {r['log_age_min']:.0f}-{r['log_age_max']:.1f}: "
                             f"{r['beta']:.2f} +/- {r['beta_err']:.2f} (n={r['n']})"
                             + (' [no fit: closed bins flatter than -1]' if r['note'] else '')
                             for r in mf)
            print(f'  {column:<12} {text}')
    print(f'  paper Table 4, LEGUS C1+C2: {PAPER_BETA_LEGUS}; all 12: -1.86 +/- 0.04')
    print('\nage distribution dN/dtau ~ tau^gamma, log age 6-9, 6 equal-number bins')
    for column in ('class', 'class_human', 'class_ml'):
        ad = age_distribution(tbl, class_column=column, n_bins=6)
        for r in ad:
            print(f"  {column:<12} log M {r['log_mass_min']:.1f}-{r['log_mass_max']:.1f}: "
                  f"with youngest bin {r['gamma']:.2f} +/- {r['gamma_err']:.2f}, without "
                  f"{r['gamma_no_youngest']:.2f} +/- {r['gamma_no_youngest_err']:.2f} "
                  f"(n={r['n']}, youngest bin up to "
                  f"{r['youngest_age_max'].to_value(u.Myr):.1f} Myr)")
    print('as the paper labels Table 5 (fit over log age 6.5-9 vs 6-9, all bins):')
    for column in ('class', 'class_human', 'class_ml'):
        narrow = age_distribution(tbl, class_column=column, n_bins=6, log_age_range=(6.5, 9))
        wide = age_distribution(tbl, class_column=column, n_bins=6, log_age_range=(6.0, 9))
        text = '; '.join(f"log M {n['log_mass_min']:.1f}-{n['log_mass_max']:.1f}: "
                         f"6.5-9 {n['gamma']:.2f} +/- {n['gamma_err']:.2f}, "
                         f"6-9 {w['gamma']:.2f} +/- {w['gamma_err']:.2f}"
                         for n, w in zip(narrow, wide))
        print(f'  {column:<12} {text}')
    print(f'  paper Table 5, LEGUS C1+C2: {PAPER_GAMMA_LEGUS}')


def bright_end(data, c):
    section('6. Bright-end completeness, M_V < -10')
    for galaxy, tbl, columns in (('ngc628-c', c, 'class'),
                                 ('ngc1566', legus(data, 'ngc1566'),
                                  ['class', 'class_human', 'class_ml'])):
        galaxy_key = galaxy.split('-')[0]
        result = bright_end_completeness(tbl, class_columns=columns,
                                         distance_modulus=DISTANCES[galaxy_key] * u.Mpc)
        print(galaxy)
        show(result, '.2f')


def plot_color_color_ngc1566(data, plots):
    from astro_clusterclass.visualization import plot_color_color
    tbl = legus(data, 'ngc1566')
    track = read_bc03_track(data / 'bc03_phangs' / 'bc03_solar_hst_vega_colours.csv')
    dm = distance_modulus(DISTANCES['ngc1566'] * u.Mpc).value
    v = tbl['mag_F555W'].filled(np.nan).value
    bright = tbl[np.isfinite(v) & (v - dm < -7.8)]
    ax = plot_color_color(bright, class_column='class_human', classes=(1, 2, 3),
                          track=track,
                          title='LEGUS NGC 1566, three-human classes, $M_V < -7.8$')
    ax.figure.savefig(plots / 'ngc1566_color_color.png', dpi=90)
    print(f"\nplot: {plots / 'ngc1566_color_color.png'}")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--data', type=Path, default=Path(os.environ.get(
        'ASTRO_CLUSTERCLASS_SHARED_DATA', ROOT.parent / 'shared' / 'data')),
        help='the shared data folder (legus_tab/, bc03_phangs/)')
    parser.add_argument('--plots', type=Path, default=ROOT / 'docs' / '_static' / 'compare',
                        help='folder for the PNG plots')
    parser.add_argument('--no-plots', action='store_true')
    args = parser.parse_args(argv)
    plots = None
    if not args.no_plots:
        import matplotlib
        matplotlib.use('Agg')
        plots = args.plots
        plots.mkdir(parents=True, exist_ok=True)
    table2_qr()
    ngc1566_agreement(args.data, plots)
    c, e, matches = ngc628_overlap(args.data)
    color_boxes(args.data, c, e, matches)
    ngc1566_science(args.data)
    bright_end(args.data, c)
    if plots:
        plot_color_color_ngc1566(args.data, plots)


if __name__ == '__main__':
    main()
