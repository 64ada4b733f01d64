"""
Start-up time of the ``clusterclass`` command line.

Times ``--help``, ``--version`` and a ``regions`` run (a 3-row catalogue)
against ``python -c "import numpy, astropy.table"`` measured in the same
run (best of ``--repeat``), and says which of them import torch.
Target: each at most twice the baseline.

    nice -n 10 python benchmarks/bench_cli_startup.py
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time

PROBE = ("import runpy, sys; sys.argv = ['clusterclass', *sys.argv[1:]]\n"
         "try:\n    runpy.run_module('astro_clusterclass', run_name='__main__')\n"
         "except SystemExit:\n    pass\n"
         "sys.stderr.write('TORCH %s\\n' % ('torch' in sys.modules))\n")


def best(cmd, repeat):
    times, torch = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(cmd, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        if 'TORCH True' in result.stderr:
            torch = True
        elif 'TORCH False' in result.stderr:
            torch = False
    return min(times), torch


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--repeat', type=int, default=5)
    args = parser.parse_args()
    from astropy.table import QTable

    work = tempfile.mkdtemp()
    catalog = os.path.join(work, 'cat.ecsv')
    QTable({'id': [1, 2, 3], 'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.0],
            'class': [1, 2, 3]}).write(catalog)
    py = sys.executable
    base, _ = best([py, '-c', 'import numpy, astropy.table'], args.repeat)
    print(f'baseline  python -c "import numpy, astropy.table": {base:.3f} s')
    cases = {'--help': ['--help'], '--version': ['--version'],
             'regions': ['regions', catalog, '-o', os.path.join(work, 'c.reg'), '--overwrite']}
    worst = 0
    for name, argv in cases.items():
        seconds, torch = best([py, '-c', PROBE, *argv], args.repeat)
        worst = max(worst, seconds / base)
        print(f'clusterclass {name:10s} {seconds:.3f} s  {seconds / base:.2f} x baseline  '
              f'imports torch: {torch}')
    print(f'worst ratio {worst:.2f} (target <= 2)')


if __name__ == '__main__':
    main()
