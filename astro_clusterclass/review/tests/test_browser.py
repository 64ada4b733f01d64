"""
End to end in a real browser: headless Chromium driven by Selenium through
Debian's chromedriver, against ``clusterclass review`` run as a separate
process (so that it can be killed).

Skipped when selenium, chromium or chromedriver are missing
(``apt-get install chromium chromium-driver``, ``pip install selenium``).
With ``CLUSTERCLASS_SCREENSHOTS=DIR`` the test writes the screenshots of
the documentation (docs/_static/review) into DIR.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from astropy.table import QTable

pytest.importorskip('tornado')
webdriver = pytest.importorskip('selenium.webdriver', reason='selenium is not installed')

from astro_clusterclass.review import LabelStore  # noqa: E402

CHROMIUM = shutil.which('chromium') or shutil.which('chromium-browser')
CHROMEDRIVER = shutil.which('chromedriver')
if CHROMEDRIVER is None and os.path.exists('/usr/bin/chromedriver'):
    CHROMEDRIVER = '/usr/bin/chromedriver'
if not CHROMIUM or not CHROMEDRIVER:
    pytest.skip('chromium and chromedriver are needed (apt-get install chromium '
                'chromium-driver)', allow_module_level=True)

SHOTS = os.environ.get('CLUSTERCLASS_SCREENSHOTS')
WAIT = 30


@pytest.fixture(scope='module')
def field_files(tmp_path_factory):
    """A simulated field on disk, classified by the bundled model (the machine's columns)."""
    from astro_clusterclass.classify import classify_table
    from astro_clusterclass.datasets import make_cluster_field

    folder = tmp_path_factory.mktemp('browser')
    field = make_cluster_field((500, 500), 60, seed=7)
    paths = field.write(folder)
    classified = classify_table(field.candidates, field.images, progress=False)
    catalog = folder / 'classified.ecsv'
    classified.write(catalog)
    truth = field.labelled_candidates(('class', 'subclass'))
    images = [paths[b] for b in ('F275W', 'F336W', 'F438W', 'F555W', 'F814W')]
    return {'catalog': str(catalog), 'images': images, 'folder': folder, 'truth': truth,
            'table': classified}


class Server:
    """``python -m astro_clusterclass review ...`` in a subprocess; its URL read from stdout."""

    def __init__(self, files, db, *args):
        command = [sys.executable, '-m', 'astro_clusterclass', 'review', files['catalog'],
                   *files['images'], '--db', str(db), '--reviewer', 'ann', *args]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, text=True)
        self.lines = []
        found = threading.Event()

        def read():
            for line in self.process.stdout:
                self.lines.append(line)
                if 'token=' in line:
                    found.set()
            found.set()

        self.reader = threading.Thread(target=read, daemon=True)
        self.reader.start()
        found.wait(120)
        urls = [w for line in self.lines for w in line.split() if 'token=' in w]
        if not urls:
            self.process.kill()
            self.process.wait(30)
            pytest.fail(f'the server printed no address: {self.lines} {self._close()}')
        self.url = urls[0]
        self.base, self.token = self.url.split('/?token=')

    def api(self, path, body=None):
        request = urllib.request.Request(
            self.base + path, data=None if body is None else json.dumps(body).encode(),
            headers={'Authorization': f'token {self.token}',
                     'Content-Type': 'application/json'},
            method='GET' if body is None else 'POST')
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)

    def _close(self):
        self.reader.join(30)
        self.process.stdout.close()
        errors = self.process.stderr.read()
        self.process.stderr.close()
        return errors

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)
        self._close()

    def interrupt(self):
        self.process.send_signal(signal.SIGINT)
        rc = self.process.wait(30)
        errors = self._close()
        return rc, ''.join(self.lines) + errors


@pytest.fixture(scope='module')
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage',
                '--window-size=1400,1050', '--disable-extensions', '--no-first-run',
                '--disable-background-networking', '--disable-component-update'):
        options.add_argument(arg)
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as exc:  # noqa: BLE001  (a browser that cannot start: skip, said why)
        pytest.skip(f'headless chromium does not start: {exc}')
    yield driver
    driver.quit()


def main_of(driver):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, 'review')


