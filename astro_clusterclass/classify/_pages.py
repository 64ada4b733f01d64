"""
Handing the pages of memory-mapped images back to the operating system.

FITS files are memory-mapped; every page a stamp touched would stay in the
process (and in its resident memory) until the end. Releasing them after
each chunk keeps the memory flat; the pages stay in the OS page cache, so
the next chunk re-reads them cheaply. Only maps of files the caller opened
itself are released (nobody else can have written to them).
"""

import mmap

__all__ = ['page_maps', 'release_pages', 'RELEASE_ABOVE']

#: Mapped image bytes above which pages are released after every chunk.
RELEASE_ABOVE = 256 * 2 ** 20


def _backing_mmap(array):
    """The `mmap.mmap` an array views, or None."""
    base = array
    while base is not None:
        if isinstance(base, mmap.mmap):
            return base
        base = getattr(base, 'base', None)
    return None


def page_maps(images):
    """
    The memory maps of ``images`` worth releasing after every chunk (may be empty).

    Only when the platform can release pages and the maps are large enough
    for their pages to matter.
    """
    if not hasattr(mmap, 'MADV_DONTNEED'):
        return []
    maps = [mm for mm in map(_backing_mmap, images.data) if mm is not None]
    return maps if sum(len(mm) for mm in maps) >= RELEASE_ABOVE else []


def release_pages(maps):
    """Drop the pages read so far from this process's memory."""
    for mm in maps:
        mm.madvise(mmap.MADV_DONTNEED)
