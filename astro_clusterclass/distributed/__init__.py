"""
Classifying many catalogues, or one very large one, on a Dask cluster.

Needs ``dask.distributed`` (``pip install 'astro_clusterclass[dask]'``),
which is imported only when a function of this subpackage is called;
`~astro_clusterclass.classify.classify_table` never needs it.

Layout: ``_run`` is the client side (plan, submit, combine), ``_worker``
what runs on the workers (model cache, chunk task), ``_plan`` the chunking
and fingerprints, ``_store`` the files (manifest, chunk files, atomic
writes) and ``_dask`` the lazy import of Dask.
"""

from ._dask import dask_client  # noqa: F401
from ._run import classify_catalog_dask, classify_jobs  # noqa: F401

__all__ = ['classify_catalog_dask', 'classify_jobs', 'dask_client']
