"""Regions of interest for ReSeFa: named boxes per dataset, boxes, masks.

Boxes follow the ReSeFa reference: `[center_x, center_y, height, width]`, where `x` is the ROW index (first array axis):
`top, left = center_x - height // 2, center_y - width // 2`. The named boxes are the reference's, on the 256-pixel grid
its Jacobians use; for another Jacobian resolution each number is scaled by `size / 256` and rounded half up (at least
1), which the reference never does. A region must leave both a foreground and a background.
"""

import difflib

import numpy as np

BOX_RESOLUTION = 256  # the grid of the named boxes

# [center_x (row), center_y (column), height, width] on the 256x256 grid; the FFHQ boxes also suit MetFaces.
BOXES = {
    'ffhq': {
        'left_eye': (120, 95, 20, 38),
        'right_eye': (120, 159, 20, 38),
        'eyes': (120, 128, 20, 115),
        'nose': (142, 131, 40, 46),
        'mouth': (184, 127, 30, 70),
        'chin': (217, 130, 42, 110),
        'eyebrow': (126, 105, 15, 118),
    },
    'ffhqu': {  # FFHQ-U (unaligned), per translation/rotation setting
        'eyesr2': (134, 116, 30, 115),
        'eyesr3': (64, 128, 26, 115),
        'eyest0': (70, 88, 30, 115),
        'eyest3': (108, 142, 26, 115),
    },
    'biggan': {
        'center0': (120, 120, 80, 80),
        'center1': (120, 120, 130, 130),
        'center2': (120, 120, 200, 200),
        'left_side': (128, 64, 256, 128),
        'top_side': (64, 128, 128, 256),
        'head0': (89, 115, 49, 70),
        'head1': (93, 110, 48, 70),
    },
}
BOXES['faces64'] = BOXES['ffhq']  # the built-in model's cartoon faces are drawn inside the FFHQ boxes


def dataset_names():
    """Names of the datasets that have named boxes."""
    return sorted(BOXES)


def region_names(data_name):
    """Names of the boxes defined for `data_name` (one of `dataset_names()`)."""
    return sorted(BOXES[data_name])


def named_box(data_name, region_name):
    """The reference box `(center_x, center_y, height, width)` on the 256 grid; ValueError naming the known ones."""
    kind, name, known = ('dataset', data_name, BOXES) if data_name not in BOXES else \
        ('region', region_name, BOXES[data_name])
    if name not in known:
        close = difflib.get_close_matches(str(name), sorted(known), n=3)
        raise ValueError(f'unknown {kind} {name!r}' + (f' for dataset {data_name!r}' if kind == 'region' else '') +
                         f'; choose from {", ".join(sorted(known))}' +
                         (f'; did you mean {", ".join(map(repr, close))}?' if close else ''))
    return known[name]


def scale_box(box, size):
    """Scale a box from the 256 grid to a `size` grid (round half up, min 1)."""
    if size == BOX_RESOLUTION:
        return tuple(int(v) for v in box)
    return tuple(max(1, int(np.floor(v * size / BOX_RESOLUTION + 0.5))) for v in box)


def box_mask(box, size, clip=False):
    """Boolean mask [size, size] of a box in `size` pixel coordinates; ValueError outside the image, unless `clip`."""
    cx, cy, h, w = (int(v) for v in box)
    top, left = cx - h // 2, cy - w // 2
    if clip:
        h, w = min(h, size), min(w, size)
        top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)
    if top < 0 or left < 0 or top + h > size or left + w > size:
        raise ValueError(f'box {cx},{cy},{h},{w} spans rows {top}..{top + h - 1} and columns {left}..{left + w - 1}, '
                         f'outside the {size}x{size} image')
    mask = np.zeros([size, size], dtype=bool)
    mask[top:top + h, left:left + w] = True
    return mask


def check_mask(mask, what='region'):
    """`mask` [H, W], or ValueError when it is empty or covers the whole image (no background)."""
    count = int(np.count_nonzero(mask))
    if count in (0, mask.size):
        raise ValueError(f'{what} ' + ('is empty' if count == 0 else 'covers the whole image, which leaves no '
                                       'background') + f' on the {mask.shape[0]}x{mask.shape[1]} grid')
    return mask


def region_mask(data_name, region_name, size):
    """Boolean mask [size, size] of a named box, scaled from the 256 grid to `size`."""
    return box_mask(scale_box(named_box(data_name, region_name), size), size, clip=True)


def resize_nearest(mask, size):
    """Nearest-neighbour resize of a [H, W] array to [size, size], as the reference's `interpolate(mode='nearest')`."""
    rows = np.floor(np.arange(size) * (mask.shape[0] / size)).astype(np.int64)
    cols = np.floor(np.arange(size) * (mask.shape[1] / size)).astype(np.int64)
    return mask[rows][:, cols]
