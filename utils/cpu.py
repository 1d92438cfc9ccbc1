"""CPU memory settings for long runs of large, short-lived tensors."""

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4  # mallopt parameters, as in glibc's malloc.h
_TRIM_THRESHOLD = 2 ** 30                # freed memory above this at the heap's top goes back to the system


@functools.cache
def keep_freed_memory():
    """Let glibc reuse freed blocks (the feature maps forward-mode Jacobians allocate thousands of times), all from
    its heap (no `mmap`), instead of fresh pages each time, slow to touch (in a VM most of all); whether it worked."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_MAX, 0)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
