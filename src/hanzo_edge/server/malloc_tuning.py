"""glibc malloc thresholds for a process that relays large bodies: keep freed body buffers instead of refaulting them.

Every read of a body makes a ``bytes`` of up to 256,000 bytes (uvloop's read size; TLS records decrypt into
pieces of that size too), httptools copies each body piece once more, and a response head written with the body
that arrived with it is one join. glibc serves allocations over its *mmap threshold* with a fresh ``mmap`` and gives
free memory at the top of the heap back with ``brk`` once more than the *trim threshold* is free. Its dynamic rule
lifts the mmap threshold only to the largest block freed so far (and the trim threshold to twice that), so a proxy
relaying 1 MiB responses keeps handing pages back to the kernel and faulting fresh zeroed ones in: measured in process
(``benchmarks/large_relay_micro.py``), 580 µs of CPU per 1 MiB response, against 75 µs with the thresholds below;
through real sockets (``benchmarks/syscalls_per_request.py --path /large.bin --mode cpu``) 800-1030 µs against
490-530 µs. nginx never meets this: it reuses fixed ``proxy_buffers``.

The thresholds: blocks up to 1 MiB come from the heap (so every body piece, join and TLS record does), and up to
4 MiB may stay free at the top of the heap. That is the memory a busy process would fault in again anyway; an idle
process holds at most 4 MiB more than it would have.

Set once per serving process (each ``--workers`` child runs this itself). A user who set glibc's own
``MALLOC_MMAP_THRESHOLD_`` or ``MALLOC_TRIM_THRESHOLD_``, or either threshold through ``GLIBC_TUNABLES``
(``glibc.malloc.mmap_threshold``, ``glibc.malloc.trim_threshold``: the current spelling of the same settings), keeps
their values; a libc without ``mallopt`` (musl, macOS) is left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

__all__ = ["MMAP_THRESHOLD", "TRIM_THRESHOLD", "tune_malloc"]

MMAP_THRESHOLD = 1 << 20
"""Allocations up to this size come from the heap, not from a fresh mmap."""
TRIM_THRESHOLD = 4 << 20
"""Free memory at the top of the heap kept before it goes back to the kernel."""

_M_TRIM_THRESHOLD = -1  # glibc's malloc.h parameter numbers
_M_MMAP_THRESHOLD = -3
_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
_USER_TUNABLES = ("glibc.malloc.mmap_threshold", "glibc.malloc.trim_threshold")


def _user_set_thresholds(env: Mapping[str, str]) -> bool:
    """True when the environment sets either threshold itself (legacy variables or ``GLIBC_TUNABLES``)."""
    if any(name in env for name in _USER_SETTINGS):
        return True
    # GLIBC_TUNABLES is "name=value:name=value"; glibc reads it at startup, before mallopt could override it.
    tunables = env.get("GLIBC_TUNABLES", "")
    return any(item.split("=", 1)[0].strip() in _USER_TUNABLES for item in tunables.split(":"))


def tune_malloc(env: Mapping[str, str] = os.environ) -> bool:
    """Set glibc's mmap and trim thresholds (see the module docstring). Returns True when they were set."""
    if not sys.platform.startswith("linux") or _user_set_thresholds(env):
        return False
    try:
        libc = ctypes.CDLL(None)  # the C library this interpreter is linked with
    except OSError:
        return False  # a static interpreter without dlopen: nothing to tune through
    if not hasattr(libc, "gnu_get_libc_version"):
        return False  # not glibc: its mallopt (if any) takes other parameters
    mallopt = libc.mallopt
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    # mallopt returns 1 on success. The mmap threshold goes first: setting either turns glibc's dynamic rule off.
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1)
