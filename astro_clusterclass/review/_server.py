"""
The review web application: Tornado handlers, authentication and `serve`.

Tornado runs its own HTTP server inside the process (no reverse proxy, no
separate server to install); every request, page, stamp or API call,
must carry the access token printed with the address (``?token=``, an
``Authorization: token ...`` header, or the cookie the page gets on its
first authenticated load), compared in constant time. Writes are POSTs
with a JSON body, from the page's own origin only; a label is answered
only after the `LabelStore` committed it.
"""

import asyncio
import getpass
import hmac
import io
import json
import math
import secrets
import signal
import threading
from pathlib import Path

import numpy as np

from .._utils.jsonable import json_value

__all__ = ['ReviewApp', 'serve', 'STATIC_DIR']

#: Folder of the page's HTML, JavaScript and CSS (served under ``/static/``).
STATIC_DIR = Path(__file__).resolve().parent / 'static'

#: Largest request body accepted (a label with its comment is well below).
MAX_BODY_SIZE = 64 * 1024

#: Hosts a browser may name in ``Host`` when the server listens on loopback;
#: anything else (a DNS-rebinding name) is refused.
_LOOPBACK_NAMES = ('127.0.0.1', 'localhost', '[::1]', '::1')

#: Options of the queue the page may set (GET /api/queue), besides ``order``.
QUEUE_PARAMETERS = ('order', 'columns', 'seed', 'unreviewed', 'only_class', 'class_column',
                    'mag_range', 'mag_column', 'region')


#: Columns named class* that hold no classes (flags, spreads, qualities).
_NOT_CLASSES = ('class_flag', 'class_std', 'class_quality', 'class_mean', 'class_median')


def _log_request(handler):
    """Tornado's access log through the package logger: refusals at INFO, the rest DEBUG."""
    import logging

    status = handler.get_status()
    level = (logging.ERROR if status >= 500 else logging.INFO if status >= 400
             else logging.DEBUG)
    request = handler.request
    path = request.path  # without the query, which may hold the token
    logging.getLogger('astro_clusterclass.review').log(
        level, '%d %s %s (%s) %.1f ms', status, request.method, path, request.remote_ip,
        1000 * request.request_time())


