"""
What a simulated field contains: the class mix, the physical properties of
every candidate and the components that make it look like its class.

Each candidate is built by a recipe that follows the definitions of
Whitmore et al. (2021, §3.2 and Table 3) — see `RECIPES` and
``docs/simulations.rst`` for the parameters and their sources.
"""

from dataclasses import dataclass, field
from typing import Callable, NamedTuple, Optional

import numpy as np
from astropy import units as u

from ..bands import BANDS
from ..classes import SUBCLASSES
from ._morphology import stamp_size_for
from ._photometry import (absolute_magnitudes, apparent_magnitudes, colors_to_magnitudes,
                          mag_to_rate, rate_to_mag, ssp_colors)
from ._psf import OVERSAMPLING, PSF_RADIUS, _padded

__all__ = ['LABELS', 'DEFAULT_CLASS_FRACTIONS', 'DEFAULT_SUBCLASS_FRACTIONS',
           'allocate_labels', 'Builder', 'Recipe', 'RECIPES', 'PLACEMENTS', 'POPULATIONS',
           'FieldState', 'Tuning', 'PRESETS', 'preset_tuning']

#: Every label the simulator makes: classes 1-3 and the class-4 subclasses.
LABELS = ('1', '2', '3', *SUBCLASSES)

#: Default class mix: the human PHANGS-HST classes of the five galaxies of
#: Whitmore et al. (2021), Table 3 (1132, 900, 653 and 2229 objects).
DEFAULT_CLASS_FRACTIONS = {1: 1132 / 4914, 2: 900 / 4914, 3: 653 / 4914, 4: 2229 / 4914}

#: Default mix of class-4 subclasses, from the same table (summed over the
#: five galaxies). At most one galaxy nucleus (4.6) is made per field.
DEFAULT_SUBCLASS_FRACTIONS = {'4.1': 438, '4.2': 785, '4.3': 385, '4.4': 16, '4.5': 1,
                              '4.6': 4, '4.7': 11, '4.8': 36, '4.9': 373, '4.10': 34,
                              '4.11': 34, '4.12': 12}
_total = sum(DEFAULT_SUBCLASS_FRACTIONS.values())
DEFAULT_SUBCLASS_FRACTIONS = {k: v / _total for k, v in DEFAULT_SUBCLASS_FRACTIONS.items()}
del _total

#: Red-supergiant colours (Vega; approximate Johnson colours of K-M
#: supergiants, used for the red single stars): U-B, B-V, V-I, NUV-U.
RSG_COLORS = {'ub': 1.3, 'bv': 1.6, 'vi': 1.9, 'nuvu': 1.6}


@dataclass(frozen=True)
class Tuning:
    """
    The tunable population and morphology parameters of a simulated field.

    ``Tuning()`` gives the ``'v1'`` preset (the paper's definitions as first
    implemented); `PRESETS` holds the named ones. Sizes are in pc,
    magnitudes in mag.

    Attributes
    ----------
    size_median_pc, size_sigma_dex : float
        Log-normal effective radius of class 1 and 2 clusters.
    size_min_pc, size_max_pc : float
        Clipping range of the radius.
    size_min_pix : float
        Smallest radius in pixels (a floor at large distances).
    class2_size_factor : float
        Multiplies the radius of class-2 clusters (their asymmetric light
        already spreads them).
    ebv_scale : float
        Multiplies the mean E(B−V) of clusters.
    class3_diffuse : (float, float)
        Range of the fraction of an association's light that is diffuse.
    star_lf_slope : float
        Slope k of the young stars' luminosity function p(V) ∝ 10^(k V).
    star_fraction_hot, star_fraction_red : float
        Fractions of the young single stars with the colours of 1-5 Myr
        and of red supergiants (the rest: 5-10 Myr).
    class3_weight_sigma : float
        Log-normal scatter of the association stars' fluxes (a larger one
        makes the brightest star, on which the candidate sits, dominate).
    class3_red_fraction : float
        Fraction of an association's stars (older than 6 Myr) that are red
        supergiants.
    c1_old_fraction : float
        Fraction of class-1 clusters that are old (1.5-13.75 Gyr).
    c1_log_age_min, c2_log_age_min : float
        log10 of the youngest age (yr) of the young class-1 and class-2
        clusters.
    pair_separation : (float, float)
        Range (px) of the separation of the two stars of a pair (4.2).
    stars_on_peak : bool
        Put a pair or triplet's candidate on its brightest star, as a peak
        finder does, instead of on the light-weighted centre.
    completeness_width : float
        0: candidates are kept down to ``v_limit`` exactly; otherwise a
        detection probability 1 / (1 + exp((V − v_limit) / width)) down to
        ``v_limit + 6 width``, which rolls off around ``v_limit`` as a real
        source finder's does.
    v_limit : float
        Default faintest F555W magnitude of a candidate (or the 50 % point
        of the detection probability, see ``completeness_width``).
    group_fraction : float
        Fraction of the young candidates (associations, stars, pairs,
        triplets, fluff) placed 5-10 px from another candidate, as young
        objects form in groups (0: placed independently).
    min_separation : float
        Default smallest distance (px) between independent candidates.
    class_fractions, subclass_fractions : dict or None
        Default class and subclass mixes (None: the paper's, Table 3).
    """

    size_median_pc: float = 2.5
    size_sigma_dex: float = 0.2
    size_min_pc: float = 1.0
    size_max_pc: float = 10.0
    size_min_pix: float = 0.6
    class2_size_factor: float = 1.0
    ebv_scale: float = 1.0
    class3_diffuse: tuple = (0.15, 0.35)
    star_lf_slope: float = 0.35
    star_fraction_hot: float = 0.6
    star_fraction_red: float = 0.15
    class3_weight_sigma: float = 0.3
    class3_red_fraction: float = 0.15
    c1_old_fraction: float = 0.25
    c1_log_age_min: float = 6.0
    c2_log_age_min: float = 6.0
    pair_separation: tuple = (2.6, 5.0)
    stars_on_peak: bool = False
    completeness_width: float = 0.0
    v_limit: float = 24.0
    min_separation: float = 12.0
    group_fraction: float = 0.0
    class_fractions: Optional[dict] = None
    subclass_fractions: Optional[dict] = None