def wait_idle(driver, **attributes):
    """Wait until no action is pending, the candidate is shown and ``attributes`` hold."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        main = main_of(d)
        return (main.get_attribute('data-pending') == '0'
                and main.get_attribute('data-loaded') == 'true'
                and all(main.get_attribute(f'data-{k}') == str(v) for k, v in attributes.items()))

    WebDriverWait(driver, WAIT).until(ready)
    return main_of(driver)


def press(driver, keys):
    from selenium.webdriver.common.by import By

    body = driver.find_element(By.TAG_NAME, 'body')
    for key in keys:
        body.send_keys(key)


def shot(driver, name):
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(SHOTS) / f'{name}.png'))


def acknowledged(driver):
    return driver.execute_script('return window.reviewAcknowledged')


# Twenty keyboard labels: classes, and class 4 with subclasses (4 then a key).
KEYS = ['1', '2', '3', '42', '1', '4\ue007', '2', '40', '3', '4-', '1', '1', '2', '4=', '3',
        '41', '2', '49', '1', '3']


def expected_label(keys):
    from selenium.webdriver.common.keys import Keys

    if keys[0] != '4':
        return keys
    second = keys[1]
    if second == Keys.ENTER:
        return '4'
    return {'0': '4.10', '-': '4.11', '=': '4.12'}.get(second, f'4.{second}')


def current_labels(db, reviewer):
    with LabelStore(db) as store:
        return {c: (r['subclass'] or str(r['label']))
                for c, r in store.current(reviewer=reviewer).items()}


def test_keyboard_labels_undo_reload_kill_restart(browser, field_files, tmp_path):
    db = tmp_path / 'labels.sqlite'
    server = Server(field_files, db)
    ids = [int(i) for i in field_files['table']['id']]
    try:
        queue = server.api('/api/queue?reviewer=ann')['rows']
        browser.get(server.url)
        wait_idle(browser, row=queue[0], index=0)
        shot(browser, 'review_page')
        # Typed at once: the page runs the actions one after the other, so
        # no keystroke is lost and each label is saved before the next.
        for keys in KEYS:
            press(browser, keys)
        wait_idle(browser, index=20)
        expected = {ids[queue[i]]: expected_label(k) for i, k in enumerate(KEYS)}
        assert current_labels(db, 'ann') == expected
        assert len(acknowledged(browser)) == 20

        press(browser, 'u')  # undo the last one: back on it, unlabelled
        main = wait_idle(browser, index=19, label='')
        del expected[ids[queue[19]]]
        assert current_labels(db, 'ann') == expected
        assert 'undone' in browser.find_element('id', 'status').text

        press(browser, '4')
        shot(browser, 'review_subclass')
        press(browser, '\ue00c')  # Esc: class 4 cancelled, nothing saved
        press(browser, '?')
        shot(browser, 'review_help')
        press(browser, '\ue00c')

        browser.refresh()  # the page comes back on the same candidate, labels from the db

        def check_strip():
            chips = browser.execute_script(
                "return [...document.querySelectorAll('#strip .chip')].map("
                "c => [Number(c.dataset.row), c.dataset.label])")
            assert chips
            for row, label in chips:
                assert label == expected.get(ids[row], ''), row
            return {row for row, _ in chips}

        wait_idle(browser, row=queue[19], index=19, label='')
        seen = check_strip()
        for i in range(18, 6, -1):  # and one candidate after the other
            press(browser, 'k')
            main = wait_idle(browser, index=i)
            assert main.get_attribute('data-label') == expected[ids[queue[i]]]
            assert main.get_attribute('data-row') == str(queue[i])
        seen |= check_strip()
        assert seen >= set(queue[:20])

        # Mid-session kill: labels go on while the server is killed (SIGKILL).
        press(browser, ['j'] * 12)
        wait_idle(browser, index=19)
        before = len(acknowledged(browser))
        for keys in ['2', '3', '1', '2', '3', '1', '2', '3', '1', '2']:
            press(browser, keys)
        deadline = time.monotonic() + WAIT
        while len(acknowledged(browser)) < before + 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        server.kill()
        acked = acknowledged(browser)
        assert len(acked) >= before + 4
    finally:
        if server.process.poll() is None:
            server.kill()

    # Restarted: every label the page was told is saved is there.
    server = Server(field_files, db)
    try:
        with LabelStore(db) as store:
            history = {r['label_id']: r for r in store.history()}
        for ack in acked:
            record = history[ack['label_id']]
            assert (record['label'], record['subclass'], record['reviewer']) == \
                (ack['label'], ack['subclass'], 'ann')
            assert record['candidate'] == ids[ack['row']]
        latest = {}
        for ack in acked:
            latest[ack['row']] = ack
        now = current_labels(db, 'ann')
        for row, ack in latest.items():
            if ack['label'] is not None:
                assert now[ids[row]] == (ack['subclass'] or str(ack['label']))
        browser.get(server.url + '#row=' + str(queue[22]))
        main = wait_idle(browser, row=queue[22])
        assert main.get_attribute('data-label') == now[ids[queue[22]]]
        rc, output = server.interrupt()
        assert rc == 0 and 'stopped;' in output
    finally:
        if server.process.poll() is None:
            server.kill()


def test_two_reviewers_at_once_and_export(browser, field_files, tmp_path):
    db = tmp_path / 'labels.sqlite'
    server = Server(field_files, db)
    ids = [int(i) for i in field_files['table']['id']]
    try:
        queue = server.api('/api/queue?reviewer=ann')['rows']
        first = browser.current_window_handle
        browser.get(server.url + '&reviewer=ann')
        wait_idle(browser, index=0)
        browser.switch_to.new_window('tab')
        second = browser.current_window_handle
        browser.get(server.url + '&reviewer=bob')
        wait_idle(browser, index=0)

        # A scripted third reviewer writes through the API at the same time.
        def carl():
            for row in queue[:15]:
                server.api('/api/label', {'row': row, 'label': 3, 'reviewer': 'carl'})

        writer = threading.Thread(target=carl)
        writer.start()
        ann = ['1', '2', '1', '3', '41', '2', '1', '3', '2', '1']
        bob = ['1', '2', '2', '3', '42', '2', '1', '1', '2', '4\ue007']
        for a, b in zip(ann, bob):
            browser.switch_to.window(first)
            press(browser, a)
            browser.switch_to.window(second)
            press(browser, b)
        writer.join()
        browser.switch_to.window(first)
        wait_idle(browser, index=10)
        browser.switch_to.window(second)
        wait_idle(browser, index=10)
        expect_ann = {ids[queue[i]]: expected_label(k) for i, k in enumerate(ann)}
        expect_bob = {ids[queue[i]]: expected_label(k) for i, k in enumerate(bob)}
        assert current_labels(db, 'ann') == expect_ann
        assert current_labels(db, 'bob') == expect_bob
        assert current_labels(db, 'carl') == {ids[r]: '3' for r in queue[:15]}

        press(browser, 'k')
        wait_idle(browser, index=9)
        others = browser.find_element('id', 'others').text
        assert 'ann: 1' in others and 'carl: 3' in others
        browser.find_element('id', 'agreement-button').click()
        wait_idle(browser)
        text = browser.find_element('id', 'agreement').text
        assert 'reviewers: ann, bob, carl' in text
        browser.execute_script("document.getElementById('summary').scrollIntoView()")
        shot(browser, 'review_agreement')
        browser.close()
        browser.switch_to.window(first)
    finally:
        if server.process.poll() is None:
            server.interrupt()

    out = tmp_path / 'labelled.ecsv'
    done = subprocess.run([sys.executable, '-m', 'astro_clusterclass', 'review', '--export',
                           str(db), '-o', str(out)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    table = QTable.read(out)
    catalog = field_files['table']
    assert len(table) == len(catalog)
    assert list(table['id']) == list(catalog['id'])
    assert list(table['class_mode']) == list(catalog['class_mode'])
    human = {int(i): (int(c), int(n)) for i, c, n, m in
             zip(table['id'], table['class_human'].filled(0), np.asarray(table['n_reviews']),
                 np.ma.getmaskarray(table['class_human'])) if not m}
    # Rows with three reviewers: the mode; rows 10-14: carl alone.
    for i in range(10):
        votes = [int(expected_label(ann[i])[0]), int(expected_label(bob[i])[0]), 3]
        values, counts = np.unique(votes, return_counts=True)
        if counts.max() > 1:
            assert human[ids[queue[i]]] == (int(values[np.argmax(counts)]), 3)
    for i in range(10, 15):
        assert human[ids[queue[i]]] == (3, 1)
    unlabelled = set(ids) - {ids[r] for r in queue[:15]}
    assert all(i not in human for i in unlabelled)
