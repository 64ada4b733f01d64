"""Private helpers shared by the plotting functions."""

__all__ = ['new_axes', 'new_figure']


def new_figure(**kwargs):
    """A new pyplot figure (imported lazily so that importing the package needs no backend)."""
    import matplotlib.pyplot as plt
    return plt.figure(**kwargs)


def new_axes(ax=None, **kwargs):
    """``ax`` itself, or the axes of a new figure."""
    if ax is not None:
        return ax
    return new_figure(**kwargs).add_subplot()