#: Named `Tuning` sets: ``'v1'`` (the default) and ``'legus'`` (measured
#: against the LEGUS catalogues of NGC 1566 and NGC 628, ``docs/realism.rst``).
PRESETS = {
    'v1': Tuning(),
    'legus': Tuning(size_median_pc=2.0, size_sigma_dex=0.2, size_min_pc=0.5,
                    size_min_pix=0.2, class2_size_factor=0.7,
                    class3_diffuse=(0.05, 0.2), class3_weight_sigma=0.6,
                    class3_red_fraction=0.10, c1_old_fraction=0.02, c1_log_age_min=7.5,
                    star_lf_slope=0.6, star_fraction_red=0.3,
                    pair_separation=(1.5, 4.0), stars_on_peak=True,
                    completeness_width=0.3, v_limit=23.6, min_separation=5.0,
                    group_fraction=0.3,
                    class_fractions={1: 0.23, 2: 0.2, 3: 0.22, 4: 0.35},
                    subclass_fractions={'4.1': 438, '4.2': 785, '4.3': 385, '4.4': 16,
                                        '4.5': 1, '4.6': 4, '4.7': 150, '4.8': 100, '4.9': 120,
                                        '4.10': 34, '4.11': 34, '4.12': 12}),
}


def preset_tuning(preset):
    """
    The `Tuning` of a preset name (or a `Tuning`, returned as it is).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the presets).
    """
    if isinstance(preset, Tuning):
        return preset
    if preset not in PRESETS:
        msg = f'preset must be one of {sorted(PRESETS)} or a Tuning, got {preset!r}'
        raise ValueError(msg)
    return PRESETS[preset]


def _normalize(fractions, allowed, parameter):
    if not hasattr(fractions, 'items'):
        msg = f'{parameter} must be a mapping label → fraction, got {type(fractions).__name__}'
        raise TypeError(msg)
    out = {}
    for key, value in fractions.items():
        label = str(key).strip()
        if label.endswith('.0') and label[:-2] in allowed:
            label = label[:-2]
        if label not in allowed:
            msg = f'{parameter} has an unknown class {key!r}; expected keys among {list(allowed)}'
            raise ValueError(msg)
        value = float(value)
        if not np.isfinite(value) or value < 0:
            msg = f'{parameter}[{key!r}] must be a non-negative number, got {value!r}'
            raise ValueError(msg)
        out[label] = value
    total = sum(out.values())
    if total <= 0:
        msg = f'{parameter} must have at least one positive fraction'
        raise ValueError(msg)
    return {k: v / total for k, v in out.items()}


def _largest_remainder(n, fractions):
    labels = list(fractions)
    exact = np.array([fractions[k] for k in labels]) * n
    counts = np.floor(exact).astype(int)
    order = np.argsort(-(exact - counts), kind='stable')
    counts[order[:n - counts.sum()]] += 1
    return dict(zip(labels, counts.tolist()))


def allocate_labels(n, class_fractions=None, subclass_fractions=None):
    """
    Number of candidates of every label for ``n`` candidates.

    Counts follow the fractions exactly (largest-remainder rounding), so a
    balanced training set is obtained with equal class fractions.

    Parameters
    ----------
    n : int
    class_fractions : dict, optional
        Class (1-4) → relative weight. Default `DEFAULT_CLASS_FRACTIONS`.
    subclass_fractions : dict, optional
        Class-4 subclass (``'4.1'`` … ``'4.12'``) → relative weight within
        class 4. Default `DEFAULT_SUBCLASS_FRACTIONS`.

    Returns
    -------
    counts : dict
        Label (``'1'``, ``'2'``, ``'3'``, ``'4.1'``, …) → count.

    Raises
    ------
    ValueError
        For unknown labels or negative fractions (the message names the parameter).
    """
    classes = _normalize(DEFAULT_CLASS_FRACTIONS if class_fractions is None
                         else class_fractions, ('1', '2', '3', '4'), 'class_fractions')
    subs = _normalize(DEFAULT_SUBCLASS_FRACTIONS if subclass_fractions is None
                      else subclass_fractions, tuple(SUBCLASSES), 'subclass_fractions')
    per_class = _largest_remainder(n, classes)
    counts = {label: 0 for label in LABELS}
    for label in ('1', '2', '3'):
        counts[label] = per_class.get(label, 0)
    counts.update(_largest_remainder(per_class.get('4', 0), subs))
    # One galaxy nucleus per field; surplus nuclei become single stars.
    if counts['4.6'] > 1:
        counts['4.1'] += counts['4.6'] - 1
        counts['4.6'] = 1
    # A diffraction spike needs a saturated star.
    if counts['4.5'] > 0 and counts['4.4'] == 0:
        counts['4.5'] -= 1
        counts['4.4'] += 1
    return counts


