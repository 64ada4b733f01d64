"""LabelStore: durability, concurrency, append-only history, undo, input checks, catalogs."""

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from astropy.table import QTable, Table

from astro_clusterclass.conftest import simple_wcs
from astro_clusterclass.review import CatalogMismatchError, LabelStore, catalog_fingerprint
from astro_clusterclass.tables import pixel_positions


def make_catalog(n=40, seed=0):
    rng = np.random.default_rng(seed)
    return QTable({'id': np.arange(1000, 1000 + n), 'x': rng.uniform(0, 500, n),
                   'y': rng.uniform(0, 500, n), 'mag_F555W': rng.uniform(20, 25, n)})


@pytest.fixture
def catalog():
    return make_catalog()


@pytest.fixture
def store(tmp_path, catalog):
    with LabelStore(tmp_path / 'labels.sqlite', catalog=catalog,
                    catalog_path=tmp_path / 'cat.ecsv') as s:
        yield s


def run_child(code, *args):
    """Start a Python child process running ``code`` (with the package importable)."""
    return subprocess.Popen([sys.executable, '-c', textwrap.dedent(code), *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# -- the database file ---------------------------------------------------------------------

def test_creates_a_wal_database_that_records_its_catalog(tmp_path, catalog):
    path = tmp_path / 'labels.sqlite'
    with LabelStore(path, catalog=catalog, catalog_path='cat.ecsv',
                    images=['a.fits', 'b.fits']) as store:
        info = store.info
        synchronous = store._db.execute('PRAGMA synchronous').fetchone()[0]
        timeout = store._db.execute('PRAGMA busy_timeout').fetchone()[0]
    assert info['n_rows'] == 40 and info['id_column'] == 'id' and info['id_kind'] == 'int'
    assert info['catalog_path'] == os.path.abspath('cat.ecsv')
    assert info['image_paths'] == [os.path.abspath('a.fits'), os.path.abspath('b.fits')]
    assert info['fingerprint'] == catalog_fingerprint(catalog)
    assert info['schema_version'] == 1 and info['created'].endswith('+00:00')
    assert synchronous == 2  # FULL
    assert timeout == 30000
    raw = sqlite3.connect(path)
    assert raw.execute('PRAGMA journal_mode').fetchone()[0] == 'wal'  # persistent in the file
    assert raw.execute('SELECT COUNT(*) FROM candidates').fetchone()[0] == 40
    indexes = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert 'history_candidate_reviewer' in indexes
    plan = ' '.join(str(r) for r in raw.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM history WHERE candidate = '1' AND reviewer = 'a'"))
    assert 'history_candidate_reviewer' in plan
    raw.close()
    # Opened again without the catalog: the same record.
    with LabelStore(path) as store:
        assert store.info == info


def test_missing_file_without_catalog_and_foreign_files(tmp_path):
    with pytest.raises(FileNotFoundError, match='pass catalog= to create it'):
        LabelStore(tmp_path / 'none.sqlite')
    assert not (tmp_path / 'none.sqlite').exists()
    with pytest.raises(FileNotFoundError, match='folder'):
        LabelStore(tmp_path / 'no' / 'x.sqlite', catalog=make_catalog())
    text = tmp_path / 'notes.txt'
    text.write_text('not a database at all, just some text that is long enough\n' * 20)
    with pytest.raises(ValueError, match='is not a label database'):
        LabelStore(text)
    other = tmp_path / 'other.sqlite'
    con = sqlite3.connect(other)
    con.execute('CREATE TABLE things (a)')
    con.commit()
    con.close()
    with pytest.raises(ValueError, match=r"other tables \(\['things'\]\)"):
        LabelStore(other, catalog=make_catalog())
    with pytest.raises(TypeError, match='path must be a file name'):
        LabelStore(3)


@pytest.mark.parametrize('change', ['position', 'id', 'rows', 'order'])
def test_another_catalog_is_refused_naming_both(tmp_path, catalog, change):
    path = tmp_path / 'labels.sqlite'
    LabelStore(path, catalog=catalog, catalog_path=tmp_path / 'first.ecsv').close()
    other = catalog.copy()
    if change == 'position':
        other['x'][3] += 0.5
    elif change == 'id':
        other['id'][0] = 1
    elif change == 'rows':
        other = other[:-1]
    else:
        other = other[::-1]
    with pytest.raises(CatalogMismatchError, match='first.ecsv') as info:
        LabelStore(path, catalog=other, catalog_path=tmp_path / 'second.ecsv')
    message = str(info.value)
    assert 'second.ecsv' in message and f'{len(catalog)} rows' in message
    assert isinstance(info.value, ValueError)
    LabelStore(path, catalog=catalog).close()  # the right one still opens


def test_the_same_catalog_in_other_formats_matches(tmp_path, catalog):
    path = tmp_path / 'labels.sqlite'
    catalog.write(tmp_path / 'cat.ecsv')
    with LabelStore(path, catalog=str(tmp_path / 'cat.ecsv')) as store:
        assert store.info['catalog_path'] == str(tmp_path / 'cat.ecsv')
    Table.read(tmp_path / 'cat.ecsv').write(tmp_path / 'cat.fits')
    low = QTable(catalog, copy=True)
    low['x'] = low['x'].astype(np.float32)
    low['y'] = low['y'].astype(np.float32)
    low.write(tmp_path / 'cat.csv', format='ascii.csv')
    for name in ('cat.fits', 'cat.csv'):
        LabelStore(path, catalog=str(tmp_path / name)).close()
    # 1-based pixel columns, as SExtractor writes them, are the same positions.
    sextractor = QTable({'id': catalog['id'], 'X_IMAGE': catalog['x'] + 1,
                         'Y_IMAGE': catalog['y'] + 1})
    assert catalog_fingerprint(sextractor) == catalog_fingerprint(catalog)


def test_sky_positions_and_string_ids(tmp_path):
    tbl = QTable({'name': ['a', 'b', 'c'], 'ra': [150.0, 150.001, 150.002],
                  'dec': [2.0, 2.001, 2.002]})
    moved = tbl.copy()
    moved['dec'][1] += 1e-5
    assert (catalog_fingerprint(tbl, id_column='name')
            != catalog_fingerprint(moved, id_column='name'))
    with LabelStore(tmp_path / 'l.sqlite', catalog=tbl, id_column='name') as store:
        assert store.info['id_kind'] == 'str'
        store.add_label('b', reviewer='ann', label=3)
        assert list(store.current(reviewer='ann')) == ['b']
        with pytest.raises(ValueError, match="candidate 'z' is not an id"):
            store.add_label('z', reviewer='ann', label=3)
    with pytest.raises(ValueError, match="id_column: .*'name', not 'id'"):
        LabelStore(tmp_path / 'l.sqlite', catalog=tbl)


def test_pixel_positions_added_from_sky_positions_are_the_same_catalog(tmp_path):
    wcs = simple_wcs((200, 200))
    rng = np.random.default_rng(5)
    coords = wcs.pixel_to_world(rng.uniform(0, 199, 20), rng.uniform(0, 199, 20))
    sky = QTable({'id': np.arange(20), 'coord': coords})
    path = tmp_path / 'l.sqlite'
    LabelStore(path, catalog=sky).close()
    placed = sky.copy()                        # what the command line reviews: x/y added
    placed['x'], placed['y'] = pixel_positions(sky, wcs=wcs)
    with LabelStore(path, catalog=placed) as store:
        store.check_catalog(placed)
        moved = sky.copy()
        moved['coord'][4] = moved['coord'][5]
        with pytest.raises(CatalogMismatchError, match='the given table'):
            store.check_catalog(moved)
        shuffled = placed[::-1]
        with pytest.raises(CatalogMismatchError):
            store.check_catalog(shuffled)
        no_positions = QTable({'id': np.arange(20)})
        with pytest.raises(CatalogMismatchError):
            store.check_catalog(no_positions)
    # A catalog with both kinds: moving either kind makes another catalog.
    LabelStore(tmp_path / 'both.sqlite', catalog=placed).close()
    with LabelStore(tmp_path / 'both.sqlite') as store:
        store.check_catalog(placed['id', 'coord'])      # the sky positions alone agree
        store.check_catalog(placed['id', 'x', 'y'])     # and so do the pixels alone
        for name in ('x', 'coord'):
            shifted = placed.copy()
            shifted[name][0] = shifted[name][1]
            with pytest.raises(CatalogMismatchError):
                store.check_catalog(shifted)


@pytest.mark.parametrize('ids, match', [([1, 1, 2], 'unique ids; repeated: \\[\'1\'\\]'),
                                        ([1.5, 2.0, 3.0], 'integers or strings')])
def test_bad_id_columns(tmp_path, ids, match):
    tbl = QTable({'id': ids, 'x': [1.0, 2.0, 3.0], 'y': [1.0, 2.0, 3.0]})
    with pytest.raises(ValueError, match=f'id_column: .*{match}'):
        LabelStore(tmp_path / 'l.sqlite', catalog=tbl)
    assert not (tmp_path / 'l.sqlite').exists()  # refused before anything was written
    with pytest.raises(ValueError, match="id_column: 'ident' is not a column"):
        LabelStore(tmp_path / 'm.sqlite', catalog=tbl, id_column='ident')


# -- append-only history, enforced by the database ------------------------------------------

@pytest.mark.parametrize('statement', [
    "UPDATE history SET class = 2",
    "DELETE FROM history",
    "DELETE FROM history WHERE label_id = 1",
    "UPDATE metadata SET value = '\"other\"' WHERE key = 'fingerprint'",
    "DELETE FROM candidates",
    "INSERT INTO history (candidate, reviewer, class, time, action) "
    "VALUES ('1000', 'x', 7, 't', 'label')",
    "INSERT INTO history (candidate, reviewer, class, subclass, time, action) "
    "VALUES ('1000', 'x', 1, '4.2', 't', 'label')",
    "INSERT INTO history (candidate, reviewer, class, time, action) "
    "VALUES ('999999', 'x', 1, 't', 'label')",
])
def test_history_cannot_be_changed_through_sql(store, statement):
    store.add_label(1000, reviewer='ann', label=1)
    store.add_label(1001, reviewer='ann', label=2)
    raw = sqlite3.connect(store.path)
    raw.execute('PRAGMA foreign_keys = ON')
    with pytest.raises(sqlite3.IntegrityError):
        raw.execute(statement)
    raw.rollback()
    raw.close()
    assert [(r['candidate'], r['label']) for r in store.history()] == [(1000, 1), (1001, 2)]
    assert store.info['fingerprint'] == LabelStore(store.path).info['fingerprint']


def test_trigger_message_says_append_only(store):
    store.add_label(1000, reviewer='ann', label=1)
    raw = sqlite3.connect(store.path)
    with pytest.raises(sqlite3.IntegrityError, match='history is append-only'):
        raw.execute('UPDATE history SET comment = ? WHERE label_id = 1', ('x',))
    raw.close()


# -- labels, records and undo ---------------------------------------------------------------

def test_add_label_record_and_current(store):
    a = store.add_label(np.int64(1003), reviewer=' ann ', label=np.int32(4), subclass='4.2',
                        comment='a pair')
    assert a == {'label_id': 1, 'candidate': 1003, 'reviewer': 'ann', 'label': 4,
                 'subclass': '4.2', 'comment': 'a pair', 'time': a['time'],
                 'replaces': None, 'action': 'label'}
    assert a['time'].endswith('+00:00')
    b = store.add_label(1003, reviewer='ann', label=1)
    assert b['replaces'] == 1 and b['subclass'] is None and b['comment'] == ''
    store.add_label(1003, reviewer='bob', label=2, subclass='')
    store.add_label(1005, reviewer='bob', label=3)
    mine = store.current(reviewer='ann')
    assert list(mine) == [1003] and mine[1003]['label'] == 1
    everyone = store.current()
    assert sorted(everyone) == [1003, 1005]
    assert [(r['reviewer'], r['label']) for r in everyone[1003]] == [('ann', 1), ('bob', 2)]
    assert list(store.current(candidates=[1005])) == [1005]
    assert store.current(reviewer='bob', candidates=1003)[1003]['label'] == 2
    assert store.current(candidates=[]) == {}
    assert store.reviewers() == ['ann', 'bob']
    assert [r['label_id'] for r in store.history(candidate=1003)] == [1, 2, 3]
    assert [r['label_id'] for r in store.history(reviewer='bob')] == [3, 4]
    assert store.n_labels() == 4
    assert store.candidate_rows()[1005] == 5


def test_undo_restores_the_replaced_label_and_clears_the_first(store):
    first = store.add_label(1000, reviewer='ann', label=1, comment='round')
    store.add_label(1000, reviewer='ann', label=4, subclass='4.5')
    third = store.add_label(1000, reviewer='ann', label=2)
    store.add_label(1000, reviewer='bob', label=3)     # another reviewer is not undone
    undo = store.undo(reviewer='ann')
    assert undo['action'] == 'undo' and undo['replaces'] == third['label_id']
    assert (undo['label'], undo['subclass']) == (4, '4.5')
    assert store.current(reviewer='ann')[1000]['label'] == 4
    undo = store.undo(reviewer='ann')
    assert (undo['label'], undo['subclass'], undo['comment']) == (1, None, 'round')
    undo = store.undo(reviewer='ann')
    assert undo['label'] is None and undo['replaces'] == first['label_id']
    assert store.current(reviewer='ann') == {}
    assert [r['reviewer'] for r in store.current()[1000]] == ['bob']
    assert store.undo(reviewer='ann') is None
    assert store.undo(reviewer='nobody') is None
    # Nothing was changed: seven rows, the first three as they were written.
    history = store.history()
    assert [r['action'] for r in history] == ['label'] * 4 + ['undo'] * 3
    assert [r['label'] for r in history[:3]] == [1, 4, 2]
    # A label after a cleared one replaces nothing; after an undo it replaces the undo row.
    again = store.add_label(1000, reviewer='ann', label=3)
    assert again['replaces'] is None
    store.undo(reviewer='ann')
    assert 1000 not in store.current(reviewer='ann')


def test_undo_walks_back_across_candidates_and_by_candidate(store):
    store.add_label(1000, reviewer='ann', label=1)           # 1
    store.add_label(1001, reviewer='ann', label=2)           # 2
    store.add_label(1000, reviewer='ann', label=3)           # 3, replaces 1
    assert store.undo(reviewer='ann', candidate=1001)['replaces'] == 2
    assert 1001 not in store.current(reviewer='ann')
    assert store.current(reviewer='ann')[1000]['label'] == 3
    relabel = store.add_label(1000, reviewer='ann', label=4)  # replaces 3
    assert relabel['replaces'] == 3
    assert store.undo(reviewer='ann')['label'] == 3           # undoes the relabel
    assert store.undo(reviewer='ann')['label'] == 1           # undoes 3
    assert store.undo(reviewer='ann')['label'] is None        # undoes 1
    assert store.undo(reviewer='ann') is None
    assert store.undo(reviewer='ann', candidate=1002) is None


@pytest.mark.parametrize('kwargs, match', [
    (dict(label=0), 'label must be one of the classes'),
    (dict(label=5), 'label must be one of the classes'),
    (dict(label='1'), 'label must be one of the classes'),
    (dict(label=1.5), 'label must be one of the classes'),
    (dict(label=1.0), 'label must be one of the classes'),
    (dict(label=True), 'label must be one of the classes'),
    (dict(label=None), 'label must be one of the classes'),
    (dict(label=1, subclass='4.2'), "subclass '4.2' is a subclass of class 4, but label is 1"),
    (dict(label=4, subclass='4.13'), 'subclass must be one of'),
    (dict(label=4, subclass=4.1), 'subclass must be None or one of'),
    (dict(label=1, reviewer=''), 'reviewer must be a non-empty name'),
    (dict(label=1, reviewer='   '), 'reviewer must be a non-empty name'),
    (dict(label=1, reviewer=None), 'reviewer must be a name'),
    (dict(label=1, reviewer='x' * 65), 'reviewer must be at most 64'),
    (dict(label=1, reviewer='a\nb'), 'reviewer must not contain control'),
    (dict(label=1, reviewer='Smith, J.'), "reviewer must not contain ','"),
    (dict(label=1, comment='x' * 2001), 'comment must be at most 2000'),
    (dict(label=1, comment=3), 'comment must be a string'),
    (dict(label=1, candidate=999), 'candidate 999 is not an id of the catalog'),
    (dict(label=1, candidate='1000x'), "candidate '1000x' is not an id"),
    (dict(label=1, candidate=1000.0), 'candidate must be an id'),
    (dict(label=1, candidate=True), 'candidate must be an id'),
])
def test_bad_labels_are_refused_naming_the_parameter(store, kwargs, match):
    arguments = {'candidate': 1000, 'reviewer': 'ann', **kwargs}
    candidate = arguments.pop('candidate')
    with pytest.raises(ValueError, match=match):
        store.add_label(candidate, **arguments)
    assert store.n_labels() == 0


def test_string_of_an_integer_id_is_found(store):
    assert store.add_label('1000', reviewer='ann', label=1)['candidate'] == 1000


def test_a_closed_store_says_so(tmp_path, catalog):
    store = LabelStore(tmp_path / 'l.sqlite', catalog=catalog)
    store.close()
    store.close()
    with pytest.raises(ValueError, match='is closed'):
        store.add_label(1000, reviewer='ann', label=1)
    assert 'closed' in repr(store)


# -- durability and concurrency -------------------------------------------------------------

WRITER = """
    import os, sys, time
    from astro_clusterclass.review import LabelStore
    path, reviewer, n, go = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    store = LabelStore(path)
    print('ready', flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)
    for i in range(n):
        record = store.add_label(1000 + i % 40, reviewer=reviewer, label=1 + i % 4)
        print(record['label_id'], flush=True)
"""


def test_two_processes_writing_at_once_lose_nothing(tmp_path, catalog):
    path = tmp_path / 'labels.sqlite'
    LabelStore(path, catalog=catalog).close()
    go = tmp_path / 'go'
    n = 150
    children = [run_child(WRITER, path, name, n, go) for name in ('ann', 'bob', 'ann')]
    # Every writer has imported the package and opened the database before any writes
    # (imports take seconds on a loaded machine): then they write at once.
    for child in children:
        assert child.stdout.readline().strip() == 'ready', child.stderr.read()
    go.touch()
    acknowledged = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err
        acknowledged.append([int(v) for v in out.split()])
    assert [len(a) for a in acknowledged] == [n, n, n]
    everything = sorted(sum(acknowledged, []))
    assert everything == list(range(1, 3 * n + 1))          # no id lost nor given twice
    with LabelStore(path) as store:
        history = store.history()
        assert len(history) == 3 * n
        by_reviewer = {r: sum(1 for h in history if h['reviewer'] == r) for r in ('ann', 'bob')}
        assert by_reviewer == {'ann': 2 * n, 'bob': n}
        # The writes interleaved (they ran at once), and each replaces chain is consistent:
        # a label replaces the latest earlier label of the same candidate and reviewer.
        first_bob = min(h['label_id'] for h in history if h['reviewer'] == 'bob')
        last_ann = max(h['label_id'] for h in history if h['reviewer'] == 'ann')
        assert first_bob < last_ann
        latest = {}
        for h in history:
            key = (h['candidate'], h['reviewer'])
            assert h['replaces'] == latest.get(key)
            latest[key] = h['label_id']


KILLED = """
    import os, signal, sys
    from astro_clusterclass.review import LabelStore
    store = LabelStore(sys.argv[1])
    n = int(sys.argv[2])
    i = 0
    while True:
        record = store.add_label(1000 + i % 40, reviewer='ann', label=1 + i % 4,
                                 comment=f'label {i}')
        print(record['label_id'], record['label'], flush=True)
        i += 1
        if n and i == n:
            os.kill(os.getpid(), signal.SIGKILL)  # right after the acknowledgement
"""


@pytest.mark.parametrize('who', ['itself', 'parent'])
def test_a_killed_writer_keeps_every_acknowledged_label(tmp_path, catalog, who):
    path = tmp_path / 'labels.sqlite'
    LabelStore(path, catalog=catalog).close()
    child = run_child(KILLED, path, 25 if who == 'itself' else 0)
    acknowledged = []
    if who == 'parent':
        for line in child.stdout:
            acknowledged.append(line.split())
            if len(acknowledged) == 60:
                child.send_signal(signal.SIGKILL)
                break
    out, err = child.communicate(timeout=60)
    acknowledged += [line.split() for line in out.splitlines()]
    assert child.returncode == -signal.SIGKILL, err
    assert len(acknowledged) >= (25 if who == 'itself' else 60)
    # The kill left the write-ahead log behind; a new connection recovers from it.
    with LabelStore(path) as store:
        stored = {r['label_id']: r['label'] for r in store.history()}
        assert store._db.execute('PRAGMA integrity_check').fetchone()[0] == 'ok'
    for label_id, label in acknowledged:
        assert stored[int(label_id)] == int(label)
    assert len(stored) >= len(acknowledged)  # at most one unacknowledged label more
    assert len(stored) <= len(acknowledged) + 1
