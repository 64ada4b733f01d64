"""
The review application on a big field, measured in a real browser.

Writes five 8000 x 8000 float32 FITS mosaics (noise plus a few thousand
point sources with the simulator's PSF, a TAN WCS of 0.04"/px and the HST
photometric keywords) and a 50 000-candidate ECSV catalog with machine
classification columns, then starts ``python -m astro_clusterclass review``
on them with a fresh label database, in a subprocess, and drives the page
with headless Chromium through Selenium. It measures:

1. the first page: from opening the printed address in the browser (already
   running) to the page showing its first candidate (``data-loaded="true"``
   on ``<main>``); and the start of the server: from launching the command
   to its printing the address (Python's imports and reading the catalog),
   and from launching to the first candidate shown;
2. "next candidate shown", measured in the browser: ``performance.now()``
   when the ``j`` key press reaches the page (a capture listener) to the
   moment the new candidate's stamps have loaded and its details and
   profile are shown (a MutationObserver on ``data-loaded``). Keys are sent
   by Selenium as real key presses, with a pause between them (a reviewer
   looks before moving on; the page prefetches meanwhile), and once more
   back to back (no time to prefetch);
3. a cold candidate from Python (details, profile and the six PNGs of rows
   never asked for, one request after another): the server's own cost;
4. the server's peak resident memory (``VmHWM`` of the process).

Baselines, in the same run: a bare static file (``/static/favicon.svg``)
fetched by the page (``fetch`` timed in the browser) and by Python; for
the first page, a fresh Python importing what the server imports.

Targets (issue 18): first page < 2 s, next candidate < 150 ms (median, in
the browser), server memory < 1 GB.

Usage::

    nice -n 10 python benchmarks/bench_review.py [--n 50000] [--shape 8000]
        [--sources 3000] [--presses 50] [--pause 0.4] [--command CMD]
        [--workdir DIR] [--keep]

Needs selenium, ``/usr/bin/chromium`` and ``/usr/bin/chromedriver``.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

import numpy as np
from astropy.io import fits
from astropy.table import QTable
from astropy.wcs import WCS

from astro_clusterclass.bands import BANDS
from astro_clusterclass.datasets import pixel_psf

PHOTOMETRY = {  # PHOTFLAM (erg/cm2/A/e-), PHOTPLAM (A) of WFC3/UVIS
    'F275W': (3.3e-18, 2710.0), 'F336W': (1.3e-18, 3355.0), 'F438W': (6.7e-19, 4326.0),
    'F555W': (1.8e-19, 5308.0), 'F814W': (1.5e-19, 8030.0)}

TARGETS = {'first_page_s': 2.0, 'next_ms': 150.0, 'memory_mb': 1024.0}


def make_mosaics(workdir, shape, n_sources, seed=0):
    """Five FITS mosaics (noise + PSF point sources), written by row blocks; paths, sources."""
    rng = np.random.default_rng(seed)
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [160.99, 11.70]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.04 / 3600, 0.04 / 3600]
    sx = rng.uniform(20, shape[1] - 20, n_sources)
    sy = rng.uniform(20, shape[0] - 20, n_sources)
    flux = 10 ** rng.uniform(1.0, 3.5, n_sources)  # e-/s
    ix, iy = np.round(sx).astype(int), np.round(sy).astype(int)
    order = np.argsort(iy)
    paths = []
    radius = 10
    for band in BANDS:
        psf = pixel_psf(band, radius=radius).astype(np.float32)
        path = os.path.join(workdir, f'mosaic_{band.lower()}.fits')
        header = fits.PrimaryHDU(np.zeros(shape, dtype=np.float32)[:0]).header
        header['NAXIS'], header['NAXIS1'], header['NAXIS2'] = 2, shape[1], shape[0]
        header.update(wcs.to_header())
        header['FILTER'] = band
        header['PHOTFLAM'], header['PHOTPLAM'] = PHOTOMETRY[band]
        header['EXPTIME'] = 1000.0
        header['BUNIT'] = 'ELECTRONS/S'
        # StreamingHDU writes row blocks, so an 8k x 8k image is never held whole.
        stream = fits.StreamingHDU(path, header)
        for start in range(0, shape[0], 1024):
            stop = min(start + 1024, shape[0])
            block = rng.standard_normal((stop - start, shape[1]), dtype=np.float32) * 0.02
            lo, hi = np.searchsorted(iy[order], [start - radius, stop + radius])
            for k in order[lo:hi]:
                y0, x0 = iy[k] - radius, ix[k] - radius
                a, b = max(y0, start), min(y0 + 2 * radius + 1, stop)
                if a < b:
                    block[a - start:b - start, x0:x0 + 2 * radius + 1] += (
                        flux[k] * psf[a - y0:b - y0])
            stream.write(block.astype('>f4'))
        stream.close()
        paths.append(path)
    return paths, (sx, sy, flux)


def make_catalog(path, n, shape, sources, seed=1):
    """n candidates: the point sources first, then random positions; machine columns."""
    rng = np.random.default_rng(seed)
    sx, sy, flux = sources
    m = n - len(sx)
    x = np.concatenate([sx, rng.uniform(0, shape[1] - 1, m)])
    y = np.concatenate([sy, rng.uniform(0, shape[0] - 1, m)])
    v = np.concatenate([25.0 - 2.5 * np.log10(flux), rng.uniform(21.0, 26.0, m)])
    ci = np.concatenate([rng.normal(1.05, 0.03, len(sx)), rng.uniform(1.2, 2.5, m)])
    probs = rng.dirichlet(np.ones(4), n).astype(np.float32)
    top = np.sort(probs, axis=1)
    tbl = QTable({'id': np.arange(1, n + 1), 'x': x, 'y': y, 'ci': ci})
    for band, offset in zip(BANDS, (1.2, 0.6, 0.4, 0.0, -0.5)):
        tbl[f'mag_{band}'] = v + offset + rng.normal(0, 0.1, n)
    tbl['class_mode'] = probs.argmax(axis=1) + 1
    tbl['class_quality'] = rng.choice([0.4, 0.6, 0.8, 1.0], n)
    tbl['n_models'] = np.full(n, 5)
    for k in range(4):
        tbl[f'prob_{k + 1}'] = probs[:, k]
    tbl['prob_entropy'] = -(probs * np.log(probs)).sum(axis=1) / np.log(4)
    tbl['prob_margin'] = top[:, -1] - top[:, -2]
    tbl.write(path, overwrite=True)   # the format from the extension (ECSV or FITS)
    return tbl


def start_browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = '/usr/bin/chromium'
    for flag in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage',
                 '--disable-gpu', '--window-size=1400,1100'):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service('/usr/bin/chromedriver'), options=options)
    driver.set_script_timeout(120)
    driver.get('about:blank')
    return driver


def start_server(command, catalog, paths, db):
    """Launch ``clusterclass review``; returns (process, url, seconds to URL, start time)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, 'review', catalog, *paths, '--db', db, '--reviewer', 'bench'],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    found = {}
    lines = []

    def read():
        for line in process.stdout:
            lines.append(line)
            match = re.search(r'http://\S+\?token=\S+', line)
            if match and 'url' not in found:
                found['url'] = match.group(0)
                found['t'] = time.perf_counter() - started
    threading.Thread(target=read, daemon=True).start()
    while 'url' not in found:
        if process.poll() is not None:
            time.sleep(0.2)
            msg = 'the review server stopped:\n' + ''.join(lines)
            raise RuntimeError(msg)
        time.sleep(0.005)
    return process, found['url'], found['t'], started


