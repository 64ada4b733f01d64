"""
Pictures and sanity measurements of simulated fields.

Makes the PNGs of ``docs/simulations.rst`` (``docs/_static/simulations/``)
and prints the numbers quoted there:

* ``field_rgb.png``: part of a default field as an RGB picture
  (F814W, F555W, F336W + F438W; Lupton et al. asinh scaling);
* ``gallery_classes.png``: F555W stamps of classes 1-4;
* ``gallery_subclasses.png``: RGB stamps of every label (1, 2, 3, 4.1 … 4.12);
* ``ci_colors.png``: concentration index of stars and class-1 clusters,
  and the U−B vs V−I diagram of clusters by age with the boxes and the
  BC03 track;

and measures the concentration index (photutils, 1 and 3 px apertures,
7-8 px background annulus, F555W), the fractions of old and young clusters
in the colour boxes, and the agreement of the "second classifier" with the
truth.

Usage::

    python scripts/simulation_figures.py [--out docs/_static/simulations] [--no-figures]
"""

import argparse
import os

import matplotlib

matplotlib.use('Agg')

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from astropy import units as u  # noqa: E402
from astropy.visualization import make_lupton_rgb  # noqa: E402
from photutils.aperture import (ApertureStats, CircularAnnulus, CircularAperture,  # noqa: E402
                                aperture_photometry)

from astro_clusterclass import make_cutouts  # noqa: E402
from astro_clusterclass.compare import agreement_fractions, assign_color_boxes  # noqa: E402
from astro_clusterclass.datasets import (DEFAULT_SUBCLASS_FRACTIONS, bc03_track,  # noqa: E402
                                         make_cluster_field, relabel_classes)
from astro_clusterclass.visualization import plot_color_color, plot_gallery  # noqa: E402

LABEL_ORDER = ('1', '2', '3', '4.1', '4.2', '4.3', '4.4', '4.5', '4.6', '4.7', '4.8', '4.9',
               '4.10', '4.11', '4.12')


def labels_of(truth):
    return np.array([s if s else str(c) for c, s in zip(truth['class'], truth['subclass'])])


