"""Classify star-cluster candidates in five-band HST images with CNN ensembles."""

try:
    from ._version import __version__  # written by setuptools_scm at install time
except ImportError:  # a source tree that was never installed
    __version__ = ''

#: The top-level shortcuts and the module that defines each. They are
#: imported on first use (PEP 562), so that ``import astro_clusterclass``
#: and the command line's ``--help`` load neither astropy's coordinates nor
#: torch until a shortcut needs them.
_SHORTCUTS = {
    'BANDS': 'bands',
    'BandImages': 'images', 'load_images': 'images',
    'CutoutFlag': 'cutouts', 'Cutouts': 'cutouts', 'make_cutouts': 'cutouts',
    'iter_cutouts': 'cutouts',
    'write_cutout_fits': 'io', 'read_cutout_fits': 'io', 'read_legus': 'io',
    'write_ds9_regions': 'ds9',
    'classify_table': 'classify',
    'train_model': 'training', 'train_ensemble': 'training', 'evaluate': 'training',
    'run_pipeline': 'pipeline',
    **dict.fromkeys(('CLASSES', 'CLASS_NAMES', 'CLASS_COLORS', 'NOT_INSPECTED',
                     'CLUSTER_CLASSES', 'SUBCLASSES', 'validate_classes', 'merge_1_2',
                     'is_cluster', 'phangs_to_legus', 'class_label'), 'classes'),
}

__all__ = ['__version__', *_SHORTCUTS]


def __getattr__(name):
    if name in _SHORTCUTS:
        import importlib
        value = getattr(importlib.import_module(f'.{_SHORTCUTS[name]}', __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    msg = f'module {__name__!r} has no attribute {name!r}'
    raise AttributeError(msg)


def __dir__():
    return sorted(set(globals()) | set(_SHORTCUTS))
