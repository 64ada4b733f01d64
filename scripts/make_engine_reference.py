"""
Write the classification reference that the engine's tests compare against.

The table is the output of ``classify_table`` on a seeded simulated field
with the bundled model, in fp32 and in bf16, made before the engine was
reorganised; the tests check that the engine still gives it bit for bit.
Re-run only when a change of results is intended (and say why in the commit)::

    python scripts/make_engine_reference.py astro_clusterclass/classify/tests/data
"""

import argparse
import os

import numpy as np
from astropy.table import QTable

from astro_clusterclass import classify_table
from astro_clusterclass.datasets import make_cluster_field

#: The field: small enough for a unit test, with edge and off-image candidates.
FIELD = {'shape': (600, 600), 'n_candidates': 160, 'seed': 2024}


def reference_candidates():
    """The candidates of the reference field, plus a NaN and an off-image row."""
    field = make_cluster_field(FIELD['shape'], FIELD['n_candidates'], seed=FIELD['seed'])
    tbl = QTable(field.candidates)['id', 'x', 'y']
    tbl.add_row({'id': -1, 'x': np.nan, 'y': 100.0})
    tbl.add_row({'id': -2, 'x': 700.0, 'y': 100.0})
    return field, tbl


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('out_dir')
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    field, tbl = reference_candidates()
    for precision in ('fp32', 'bf16'):
        out = classify_table(tbl, field.images, precision=precision, progress=False,
                             return_probabilities=True, chunk_size=64)
        keep = ['id', 'class_flag', 'class_compactnet', 'prob_compactnet', 'class_mode',
                'class_quality', 'prob_1', 'prob_2', 'prob_3', 'prob_4']
        step = out.meta['classification']
        ref = QTable(out[keep], meta={'precision': step['precision'], 'field': FIELD,
                                      'made_by': 'scripts/make_engine_reference.py'})
        path = os.path.join(args.out_dir, f'engine_reference_{precision}.ecsv')
        ref.write(path, overwrite=True)
        print(path, step['precision'], int(step['n_classified']), 'classified')


if __name__ == '__main__':
    main()
