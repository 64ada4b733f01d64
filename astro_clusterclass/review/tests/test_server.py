"""The review web application through real HTTP requests to a started `ReviewApp`."""

import http.client
import io
import json
import socket

import numpy as np
import pytest
from astropy.table import QTable

pytest.importorskip('tornado')

from astro_clusterclass.datasets import make_cluster_field  # noqa: E402
from astro_clusterclass.review import LabelStore, ReviewApp, review_queue, serve  # noqa: E402

N = 24


def machine_columns(tbl, seed=5):
    """Classification-like columns drawn at random (the server only shows and orders them)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(4), size=len(tbl))
    tbl = QTable(tbl, copy=True)
    for k in range(4):
        tbl[f'prob_{k + 1}'] = probs[:, k]
    tbl['class_mode'] = np.argmax(probs, axis=1) + 1
    tbl['class_quality'] = probs.max(axis=1)
    tbl['class_other'] = rng.integers(1, 5, size=len(tbl))
    tbl['mag_F555W'] = rng.uniform(19, 25, size=len(tbl))
    return tbl


@pytest.fixture(scope='module')
def field():
    return make_cluster_field((256, 256), N, seed=11)


@pytest.fixture(scope='module')
def catalog(field):
    return machine_columns(field.candidates)


class Client:
    """Raw HTTP to the app: paths are sent exactly as given."""

    def __init__(self, app):
        self.app = app

    def request(self, method, path, *, body=None, headers=None, token=True):
        conn = http.client.HTTPConnection('127.0.0.1', self.app.port, timeout=30)
        headers = dict(headers or {})
        if token is True:
            headers.setdefault('Authorization', f'token {self.app.token}')
        elif token:
            headers['Authorization'] = f'token {token}'
        if body is not None and not isinstance(body, bytes):
            body = json.dumps(body).encode()
            headers.setdefault('Content-Type', 'application/json')
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        return response, data

    def json(self, method, path, **kwargs):
        response, data = self.request(method, path, **kwargs)
        return response.status, json.loads(data)


@pytest.fixture
def served(tmp_path, field, catalog):
    store = LabelStore(tmp_path / 'labels.sqlite', catalog=catalog)
    app = ReviewApp(catalog, field.images, store, reviewer='ann')
    app.start()
    yield app, store, Client(app)
    app.stop()
    store.close()


def test_session_describes_the_catalog(served, catalog):
    app, store, client = served
    status, session = client.json('GET', '/api/session')
    assert status == 200
    assert session['n_rows'] == len(catalog) == N
    assert session['bands'] == ['F275W', 'F336W', 'F438W', 'F555W', 'F814W']
    assert session['reviewer'] == 'ann' and session['blind'] is False
    assert sorted(session['classes']) == ['1', '2', '3', '4']
    assert '4.12' in session['subclasses']
    assert 'class_mode' in session['class_columns']
    assert 'class_quality' not in session['class_columns']  # not a class column
    assert app.url == f'http://127.0.0.1:{app.port}/?token={app.token}'
    assert len(app.token) >= 32


def test_queue_orders_and_filters(served, catalog):
    app, store, client = served
    status, queue = client.json('GET', '/api/queue')
    assert status == 200
    assert queue['rows'] == review_queue(catalog, order='doubtful').tolist()
    # The least certain candidate first: lowest class_quality.
    assert queue['rows'][0] == int(np.argmin(catalog['class_quality']))
    status, queue = client.json('GET', '/api/queue?order=brightest')
    assert queue['rows'][0] == int(np.argmin(catalog['mag_F555W']))
    status, a = client.json('GET', '/api/queue?order=random&seed=3')
    status, b = client.json('GET', '/api/queue?order=random&seed=3')
    status, c = client.json('GET', '/api/queue?order=random&seed=4')
    assert a['rows'] == b['rows'] != c['rows']
    assert sorted(a['rows']) == list(range(N))
    status, queue = client.json('GET', '/api/queue?order=disagreement&columns=class_mode,'
                                       'class_other')
    differ = set(np.flatnonzero(catalog['class_mode'] != catalog['class_other']).tolist())
    assert set(queue['rows'][:len(differ)]) == differ
    status, queue = client.json('GET', '/api/queue?order=catalog&only_class=2'
                                       '&class_column=class_mode')
    assert queue['rows'] == np.flatnonzero(catalog['class_mode'] == 2).tolist()
    status, queue = client.json('GET', '/api/queue?order=catalog&mag_range=20,23')
    mags = np.asarray(catalog['mag_F555W'])
    assert queue['rows'] == np.flatnonzero((mags >= 20) & (mags <= 23)).tolist()
    status, queue = client.json('GET', '/api/queue?order=catalog&region=0,128,0,256')
    assert queue['rows'] == np.flatnonzero(np.asarray(catalog['x']) < 128).tolist()


def test_queue_unreviewed_leaves_out_my_labels(served):
    app, store, client = served
    status, first = client.json('GET', '/api/queue?order=catalog&unreviewed=1')
    assert first['n'] == N
    client.json('POST', '/api/label', body={'row': 5, 'label': 1})
    status, queue = client.json('GET', '/api/queue?order=catalog&unreviewed=1')
    assert 5 not in queue['rows'] and queue['n'] == N - 1
    # Another reviewer still sees row 5.
    status, queue = client.json('GET', '/api/queue?order=catalog&unreviewed=1&reviewer=bob')
    assert queue['n'] == N
    status, queue = client.json('GET', '/api/queue?order=catalog')
    assert queue['labels'] == {'5': '1'}


def test_label_is_committed_before_the_answer(served, catalog):
    app, store, client = served
    status, answer = client.json('POST', '/api/label',
                                 body={'row': 3, 'label': 4, 'subclass': '4.2',
                                       'comment': 'two peaks', 'reviewer': 'bob'})
    assert status == 200 and answer['saved'] is True
    # Read through another connection: the label is in the database file.
    with LabelStore(store.path) as other:
        record = other.current(reviewer='bob')[int(catalog['id'][3])]
    assert (record['label'], record['subclass'], record['comment']) == (4, '4.2', 'two peaks')
    assert answer['label']['label_id'] == record['label_id']
    status, shown = client.json('GET', '/api/candidate/3?reviewer=bob')
    assert shown['label']['subclass'] == '4.2'
    assert shown['candidate'] == int(catalog['id'][3])
    assert [r['label'] for r in shown['history']] == [4]


def test_undo_restores_the_previous_label(served, catalog):
    app, store, client = served
    client.json('POST', '/api/label', body={'row': 7, 'label': 1})
    client.json('POST', '/api/label', body={'row': 7, 'label': 3})
    status, undone = client.json('POST', '/api/undo', body={})
    assert status == 200 and undone['undone'] and undone['row'] == 7
    assert store.current(reviewer='ann')[int(catalog['id'][7])]['label'] == 1
    status, undone = client.json('POST', '/api/undo', body={'row': 7})
    assert undone['label']['label'] is None
    assert int(catalog['id'][7]) not in store.current(reviewer='ann')
    # History is append-only: four rows for two labels and two undos.
    assert len(store.history(candidate=int(catalog['id'][7]))) == 4


def test_two_reviewers_and_agreement(served, catalog):
    app, store, client = served
    for row in range(6):
        client.json('POST', '/api/label', body={'row': row, 'label': 1, 'reviewer': 'ann'})
        client.json('POST', '/api/label',
                    body={'row': row, 'label': 1 if row < 3 else 2, 'reviewer': 'bob'})
    status, shown = client.json('GET', '/api/candidate/4?reviewer=ann')
    assert [(r['reviewer'], r['label']) for r in shown['others']] == [('bob', 2)]
    status, result = client.json('GET', '/api/agreement')
    assert status == 200
    assert result['reviewers'] == ['ann', 'bob']
    assert result['n_labelled'] == 6
    assert result['n_ties'] == 3  # rows 3-5: one vote each for 1 and 2
    pair, = result['agreement']['pairs']
    assert (pair['reviewer_a'], pair['reviewer_b'], pair['n_common']) == ('ann', 'bob', 6)
    assert pair['confusion'][0] == [3, 3, 0, 0]  # ann's class 1: bob 1 three times, 2 three
    machine = result['agreement']['machine']
    assert machine['column'] == 'class_mode' and machine['n_common'] == 3  # the consensus rows


def test_export_returns_every_row(served, catalog):
    app, store, client = served
    client.json('POST', '/api/label', body={'row': 2, 'label': 3})
    response, data = client.request('GET', '/api/export')
    assert response.status == 200
    assert 'attachment' in response.getheader('Content-Disposition')
    table = QTable.read(data.decode(), format='ascii.ecsv')
    assert len(table) == N
    assert list(table['id']) == list(catalog['id'])
    assert table['class_human'][2] == 3
    assert np.ma.getmaskarray(table['class_human']).sum() == N - 1


def test_stamps_and_profile(served):
    from matplotlib.image import imread

    app, store, client = served
    for band in ['F275W', 'F555W', 'color']:
        response, data = client.request('GET', f'/stamp/4/{band}.png?stretch=linear')
        assert response.status == 200, data
        assert response.getheader('Content-Type') == 'image/png'
        image = imread(io.BytesIO(data))
        assert image.ndim == 3 and image.shape[0] == image.shape[1] > 64
    status, profile = client.json('GET', '/api/profile/4')
    assert status == 200
    assert len(profile['radius']) == len(profile['profile'])


def test_warm_up_prepares_the_first_candidate(tmp_path, field, catalog):
    store = LabelStore(tmp_path / 'labels.sqlite', catalog=catalog)
    app = ReviewApp(catalog, field.images, store, reviewer='ann')
    row = app.warm_up()          # as serve does, before the server starts
    app.start()
    try:
        _check_warm(app, Client(app), row)
    finally:
        app.stop()
        store.close()


def _check_warm(app, client, row):
    status, queue = client.json('GET', '/api/queue')
    assert status == 200 and row == queue['rows'][0]
    before = app.renderer.cache_info()
    for band in [*app.renderer.bands, 'color']:
        response, _ = client.request('GET', f'/stamp/{row}/{band}.png')
        assert response.status == 200
    after = app.renderer.cache_info()
    # Every picture the page asks for first is already rendered.
    assert after['misses'] == before['misses'] and after['hits'] == before['hits'] + 6


def test_page_sets_an_http_only_strict_cookie(served):
    app, store, client = served
    response, data = client.request('GET', f'/?token={app.token}', token=None)
    assert response.status == 200 and b'review.js' in data
    cookie = response.getheader('Set-Cookie')
    assert cookie.startswith(f'{app.cookie_name}={app.token}')
    assert 'HttpOnly' in cookie and 'SameSite=Strict' in cookie
    assert "script-src 'self'" in response.getheader('Content-Security-Policy')
    # The cookie alone authenticates what the page loads next.
    response, data = client.request('GET', '/static/review.js', token=None,
                                    headers={'Cookie': f'{app.cookie_name}={app.token}'})
    assert response.status == 200 and b'reviewReady' in data


def test_blind_mode_hides_the_machine(tmp_path, field, catalog):
    store = LabelStore(tmp_path / 'blind.sqlite', catalog=catalog)
    app = ReviewApp(catalog, field.images, store, reviewer='ann', blind=True)
    app.start()
    try:
        client = Client(app)
        client.json('POST', '/api/label', body={'row': 1, 'label': 2, 'reviewer': 'bob'})
        status, shown = client.json('GET', '/api/candidate/1')
        assert status == 200
        text = json.dumps(shown)
        assert shown['details'].get('machine') is None
        assert 'prob_1' not in text and 'class_mode' not in text
        assert shown['others'] == [] and shown['n_reviews'] == 1
        status, session = client.json('GET', '/api/session')
        assert session['blind'] is True and session['class_columns'] == []
        status, error = client.json('GET', '/api/queue?order=disagreement'
                                           '&columns=class_mode,class_other')
        assert status == 400 and 'blind' in error['error']
        status, result = client.json('GET', '/api/agreement')
        assert status == 200 and result['agreement']['machine'] is None
    finally:
        app.stop()
        store.close()


def test_stop_releases_the_port(tmp_path, field, catalog):
    store = LabelStore(tmp_path / 'labels.sqlite', catalog=catalog)
    app = ReviewApp(catalog, field.images, store)
    app.start()
    with pytest.raises(RuntimeError, match='already running'):
        app.start()
    port = app.port
    app.stop()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', port), timeout=2)
    with pytest.raises(RuntimeError, match='was stopped'):
        app.start()
    store.close()


def test_bad_options(tmp_path, field, catalog):
    store = LabelStore(tmp_path / 'labels.sqlite', catalog=catalog)
    with pytest.raises(ValueError, match='port'):
        ReviewApp(catalog, field.images, store, port=70000)
    with pytest.raises(ValueError, match='token'):
        ReviewApp(catalog, field.images, store, token='short')
    with pytest.raises(ValueError, match='queue_options: order'):
        ReviewApp(catalog, field.images, store, queue_options={'order': 'best'})
    with pytest.raises(ValueError, match='unknown keys'):
        ReviewApp(catalog, field.images, store, queue_options={'sort': 'x'})
    store.close()


def test_serve_stops_on_sigint(tmp_path, field, catalog):
    """`serve` in this thread: SIGINT (Ctrl-C) stops it, the database is closed."""
    import os
    import signal
    import threading
    import urllib.request

    lines = []

    def log(text):
        lines.append(text)
        if 'token=' in text:
            url = [w for w in text.split() if 'token=' in w][0]

            def label_then_interrupt():
                request = urllib.request.Request(
                    url.replace('/?token=', '/api/label?token='), method='POST',
                    data=json.dumps({'row': 0, 'label': 2}).encode(),
                    headers={'Content-Type': 'application/json'})
                urllib.request.urlopen(request, timeout=30).read()
                os.kill(os.getpid(), signal.SIGINT)

            threading.Thread(target=label_then_interrupt, daemon=True).start()

    summary = serve(catalog, field.images, db=tmp_path / 'labels.sqlite', reviewer='ann',
                    catalog_path='catalog.ecsv', log=log)
    assert summary['n_labels'] == 1 and summary['reviewers'] == ['ann']
    assert lines[-1].startswith('stopped; 1 label(s) by 1 reviewer(s)')
    with LabelStore(tmp_path / 'labels.sqlite') as store:
        assert store.current(reviewer='ann')[int(catalog['id'][0])]['label'] == 2