IMPORTS = ('import astro_clusterclass.cli, astro_clusterclass.review._server, '
           'astro_clusterclass.review._render, photutils.profiles')

WAIT_SHOWN = """
const done = arguments[arguments.length - 1];
const main = document.getElementById('review');
function shown() { return main.dataset.loaded === 'true' && main.dataset.row !== ''; }
if (shown()) { done(main.dataset.row); return; }
const observer = new MutationObserver(() => {
  if (shown()) { observer.disconnect(); done(main.dataset.row); }
});
observer.observe(main, {attributes: true});
"""

INSTALL_TIMER = """
const main = document.getElementById('review');
window.__bench = {t0: null, from: null, times: []};
document.addEventListener('keydown', (event) => {
  if (event.key === 'j') {
    window.__bench.t0 = performance.now();
    window.__bench.from = main.dataset.row;
  }
}, {capture: true});
new MutationObserver(() => {
  const b = window.__bench;
  if (b.t0 !== null && main.dataset.loaded === 'true' && main.dataset.row !== b.from) {
    b.times.push(performance.now() - b.t0);
    b.t0 = null;
  }
}).observe(main, {attributes: true});
"""

WAIT_TIME = """
const n = arguments[0], done = arguments[arguments.length - 1];
(function wait() {
  if (window.__bench.times.length > n) done(window.__bench.times[n]);
  else setTimeout(wait, 2);
})();
"""

