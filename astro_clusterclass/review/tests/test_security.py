"""
Refusals of the review server, over real HTTP: no token, a wrong token,
cross-origin writes, paths outside the stamps, bad input. Each is refused
with its status and leaves the label database as it was.
"""

import http.client
import json

import pytest

pytest.importorskip('tornado')

from astro_clusterclass.datasets import make_cluster_field  # noqa: E402
from astro_clusterclass.review import LabelStore, ReviewApp  # noqa: E402

N = 12


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    field = make_cluster_field((200, 200), N, seed=21)
    path = tmp_path_factory.mktemp('security') / 'labels.sqlite'
    store = LabelStore(path, catalog=field.candidates)
    store.add_label(int(field.candidates['id'][0]), reviewer='ann', label=2)
    app = ReviewApp(field.candidates, field.images, store, reviewer='ann')
    app.start()
    yield app, store
    app.stop()
    store.close()


def send(app, method, path, *, body=None, headers=None, token=True):
    """One raw request (the path is sent byte for byte); returns (status, body bytes)."""
    conn = http.client.HTTPConnection('127.0.0.1', app.port, timeout=30)
    headers = dict(headers or {})
    if token is True:
        headers['Authorization'] = f'token {app.token}'
    if isinstance(body, (dict, list)):
        body = json.dumps(body).encode()
        headers.setdefault('Content-Type', 'application/json')
    conn.putrequest(method, path, skip_host='Host' in headers, skip_accept_encoding=True)
    for name, value in headers.items():
        conn.putheader(name, value)
    if body is not None:
        conn.putheader('Content-Length', str(len(body)))
    conn.endheaders(body)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, data


@pytest.fixture
def unchanged(served):
    """The database's history is the same after the test."""
    app, store = served
    before = store.history()
    yield
    assert store.history() == before


GOOD_LABEL = {'row': 1, 'label': 1}

READS = ['/', '/api/session', '/api/queue', '/api/candidate/1', '/api/profile/1',
         '/stamp/1/F555W.png', '/stamp/1/color.png', '/api/agreement', '/api/export',
         '/static/review.js', '/static/review.css', '/no/such/page']


@pytest.mark.parametrize('path', READS)
def test_reads_need_the_token(served, unchanged, path):
    app, store = served
    status, data = send(app, 'GET', path, token=None)
    assert status == 401
    assert b'token' in data and app.token.encode() not in data
    status, data = send(app, 'GET', path, token=None,
                        headers={'Authorization': 'token ' + 'x' * len(app.token)})
    assert status == 401 and json.loads(data)['error'] == 'wrong access token'
    sep = '&' if '?' in path else '?'
    status, _ = send(app, 'GET', f'{path}{sep}token={app.token[:-1]}', token=None)
    assert status == 401
    status, _ = send(app, 'GET', path, token=None,
                     headers={'Cookie': f'{app.cookie_name}=wrong'})
    assert status == 401


@pytest.mark.parametrize('path', ['/api/label', '/api/undo'])
def test_writes_need_the_token(served, unchanged, path):
    app, store = served
    status, _ = send(app, 'POST', path, body=GOOD_LABEL, token=None)
    assert status == 401
    status, _ = send(app, 'POST', path, body=GOOD_LABEL, token=None,
                     headers={'Authorization': 'token nope'})
    assert status == 401


def test_the_right_token_is_accepted_three_ways(served):
    app, store = served
    assert send(app, 'GET', '/api/session')[0] == 200
    assert send(app, 'GET', f'/api/session?token={app.token}', token=None)[0] == 200
    assert send(app, 'GET', '/api/session', token=None,
                headers={'Cookie': f'{app.cookie_name}={app.token}'})[0] == 200


