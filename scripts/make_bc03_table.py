"""
Make the small tables that `astro_clusterclass` ships (``astro_clusterclass/data/``).

1. ``bc03_solar_hst_vega.ecsv``: the Bruzual & Charlot (2003) solar-metallicity
   simple-stellar-population colour track in HST Vega magnitudes, as used by
   PHANGS-HST (Maschmann et al. 2024), read from the project's shared data
   (``bc03_phangs/age_mod_sol.npy`` and ``model_<colour>_sol.npy``) and written
   unchanged (all 1049 ages, 1 Myr - 13.75 Gyr) except for rounding the colours
   to 1e-5 mag.
2. ``hst_wfc3_uvis_ngc3351.ecsv``: the photometric keywords of the five
   PHANGS-HST bands of NGC 3351 (WFC3/UVIS; PHOTFLAM, PHOTPLAM, Vega
   zeropoint, exposure time, number of exposures), read from
   ``hst_zeropoints_phangs/header_info_ngc3351_prime.txt``, plus the
   extinction coefficient R_band = A_band / E(B-V) of each band, evaluated
   at the band's pivot wavelength PHOTPLAM with the Fitzpatrick (1999)
   R_V = 3.1 law of the ``dust_extinction`` package (and, for comparison,
   Cardelli, Clayton & Mathis 1989).

Usage (from the repository root; needs ``pip install dust-extinction``, used
only here, not by the package)::

    python scripts/make_bc03_table.py [--shared ../shared/data]

The outputs go to ``astro_clusterclass/data/`` (see its README).
"""

import argparse
import os

import numpy as np
from astropy import units as u
from astropy.table import QTable

OUT = os.path.join(os.path.dirname(__file__), os.pardir, 'astro_clusterclass', 'data')
COLORS = {'ub': ('F336W', 'F438W'), 'vi': ('F555W', 'F814W'),
          'bv': ('F438W', 'F555W'), 'nuvb': ('F275W', 'F438W'),
          'nuvu': ('F275W', 'F336W')}
BANDS = ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')
GALAXY = 'ngc3351'


def bc03_table(shared):
    folder = os.path.join(shared, 'bc03_phangs')
    track = QTable()
    track['age'] = (np.load(os.path.join(folder, 'age_mod_sol.npy')) * u.Myr).to(u.yr)
    for color, (blue, red) in COLORS.items():
        values = np.load(os.path.join(folder, f'model_{color}_sol.npy'))
        # 1e-5 mag is far below any use and keeps the shipped file small.
        track[color] = np.round(values, 5) * u.mag
        track[color].description = f'{blue} - {red} (Vega)'
    track['age'].description = 'SSP age'
    track.meta['model'] = ('Bruzual & Charlot (2003), MNRAS 344, 1000: simple stellar '
                           'population, solar metallicity (Z = 0.02), HST Vega colours')
    track.meta['source'] = ('PHANGS-HST BC03 track files age_mod_sol.npy and '
                            'model_<colour>_sol.npy (DanielMaschmann/PHANGS_HST_star_cluster, '
                            'commit 84b7aabd, BC03_models/), colours rounded to 1e-5 mag')
    track.meta['made_by'] = 'scripts/make_bc03_table.py'
    return track


def photometry_table(shared):
    import sys
    try:
        from dust_extinction.parameter_averages import CCM89, F99
    except ImportError:  # pragma: no cover - a one-off tool
        sys.exit('this script needs the dust-extinction package: pip install dust-extinction')
    path = os.path.join(shared, 'hst_zeropoints_phangs', f'header_info_{GALAXY}_prime.txt')
    rows = {}
    with open(path) as handle:
        for line in handle:
            if line.startswith('#') or not line.strip():
                continue
            words = line.split()
            rows[words[0]] = words
    tbl = QTable()
    tbl['band'] = list(BANDS)
    tbl['detector'] = [rows[b][1] for b in BANDS]
    tbl['photflam'] = [float(rows[b][2]) for b in BANDS] * u.Unit('erg / (cm2 s AA electron)')
    tbl['photplam'] = [float(rows[b][3]) for b in BANDS] * u.AA
    tbl['zp_vega'] = [float(rows[b][6]) for b in BANDS] * u.mag
    tbl['exptime'] = [float(rows[b][7]) for b in BANDS] * u.s
    tbl['nexp'] = [int(rows[b][8]) for b in BANDS]
    f99, ccm = F99(Rv=3.1), CCM89(Rv=3.1)
    tbl['r_ext'] = [round(float(f99(w)) * 3.1, 3) for w in tbl['photplam']]
    tbl['r_ext_ccm89'] = [round(float(ccm(w)) * 3.1, 3) for w in tbl['photplam']]
    tbl['r_ext'].description = 'A_band / E(B-V), Fitzpatrick (1999), R_V = 3.1, at PHOTPLAM'
    tbl['r_ext_ccm89'].description = ('A_band / E(B-V), Cardelli, Clayton & Mathis (1989), '
                                      'R_V = 3.1, at PHOTPLAM (comparison only)')
    tbl.meta['galaxy'] = 'NGC 3351'
    tbl.meta['source'] = (f'PHANGS-HST header_info_{GALAXY}_prime.txt '
                          '(qiushitian/phangs_data_access, commit f099aa6e, '
                          'data/hst_obs_info_tables/)')
    tbl.meta['extinction'] = 'dust_extinction F99 and CCM89, R_V = 3.1'
    tbl.meta['made_by'] = 'scripts/make_bc03_table.py'
    return tbl


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--shared', default=os.path.join(os.path.dirname(__file__), os.pardir,
                                                         os.pardir, 'shared', 'data'))
    args = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    track = bc03_table(args.shared)
    track.write(os.path.join(OUT, 'bc03_solar_hst_vega.ecsv'), overwrite=True)
    phot = photometry_table(args.shared)
    phot.write(os.path.join(OUT, 'hst_wfc3_uvis_ngc3351.ecsv'), overwrite=True)
    print(f'wrote {len(track)} BC03 ages and {len(phot)} bands to {os.path.normpath(OUT)}')
    print(phot)


if __name__ == '__main__':
    main()
