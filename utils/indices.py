"""Index lists: the one parser of them on the command line ('4,5,6,7', '4-7', '0-1,8', 'all'), and their short
form ([4, 5, 6, 7, 9] -> '4-7,9')."""

import re

import click

from .limits import MAX_INDEX


def format_indices(indices):
    """[4, 5, 6, 7, 9] -> '4-7,9'; None -> 'all'."""
    if indices is None:
        return 'all'
    parts, indices = [], sorted(indices)
    for position, index in enumerate(indices):
        if position == 0 or indices[position - 1] != index - 1:
            parts.append([index, index])
        parts[-1][1] = index
    return ','.join(str(a) if a == b else f'{a}-{b}' for a, b in parts)


class IndexList(click.ParamType):
    """A click type for index lists: '4,5,6,7', '0-3', '0-1,8', or 'all' (None, where `allow_all`)."""

    name = 'LIST'

    def __init__(self, allow_all=True):
        self.allow_all = allow_all

    def convert(self, value, param, ctx):
        if value is None or isinstance(value, list):
            return value
        text = str(value).replace(' ', '').lower()
        if text == 'all' and self.allow_all:
            return None
        indices = set()
        for part in text.split(','):
            match = re.fullmatch(r'(\d+)(?:-(\d+))?', part)
            low, high = (int(match[1]), int(match[2] or match[1])) if match else (1, 0)
            if not low <= high <= MAX_INDEX:
                where = '' if part == str(value) else f' in {value!r}'
                self.fail(f'{part!r}{where} is not an index from 0 to {MAX_INDEX} or a range like 2-5'
                          + (', nor all' if self.allow_all else ''), param, ctx)
            indices.update(range(low, high + 1))
        return sorted(indices)