def _python_id(value):
    """A catalog id as the plain Python value the store keeps."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode()
    return value


def _machine_column(tbl):
    for name in ('class_mode', 'class_ml', 'class_machine'):
        if name in tbl.colnames:
            return name
    return None


class ReviewApp:
    """
    The review web application for one catalog, its images and a label database.

    Builds the ``tornado.web.Application`` (``application``); `start` and
    `stop` run it in a background thread (for tests and scripts), `run`
    in the calling thread until a signal (what `serve` and
    ``clusterclass review`` do).

    Parameters
    ----------
    tbl : `~astropy.table.Table`
        The candidates, with 0-based pixel ``x``/``y`` columns on the images.
    images : `~astro_clusterclass.BandImages` or sequence
        The five bands (anything `~astro_clusterclass.load_images` accepts).
    store : `LabelStore`
        The label database of this catalog.
    reviewer : str, optional
        The reviewer name a page starts with (the page can change it; each
        label names its reviewer). Default: the login name.
    blind : bool, optional
        Hide the machine's classes, votes and probabilities, and the other
        reviewers' labels, from the page.
    token : str, optional
        The access token; default a new random one
        (``secrets.token_urlsafe``).
    host : str, optional
        Address to listen on; the default, loopback, is reachable from this
        computer only.
    port : int, optional
        Port; 0 picks a free one.
    queue_options : dict, optional
        The queue the page starts with: ``order`` and the other keywords of
        `review_queue` (``columns``, ``seed``, ``unreviewed``,
        ``only_class``, ``class_column``, ``mag_range``, ``mag_column``,
        ``region``).
    renderer : `StampRenderer`, optional
        Made from ``images`` and ``tbl`` when not given.
    catalog : `~astropy.table.Table`, optional
        The catalog as the database records it, for the export (the page
        works on ``tbl``, whose positions may have been placed on the
        images from other columns). Default: ``tbl``.

    Examples
    --------
    >>> import json, tempfile, urllib.request
    >>> from astro_clusterclass.datasets import make_cluster_field
    >>> from astro_clusterclass.review import LabelStore, ReviewApp
    >>> field = make_cluster_field((200, 200), 10, seed=2)
    >>> store = LabelStore(tempfile.mkdtemp() + '/labels.sqlite', catalog=field.candidates)
    >>> app = ReviewApp(field.candidates, field.images, store, reviewer='ann')
    >>> app.start()
    >>> request = urllib.request.Request(
    ...     app.base_url + '/api/label', method='POST',
    ...     data=json.dumps({'row': 0, 'label': 4, 'subclass': '4.2'}).encode(),
    ...     headers={'Authorization': 'token ' + app.token,
    ...              'Content-Type': 'application/json'})
    >>> json.load(urllib.request.urlopen(request))['label']['subclass']
    '4.2'
    >>> app.stop(); store.close()
    """

    def __init__(self, tbl, images, store, *, reviewer=None, blind=False, token=None,
                 host='127.0.0.1', port=0, queue_options=None, renderer=None, catalog=None):
        try:
            from tornado.netutil import bind_sockets
        except ImportError:
            msg = ("the review application needs Tornado: pip install "
                   "'astro_clusterclass[review]'")
            raise ImportError(msg) from None

        from .._utils.validation import check_int
        from ..images import load_images
        from ._queue import QUEUE_ORDERS
        from ._render import StampRenderer

        self.tbl = tbl
        self.catalog = tbl if catalog is None else catalog
        self.images = load_images(images)
        self.store = store
        self.blind = bool(blind)
        self.reviewer = str(reviewer) if reviewer else _login_name()
        if token is None:
            token = secrets.token_urlsafe(32)
        if not isinstance(token, str) or len(token) < 16:
            msg = 'token must be a string of at least 16 characters'
            raise ValueError(msg)
        self.token = token
        self.host = str(host)
        port = check_int(port, 'port', minimum=0, maximum=65535)
        self.queue_options = dict(queue_options or {})
        unknown = sorted(set(self.queue_options) - set(QUEUE_PARAMETERS))
        if unknown:
            msg = f'queue_options: unknown keys {unknown}; known: {list(QUEUE_PARAMETERS)}'
            raise ValueError(msg)
        order = self.queue_options.setdefault('order', 'doubtful')
        if order not in QUEUE_ORDERS:
            msg = f'queue_options: order must be one of {sorted(QUEUE_ORDERS)}, got {order!r}'
            raise ValueError(msg)
        self.renderer = renderer if renderer is not None else StampRenderer(self.images, tbl)
        id_column = store.info.get('id_column') or 'id'
        if id_column in tbl.colnames:
            self.ids = [_python_id(v) for v in tbl[id_column]]
        else:
            self.ids = list(range(len(tbl)))
        self.row_of = {c: r for r, c in enumerate(self.ids)}
        self.machine_column = _machine_column(tbl)
        # Bound now, so that the address (and a port of 0 made real) is known
        # before the loop starts and a busy port is an error here.
        self._sockets = bind_sockets(port, address=self.host)
        self.port = self._sockets[0].getsockname()[1]
        self._thread = None
        self._loop = None
        self._server = None
        self._stopped = False
        self._thread_store = None
        self.application = self._make_application()

    # -- addresses ---------------------------------------------------------

    @property
    def base_url(self):
        """``http://HOST:PORT`` (no token)."""
        host = self.host
        if host in ('', '0.0.0.0', '::'):
            host = '127.0.0.1'
        if ':' in host and not host.startswith('['):
            host = f'[{host}]'
        return f'http://{host}:{self.port}'

    @property
    def url(self):
        """The address to open: the page, with the token."""
        return f'{self.base_url}/?token={self.token}'

    @property
    def cookie_name(self):
        # Cookies do not tell ports apart: one name per server.
        return f'clusterclass-review-{self.port}'

    def allowed_hosts(self):
        """``Host`` values accepted (None: any, when listening on every address)."""
        if self.host in ('', '0.0.0.0', '::'):
            return None
        names = {self.host, f'[{self.host}]'} if ':' in self.host else {self.host}
        if self.host in _LOOPBACK_NAMES:
            names |= set(_LOOPBACK_NAMES)
        return {f'{name}:{self.port}' for name in names}

    def __repr__(self):
        return (f'<ReviewApp {len(self.tbl)} candidates at {self.base_url}, reviewer '
                f'{self.reviewer!r}{", blind" if self.blind else ""}>')

    # -- the application -----------------------------------------------------

    def _make_application(self):
        import tornado.web

        h = _handlers()
        settings = {'app': self, 'static_path': None, 'default_handler_class': h.NotFound,
                    'compress_response': True, 'xsrf_cookies': False,
                    'log_function': _log_request}
        routes = [
            (r'/', h.Page),
            (r'/api/session', h.Session),
            (r'/api/queue', h.Queue),
            (r'/api/candidate/([0-9]+)', h.Candidate),
            (r'/api/profile/([0-9]+)', h.Profile),
            (r'/api/agreement', h.Agreement),
            (r'/api/export', h.Export),
            (r'/api/label', h.Label),
            (r'/api/undo', h.Undo),
            (r'/stamp/([0-9]+)/([A-Za-z0-9_.-]+)\.png', h.Stamp),
            (r'/static/(.*)', h.Static, {'path': str(STATIC_DIR)}),
        ]
        return tornado.web.Application(routes, **settings)

    def check_row(self, value, *, parameter='row'):
        """``value`` as a row index of the catalog; ValueError naming ``parameter``."""
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            msg = f'{parameter} must be an integer row number, got {value!r}'
            raise ValueError(msg)
        if isinstance(value, str):
            if not value.isdigit() or len(value) > 12:
                msg = f'{parameter} must be an integer row number, got {value!r}'
                raise ValueError(msg)
            value = int(value)
        if not 0 <= value < len(self.tbl):
            msg = f'{parameter} must be in 0-{len(self.tbl) - 1}, got {value}'
            raise ValueError(msg)
        return value

    def labels_store(self):
        """The store of the thread serving requests."""
        return self._thread_store or self.store

    # -- running -----------------------------------------------------------

    def _listen(self):
        from tornado.httpserver import HTTPServer

        self._server = HTTPServer(self.application, max_body_size=MAX_BODY_SIZE,
                                  xheaders=False)
        self._server.add_sockets(self._sockets)

    def start(self):
        """
        Serve in a background thread; returns once requests are accepted.

        The thread opens its own connection to the label database (SQLite
        connections belong to one thread); `stop` ends it.
        """
        if self._thread is not None:
            msg = 'the application is already running'
            raise RuntimeError(msg)
        self._check_not_stopped()
        from ._store import LabelStore

        ready = threading.Event()
        failure = []

        def main():
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            self._loop = loop
            try:
                self._thread_store = LabelStore(self.store.path)
                self._listen()
            except Exception as exc:  # noqa: BLE001  (re-raised in the caller)
                failure.append(exc)
                ready.set()
                loop.close()
                return
            loop.call_soon(ready.set)
            try:
                loop.run_forever()
            finally:
                self._server.stop()
                loop.run_until_complete(self._server.close_all_connections())
                self._thread_store.close()
                self._thread_store = None
                loop.close()

        self._thread = threading.Thread(target=main, name='review-server', daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread = None
            raise failure[0]

    def _check_not_stopped(self):
        if self._stopped:
            msg = 'this ReviewApp was stopped (its port is closed); make a new one'
            raise RuntimeError(msg)
        self._stopped = True

    def stop(self):
        """Stop the background server started by `start` (no-op when not running)."""
        if self._thread is None:
            return
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._thread = None
        self._loop = None

    def warm_up(self):
        """
        Prepare what the page shows first: the starting queue's first candidate, rendered.

        Its stamps, composite, details and profile (and the comparison
        profile, and the modules they need) are computed and cached, so that
        the first page shows at once. `serve` calls it before it prints the
        address. Returns the row prepared (None for an empty queue).
        """
        rows = self.queue({}, reviewer=self.reviewer)['rows']
        if not rows:
            return None
        row = rows[0]
        self.renderer.details(row, blind=self.blind)
        self.renderer.profile(row)
        for band in self.renderer.bands:
            self.renderer.band_png(row, band)
        self.renderer.color_png(row)
        return row

    def run(self, *, on_start=None):
        """
        Serve in this thread until SIGINT (Ctrl-C) or SIGTERM; then stop cleanly.

        ``on_start`` is called once requests are accepted. Returns after
        the listening sockets and open connections are closed (the label
        database is left to the caller to close).
        """
        self._check_not_stopped()

        async def main():
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                try:
                    loop.add_signal_handler(sig, stop.set)
                except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                    pass
            self._listen()
            if on_start is not None:
                on_start(self)
            try:
                await stop.wait()
            finally:
                self._server.stop()
                await self._server.close_all_connections()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    try:
                        loop.remove_signal_handler(sig)
                    except (NotImplementedError, RuntimeError, ValueError):
                        pass

        asyncio.run(main())

    # -- what the API answers ---------------------------------------------

    def session(self):
        from ..classes import CLASS_NAMES, CLASSES, SUBCLASSES
        from ._queue import QUEUE_ORDERS
        from ._render import STRETCHES

        columns = [name for name in self.tbl.colnames
                   if name.startswith('class') and name not in _NOT_CLASSES
                   and self.tbl[name].ndim == 1 and self.tbl[name].dtype.kind in 'iuf']
        mags = [name for name in self.tbl.colnames if name.startswith('mag')]
        queue = {k: json_value(v) for k, v in self.queue_options.items() if k != 'region'}
        region = self.queue_options.get('region')
        if region is not None and not hasattr(region, 'contains'):
            queue['region'] = json_value(list(region))
        return {
            'n_rows': len(self.tbl), 'bands': list(self.renderer.bands),
            'reviewer': self.reviewer, 'blind': self.blind,
            'classes': {int(k): CLASS_NAMES[k] for k in CLASSES},
            'subclasses': dict(SUBCLASSES), 'orders': sorted(QUEUE_ORDERS),
            'stretches': list(STRETCHES), 'queue': queue,
            'class_columns': [] if self.blind else columns, 'mag_columns': mags,
            'machine_column': None if self.blind else self.machine_column,
            'db': str(self.store.path), 'catalog': self.store.info.get('catalog_path'),
        }

    def queue(self, options, *, reviewer):
        from ._queue import review_queue

        kwargs = dict(self.queue_options)
        kwargs.update(options)
        order = kwargs.pop('order', 'doubtful')
        if self.blind and order == 'disagreement':
            # The disagreement order shows which machine class differs.
            msg = "order 'disagreement' is not available in blind mode"
            raise ValueError(msg)
        if kwargs.get('region') is not None and self.images.wcs is not None:
            kwargs.setdefault('wcs', self.images.wcs)
        store = self.labels_store()
        rows = review_queue(self.tbl, order=order, store=store,
                            reviewer=reviewer if kwargs.get('unreviewed') else None,
                            **{k: v for k, v in kwargs.items() if v is not None})
        rows = [int(r) for r in np.asarray(rows)]
        mine = store.current(reviewer=reviewer)
        labels = {}
        for candidate, record in mine.items():
            row = self.row_of.get(candidate)
            if row is not None and record.get('label') is not None:
                labels[row] = _label_text(record)
        return {'order': order, 'rows': rows, 'n': len(rows), 'labels': labels,
                'reviewer': reviewer}

    def candidate(self, row, *, reviewer):
        store = self.labels_store()
        details = self.renderer.details(row, blind=self.blind)
        candidate = self.ids[row]
        history = [r for r in store.history(candidate=candidate)]
        records = store.current(candidates=[candidate]).get(candidate, [])
        mine = next((r for r in records if r['reviewer'] == reviewer), None)
        out = {'row': row, 'candidate': candidate, 'details': details,
               'label': mine, 'n_reviews': len(records)}
        if self.blind:
            out['history'] = [r for r in history if r['reviewer'] == reviewer]
            out['others'] = []
        else:
            out['history'] = history
            out['others'] = [r for r in records if r['reviewer'] != reviewer]
        return json_value(out)

    def agreement(self):
        from ._consensus import consensus, review_agreement

        store = self.labels_store()
        table = consensus(store)
        ties = int(np.sum(np.asarray(table['tie'], dtype=bool))) if len(table) else 0
        # Blind: no machine classes, not even through the agreement with them.
        machine = None if self.blind or self.machine_column is None else self.machine_column
        return json_value({'n_labelled': len(table), 'n_ties': ties,
                           'reviewers': store.reviewers(), 'n_rows': len(self.tbl),
                           'agreement': review_agreement(self.tbl, store,
                                                         machine_column=machine)})

    def export_ecsv(self):
        from ._export import export_labels

        table = export_labels(self.labels_store(), catalog=self.catalog)
        text = io.StringIO()
        table.write(text, format='ascii.ecsv')
        return text.getvalue()


def _label_text(record):
    return record.get('subclass') or str(record['label'])


def _login_name():
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001  (no login name in some containers)
        return 'reviewer'


def _check_token(expected, given):
    """Constant-time comparison of two tokens (False for a missing one)."""
    if not given:
        return False
    return hmac.compare_digest(expected.encode(), str(given).encode())


def serve(catalog, images, *, db, reviewer=None, blind=False, host='127.0.0.1', port=0,
          queue_options=None, catalog_path=None, image_paths=None, id_column='id',
          token=None, log=print, export_catalog=None, release_pages=True):
    """
    Serve the review application until Ctrl-C: what ``clusterclass review`` runs.

    Opens (or creates) the label database ``db`` for ``catalog``,
    prints the address with its token, serves until SIGINT or SIGTERM,
    then closes the server (and the database it opened) and prints where
    the labels are. Every label a page showed as saved is in the database.

    Parameters
    ----------
    catalog : `~astropy.table.Table`
        The candidates (0-based pixel ``x``/``y``).
    images : `~astro_clusterclass.BandImages` or sequence
        The five bands.
    db : str, path-like or `LabelStore`
        The label database (created when missing; one that belongs to
        another catalog is refused, `CatalogMismatchError`), or a store
        already open (left open).
    reviewer, blind, host, port, queue_options, token
        As for `ReviewApp`.
    catalog_path, image_paths, id_column : optional
        Recorded in a new database (so that the labels can be exported
        against the catalog later), as for `LabelStore`.
    log : callable, optional
        Where the address and the closing message go.
    export_catalog : `~astropy.table.Table`, optional
        The catalog as the database records it (``ReviewApp``'s
        ``catalog``); default ``catalog``.
    release_pages : bool, optional
        Return the pages of the memory-mapped image files to the operating
        system after each stamp (`StampRenderer`), so that the server's
        memory stays flat however many candidates are viewed. The server
        never writes to the images; pass False only for images modified in
        memory and not on disk.

    Returns
    -------
    summary : dict
        ``url``, ``db``, ``n_labels`` (history rows) and ``reviewers`` at
        the end.
    """
    from ..images import load_images
    from ._store import LabelStore

    images = load_images(images)
    opened = not isinstance(db, LabelStore)
    store = (LabelStore(db, catalog=catalog, images=images, catalog_path=catalog_path,
                        image_paths=image_paths, id_column=id_column) if opened else db)
    try:
        from ._render import StampRenderer
        renderer = StampRenderer(images, catalog, release_pages=bool(release_pages))
        app = ReviewApp(catalog, images, store, reviewer=reviewer, blind=blind, token=token,
                        host=host, port=port, queue_options=queue_options, renderer=renderer,
                        catalog=export_catalog)

        app.warm_up()

        def started(app):
            log(f'reviewing {len(catalog)} candidates (labels in {store.path}); open\n'
                f'    {app.url}\npress Ctrl-C to stop')

        app.run(on_start=started)
        n_labels = len(store.history())
        reviewers = store.reviewers()
    finally:
        if opened:
            store.close()
    log(f'stopped; {n_labels} label(s) by {len(reviewers)} reviewer(s) are in {store.path}')
    return {'url': app.url, 'db': str(store.path), 'n_labels': n_labels,
            'reviewers': reviewers}


class _Refused(Exception):
    """A request refused with ``status`` and a one-line reason (sent as JSON)."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status
        self.message = message


_TRUE = ('1', 'true', 'yes', 'on')
_FALSE = ('', '0', 'false', 'no', 'off')


def _flag(value, parameter):
    text = value.strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    msg = f'{parameter} must be true or false, got {value!r}'
    raise ValueError(msg)


def _numbers(value, parameter, n, kind=float):
    parts = [p.strip() for p in value.split(',')]
    if len(parts) != n:
        msg = f'{parameter} must be {n} comma-separated numbers, got {value!r}'
        raise ValueError(msg)
    out = []
    for p in parts:
        try:
            number = kind(p) if p else None
        except ValueError:
            msg = f'{parameter} must be {n} comma-separated numbers, got {value!r}'
            raise ValueError(msg) from None
        if number is not None and not math.isfinite(number):
            msg = f'{parameter} must be finite numbers, got {value!r}'
            raise ValueError(msg)
        out.append(number)
    return tuple(out)


def _queue_options(arguments):
    """The queue keywords from the query of GET /api/queue (strings checked and converted)."""
    out = {}
    for name, value in arguments.items():
        if name in ('token', 'reviewer', '_'):
            continue
        if name not in QUEUE_PARAMETERS:
            msg = f'unknown queue parameter {name!r}; known: {list(QUEUE_PARAMETERS)}'
            raise ValueError(msg)
        if value.strip() == '' and name != 'unreviewed':
            continue
        if name == 'columns':
            cols = tuple(c.strip() for c in value.split(','))
            if len(cols) != 2 or not all(cols):
                msg = f'columns must be two comma-separated column names, got {value!r}'
                raise ValueError(msg)
            out[name] = cols
        elif name == 'seed':
            out[name] = _numbers(value, name, 1, int)[0]
        elif name == 'only_class':
            out[name] = _numbers(value, name, 1, int)[0]
        elif name == 'unreviewed':
            out[name] = _flag(value, name)
        elif name == 'mag_range':
            out[name] = _numbers(value, name, 2)
        elif name == 'region':
            box = _numbers(value, name, 4)
            if any(v is None for v in box):
                msg = f'region must be four numbers xmin,xmax,ymin,ymax, got {value!r}'
                raise ValueError(msg)
            out[name] = box
        else:
            out[name] = value.strip()
    return out


def _check_reviewer(value):
    if not isinstance(value, str):
        msg = f'reviewer must be a name, got {value!r}'
        raise ValueError(msg)
    name = value.strip()
    if not name or len(name) > 64:
        msg = 'reviewer must be a name of 1-64 characters'
        raise ValueError(msg)
    return name


_HANDLERS = {}


def _handlers():
    """The Tornado handler classes (made once, so that tornado is imported only when serving)."""
    if _HANDLERS:
        return _HANDLERS['ns']

    import types

    import tornado.web

    from ..classes import CLASSES, SUBCLASSES

    csp = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
           "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")

    class Base(tornado.web.RequestHandler):
        """Every request: the Host, the token and, for writes, the origin and content type."""

        @property
        def app(self):
            return self.settings['app']

        def set_default_headers(self):
            self.set_header('X-Content-Type-Options', 'nosniff')
            self.set_header('X-Frame-Options', 'DENY')
            self.set_header('Referrer-Policy', 'no-referrer')
            self.set_header('Content-Security-Policy', csp)
            self.set_header('Cache-Control', 'no-store')

        def refuse(self, status, message):
            self.clear()
            self.set_status(status)
            if status == 401:
                self.set_header('WWW-Authenticate', 'token')
            self.set_header('Content-Type', 'application/json; charset=UTF-8')
            self.finish(json.dumps({'error': message, 'status': status}))

        def _call(self, function, *args):
            try:
                function(*args)
            except _Refused as exc:
                self.refuse(exc.status, exc.message)

        def given_token(self):
            header = self.request.headers.get('Authorization', '')
            scheme, _, value = header.partition(' ')
            if scheme.lower() in ('token', 'bearer') and value.strip():
                return value.strip(), 'header'
            query = self.get_query_argument('token', None)
            if query:
                return query, 'query'
            cookie = self.get_cookie(self.app.cookie_name)
            if cookie:
                return cookie, 'cookie'
            return None, None

        def prepare(self):
            self._call(self._check_request)

        def _check_request(self):
            allowed = self.app.allowed_hosts()
            host = self.request.headers.get('Host', '')
            if allowed is not None and host not in allowed:
                raise _Refused(403, f'host {host!r} is not this server')
            token, where = self.given_token()
            if token is None:
                raise _Refused(401, 'this server needs its access token (open the address '
                                    'it printed, with ?token=...)')
            if not _check_token(self.app.token, token):
                raise _Refused(401, 'wrong access token')
            self.token_source = where
            if self.request.method not in ('GET', 'HEAD'):
                self._check_write()

        def _check_write(self):
            headers = self.request.headers
            origin = headers.get('Origin')
            if origin is not None and origin != f'http://{headers.get("Host", "")}':
                raise _Refused(403, f'cross-origin request from {origin!r} refused')
            site = headers.get('Sec-Fetch-Site')
            if site is not None and site not in ('same-origin', 'none'):
                raise _Refused(403, f'cross-site request ({site}) refused')
            kind = headers.get('Content-Type', '').split(';')[0].strip().lower()
            if kind != 'application/json':
                # A form of another site cannot send JSON without a CORS
                # preflight, which this server never grants.
                raise _Refused(415, 'writes must be JSON (Content-Type: application/json)')

        def write_error(self, status_code, **kwargs):
            message = self._reason
            if 'exc_info' in kwargs:
                exc = kwargs['exc_info'][1]
                if isinstance(exc, tornado.web.HTTPError) and exc.log_message:
                    message = exc.log_message
            self.set_header('Content-Type', 'application/json; charset=UTF-8')
            self.finish(json.dumps({'error': message, 'status': status_code}))

        def send_json(self, value, status=200):
            self.set_status(status)
            self.set_header('Content-Type', 'application/json; charset=UTF-8')
            self.finish(json.dumps(json_value(value), allow_nan=False))

        def row_argument(self, text):
            try:
                return self.app.check_row(text)
            except ValueError as exc:
                raise _Refused(404, str(exc)) from None

        def reviewer_argument(self):
            try:
                return _check_reviewer(self.get_query_argument('reviewer', self.app.reviewer))
            except ValueError as exc:
                raise _Refused(400, str(exc)) from None

        def json_body(self, allowed):
            try:
                body = json.loads(self.request.body.decode('utf-8') or 'null')
            except (UnicodeDecodeError, ValueError):
                raise _Refused(400, 'the body is not valid JSON') from None
            if not isinstance(body, dict):
                raise _Refused(400, 'the body must be a JSON object')
            unknown = sorted(set(body) - set(allowed))
            if unknown:
                raise _Refused(400, f'unknown fields {unknown}; known: {sorted(allowed)}')
            return body

    class NotFound(Base):
        def prepare(self):
            super().prepare()
            if not self._finished:
                self.refuse(404, 'not found')

    class Page(Base):
        def get(self):
            if self.token_source == 'query':
                # Images and API calls of the page then authenticate by cookie.
                self.set_cookie(self.app.cookie_name, self.app.token, httponly=True,
                                samesite='Strict', path='/')
            self.set_header('Content-Type', 'text/html; charset=UTF-8')
            self.finish((STATIC_DIR / 'index.html').read_bytes())

    class Static(Base, tornado.web.StaticFileHandler):
        def set_default_headers(self):
            Base.set_default_headers(self)
            self.set_header('Cache-Control', 'no-cache')

        @classmethod
        def get_absolute_path(cls, root, path):
            try:
                return super().get_absolute_path(root, path)
            except tornado.web.HTTPError:  # outside the static folder
                raise tornado.web.HTTPError(404, 'not found') from None

        def validate_absolute_path(self, root, absolute_path):
            # Outside the static folder, or not a file: 404, never the file.
            root = str(Path(root).resolve())
            path = Path(absolute_path).resolve()
            if not str(path).startswith(root + '/') or not path.is_file():
                raise tornado.web.HTTPError(404, 'not found')
            return super().validate_absolute_path(root, str(path))

    class Session(Base):
        def get(self):
            self.send_json(self.app.session())

    class Queue(Base):
        def get(self):
            self._call(self._get)

        def _get(self):
            reviewer = self.reviewer_argument()
            arguments = {k: self.get_query_argument(k) for k in self.request.query_arguments}
            try:
                options = _queue_options(arguments)
                if self.app.blind and ('only_class' in options or 'class_column' in options):
                    msg = 'the class filter is not available in blind mode'
                    raise ValueError(msg)
                result = self.app.queue(options, reviewer=reviewer)
            except (ValueError, KeyError, TypeError) as exc:
                raise _Refused(400, _one_line(exc)) from None
            self.send_json(result)

    class Candidate(Base):
        def get(self, row):
            self._call(self._get, row)

        def _get(self, row):
            row = self.row_argument(row)
            self.send_json(self.app.candidate(row, reviewer=self.reviewer_argument()))

    class Profile(Base):
        def get(self, row):
            self._call(self._get, row)

        def _get(self, row):
            self.send_json(self.app.renderer.profile(self.row_argument(row)))

    class Stamp(Base):
        def get(self, row, band):
            self._call(self._get, row, band)

        def _get(self, row, band):
            from ._render import STRETCHES

            row = self.row_argument(row)
            if band != 'color' and band not in self.app.renderer.bands:
                raise _Refused(404, f'no band {band!r}; bands: {list(self.app.renderer.bands)}')
            stretch = self.get_query_argument('stretch', 'asinh')
            if stretch not in STRETCHES:
                raise _Refused(400, f'stretch must be one of {list(STRETCHES)}, '
                                    f'got {stretch!r}')
            try:
                if band == 'color':
                    data = self.app.renderer.color_png(row, stretch=stretch)
                else:
                    data = self.app.renderer.band_png(row, band, stretch=stretch)
            except (ValueError, IndexError) as exc:
                raise _Refused(400, _one_line(exc)) from None
            self.set_header('Content-Type', 'image/png')
            # The same row, band and stretch always give the same picture.
            self.set_header('Cache-Control', 'private, max-age=86400')
            self.finish(data)

    class Agreement(Base):
        def get(self):
            self.send_json(self.app.agreement())

    class Export(Base):
        def get(self):
            self.set_header('Content-Type', 'text/plain; charset=UTF-8')
            name = Path(str(self.app.store.path)).stem + '_labelled.ecsv'
            self.set_header('Content-Disposition', f'attachment; filename="{name}"')
            self.finish(self.app.export_ecsv())

    class Label(Base):
        def post(self):
            self._call(self._post)

        def _post(self):
            body = self.json_body(('row', 'label', 'subclass', 'comment', 'reviewer'))
            try:
                row = body.get('row')
                if isinstance(row, bool) or not isinstance(row, int):
                    msg = f'row must be an integer row number, got {row!r}'
                    raise ValueError(msg)
                row = self.app.check_row(row)
                label = body.get('label')
                if isinstance(label, bool) or not isinstance(label, int) or label not in CLASSES:
                    msg = f'label must be one of the classes {list(CLASSES)}, got {label!r}'
                    raise ValueError(msg)
                subclass = body.get('subclass')
                if subclass is not None and (not isinstance(subclass, str)
                                             or subclass not in SUBCLASSES):
                    msg = f'subclass must be one of {list(SUBCLASSES)} or null, got {subclass!r}'
                    raise ValueError(msg)
                if subclass is not None and label != 4:
                    msg = f'subclass {subclass} is only for label 4, got label {label}'
                    raise ValueError(msg)
                comment = body.get('comment') or ''
                if not isinstance(comment, str):
                    msg = 'comment must be a string'
                    raise ValueError(msg)
                reviewer = _check_reviewer(body.get('reviewer', self.app.reviewer))
                record = self.app.labels_store().add_label(
                    self.app.ids[row], reviewer=reviewer, label=label, subclass=subclass,
                    comment=comment)
            except (ValueError, TypeError) as exc:
                raise _Refused(400, _one_line(exc)) from None
            # Answered only now: the store committed the label.
            self.send_json({'row': row, 'label': record, 'saved': True})

    class Undo(Base):
        def post(self):
            self._call(self._post)

        def _post(self):
            body = self.json_body(('row', 'reviewer'))
            try:
                reviewer = _check_reviewer(body.get('reviewer', self.app.reviewer))
                candidate = None
                row = body.get('row')
                if row is not None:
                    if isinstance(row, bool) or not isinstance(row, int):
                        msg = f'row must be an integer row number, got {row!r}'
                        raise ValueError(msg)
                    candidate = self.app.ids[self.app.check_row(row)]
                record = self.app.labels_store().undo(reviewer=reviewer, candidate=candidate)
            except (ValueError, TypeError) as exc:
                raise _Refused(400, _one_line(exc)) from None
            row = None if record is None else self.app.row_of.get(record['candidate'])
            self.send_json({'row': row, 'label': record, 'undone': record is not None})

    ns = types.SimpleNamespace(**{c.__name__: c for c in (
        NotFound, Page, Static, Session, Queue, Candidate, Profile, Stamp, Agreement, Export,
        Label, Undo)})
    _HANDLERS['ns'] = ns
    return ns


def _one_line(exc):
    text = ' '.join(str(exc).split()) or type(exc).__name__
    return text.strip('\'"') if isinstance(exc, KeyError) else text
