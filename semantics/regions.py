"""Regions of interest for ReSeFa: named boxes per dataset, user boxes, segmentation masks.

Boxes follow the ReSeFa reference convention `[center_x, center_y, height,
width]`, where `x` is the ROW index (first array axis) and `y` the column
index:

    top, left = center_x - height // 2, center_y - width // 2
    mask[top:top + height, left:left + width] = True

The named boxes are the reference's coordinate tables, given on the 256x256
grid that its Jacobians use (generators above 256 pixels are resized to 256
before differentiation). At 256 they are applied unchanged, as the reference
does. For another Jacobian resolution each of the four numbers is scaled by
`size / 256` and rounded half up (`floor(v * size / 256 + 0.5)`, at least 1);
the reference itself never rescales.

Every mask is checked: a region that is empty, covers the whole image, or
reaches outside the image raises `ValueError`.
"""

import difflib
import os

import numpy as np

from utils.fileio import load_npy
from utils.indices import parse_indices

# Resolution of the grid on which the named boxes are defined.
BOX_RESOLUTION = 256

# [center_x (row), center_y (column), height, width] on the 256x256 grid.
# The FFHQ boxes also suit MetFaces.
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


def _unknown(kind, name, allowed, where=''):
    """ValueError for an unknown name, listing the allowed set and close matches."""
    allowed = sorted(allowed)
    close = difflib.get_close_matches(str(name), allowed, n=3)
    hint = f'; did you mean {", ".join(repr(c) for c in close)}?' if close else ''
    return ValueError(f'unknown {kind} {name!r}{where}; choose from {", ".join(allowed)}{hint}')


def dataset_names():
    """Names of the datasets that have named boxes."""
    return sorted(BOXES)


def region_names(data_name):
    """Names of the boxes defined for `data_name`."""
    if data_name not in BOXES:
        raise _unknown('dataset', data_name, BOXES)
    return sorted(BOXES[data_name])


def named_box(data_name, region_name):
    """The reference box `(center_x, center_y, height, width)` on the 256 grid."""
    boxes = BOXES.get(data_name)
    if boxes is None:
        raise _unknown('dataset', data_name, BOXES)
    if region_name not in boxes:
        raise _unknown('region', region_name, boxes, where=f' for dataset {data_name!r}')
    return boxes[region_name]


def scale_box(box, size, box_resolution=BOX_RESOLUTION):
    """Scale a box from a `box_resolution` grid to a `size` grid (round half up, min 1)."""
    if size == box_resolution:
        return tuple(int(v) for v in box)
    factor = size / box_resolution
    return tuple(max(1, int(np.floor(v * factor + 0.5))) for v in box)


def parse_box(text):
    """Parse `'cx,cy,h,w'` (row centre, column centre, height, width) into four ints.

    Raises:
        ValueError: not four comma-separated integers, a negative centre, or a
            height/width below 1.
    """
    parts = [p.strip() for p in str(text).split(',')]
    if len(parts) != 4:
        raise ValueError(f'box {text!r} must be four comma-separated integers cx,cy,h,w, '
                         f'got {len(parts)} value(s)')
    try:
        cx, cy, h, w = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f'box {text!r} must be four comma-separated integers cx,cy,h,w') from None
    if cx < 0 or cy < 0:
        raise ValueError(f'box {text!r}: centre ({cx}, {cy}) must not be negative')
    if h < 1 or w < 1:
        raise ValueError(f'box {text!r}: height and width must be at least 1, got {h}x{w}')
    return cx, cy, h, w


def check_mask(mask, what='region'):
    """Raise ValueError when `mask` [H, W] is empty or covers the whole image."""
    count = int(np.count_nonzero(mask))
    if count == 0:
        raise ValueError(f'{what} is empty on the {mask.shape[0]}x{mask.shape[1]} grid')
    if count == mask.size:
        raise ValueError(f'{what} covers the whole {mask.shape[0]}x{mask.shape[1]} image, '
                         f'which leaves no background')
    return mask


