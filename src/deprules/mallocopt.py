"""glibc's malloc told to keep freed memory, for the column arrays of a what-if or a store batch.

A cycle of the vector back end allocates and frees arrays of a few to a few tens of MB by
the thousand. glibc's defaults hand such memory back to the kernel on free (a chunk above
the mmap threshold is unmapped; an arena's free top above the trim threshold is trimmed),
and the next array of that size is faulted in again page by page. On a Dask worker, whose
tasks run in a thread and so in a thread arena, that was most of the system time: at
1,000,000 accounts on two workers the candidate cycle took 7.2 - 7.6 s of CPU against
3.5 - 4.0 s with freed memory kept, and the whole command 21.4 s of system time against
11.7 (docs/performance.md, "Freed memory kept").

:func:`keep_freed_memory` sets the mmap threshold to its largest allowed value (32 MiB on
64-bit glibc: larger chunks are still mapped and unmapped) and the trim threshold to
1 GiB, once per process, through ``mallopt``. It does nothing where there is no glibc, or
when the user tunes malloc already (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``
or ``GLIBC_TUNABLES`` set), except for the ``MALLOC_TRIM_THRESHOLD_=65536`` that a Dask
nanny gives every worker it starts by default (``distributed.nanny.pre-spawn-environ``:
memory handed back at once, which is what made the workers fault): a worker running
deprules' partitions keeps its freed memory too. The process keeps up to that much freed
memory for reuse, so it is used by the commands and workers that run simulations and by
``run`` on the vector back end (a first cycle over a million accounts: 16.6 s of system time
against 25.2, docs/performance.md), not by a long-lived server.
"""

from __future__ import annotations

import functools
import os

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc refuses more (HEAP_MAX_SIZE / 2 on 64-bit)
TRIM_THRESHOLD = 1024 * 1024 * 1024
USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")
DASK_NANNY_DEFAULT = ("MALLOC_TRIM_THRESHOLD_", "65536")


@functools.cache
def keep_freed_memory() -> bool:
    """Whether this process's malloc now keeps freed memory (set once; see the module)."""
    if any(os.environ.get(name) and (name, os.environ[name]) != DASK_NANNY_DEFAULT
           for name in USER_SETTINGS):
        return False
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to tune
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) and
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
