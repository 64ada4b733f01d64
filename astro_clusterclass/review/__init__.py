"""
Human classification: a review queue, a label store that loses nothing, consensus and export.

The library behind ``clusterclass review``. A person (or several) labels
candidates of a catalog by eye; every label goes into a SQLite database
(`LabelStore`: standard-library ``sqlite3`` in WAL mode, an append-only
history that the database itself refuses to change, each label committed
before it is acknowledged) that records which catalog and images it
belongs to and refuses another catalog (`CatalogMismatchError`).
`review_queue` orders the candidates (most doubtful first, disagreement
between two class columns, brightest first, random, catalog order) with
filters (unreviewed, one class, a magnitude range, a region);
`consensus` takes the mode of the reviewers' labels per candidate (ties
flagged) and `review_agreement` measures inter-reviewer and
human-versus-machine agreement with `astro_clusterclass.compare`;
`export_labels` returns the catalog with every row kept and the review
columns (:data:`REVIEW_EXPORT_COLUMNS`) added, ready for
``clusterclass train``.

Layout: ``_store`` (the database), ``_queue`` (review order and filters),
``_consensus`` (consensus and agreement), ``_export`` (the labelled
catalog), ``_render`` (stamps and profiles), ``_server`` (the web
application). Nothing here needs torch.
"""

from ._store import (MAX_COMMENT_LENGTH, MAX_REVIEWER_LENGTH, SCHEMA_VERSION,  # noqa: F401
                     CatalogMismatchError, LabelStore, catalog_fingerprint)
from ._queue import (DOUBTFUL_COLUMNS, MACHINE_CLASS_COLUMNS, MAGNITUDE_COLUMNS,  # noqa: F401
                     QUEUE_ORDERS, review_queue)
from ._consensus import CONSENSUS_COLUMNS, consensus, review_agreement  # noqa: F401
from ._export import REVIEW_EXPORT_COLUMNS, export_labels  # noqa: F401
from ._render import (COLOR_BANDS, NEIGHBOR_RADIUS, PROFILE_BAND, STRETCHES,  # noqa: F401
                      StampRenderer, machine_columns)
from ._server import STATIC_DIR, ReviewApp, serve  # noqa: F401

__all__ = ['LabelStore', 'CatalogMismatchError', 'catalog_fingerprint', 'SCHEMA_VERSION',
           'MAX_REVIEWER_LENGTH', 'MAX_COMMENT_LENGTH', 'review_queue', 'QUEUE_ORDERS',
           'DOUBTFUL_COLUMNS', 'MAGNITUDE_COLUMNS', 'MACHINE_CLASS_COLUMNS', 'consensus',
           'review_agreement', 'CONSENSUS_COLUMNS', 'export_labels', 'REVIEW_EXPORT_COLUMNS',
           'StampRenderer', 'STRETCHES', 'COLOR_BANDS', 'PROFILE_BAND', 'NEIGHBOR_RADIUS',
           'machine_columns', 'ReviewApp', 'serve', 'STATIC_DIR']