def box_mask(box, size, what=None, clip=False):
    """Boolean mask [size, size] of a box given in `size` pixel coordinates.

    Args:
        clip: Move a box that crosses the image's edges back inside (a box inside the 256 grid may cross
            them once scaled, by rounding) instead of refusing it.

    Raises:
        ValueError: the box reaches outside the image (without `clip`), or is empty / the whole image.
    """
    cx, cy, h, w = (int(v) for v in box)
    what = what or f'box {cx},{cy},{h},{w}'
    if h < 1 or w < 1:
        raise ValueError(f'{what} is empty: height and width must be at least 1, got {h}x{w}')
    top, left = cx - h // 2, cy - w // 2
    if clip:  # rounding moved a box at the edge over it: move it back
        h, w = min(h, size), min(w, size)
        top, left = min(max(top, 0), size - h), min(max(left, 0), size - w)
    if top < 0 or left < 0 or top + h > size or left + w > size:
        raise ValueError(f'{what} spans rows {top}..{top + h - 1} and columns {left}..{left + w - 1}, '
                         f'outside the {size}x{size} image')
    mask = np.zeros([size, size], dtype=bool)
    mask[top:top + h, left:left + w] = True
    return check_mask(mask, what)


def region_mask(data_name, region_name, size):
    """Boolean mask [size, size] of a named box, scaled from the 256 grid to `size`."""
    box = scale_box(named_box(data_name, region_name), size)
    return box_mask(box, size, what=f'region {data_name}/{region_name} at {size}x{size}')


def parse_labels(text):
    """Parse segmentation labels: `'1,3,5'`, a range `'3-10'`, a mix (`'1,4-6'`), or a list of ints."""
    try:
        return parse_indices(text, allow_all=False)
    except ValueError as error:
        raise ValueError(f'labels: {error}') from None


def _read_segmentation(path):
    ext = os.path.splitext(os.fspath(path))[1].lower()
    if ext == '.npy':
        try:
            seg = load_npy(path)
        except ValueError as error:
            raise ValueError(f'segmentation {path}: {error}; a label map is an integer [H, W] array') from None
    elif ext == '.png':
        from PIL import Image
        try:
            with Image.open(path) as image:
                if image.mode not in ('L', 'P', 'I', 'I;16', '1'):
                    raise ValueError(f'segmentation {path}: PNG mode {image.mode} is not a label map '
                                     f'(expected a single-channel L, P, I or I;16 image)')
                seg = np.array(image)
        except (OSError, SyntaxError) as error:  # PIL: not an image, or cut short
            if isinstance(error, FileNotFoundError):
                raise
            raise ValueError(f'segmentation {path}: not a readable PNG ({" ".join(str(error).split())[:120]})') \
                from None
    else:
        raise ValueError(f'segmentation {path}: unsupported file type {ext!r}; use .png or .npy')
    if seg.ndim == 3 and seg.shape[-1] == 1:
        seg = seg[..., 0]
    if seg.ndim != 2:
        raise ValueError(f'segmentation {path}: expected a [H, W] label map, got shape {list(seg.shape)}')
    if seg.dtype.kind not in 'biuf' or (seg.dtype.kind == 'f' and not np.all(np.mod(seg, 1) == 0)):
        kind = 'NaN or infinite values' if seg.dtype.kind == 'f' and not np.isfinite(seg).all() else \
            'values that are not whole numbers' if seg.dtype.kind == 'f' else f'dtype {seg.dtype}'
        raise ValueError(f'segmentation {path}: labels must be integers, got {kind}')
    return seg


def resize_nearest(mask, size):
    """Nearest-neighbour resize of a [H, W] array to [size, size].

    Output pixel i samples source pixel floor(i * H / size), the index rule of
    `torch.nn.functional.interpolate(mode='nearest')`, which the reference uses
    to bring generator images to the Jacobian grid.
    """
    rows = np.floor(np.arange(size) * (mask.shape[0] / size)).astype(np.int64)
    cols = np.floor(np.arange(size) * (mask.shape[1] / size)).astype(np.int64)
    return mask[rows][:, cols]


def mask_from_file(path, labels, size):
    """Boolean mask [size, size] of the pixels whose label is in `labels`.

    Args:
        path: segmentation label map, `.npy` ([H, W] integers) or `.png` (single channel).
        labels: list of ints, or a string accepted by `parse_labels`.
        size: Jacobian resolution; the label map is resized with nearest neighbours.
    """
    labels = parse_labels(labels)
    seg = _read_segmentation(path)
    if seg.shape[0] != seg.shape[1]:
        raise ValueError(f'segmentation {path} is {seg.shape[1]}x{seg.shape[0]} '
                         f'pixels: it must be square, as the images are')
    mask = np.isin(seg, np.asarray(labels))
    if mask.shape != (size, size):
        mask = resize_nearest(mask, size)
    return check_mask(mask, what=f'segmentation {os.path.basename(os.fspath(path))} labels {labels}')