def _scaled(channel, lo=1.0, hi=99.8, region=1.0):
    """
    Scale between the percentiles of the central ``region`` (fraction of the side).

    A region smaller than 1 keeps a bright neighbour near the edge of a
    stamp from setting the scale and hiding the candidate in its centre.
    """
    ny, nx = channel.shape
    ky, kx = max(3, int(round(region * ny))), max(3, int(round(region * nx)))
    center = channel[(ny - ky) // 2:(ny - ky) // 2 + ky, (nx - kx) // 2:(nx - kx) // 2 + kx]
    low, high = np.percentile(center, [lo, hi])
    return (channel - low) / max(high - low, 1e-12)


def rgb(images, x0, y0, size, *, stretch=0.05, q=8):
    """
    Lupton RGB of a square region: F814W red, F555W green, F336W + F438W blue.

    Each channel is scaled between its 1st and 99.8th percentiles first.
    """
    sl = (slice(y0, y0 + size), slice(x0, x0 + size))
    red = _scaled(images['F814W'][sl])
    green = _scaled(images['F555W'][sl])
    blue = _scaled((3.0 * images['F336W'][sl] + images['F438W'][sl]) / 2.0)
    return make_lupton_rgb(red, green, blue, minimum=0, stretch=stretch, Q=q)


def concentration_index(image, x, y):
    pos = np.stack([x, y], axis=1)
    a1, a3 = CircularAperture(pos, 1.0), CircularAperture(pos, 3.0)
    bkg = ApertureStats(image, CircularAnnulus(pos, 7.0, 8.0)).median
    f1 = np.asarray(aperture_photometry(image, a1)['aperture_sum']) - bkg * a1.area
    f3 = np.asarray(aperture_photometry(image, a3)['aperture_sum']) - bkg * a3.area
    return 2.5 * np.log10(f3 / f1)


def measure_ci(out):
    field = make_cluster_field((2000, 2000), 2000, seed=5, class_fractions={1: 1, 4: 1},
                               subclass_fractions={'4.1': 1})
    t = field.truth
    ci = concentration_index(field.images['F555W'], np.asarray(t['x']), np.asarray(t['y']))
    bright = t['mag_F555W'] < 23.5 * u.mag
    stars = ci[bright & (t['class'] == 4)]
    clusters = ci[bright & (t['class'] == 1)]
    pct = (10, 25, 50, 75, 90)
    print('CI = m(1 px) - m(3 px), F555W, V < 23.5, 2000x2000 px field, seed 5')
    print(f'  stars (4.1), N={len(stars)}: percentiles {pct} = '
          f'{np.round(np.percentile(stars, pct), 2).tolist()}; '
          f'fraction < 1.4: {np.mean(stars < 1.4):.3f}')
    print(f'  class 1, N={len(clusters)}: percentiles {pct} = '
          f'{np.round(np.percentile(clusters, pct), 2).tolist()}; '
          f'fraction >= 1.4: {np.mean(clusters >= 1.4):.3f}')
    print(f'  median difference: {np.median(clusters) - np.median(stars):.2f} mag')
    return stars, clusters


def measure_boxes():
    field = make_cluster_field((2000, 2000), 2000, seed=5, class_fractions={1: 1, 2: 1, 3: 1})
    t = assign_color_boxes(field.truth)
    age = t['age'].to_value(u.yr)
    box = np.ma.filled(t['box'], 0)
    print('Colour boxes (truth magnitudes) of classes 1-3, 2000x2000 px field, seed 5')
    for name, sel, want in (('> 1 Gyr', age > 1e9, (1,)),
                            ('< 10 Myr', age < 1e7, (3, 4)),
                            ('10-100 Myr', (age >= 1e7) & (age < 1e8), (3, 4)),
                            ('< 100 Myr', age < 1e8, (3, 4)),
                            ('0.1-1 Gyr', (age >= 1e8) & (age <= 1e9), (2,))):
        counts = np.bincount(box[sel], minlength=5)
        print(f'  age {name}: N={sel.sum()}, outside/box1/box2/box3/box4 = {counts.tolist()}, '
              f'in box {"+".join(map(str, want))}: {np.mean(np.isin(box[sel], want)):.3f}')
    return t


def measure_relabel():
    field = make_cluster_field((3000, 3000), 4000, seed=2)
    truth = field.truth.copy()
    truth['second'] = relabel_classes(truth, seed=2)['class']
    f = agreement_fractions(truth, 'class', 'second')
    print('Second classifier (HUMAN_CONFUSION) vs truth, default class mix, 4000 candidates:')
    print('  ' + ', '.join(f'{c}: {v:.2f}' for c, v in zip(f['class'], f['fraction'])))
    print('  paper, NGC 3351 PHANGS-HST vs LEGUS: 1: 0.82, 2: 0.53, 3: 0.46, 4: 0.73, '
          'mean: 0.64, 1+2: 0.81')


def figures(out, stars, clusters, boxes_table):
    os.makedirs(out, exist_ok=True)
    field = make_cluster_field((1600, 1600), seed=0)
    image = rgb(field.images, 500, 300, 700)
    fig = plt.figure(figsize=(5.5, 5.5))
    ax = fig.add_axes([0, 0, 1, 1])
    ax.imshow(image, origin='lower')
    ax.set_axis_off()
    fig.savefig(os.path.join(out, 'field_rgb.png'), dpi=90)
    plt.close(fig)
    _quantize(os.path.join(out, 'field_rgb.png'))

    subs = {k: 1 for k in DEFAULT_SUBCLASS_FRACTIONS}
    gal = make_cluster_field((1500, 1500), 600, seed=7, class_fractions={1: 1, 2: 1, 3: 1, 4: 3},
                             subclass_fractions=subs)
    t = gal.truth
    cut = make_cutouts(gal.images, t, size=48)
    fig = plot_gallery(cut, t['class'], per_class=8, stamp_size=1.0, color=False)
    fig.savefig(os.path.join(out, 'gallery_classes.png'), dpi=80)
    plt.close(fig)

    labels = labels_of(t)
    per = 6
    fig, axes = plt.subplots(len(LABEL_ORDER), per, figsize=(per * 0.95, len(LABEL_ORDER) * 0.95),
                             gridspec_kw={'wspace': 0.04, 'hspace': 0.04})
    for r, label in enumerate(LABEL_ORDER):
        members = np.flatnonzero(labels == label)[:per]
        for c in range(per):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(label, fontsize=8, rotation=0, labelpad=14)
            if c >= len(members):
                ax.set_axis_off()
                continue
            i = members[c]
            stamp = {b: cut.data[i, k] for k, b in enumerate(cut.bands)}
            red = _scaled(stamp['F814W'], 5, 99.5, region=0.5)
            green = _scaled(stamp['F555W'], 5, 99.5, region=0.5)
            blue = _scaled((3.0 * stamp['F336W'] + stamp['F438W']) / 2.0, 5, 99.5, region=0.5)
            with np.errstate(invalid='ignore'):  # all-zero padding at the image edge
                picture = make_lupton_rgb(red, green, blue, minimum=0, stretch=0.15, Q=6)
            ax.imshow(picture, origin='lower')
    fig.savefig(os.path.join(out, 'gallery_subclasses.png'), dpi=80, bbox_inches='tight')
    plt.close(fig)
    _quantize(os.path.join(out, 'gallery_subclasses.png'))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), layout='constrained')
    bins = np.arange(0.9, 2.6, 0.04)
    ax1.hist(stars, bins=bins, histtype='step', color='goldenrod', lw=2,
             label=f'single stars (4.1), N={len(stars)}')
    ax1.hist(clusters, bins=bins, histtype='step', color='red', lw=2,
             label=f'class 1 clusters, N={len(clusters)}')
    ax1.axvline(1.4, color='k', ls=':', label='LEGUS cut CI = 1.4')
    ax1.set_xlabel('CI = m(1 px) - m(3 px), F555W [mag]')
    ax1.set_ylabel('number')
    ax1.legend(fontsize=8)
    track = bc03_track()
    track['age'] = track['age'].to(u.Myr)
    tbl = boxes_table
    # Boxes and the BC03 track from the package's plot, points by age here.
    plot_color_color(tbl[:0], track=track, ax=ax2, title='classes 1-3 by age (truth)')
    age = tbl['age'].to_value(u.yr)
    ub = np.ma.filled(tbl['ub'].to_value(u.mag), np.nan)
    vi = np.ma.filled(tbl['vi'].to_value(u.mag), np.nan)
    for name, sel, color in (('< 10 Myr', age < 1e7, 'tab:blue'),
                             ('10-100 Myr', (age >= 1e7) & (age < 1e8), 'tab:green'),
                             ('0.1-1 Gyr', (age >= 1e8) & (age <= 1e9), 'goldenrod'),
                             ('> 1 Gyr', age > 1e9, 'tab:red')):
        ax2.scatter(vi[sel], ub[sel], s=3, alpha=0.5, color=color,
                    label=f'{name} ({int(sel.sum())})')
    handles, names = ax2.get_legend_handles_labels()
    keep = [i for i, n in enumerate(names) if not n.startswith('0 objects')]
    ax2.legend([handles[i] for i in keep], [names[i] for i in keep], fontsize=7,
               loc='lower right')
    fig.savefig(os.path.join(out, 'ci_colors.png'), dpi=80)
    plt.close(fig)


def _quantize(path):
    """Store an RGB picture with a 256-colour palette (a few times smaller)."""
    from PIL import Image

    with Image.open(path) as image:
        small = image.convert('RGB').quantize(256)
    small.save(path, optimize=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default=os.path.join('docs', '_static', 'simulations'))
    parser.add_argument('--no-figures', action='store_true')
    args = parser.parse_args()
    stars, clusters = measure_ci(args.out)
    boxes = measure_boxes()
    measure_relabel()
    if not args.no_figures:
        figures(args.out, stars, clusters, boxes)
        print(f'figures written to {args.out}')


if __name__ == '__main__':
    main()
