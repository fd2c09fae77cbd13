"""Process-level tuning for serving attention maps.

A 512-token request holds a 75 MB attention array. glibc hands out such large blocks with mmap and
returns them to the OS on free, so every request pays first-touch page faults on fresh memory (measured
here: 121 ms for one new 75 MB array, more than the model's whole forward pass). Raising the mmap and
trim thresholds keeps freed blocks in the heap for the next request. The app calls this once at launch;
a library user can too. The cost: the process keeps its peak memory instead of shrinking after a request.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_applied = False


def keep_freed_memory(threshold_bytes: int = 1 << 30) -> bool:
    """Serve blocks up to ``threshold_bytes`` from the heap and keep freed memory (glibc only).

    Returns True when applied; elsewhere (macOS, Windows, musl) it does nothing and returns False.
    """
    global _applied
    if _applied:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(_M_MMAP_THRESHOLD, int(min(threshold_bytes, 2**31 - 1))) == 1
    ok = mallopt(_M_TRIM_THRESHOLD, int(2**31 - 1)) == 1 and ok
    _applied = ok
    return ok
