"""CPU memory settings for long runs of large, short-lived tensors."""

import ctypes
import ctypes.util
import functools
import sys

_M_TRIM_THRESHOLD = -1              # mallopt parameters, as in glibc's malloc.h
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2 ** 20  # glibc's ceiling on 64-bit systems
_TRIM_THRESHOLD = 2 ** 30


@functools.cache
def keep_freed_memory():
    """Let glibc reuse freed blocks up to 32 MiB (the feature maps forward-mode Jacobians allocate thousands of times)
    instead of mapping fresh pages for each, which takes up to half the run time; whether it took effect."""
    if not sys.platform.startswith('linux'):
        return False
    try:
        mallopt = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6').mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    return bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
