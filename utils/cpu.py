"""CPU memory settings for long runs of large, short-lived tensors."""

import ctypes
import ctypes.util
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_MMAP_THRESHOLD_MAX = 32 * 2 ** 20  # glibc's ceiling on 64-bit systems
_TRIM_THRESHOLD = 2 ** 30

_done = []


def keep_freed_memory():
    """Let glibc reuse freed blocks up to 32 MiB instead of returning them to the system.

    Forward-mode Jacobians allocate and free feature maps of a few MiB to a few
    tens of MiB thousands of times per sample. By default glibc serves each from
    fresh `mmap`ed pages and unmaps it on free, so every allocation pays page
    faults and zero-filling: up to half of the run time on a small CPU, and
    erratic from run to run. With blocks up to 32 MiB served from the heap, and
    up to 1 GiB of free heap kept, the same work runs about twice as fast. The
    cost is that the process keeps that memory until it exits.

    Returns:
        Whether the setting took effect (False off glibc; safe to call anywhere, any number of times).
    """
    if _done:
        return _done[0]
    ok = False
    if sys.platform.startswith('linux'):
        try:
            libc = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6')
            mallopt = libc.mallopt
            mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            ok = bool(mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)) and bool(
                mallopt(_M_TRIM_THRESHOLD, _TRIM_THRESHOLD))
        except (OSError, AttributeError):
            ok = False
    _done.append(ok)
    return ok