@pytest.mark.parametrize('headers', [
    {'Origin': 'http://evil.example'},
    {'Origin': 'null'},
    {'Origin': 'http://127.0.0.1:1'},  # another port of this computer is another origin
    {'Sec-Fetch-Site': 'cross-site'},
    {'Sec-Fetch-Site': 'same-site'},
])
def test_cross_origin_writes_are_refused(served, unchanged, headers):
    app, store = served
    status, data = send(app, 'POST', '/api/label', body=GOOD_LABEL, headers=headers)
    assert status == 403, data
    # Even with the cookie a browser would send along.
    status, _ = send(app, 'POST', '/api/undo', body={}, token=None,
                     headers={**headers, 'Cookie': f'{app.cookie_name}={app.token}'})
    assert status == 403


@pytest.mark.parametrize('content_type', [None, 'application/x-www-form-urlencoded',
                                          'multipart/form-data; boundary=x', 'text/plain'])
def test_form_posts_are_refused(served, unchanged, content_type):
    """What an HTML form of another site can send (no preflight) is not JSON."""
    app, store = served
    headers = {'Content-Type': content_type} if content_type else {}
    body = (b'--x\r\nContent-Disposition: form-data; name="row"\r\n\r\n1\r\n--x--\r\n'
            if content_type and 'multipart' in content_type else b'row=1&label=1')
    status, _ = send(app, 'POST', '/api/label', body=body, headers=headers)
    assert status == 415


def test_same_origin_write_is_accepted(served):
    app, store = served
    before = len(store.history())
    status, data = send(app, 'POST', '/api/label', body={'row': 2, 'label': 3},
                        headers={'Origin': f'http://127.0.0.1:{app.port}',
                                 'Sec-Fetch-Site': 'same-origin'})
    assert status == 200, data
    assert len(store.history()) == before + 1


@pytest.mark.parametrize('host', ['evil.example', f'evil.example:{0}', '127.0.0.2:{port}', ''])
def test_other_host_names_are_refused(served, unchanged, host):
    """A DNS-rebinding name pointing at 127.0.0.1 is not this server."""
    app, store = served
    status, _ = send(app, 'GET', '/api/session', headers={'Host': host.format(port=app.port)})
    assert status == 403
    status, _ = send(app, 'GET', '/api/session', headers={'Host': f'localhost:{app.port}'})
    assert status == 200


@pytest.mark.parametrize('method', ['GET', 'PUT', 'DELETE'])
def test_writes_only_by_post(served, unchanged, method):
    app, store = served
    status, _ = send(app, method, '/api/label', body=GOOD_LABEL if method != 'GET' else None)
    assert status == 405


@pytest.mark.parametrize('path', [
    '/stamp/../../etc/passwd',
    '/stamp/1/../../../etc/passwd',
    '/stamp/%2e%2e/%2e%2e/etc/passwd',
    '/stamp/1/%2e%2e%2f%2e%2e%2fetc%2fpasswd.png',
    '/stamp/1/..%2f_server.py',
    '/stamp//etc/passwd.png',
    '/static/../_server.py',
    '/static/%2e%2e/_server.py',
    '/static/..%2f_server.py',
    '/static/%2e%2e%2f%2e%2e%2f__init__.py',
    '/static/..\\_server.py',
    '/static//etc/passwd',
    '/static/',
    '/static/.',
    '/etc/passwd',
    '/api/candidate/../../etc/passwd',
    '/_server.py',
])
def test_paths_outside_the_stamps(served, unchanged, path):
    app, store = served
    status, data = send(app, 'GET', path)
    assert status in (400, 404), (path, status)
    assert b'root:' not in data and b'import' not in data


@pytest.mark.parametrize('path', [
    f'/stamp/{N}/F555W.png', '/stamp/99999999/F555W.png', '/stamp/-1/F555W.png',
    '/stamp/1.5/F555W.png', '/stamp/1e3/F555W.png', '/stamp/0x1/F555W.png',
    '/stamp/1/F999W.png', '/stamp/1/f555w.png', '/stamp/1/rgb.png', '/stamp/1/.png',
    f'/api/candidate/{N}', '/api/candidate/-1', '/api/candidate/abc', f'/api/profile/{N}',
    '/api/profile/-3',
])
def test_rows_and_bands_out_of_range(served, unchanged, path):
    app, store = served
    status, _ = send(app, 'GET', path)
    assert status == 404