FETCH_STATIC = """
const [url, n, done] = [arguments[0], arguments[1], arguments[arguments.length - 1]];
(async () => {
  const times = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const response = await fetch(url + '&bench=' + i, {cache: 'no-store'});
    await response.arrayBuffer();
    times.push(performance.now() - t0);
  }
  done(times);
})();
"""


def press_next(driver, n, pause):
    """Press j n times (real key events); the in-browser times in ms."""
    from selenium.webdriver.common.action_chains import ActionChains

    start = driver.execute_script('return window.__bench.times.length')
    times = []
    for i in range(n):
        ActionChains(driver).send_keys('j').perform()
        times.append(driver.execute_async_script(WAIT_TIME, start + i))
        if pause:
            time.sleep(pause)
    return times


def get(url, token):
    request = urllib.request.Request(url, headers={'Authorization': 'token ' + token})
    with urllib.request.urlopen(request) as response:
        return response.read()


def peak_memory_mb(pid):
    with open(f'/proc/{pid}/status') as status:
        fields = dict(line.split(':', 1) for line in status)
    return (int(fields['VmHWM'].split()[0]) / 1024, int(fields['VmRSS'].split()[0]) / 1024)


def verdict(value, target):
    return 'PASS' if value < target else 'FAIL'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--n', type=int, default=50_000, help='candidates')
    parser.add_argument('--shape', type=int, default=8000, help='mosaic side (px)')
    parser.add_argument('--sources', type=int, default=3000, help='point sources in the images')
    parser.add_argument('--presses', type=int, default=50, help='"next" key presses, paced')
    parser.add_argument('--rapid', type=int, default=20, help='"next" key presses, back to back')
    parser.add_argument('--pause', type=float, default=0.4,
                        help='seconds between paced key presses')
    parser.add_argument('--cold', type=int, default=20, help='cold candidates asked from Python')
    parser.add_argument('--command', default=f'{sys.executable} -m astro_clusterclass',
                        help='the command that runs clusterclass (default: this Python, '
                             '-m astro_clusterclass)')
    parser.add_argument('--workdir', default=None)
    parser.add_argument('--keep', action='store_true', help='keep the mosaics and catalog')
    parser.add_argument('--catalog-format', choices=('ecsv', 'fits'), default='ecsv',
                        help='file format of the catalog')
    args = parser.parse_args(argv)

    workdir = args.workdir or tempfile.mkdtemp(prefix='bench_review_')
    os.makedirs(workdir, exist_ok=True)
    shape = (args.shape, args.shape)
    process = driver = None
    try:
        t0 = time.perf_counter()
        paths, sources = make_mosaics(workdir, shape, args.sources)
        catalog = os.path.join(workdir, f'candidates.{args.catalog_format}')
        tbl = make_catalog(catalog, args.n, shape, sources)
        print(f'field: 5 x {shape[1]} x {shape[0]} float32 FITS, {args.sources} point sources, '
              f'{len(tbl)} candidates ({args.catalog_format.upper()}) in {workdir}; written in '
              f'{time.perf_counter() - t0:.1f} s')

        # Baseline of the first page: a fresh interpreter importing what the server imports.
        t = time.perf_counter()
        subprocess.run([sys.executable, '-c', IMPORTS], check=True)
        t_imports = time.perf_counter() - t
        driver = start_browser()
        db = os.path.join(workdir, 'labels.sqlite')
        for stale in (db, db + '-wal', db + '-shm'):  # a fresh label database
            if os.path.exists(stale):
                os.remove(stale)
        process, url, t_url, started = start_server(args.command.split(), catalog, paths, db)
        opened = time.perf_counter()
        driver.get(url)
        first_row = driver.execute_async_script(WAIT_SHOWN)
        t_page = time.perf_counter() - opened
        t_first = time.perf_counter() - started
        token = re.search(r'token=([^&\s]+)', url).group(1)
        base = url.split('/?')[0]
        print(f'first page: {t_page:.2f} s from opening the address to candidate row '
              f'{first_row} shown')
        print(f'server start: address printed {t_url:.2f} s after launching the command, '
              f'first candidate shown after {t_first:.2f} s (baseline: a fresh Python '
              f'importing the server and renderer takes {t_imports:.2f} s)')

        # Baseline: a bare static file, from the page and from Python.
        static = f'{base}/static/favicon.svg?token={token}'
        browser_static = driver.execute_async_script(FETCH_STATIC, static, 30)
        python_static = []
        for i in range(30):
            t = time.perf_counter()
            get(f'{static}&n={i}', token)
            python_static.append((time.perf_counter() - t) * 1e3)
        base_browser = statistics.median(browser_static)
        print(f'baseline static file: {base_browser:.1f} ms median in the browser, '
              f'{statistics.median(python_static):.1f} ms from Python')

        driver.execute_script(INSTALL_TIMER)
        paced = press_next(driver, args.presses, args.pause)
        rapid = press_next(driver, args.rapid, 0.0)
        next_median = statistics.median(paced)
        print(f'next candidate shown (in the browser), {len(paced)} presses {args.pause} s '
              f'apart: median {next_median:.1f} ms, 90th percentile '
              f'{np.percentile(paced, 90):.1f} ms, max {max(paced):.1f} ms '
              f'({next_median / base_browser:.1f}x the static file)')
        print(f'next candidate shown, {len(rapid)} presses back to back: median '
              f'{statistics.median(rapid):.1f} ms, 90th percentile '
              f'{np.percentile(rapid, 90):.1f} ms')

        queue = json.loads(get(f'{base}/api/queue?reviewer=bench', token))['rows']
        cold_rows = queue[-args.cold:]
        cold = []
        for row in cold_rows:
            t = time.perf_counter()
            get(f'{base}/api/candidate/{row}?reviewer=bench', token)
            get(f'{base}/api/profile/{row}', token)
            for band in (*BANDS, 'color'):
                get(f'{base}/stamp/{row}/{band}.png', token)
            cold.append((time.perf_counter() - t) * 1e3)
        print(f'cold candidate from Python (details, profile, 6 PNGs, one after another): '
              f'median {statistics.median(cold):.1f} ms over {len(cold)} rows')

        peak, rss = peak_memory_mb(process.pid)
        print(f'server memory: peak resident {peak:.0f} MB (now {rss:.0f} MB)')
        print()
        print(f'(load average of this machine: {os.getloadavg()[0]:.1f} on '
              f'{os.cpu_count()} CPUs)')
        print(f'target first page < {TARGETS["first_page_s"]:g} s: {t_page:.2f} s '
              f'{verdict(t_page, TARGETS["first_page_s"])} (and {t_first:.2f} s from launching '
              f'the server: {verdict(t_first, TARGETS["first_page_s"])})')
        print(f'target next candidate < {TARGETS["next_ms"]:g} ms (median, browser): '
              f'{next_median:.1f} ms {verdict(next_median, TARGETS["next_ms"])}')
        print(f'target server memory < {TARGETS["memory_mb"]:g} MB: {peak:.0f} MB '
              f'{verdict(peak, TARGETS["memory_mb"])}')
    finally:
        if driver is not None:
            driver.quit()
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == '__main__':
    main()
