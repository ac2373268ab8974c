"""Keeping the resident memory of a long-running gateway small on a Raspberry Pi.

glibc gives each thread that allocates its own malloc arena and keeps freed memory in it; with the API's worker
threads, OpenCV and the store's writer that cost about 15 MB of RSS in the simulated building (measured). Two
arenas and a lower trim threshold give the memory back. Same effect as MALLOC_ARENA_MAX=2 and
MALLOC_TRIM_THRESHOLD_=131072 in the environment, set here so that every way of starting the gateway has it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # from glibc's malloc.h
M_ARENA_MAX = -8


def tune_malloc(arenas: int = 2, trim_threshold: int = 128 * 1024) -> bool:
    """True when glibc took the settings (False elsewhere, e.g. musl: nothing to do there)."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_ARENA_MAX, arenas)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
    if not ok:
        log.debug("mallopt refused the arena and trim settings")
    return ok