class Builder:
    """
    Draws candidates and their components.

    Parameters
    ----------
    rng : `numpy.random.Generator`
    dmod : float
        Distance modulus.
    pc_per_pixel : float
    zp : `~numpy.ndarray`
        Vega zeropoints of the five bands.
    noise : `~numpy.ndarray`
        Noise (e-/s) of an empty pixel in each band.
    saturation : `~numpy.ndarray`
        Count rate (e-/s) at which a pixel saturates, per band.
    v_limit : float
        Faintest F555W magnitude of a candidate (other than 4.10).
    photometry : `~astropy.table.QTable`
        Band table (``r_ext``).
    scene : `._render.Scene`
    tuning : `Tuning`, optional
        Population and morphology parameters (default ``Tuning()``).
    """

    def __init__(self, rng, *, dmod, pc_per_pixel, zp, noise, saturation, v_limit,
                 photometry, scene, tuning=None):
        self.tuning = Tuning() if tuning is None else tuning
        self.rng = rng
        self.dmod = dmod
        self.pc_per_pixel = pc_per_pixel
        self.zp = np.asarray(zp, dtype=float)
        self.noise = np.asarray(noise, dtype=float)
        self.saturation = np.asarray(saturation, dtype=float)
        self.v_limit = v_limit
        self.photometry = photometry
        self.scene = scene
        self.rows = []

    # -- physical properties ------------------------------------------------

    def _ebv(self, age_yr):
        age_yr = np.atleast_1d(age_yr)
        scale = np.select([age_yr < 1e7, age_yr < 1e8, age_yr < 1e9], [0.25, 0.12, 0.06], 0.03)
        scale = scale * self.tuning.ebv_scale
        return np.minimum(self.rng.exponential(scale), 1.0)

    def draw_clusters(self, n, population):
        """
        Ages, masses, E(B−V) and apparent magnitudes of ``n`` clusters brighter
        than ``v_limit``.

        ``population`` is ``'c1'`` (25 % old globular-cluster-like: log-uniform
        1.5-13.75 Gyr, log-normal masses 10^(5.3 ± 0.5) Msun; 75 % log-uniform
        1 Myr - 1 Gyr with dN/dM ∝ M^-2 from 10^3 to 10^6.5 Msun), ``'c2'``
        (1 Myr - 1 Gyr, M^-2) or ``'c3'`` (1-50 Myr, M^-2).
        """
        rng = self.rng
        ages, masses, ebvs, mags = [np.zeros(0)], [np.zeros(0)], [np.zeros(0)], [np.zeros((0, 5))]
        have = 0
        while have < n:
            m = max(256, 4 * (n - have))
            if population == 'c1':
                old = rng.random(m) < self.tuning.c1_old_fraction
            else:
                old = np.zeros(m, dtype=bool)
            hi = {'c1': 9.0, 'c2': 9.0, 'c3': np.log10(5e7)}[population]
            lo = {'c1': self.tuning.c1_log_age_min,
                  'c2': self.tuning.c2_log_age_min}.get(population, 6.0)
            logt = np.where(old, rng.uniform(np.log10(1.5e9), np.log10(13.75e9), m),
                            rng.uniform(lo, hi, m))
            # dN/dM ∝ M^-2 between 1e3 and 10^6.5: inverse CDF.
            lo_m, hi_m = 1e3, 10 ** 6.5
            u_ = rng.random(m)
            mass_pl = 1.0 / (1.0 / lo_m - u_ * (1.0 / lo_m - 1.0 / hi_m))
            mass = np.where(old, 10 ** rng.normal(5.3, 0.5, m), mass_pl)
            age = 10 ** logt
            ebv = self._ebv(age)
            absm = absolute_magnitudes(age * u.yr, mass * u.solMass)
            app = apparent_magnitudes(absm, ebv, self.dmod, photometry=self.photometry)
            keep = self.detected(app[:, 3])
            ages.append(age[keep])
            masses.append(mass[keep])
            ebvs.append(ebv[keep])
            mags.append(app[keep])
            have += int(keep.sum())
        return (np.concatenate(ages)[:n], np.concatenate(masses)[:n],
                np.concatenate(ebvs)[:n], np.concatenate(mags)[:n])

    def detected(self, v):
        """
        Which of the F555W magnitudes ``v`` make a candidate: ``v <= v_limit``,
        or the soft roll-off of ``tuning.completeness_width``.
        """
        width = self.tuning.completeness_width
        if width <= 0:
            return v <= self.v_limit
        with np.errstate(over='ignore'):
            p = 1.0 / (1.0 + np.exp((v - self.v_limit) / width))
        # Nothing beyond 6 widths (p < 0.25 %), where the luminosity function
        # would otherwise keep adding a thin tail of ever fainter objects.
        return (self.rng.random(len(v)) < p) & (v <= self.v_limit + 6 * width)

    def star_magnitudes(self, n, *, v_range=None, kind='young'):
        """
        Apparent magnitudes of ``n`` single stars.

        ``kind='young'``: massive stars of the host galaxy; F555W drawn from
        a luminosity function ∝ 10^(0.35 V) between the Humphreys-Davidson
        limit (M_V = −10) and ``v_limit``; colours of the BC03 track at
        1-5 Myr (hot stars, 60 %), 5-10 Myr (25 %) or red supergiants
        (15 %, `RSG_COLORS`); E(B−V) exponential with mean 0.15.
        ``kind='foreground'``: Milky Way stars, colours of the track at
        1-13.75 Gyr (G-K dwarfs), no reddening.
        """
        rng = self.rng
        soft = v_range is None and self.tuning.completeness_width > 0
        lo, hi = v_range if v_range is not None else (self.dmod - 10.0, self.v_limit)
        if soft:
            hi = self.v_limit + 6 * self.tuning.completeness_width
        lo = min(lo, hi - 0.1)
        # Inverse CDF of p(V) ∝ 10^(0.35 V) on [lo, hi].
        k = self.tuning.star_lf_slope * np.log(10)
        if soft:
            v = np.zeros(0)
            while len(v) < n:
                trial = np.log(np.exp(k * lo) + rng.random(4 * n + 16)
                               * (np.exp(k * hi) - np.exp(k * lo))) / k
                v = np.concatenate([v, trial[self.detected(trial)]])
            v = v[:n]
        else:
            u_ = rng.random(n)
            v = np.log(np.exp(k * lo) + u_ * (np.exp(k * hi) - np.exp(k * lo))) / k
        if kind == 'foreground':
            colors = ssp_colors(10 ** rng.uniform(9.0, np.log10(13.75e9), n) * u.yr)
            ebv = np.zeros(n)
        else:
            pick = rng.random(n)
            t = self.tuning
            age = np.where(pick < t.star_fraction_hot, 10 ** rng.uniform(6.0, np.log10(5e6), n),
                           10 ** rng.uniform(np.log10(5e6), 7.0, n))
            colors = ssp_colors(age * u.yr)
            red = pick >= 1.0 - t.star_fraction_red
            for key, value in RSG_COLORS.items():
                colors[key] = np.where(red, value + rng.normal(0, 0.1, n), colors[key])
            ebv = np.minimum(rng.exponential(0.15, n), 1.0)
        r_ext = np.asarray(self.photometry['r_ext'], dtype=float)
        # Intrinsic V = observed V minus its extinction, then colours + reddening.
        v0 = v - r_ext[3] * ebv
        mags = colors_to_magnitudes(v0, colors) + ebv[:, None] * r_ext[None, :]
        return mags, ebv

    def rates(self, mags):
        """Count rates (e-/s) of ``(N, 5)`` magnitudes."""
        return mag_to_rate(mags, self.zp[None, :])

    # -- bookkeeping ---------------------------------------------------------

    def _row(self, x, y, label, rates, **fields):
        row = {'x': float(x), 'y': float(y), 'label': label,
               'mags': rate_to_mag(np.asarray(rates, dtype=float), self.zp),
               'age': np.nan, 'mass': np.nan, 'ebv': np.nan, 'r_eff_pix': np.nan,
               'axis_ratio': np.nan, 'n_stars': 0, 'parent': -1, 'description': ''}
        row.update(fields)
        self.rows.append(row)
        return len(self.rows) - 1

    def _eff(self, x, y, rates, r_eff_pix, gamma, q, theta):
        self.scene.add_extended('eff', [x], [y], np.asarray(rates)[None], stamp_size_for(r_eff_pix),
                                r_eff=[r_eff_pix], gamma=[gamma], q=[q], theta=[theta])

    def _size(self, lo_pix=0.6):
        t = self.tuning
        r_pc = 10 ** self.rng.normal(np.log10(t.size_median_pc), t.size_sigma_dex)
        r_pc = float(np.clip(r_pc, t.size_min_pc, t.size_max_pc))
        r_pix = max(r_pc / self.pc_per_pixel, min(lo_pix, t.size_min_pix))
        return r_pix

    def _star_offsets(self, n, r_max, min_sep, *, first_at_center=False):
        """``n`` positions within ``r_max`` of the centre, at least ``min_sep`` apart."""
        rng = self.rng
        while True:
            pos = [(0.0, 0.0)] if first_at_center else []
            for _ in range(400):
                r, phi = r_max * np.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
                p = (r * np.cos(phi), r * np.sin(phi))
                if all((p[0] - q[0]) ** 2 + (p[1] - q[1]) ** 2 >= min_sep ** 2 for q in pos):
                    pos.append(p)
                    if len(pos) == n:
                        return np.array(pos)

    # -- recipes -------------------------------------------------------------

    def class1(self, x, y, cluster):
        """Symmetric compact cluster: one round EFF profile broader than the PSF."""
        age, mass, ebv, mags = cluster
        rng = self.rng
        r_pix = self._size()
        gamma, q, theta = rng.uniform(2.6, 3.6), rng.uniform(0.85, 1.0), rng.uniform(0, np.pi)
        rates = self.rates(mags[None])[0]
        self._eff(x, y, rates, r_pix, gamma, q, theta)
        return self._row(x, y, '1', rates, age=age, mass=mass, ebv=ebv, r_eff_pix=r_pix,
                         axis_ratio=q, description=(
                             f'single round smooth EFF profile (q={q:.2f}, gamma={gamma:.1f}), '
                             f'r_eff={r_pix:.2f} px: centrally concentrated and broader than '
                             f'the PSF'))

    def class2(self, x, y, cluster):
        """Asymmetric compact cluster: single peak with elongation, lopsided light or stars."""
        age, mass, ebv, mags = cluster
        rng = self.rng
        total = self.rates(mags[None])[0]
        r_pix = max(self._size() * self.tuning.class2_size_factor, 0.6)
        gamma, theta = rng.uniform(2.6, 3.6), rng.uniform(0, np.pi)
        kinds = [k for k in ('elongated', 'lopsided', 'stars') if rng.random() < 0.5]
        if not kinds:
            kinds = [('elongated', 'lopsided', 'stars')[rng.integers(3)]]
        q = rng.uniform(0.35, 0.65) if 'elongated' in kinds else rng.uniform(0.7, 1.0)
        main = total.copy()
        added = np.zeros_like(total)
        words, n_stars = [], 0
        if 'lopsided' in kinds:
            main, added, word = self._lopsided_light(x, y, total, r_pix, main, added)
            words.append(word)
        if 'stars' in kinds:
            main, added, n_stars = self._spur_stars(x, y, total, r_pix, main, added)
            words.append(f'{n_stars} bright star(s) off-centre making a spur')
        if 'elongated' in kinds:
            words.append(f'elongated (q={q:.2f})')
        main = np.maximum(main, 0.05 * total)
        self._eff(x, y, main, r_pix, gamma, q, theta)
        rates = main + added
        return self._row(x, y, '2', rates, age=age, mass=mass, ebv=ebv, r_eff_pix=r_pix,
                         axis_ratio=q, n_stars=n_stars,
                         description='single peak, asymmetric: ' + '; '.join(words))

    def _lopsided_light(self, x, y, total, r_pix, main, added):
        """
        A broader, fainter second component close enough not to make its own
        peak (a shoulder on one side) for `class2`; light moves from ``main``
        to ``added``.
        """
        rng = self.rng
        frac = rng.uniform(0.2, 0.4)
        d = rng.uniform(0.8, 1.6) * max(r_pix, 1.0)
        phi = rng.uniform(0, 2 * np.pi)
        self._eff(x + d * np.cos(phi), y + d * np.sin(phi), total * frac,
                  max(r_pix, 1.0) * rng.uniform(1.5, 2.5), rng.uniform(2.6, 3.6),
                  rng.uniform(0.6, 1), rng.uniform(0, np.pi))
        added = added + total * frac
        main = main - total * frac
        return main, added, (f'lopsided ({frac:.0%} of the light in a second component '
                             f'{d:.1f} px off-centre)')

    def _spur_stars(self, x, y, total, r_pix, main, added):
        """
        1-2 young stars off-centre for `class2`, faint enough and close enough
        to be a spur, not a peak; light moves from ``main`` to ``added``.
        """
        rng = self.rng
        n_stars = int(rng.integers(1, 3))
        star_mags, _ = self.star_magnitudes(n_stars, v_range=(0, 99))
        for i in range(n_stars):
            frac = rng.uniform(0.05, 0.12)
            d, phi = rng.uniform(1.2, 2.2) + 0.5 * r_pix, rng.uniform(0, 2 * np.pi)
            # Star colours from the young-star mix, scaled to the fraction.
            star = self.rates(star_mags[i][None])[0]
            star = star / star[3] * total[3] * frac
            self.scene.add_points([x + d * np.cos(phi)], [y + d * np.sin(phi)], star[None])
            added = added + star
            main = main - total * frac
        return main, added, n_stars

    def class3(self, x, y, cluster):
        """Compact association: >= 4 resolved stars within 5 px plus diffuse light."""
        age, mass, ebv, mags = cluster
        rng = self.rng
        total = self.rates(mags[None])[0]
        n = int(rng.integers(4, 8))
        # A detection lands on the brightest peak: put the brightest star
        # at the candidate position and the others around it, far enough
        # apart (2.4 px, > the PSF FWHM) to be resolved.
        pos = self._star_offsets(n, 5.0, 2.4, first_at_center=True)
        diffuse = rng.uniform(*self.tuning.class3_diffuse)
        weights = np.sort(rng.lognormal(0.0, self.tuning.class3_weight_sigma, n))[::-1]
        weights = weights / weights.sum() * (1 - diffuse)
        colors = ssp_colors(np.full(n, age) * u.yr)
        red = (rng.random(n) < self.tuning.class3_red_fraction) & (age > 6e6)
        for key, value in RSG_COLORS.items():
            colors[key] = np.where(red, value, colors[key] + rng.normal(0, 0.08, n))
        r_ext = np.asarray(self.photometry['r_ext'], dtype=float)
        star_mags = colors_to_magnitudes(np.zeros(n), colors) + ebv * r_ext[None, :]
        star_rates = self.rates(star_mags)
        star_rates = star_rates / star_rates[:, 3:4] * (weights * total[3])[:, None]
        r_diff = rng.uniform(1.5, 3.5)
        diff_rates = total * diffuse
        # Diffuse light centred on the stars' light.
        gx = x + np.sum(weights * pos[:, 0]) / weights.sum()
        gy = y + np.sum(weights * pos[:, 1]) / weights.sum()
        self.scene.add_extended('gauss', [gx], [gy], diff_rates[None], stamp_size_for(r_diff),
                                sigma=[r_diff / 1.1774], q=[rng.uniform(0.6, 1.0)],
                                theta=[rng.uniform(0, np.pi)])
        self.scene.add_points(x + pos[:, 0], y + pos[:, 1], star_rates)
        rates = diff_rates + star_rates.sum(axis=0)
        return self._row(x, y, '3', rates, age=age, mass=mass, ebv=ebv, r_eff_pix=r_diff,
                         n_stars=n, description=(
                             f'{n} resolved stars within 5 px of the brightest one (>= 4 '
                             f'within 5 px) plus diffuse light ({diffuse:.0%}, '
                             f'r_eff={r_diff:.1f} px): multiple peaks'))

    def stars(self, x, y, n, label, *, flux_v=None):
        """Single star (4.1), pair (4.2) or triplet (4.3); ``flux_v`` fixes the total F555W."""
        rng = self.rng
        mags, ebv = self.star_magnitudes(n)
        rates = self.rates(mags)
        if flux_v is not None:
            rates = rates * (flux_v / rates[:, 3].sum())
        if n == 1:
            pos = np.zeros((1, 2))
            words = 'single unresolved star: PSF profile'
        elif n == 2:
            sep = rng.uniform(*self.tuning.pair_separation)
            phi = rng.uniform(0, 2 * np.pi)
            pos = np.array([[0.0, 0.0], [sep * np.cos(phi), sep * np.sin(phi)]])
            words = f'two stars {sep:.1f} px apart'
        else:
            pos = self._star_offsets(3, 4.5, 2.4)
            words = 'three stars within 4.5 px (fewer than the 4 of class 3)'
        w = rates[:, 3]
        if self.tuning.stars_on_peak and n > 1:
            top = int(np.argmax(w))
            cx, cy = x + pos[top, 0], y + pos[top, 1]
        else:
            cx = x + np.sum(w * pos[:, 0]) / w.sum()
            cy = y + np.sum(w * pos[:, 1]) / w.sum()
        # Place the light-weighted centre (or the brightest star) on (x, y).
        px, py = x + pos[:, 0] - (cx - x), y + pos[:, 1] - (cy - y)
        self.scene.add_points(px, py, rates)
        return self._row(x, y, label, rates.sum(axis=0), ebv=float(np.mean(ebv)),
                         r_eff_pix=0.0, n_stars=n, description=words)

    def saturated_star(self, x, y, spike_angle):
        """Foreground star bright enough to saturate, with diffraction spikes (4.4)."""
        rng = self.rng
        mags, _ = self.star_magnitudes(1, v_range=(14.0, 17.0), kind='foreground')
        rates = self.rates(mags)[0]
        ix, iy = int(np.floor(x + 0.5)), int(np.floor(y + 0.5))
        size = 2 * PSF_RADIUS + 1
        half = size // 2
        # Only the PSF core goes in the stamp; the halo is added with the others.
        psf = _padded_stamp(x - ix, y - iy)
        yy, xx = np.mgrid[-half:half + 1, -half:half + 1].astype(float)
        xx -= x - ix
        yy -= y - iy
        spikes = np.zeros_like(xx)
        length = rng.uniform(8.0, 16.0)
        for k in range(4):
            a = spike_angle + k * np.pi / 2
            along = xx * np.cos(a) + yy * np.sin(a)
            perp = -xx * np.sin(a) + yy * np.cos(a)
            spikes += np.where(along > 0, np.exp(-along / length), 0.0) * np.exp(
                -0.5 * (perp / 0.6) ** 2)
        spikes /= spikes.sum()
        stamp = np.empty((len(BANDS), size, size))
        for b in range(len(BANDS)):
            image = rates[b] * (0.985 * psf[b] + 0.015 * spikes)
            stamp[b] = _saturate(image, self.saturation[b])
        self.scene.add_stamp(ix - half, iy - half, stamp, halo=(x, y, rates))
        return self._row(x, y, '4.4', rates, ebv=0.0, r_eff_pix=0.0, n_stars=1,
                         description=(f'foreground star, F555W = {mags[0, 3]:.1f}: saturated '
                                      f'core, bleeding along columns, four diffraction spikes'))

    def galaxy(self, x, y):
        """Background galaxy (4.7): Sérsic profile, red colours, no clear point-like peak."""
        rng = self.rng
        v = rng.uniform(21.0, min(24.0, self.v_limit))
        colors = ssp_colors([10 ** rng.uniform(9.3, 10.1)] * u.yr)
        colors['vi'] = colors['vi'] + rng.uniform(0.0, 0.4)
        colors['ub'] = colors['ub'] + rng.uniform(0.0, 0.3)
        mags = colors_to_magnitudes([v], colors)
        rates = self.rates(mags)[0]
        r_e, n, q = rng.uniform(2.0, 8.0), rng.uniform(1.0, 4.0), rng.uniform(0.3, 0.9)
        self.scene.add_extended('sersic', [x], [y], rates[None], stamp_size_for(r_e),
                                r_eff=[r_e], n=[n], q=[q], theta=[rng.uniform(0, np.pi)])
        return self._row(x, y, '4.7', rates, ebv=0.0, r_eff_pix=r_e, axis_ratio=q,
                         description=(f'background galaxy: Sersic n={n:.1f}, r_eff={r_e:.1f} px, '
                                      f'q={q:.2f}, red colours'))

    def nucleus(self, x, y):
        """Nucleus of the host galaxy (4.6): bright, broad Sérsic profile."""
        rng = self.rng
        v = rng.uniform(16.5, 18.0)
        mags = apparent_magnitudes(colors_to_magnitudes([v], ssp_colors([5e9] * u.yr)),
                                   [0.2], 0.0, photometry=self.photometry)
        rates = self.rates(mags)[0]
        # The bulge is part of the galaxy light; the candidate is the compact
        # nuclear region.
        r_e, n = rng.uniform(2.0, 4.0), rng.uniform(1.0, 2.0)
        self.scene.add_extended('sersic', [x], [y], rates[None], 65, r_eff=[r_e], n=[n],
                                q=[rng.uniform(0.7, 1.0)], theta=[rng.uniform(0, np.pi)])
        return self._row(x, y, '4.6', rates, ebv=0.2, r_eff_pix=r_e,
                         description=f'nucleus of the host galaxy: Sersic n={n:.1f}, '
                                     f'r_eff={r_e:.1f} px at the disc centre')

    def fluff(self, x, y):
        """Diffuse light without a peak (4.8): a faint, broad Gaussian blob."""
        rng = self.rng
        sigma, q = rng.uniform(3.0, 7.0), rng.uniform(0.5, 1.0)
        peak_snr = rng.uniform(1.5, 3.0)
        flux_v = peak_snr * self.noise[3] * 2 * np.pi * sigma ** 2 * q
        colors = ssp_colors([10 ** rng.uniform(6.7, 7.7)] * u.yr)
        mags = apparent_magnitudes(colors_to_magnitudes([0.0], colors), [0.3], 0.0,
                                   photometry=self.photometry)
        rates = self.rates(mags)[0]
        rates = rates / rates[3] * flux_v
        size = stamp_size_for(sigma * 1.1774)
        self.scene.add_extended('gauss', [x], [y], rates[None], size, sigma=[sigma], q=[q],
                                theta=[rng.uniform(0, np.pi)])
        return self._row(x, y, '4.8', rates, r_eff_pix=sigma * 1.1774, axis_ratio=q,
                         description=(f'fluff: diffuse Gaussian light, sigma={sigma:.1f} px, '
                                      f'peak S/N {peak_snr:.1f} per pixel, no central peak'))

    def faint(self, x, y, cluster):
        """Too faint to tell (4.10): a cluster, star or pair at S/N 2.5-4 in F555W."""
        rng = self.rng
        snr = rng.uniform(2.5, 4.0)
        # S/N in an r = 3 px aperture, background-limited: F = snr * noise * sqrt(pi 9).
        flux_v = snr * self.noise[3] * np.sqrt(np.pi * 9)
        what = ('cluster', 'star', 'pair')[rng.integers(3)]
        if what == 'cluster':
            age, mass, ebv, mags = cluster
            scale = flux_v / self.rates(mags[None])[0][3]
            index = self.class1(x, y, (age, mass * scale, ebv, mags - 2.5 * np.log10(scale)))
        else:
            index = self.stars(x, y, 1 if what == 'star' else 2, '4.10', flux_v=flux_v)
        row = self.rows[index]
        row['label'] = '4.10'
        row['description'] = f'too faint to tell: a {what} at S/N {snr:.1f} in F555W'
        return index

    def edge(self, x, y, cluster, shape):
        """At the image edge (4.11): a class-1 cluster or a single star, half the time each."""
        ny, nx = shape
        if self.rng.random() < 0.5:
            index = self.class1(x, y, cluster)
            what = 'cluster'
        else:
            index = self.stars(x, y, 1, '4.11')
            what = 'star'
        edge = min(x, y, nx - 1 - x, ny - 1 - y)
        self.rows[index].update(label='4.11', description=(
            f'edge: a {what} {edge:.1f} px from the image edge, partly outside the image'))
        return index

    def bad_pixel(self, x, y, images_noise):
        """Hot pixel or cosmic-ray hit (4.12): 1-4 adjacent pixels in one band, no PSF."""
        rng = self.rng
        band = int(rng.integers(len(BANDS)))
        n = int(rng.integers(1, 5))
        ix, iy = [int(np.floor(x + 0.5))], [int(np.floor(y + 0.5))]
        for _ in range(n - 1):
            step = ((1, 0), (-1, 0), (0, 1), (0, -1))[rng.integers(4)]
            ix.append(ix[-1] + step[0])
            iy.append(iy[-1] + step[1])
        values = rng.uniform(50, 500, n) * self.noise[band]
        images_noise.append((np.array(ix), np.array(iy), band, values))
        rates = np.full(len(BANDS), np.nan)
        return self._row(x, y, '4.12', rates, description=(
            f'bad pixel: {n} adjacent pixel(s) in {BANDS[band]} only, '
            f'{values.max() / self.noise[band]:.0f} sigma, not convolved with the PSF'))

    def marker(self, x, y, label, parent, text):
        """A detection with no light of its own (4.5 spike, 4.9 redundant)."""
        return self._row(x, y, label, np.full(len(BANDS), np.nan), parent=parent,
                         description=text)

    def redundant_detections(self, n, shape, rng):
        """
        ``n`` redundant detections (4.9): markers 2.5-5 px from a candidate
        drawn from the brightest third of the clusters (of the candidates
        with light, when there are no clusters). ``rng`` draws the positions.
        """
        ny, nx = shape
        rows = self.rows
        flux_v = np.array([r['mags'][3] for r in rows])
        clusters = [i for i, r in enumerate(rows) if r['label'] in ('1', '2', '3')]
        if not clusters:
            clusters = [i for i in range(len(rows)) if np.isfinite(flux_v[i])]
        parents = sorted(clusters, key=lambda i: flux_v[i])[:max(1, len(clusters) // 3)]
        for _ in range(n):
            if not parents:
                msg = 'redundant detections (4.9) need at least one other candidate with light'
                raise ValueError(msg)
            p = parents[int(rng.integers(len(parents)))]
            for _try in range(100):
                r, phi = rng.uniform(2.5, 5.0), rng.uniform(0, 2 * np.pi)
                x, y = rows[p]['x'] + r * np.cos(phi), rows[p]['y'] + r * np.sin(phi)
                if 1 <= x <= nx - 2 and 1 <= y <= ny - 2:
                    break
            x, y = float(np.clip(x, 0, nx - 1)), float(np.clip(y, 0, ny - 1))
            self.marker(x, y, '4.9', p, f'redundant: a second detection {r:.1f} px from a '
                                        f'brighter candidate (within 5 px)')

    def spike_detections(self, n, shape, rng, spike_angle):
        """
        ``n`` detections on diffraction spikes (4.5): markers 8-20 px from a
        saturated star (4.4) along one of its four spikes. ``rng`` draws the
        positions.
        """
        ny, nx = shape
        rows = self.rows
        saturated = [i for i, r in enumerate(rows) if r['label'] == '4.4']
        for _ in range(n):
            p = saturated[int(rng.integers(len(saturated)))]
            for _try in range(100):
                d = rng.uniform(8.0, 20.0)
                a = spike_angle + rng.integers(4) * np.pi / 2
                x, y = rows[p]['x'] + d * np.cos(a), rows[p]['y'] + d * np.sin(a)
                if 1 <= x <= nx - 2 and 1 <= y <= ny - 2:
                    break
            x, y = float(np.clip(x, 0, nx - 1)), float(np.clip(y, 0, ny - 1))
            self.marker(x, y, '4.5', p, f'diffraction spike: a detection on the spike of a '
                                        f'saturated star, {d:.0f} px from it')


# -- the recipe table ---------------------------------------------------------

#: Where a label can be placed: ``'galaxy'`` (drawn from the host light, a
#: ``young_fraction`` of them from the young arms), ``'uniform'`` (anywhere
#: away from the edges), ``'edge'`` (within 3 px of an image edge),
#: ``'center'`` (the galaxy centre; one per field) and ``'parent'`` (next to
#: another candidate, placed after all the others).
PLACEMENTS = ('galaxy', 'uniform', 'edge', 'center', 'parent')

#: Cluster populations of `Builder.draw_clusters`, drawn in this order.
POPULATIONS = ('c1', 'c2', 'c3')


@dataclass
class FieldState:
    """
    What the recipes share while one field is built.

    Attributes
    ----------
    shape : tuple of int
        Image shape ``(ny, nx)``.
    spike_angle : float
        Orientation (rad) of the diffraction spikes of every saturated star.
    position_rng : `numpy.random.Generator`
        Draws the positions of the ``'parent'`` placements.
    bad_pixels : list
        ``(ix, iy, band, values)`` of the bad pixels (4.12), added to the
        noisy images at the end.
    """

    shape: tuple
    spike_angle: float
    position_rng: np.random.Generator
    bad_pixels: list = field(default_factory=list)


class Recipe(NamedTuple):
    """
    How the simulator makes one label.

    Attributes
    ----------
    build : callable
        For independent placements ``build(builder, x, y, cluster, state)``
        adds one candidate at ``(x, y)`` through the `Builder` (``cluster``:
        ``(age, mass, ebv, mags)`` drawn from ``population``, or None) and
        returns its row index. For ``placement='parent'``
        ``build(builder, n, state)`` adds all ``n`` of them.
    placement : str
        One of `PLACEMENTS`.
    young_fraction : float, optional
        For ``'galaxy'``: fraction drawn from the young spiral arms (the
        rest follows the disc light).
    population : str, optional
        One of `POPULATIONS`: the cluster population the candidate takes a
        cluster from.
    """

    build: Callable
    placement: str
    young_fraction: Optional[float] = None
    population: Optional[str] = None


def _class1(builder, x, y, cluster, state):
    """Class 1: a symmetric compact cluster (`Builder.class1`)."""
    return builder.class1(x, y, cluster)


def _class2(builder, x, y, cluster, state):
    """Class 2: an asymmetric compact cluster (`Builder.class2`)."""
    return builder.class2(x, y, cluster)


def _class3(builder, x, y, cluster, state):
    """Class 3: a compact association of 4-7 resolved stars (`Builder.class3`)."""
    return builder.class3(x, y, cluster)


def _single_star(builder, x, y, cluster, state):
    """4.1: one unresolved star (`Builder.stars`)."""
    return builder.stars(x, y, 1, '4.1')


def _pair(builder, x, y, cluster, state):
    """4.2: two stars 2.6-5 px apart (`Builder.stars`)."""
    return builder.stars(x, y, 2, '4.2')


def _triplet(builder, x, y, cluster, state):
    """4.3: three stars within 4.5 px (`Builder.stars`)."""
    return builder.stars(x, y, 3, '4.3')


def _saturated_star(builder, x, y, cluster, state):
    """4.4: a saturated foreground star with spikes and bleeding (`Builder.saturated_star`)."""
    return builder.saturated_star(x, y, state.spike_angle)


def _nucleus(builder, x, y, cluster, state):
    """4.6: the nucleus of the host galaxy (`Builder.nucleus`)."""
    return builder.nucleus(x, y)


def _background_galaxy(builder, x, y, cluster, state):
    """4.7: a background galaxy (`Builder.galaxy`)."""
    return builder.galaxy(x, y)


def _fluff(builder, x, y, cluster, state):
    """4.8: diffuse light without a peak (`Builder.fluff`)."""
    return builder.fluff(x, y)


def _too_faint(builder, x, y, cluster, state):
    """4.10: a cluster, star or pair too faint to tell (`Builder.faint`)."""
    return builder.faint(x, y, cluster)


def _edge(builder, x, y, cluster, state):
    """4.11: a cluster or star at the image edge (`Builder.edge`)."""
    return builder.edge(x, y, cluster, state.shape)


def _bad_pixel(builder, x, y, cluster, state):
    """4.12: a hot pixel or cosmic ray in one band (`Builder.bad_pixel`)."""
    return builder.bad_pixel(x, y, state.bad_pixels)


def _redundant(builder, n, state):
    """4.9: ``n`` second detections near bright clusters (`Builder.redundant_detections`)."""
    builder.redundant_detections(n, state.shape, state.position_rng)


def _spike(builder, n, state):
    """4.5: ``n`` detections on diffraction spikes (`Builder.spike_detections`)."""
    builder.spike_detections(n, state.shape, state.position_rng, state.spike_angle)


#: Label → `Recipe`: every label of `LABELS` and how it is made. Adding a
#: subclass is adding an entry (and the label to
#: `~astro_clusterclass.classes.SUBCLASSES`). Independent candidates are
#: built in the (random) order of their positions; ``'parent'`` placements
#: afterwards, in the order of this table (4.9 before 4.5).
RECIPES = {
    '1': Recipe(_class1, 'galaxy', young_fraction=0.4, population='c1'),
    '2': Recipe(_class2, 'galaxy', young_fraction=0.7, population='c2'),
    '3': Recipe(_class3, 'galaxy', young_fraction=0.9, population='c3'),
    '4.1': Recipe(_single_star, 'galaxy', young_fraction=0.8),
    '4.2': Recipe(_pair, 'galaxy', young_fraction=0.9),
    '4.3': Recipe(_triplet, 'galaxy', young_fraction=0.9),
    '4.4': Recipe(_saturated_star, 'uniform'),
    '4.6': Recipe(_nucleus, 'center'),
    '4.7': Recipe(_background_galaxy, 'uniform'),
    '4.8': Recipe(_fluff, 'galaxy', young_fraction=0.9),
    '4.10': Recipe(_too_faint, 'galaxy', young_fraction=0.7, population='c1'),
    '4.11': Recipe(_edge, 'edge', population='c1'),
    '4.12': Recipe(_bad_pixel, 'uniform'),
    '4.9': Recipe(_redundant, 'parent'),
    '4.5': Recipe(_spike, 'parent'),
}


def _padded_stamp(dx, dy):
    """PSF-core stamps (65 x 65 px) of the five bands at a sub-pixel offset."""
    size = 2 * PSF_RADIUS + 1
    half = size // 2
    out = np.empty((len(BANDS), size, size))
    center = (PSF_RADIUS + 1) * OVERSAMPLING
    px = int(np.rint(-dx * OVERSAMPLING))
    py = int(np.rint(-dy * OVERSAMPLING))
    k = np.arange(-half, half + 1) * OVERSAMPLING
    for b, band in enumerate(BANDS):
        psf = _padded(band, True)
        out[b] = psf[np.ix_(center + k + py, center + k + px)]
    return out


def _saturate(image, level):
    """Clip pixels at ``level`` and bleed the excess up and down the columns."""
    out = image.copy()
    for col in np.nonzero((out > level).any(axis=0))[0]:
        column = out[:, col]
        over = column > level
        excess = float(np.sum(column[over] - level))
        column[over] = level
        rows = np.nonzero(over)[0]
        top, bottom = rows.max(), rows.min()
        # Share the excess equally upwards and downwards, filling pixels to
        # the saturation level one after another.
        for direction, start in ((1, top + 1), (-1, bottom - 1)):
            left = excess / 2
            i = start
            while left > 0 and 0 <= i < len(column):
                room = level - column[i]
                take = min(room, left) if room > 0 else 0.0
                column[i] += take
                left -= take
                i += direction
        out[:, col] = column
    return out