@pytest.mark.parametrize('query', ['stretch=cubic', 'stretch=', 'stretch=../x'])
def test_bad_stretch(served, query):
    app, store = served
    assert send(app, 'GET', f'/stamp/1/F555W.png?{query}')[0] == 400


BAD_LABELS = [
    {'row': 1, 'label': 5}, {'row': 1, 'label': 0}, {'row': 1, 'label': -1},
    {'row': 1, 'label': '1'}, {'row': 1, 'label': 1.5}, {'row': 1, 'label': True},
    {'row': 1, 'label': None}, {'row': 1}, {'row': 1, 'label': 4, 'subclass': '4.13'},
    {'row': 1, 'label': 4, 'subclass': '5.1'}, {'row': 1, 'label': 4, 'subclass': 4.1},
    {'row': 1, 'label': 2, 'subclass': '4.2'}, {'row': N, 'label': 1}, {'row': -1, 'label': 1},
    {'row': '1', 'label': 1}, {'row': True, 'label': 1}, {'row': 1.0, 'label': 1},
    {'label': 1}, {'row': 1, 'label': 1, 'reviewer': ''}, {'row': 1, 'label': 1,
                                                           'reviewer': 'x' * 65},
    {'row': 1, 'label': 1, 'comment': 'x' * 2001}, {'row': 1, 'label': 1, 'comment': 7},
    {'row': 1, 'label': 1, 'extra': 1}, [1, 1], 'label',
]


@pytest.mark.parametrize('body', BAD_LABELS)
def test_bad_labels(served, unchanged, body):
    app, store = served
    status, data = send(app, 'POST', '/api/label', body=json.dumps(body).encode(),
                        headers={'Content-Type': 'application/json'})
    assert status == 400, (body, data)
    assert json.loads(data)['error']


@pytest.mark.parametrize('body', [b'{', b'\xff\xfe', b'', b'null'])
def test_bad_json(served, unchanged, body):
    app, store = served
    status, _ = send(app, 'POST', '/api/label', body=body,
                     headers={'Content-Type': 'application/json'})
    assert status == 400


@pytest.mark.parametrize('body', [{'row': N}, {'row': -1}, {'reviewer': ''}, {'what': 1}])
def test_bad_undo(served, unchanged, body):
    app, store = served
    assert send(app, 'POST', '/api/undo', body=body)[0] == 400


@pytest.mark.parametrize('query', [
    'order=best', 'seed=x', 'unreviewed=maybe', 'only_class=7', 'only_class=x',
    'mag_range=1', 'mag_range=a,b', 'mag_range=nan,1', 'region=1,2,3', 'region=1,2,3,x',
    'columns=class_mode', 'order=disagreement&columns=nope,other',
    'mag_column=nope&order=brightest',
    'sort=1', 'reviewer=',
])
def test_bad_queue_parameters(served, unchanged, query):
    app, store = served
    status, data = send(app, 'GET', f'/api/queue?{query}')
    assert status == 400, (query, data)


def test_body_size_is_limited(served, unchanged):
    app, store = served
    body = json.dumps({'row': 1, 'label': 1, 'comment': 'x' * 200_000}).encode()
    try:
        status, _ = send(app, 'POST', '/api/label', body=body,
                         headers={'Content-Type': 'application/json'})
    except (ConnectionError, http.client.HTTPException):
        return  # the server closed the connection: refused too
    assert status in (400, 413)


def test_token_never_logged_nor_echoed(served, caplog):
    import logging

    app, store = served
    with caplog.at_level(logging.DEBUG, logger='astro_clusterclass.review'):
        send(app, 'GET', f'/api/session?token={app.token}', token=None)
        send(app, 'GET', '/api/session?token=wrong-token', token=None)
    assert caplog.records
    assert app.token not in caplog.text and 'wrong-token' not in caplog.text
