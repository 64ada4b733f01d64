"""
Access to ``dask.distributed``, an optional dependency imported only when used.

The rest of the package (`~astro_clusterclass.classify.classify_table`
included) never imports Dask.
"""

import contextlib

from .._utils.validation import positive_int

__all__ = ['import_distributed', 'resolve_client', 'dask_client']

#: How to install the optional dependency (quoted in error messages).
INSTALL_HINT = ("pip install 'astro_clusterclass[dask]' (or pip install "
                "'dask[distributed]')")


def import_distributed():
    """
    The ``distributed`` module.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed; the message names the extra.
    """
    try:
        import distributed
    except ImportError as exc:
        msg = (f'classifying with Dask needs dask.distributed, an optional dependency '
               f'that is not installed: {INSTALL_HINT}')
        raise ImportError(msg) from exc
    return distributed


def resolve_client(client):
    """
    The `distributed.Client` to use: ``client``, or the current one when `None`.

    Raises
    ------
    ValueError
        If ``client`` is None and no client is running.
    TypeError
        If ``client`` is not a `distributed.Client`.
    """
    distributed = import_distributed()
    if client is None:
        try:
            return distributed.get_client()
        except ValueError as exc:
            msg = ('client=None but no Dask client is running; pass client=distributed.Client'
                   '(...) (a LocalCluster or the address of a scheduler)')
            raise ValueError(msg) from exc
    if not isinstance(client, distributed.Client):
        msg = f'client must be a distributed.Client, got {type(client).__name__}'
        raise TypeError(msg)
    return client


@contextlib.contextmanager
def dask_client(*, n_workers=None, scheduler=None):
    """
    A Dask client on a new local cluster or on a running scheduler (a context manager).

    Parameters
    ----------
    n_workers : int, optional
        Start a local cluster of this many single-threaded worker
        processes (torch runs one thread in each), without a dashboard.
    scheduler : str, optional
        Address of a running scheduler (``tcp://host:8786``) instead.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed (the message names the extra).
    ValueError
        Unless exactly one of ``n_workers`` and ``scheduler`` is given.

    Examples
    --------
    >>> from astro_clusterclass.distributed import dask_client
    >>> with dask_client(n_workers=1) as client:              # doctest: +SKIP
    ...     print(len(client.scheduler_info()['workers']))
    1
    """
    if (n_workers is None) == (scheduler is None):
        msg = 'give exactly one of n_workers (a local cluster) and scheduler (an address)'
        raise ValueError(msg)
    distributed = import_distributed()
    cluster = None
    if n_workers is not None:
        n_workers = positive_int(n_workers, 'n_workers')
        cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1,
                                           processes=True, dashboard_address=None)
    with (cluster or contextlib.nullcontext()), \
            distributed.Client(cluster or scheduler) as client:
        yield client
