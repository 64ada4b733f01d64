"""
Access to ``dask.distributed``, an optional dependency imported only when used.

The rest of the package (`~astro_clusterclass.classify.classify_table`
included) never imports Dask.
"""

__all__ = ['import_distributed', 'resolve_client']

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
