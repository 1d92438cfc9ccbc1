"""The one parser of index lists: '4,5,6,7', '4-7', '0-1,8', 'all'."""

import re

__all__ = ['MAX_INDEX', 'parse_indices', 'format_indices']

_PART = re.compile(r'(\d+)(?:-(\d+))?')

# No model has this many layers and no label map this many labels; it keeps '0-10^12' from filling the memory.
MAX_INDEX = 65535


def parse_indices(text, allow_all=True):
    """Parse an index list into sorted distinct non-negative ints.

    Args:
        text: '4,5,6,7', a range '4-7', a mix '0-1,8', or 'all'; a sequence of
            ints is accepted as it is.
        allow_all: whether 'all' is accepted (it gives None).

    Returns:
        Sorted list of ints, or None for 'all'.

    Raises:
        ValueError: one line saying which part is wrong.
    """
    if isinstance(text, (list, tuple, range)):
        try:
            values = sorted({int(v) for v in text})
        except (TypeError, ValueError):
            raise ValueError(f'{list(text)!r} is not a list of indices') from None
        if not values or values[0] < 0 or values[-1] > MAX_INDEX:
            raise ValueError(f'{list(text)!r} is not a non-empty list of indices in 0..{MAX_INDEX}')
        return values
    cleaned = str(text).replace(' ', '').lower()
    if cleaned == 'all':
        if not allow_all:
            raise ValueError("'all' is not allowed here; give indices like 4,5 or a range like 2-5")
        return None
    if not cleaned:
        raise ValueError('no indices given; use an index, a range like 2-5, a list like 2-5,8'
                         + (', or all' if allow_all else ''))
    values = set()
    for part in cleaned.split(','):
        match = _PART.fullmatch(part)
        if not match:
            raise ValueError(f'{part!r} in {text!r} is not an index or a range like 2-5')
        lo = int(match.group(1))
        hi = int(match.group(2)) if match.group(2) is not None else lo
        if lo > hi:
            raise ValueError(f'{part!r} in {text!r} is an empty range')
        if hi > MAX_INDEX:
            raise ValueError(f'{hi} in {text!r} is too large (indices go up to {MAX_INDEX})')
        values.update(range(lo, hi + 1))
    return sorted(values)


def format_indices(indices):
    """The short form of an index list: [4, 5, 6, 7, 9] -> '4-7,9'; None -> 'all'."""
    if indices is None:
        return 'all'
    indices = sorted(indices)
    parts, start = [], None
    for position, index in enumerate(indices):
        if start is None:
            start = index
        if position + 1 == len(indices) or indices[position + 1] != index + 1:
            parts.append(str(start) if start == index else f'{start}-{index}')
            start = None
    return ','.join(parts)
