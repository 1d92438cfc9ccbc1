"""Procedural cartoon faces with known factors, aligned like FFHQ.

The built-in demo generator is a StyleGAN2 regressed onto this renderer,
`z -> factors_from_z(z) -> render(factors)`, so the semantics of its latent
space are known: every factor has a documented range and a region of the
image where it may change pixels (`REGIONS`), and the eyes, nose and mouth
stay inside the ReSeFa FFHQ boxes (`semantics.regions.BOXES['ffhq']`) at every
factor value, head pose included.

Geometry is written on the 256x256 grid in continuous coordinates: `x` is the
column, `y` the row, and pixel (row r, column c) covers [c, c + 1) x [r, r + 1).
Shapes are PIL polygons drawn at 4x the output size and reduced by a 4x4 box
average, which anti-aliases and keeps every change local: an output pixel
depends only on the 16 canvas pixels under it.

    rng = np.random.RandomState(0)
    image = render(sample_factors(rng))                  # [256, 256, 3] uint8
    batch = render_batch(np.random.RandomState(1).randn(8, Z_DIM))   # [8, 64, 64, 3]
"""

import colorsys
import dataclasses
import difflib
import functools
import math
from typing import Optional

import numpy as np
from PIL import Image, ImageDraw
from scipy.special import ndtr, stdtr

from semantics.regions import region_mask as named_region_mask

GRID = 256          # the grid the geometry and REGIONS are written on
SUPERSAMPLE = 4     # canvas pixels per output pixel, along each axis

# Layout on the 256 grid. The eye centres are the centres of the FFHQ eye boxes.
AXIS_X = 127.0                  # face midline, halfway between the eyes
EYE_Y = 120.0                   # eye centre row
EYE_XS = (95.0, 159.0)          # eye centre columns, image left then right
BROW_Y = 101.0                  # eyebrow centre row
HEAD_Y = 125.0                  # row where the head is widest
CROWN = 90.0                    # skull height above HEAD_Y
CHIN_Y = 228.0                  # lowest row of the chin
NOSE_TOP = 126.0                # top of the nose bridge
MOUTH_Y = 184.0                 # mouth centre row
PIVOT = (127.0, 150.0)          # (x, y) the head rolls about
SHIRT = (64, 84, 112)
LINE = (45, 30, 30)             # eyelids


@dataclasses.dataclass(frozen=True)
class Factor:
    """One factor of variation of the faces."""
    name: str
    kind: str               # 'continuous', 'discrete' or 'colour' (a position in [0, 1] on a colour ramp)
    low: Optional[float]    # smallest value; None for a discrete factor
    high: Optional[float]   # largest value; None for a discrete factor
    choices: tuple          # the values of a discrete factor, in z-quantile order; () otherwise
    region: str             # key of REGIONS: where changing this factor alone may change pixels
    description: str


FACTORS = [
    Factor('face_width', 'continuous', 0.0, 1.0, (), 'global',
           'head half-width at the cheekbones, 64 to 84 px; ears and glasses arms follow'),
    Factor('jaw', 'continuous', 0.0, 1.0, (), 'global', 'jaw roundness: 0 a pointed chin, 1 a square jaw'),
    Factor('skin', 'colour', 0.0, 1.0, (), 'global', 'skin tone, light to dark; lips and nose shading follow'),
    Factor('hair_colour', 'colour', 0.0, 1.0, (), 'global',
           'black, dark brown, brown, auburn, blonde, grey; the eyebrows follow'),
    Factor('hair_style', 'discrete', None, None, ('short', 'long', 'bun', 'curly'), 'global',
           'short with a swept fringe; long with a centre parting; a bun on top; curly and round'),
    Factor('hair_volume', 'continuous', 0.0, 1.0, (), 'global', 'hair volume; also the length of long hair'),
    Factor('eye_size', 'continuous', 0.0, 1.0, (), 'eyes', 'eye half-width 8.5 to 12.5 px, half-height 3.5 to 6.5 px'),
    Factor('iris_hue', 'colour', 0.0, 1.0, (), 'eyes', 'iris hue, cyclic (0 and 1 are the same red)'),
    Factor('gaze', 'continuous', -1.0, 1.0, (), 'eyes', 'horizontal iris offset: -1 to the image left, +1 right'),
    Factor('brow_thickness', 'continuous', 0.0, 1.0, (), 'brows', 'eyebrow thickness, 1.5 to 6 px'),
    Factor('brow_angle', 'continuous', -1.0, 1.0, (), 'brows',
           'eyebrow tilt, up to 15 degrees: -1 inner ends raised (worried), +1 lowered (cross)'),
    Factor('nose_length', 'continuous', 0.0, 1.0, (), 'nose', 'nose tip at row 143 to 158'),
    Factor('mouth_width', 'continuous', 0.0, 1.0, (), 'mouth', 'mouth half-width 14 to 26 px'),
    Factor('smile', 'continuous', -1.0, 1.0, (), 'mouth', 'mouth curvature: -1 corners down, +1 corners up'),
    Factor('mouth_open', 'continuous', 0.0, 1.0, (), 'mouth', 'gap between the lips, 0 to 9 px, teeth showing'),
    Factor('glasses', 'discrete', None, None, (False, True), 'glasses', 'round-cornered frames with arms'),
    Factor('glasses_colour', 'colour', 0.0, 1.0, (), 'glasses',
           'frame colour: black, tortoiseshell, red, blue, gold; nothing without glasses'),
    Factor('background', 'colour', 0.0, 1.0, (), 'global', 'pastel hue behind the figure, cyclic'),
    Factor('roll', 'continuous', -3.0, 3.0, (), 'global',
           'head roll in degrees, clockwise as seen, about row 150, column 127'),
    Factor('shift', 'continuous', -3.0, 3.0, (), 'global', 'horizontal shift of the figure, px on the 256 grid'),
]
FACTOR_NAMES = [factor.name for factor in FACTORS]
NUM_FACTORS = len(FACTORS)
Z_DIM = 512             # the face model's z: factor i reads z[i] against the length of z[NUM_FACTORS:]

DEFAULT_FACTORS = {
    'face_width': 0.5, 'jaw': 0.5, 'skin': 0.25, 'hair_colour': 0.25, 'hair_style': 'short',
    'hair_volume': 0.5, 'eye_size': 0.5, 'iris_hue': 0.6, 'gaze': 0.0, 'brow_thickness': 0.5,
    'brow_angle': 0.0, 'nose_length': 0.5, 'mouth_width': 0.5, 'smile': 0.3, 'mouth_open': 0.0,
    'glasses': False, 'glasses_colour': 0.0, 'background': 0.55, 'roll': 0.0, 'shift': 0.0,
}

# Colour ramps of the 'colour' factors: a value t in [0, 1] sits at t * (len - 1) along the anchors.
_RAMPS = {
    'skin': [(255, 226, 204), (242, 198, 162), (226, 170, 126), (192, 130, 88), (140, 88, 58), (92, 58, 40)],
    'hair_colour': [(28, 24, 26), (72, 46, 30), (122, 78, 42), (168, 78, 36), (222, 180, 104), (196, 196, 200)],
    'glasses_colour': [(22, 22, 26), (112, 62, 30), (186, 34, 44), (34, 72, 172), (204, 170, 64)],
}
_HUES = {'iris_hue': (0.70, 0.62), 'background': (0.30, 0.90)}    # cyclic hue factors: (saturation, value)


def _box_masks(boxes):
    mask = np.zeros([GRID, GRID], dtype=bool)
    for r0, r1, c0, c1 in boxes:
        mask[r0:r1, c0:c1] = True
    return mask


# Where each factor may change pixels, as boolean masks [256, 256]. The eyes, nose and mouth
# regions are the FFHQ boxes themselves; the eyebrows sit in rows 88-111, above the eye boxes.
REGIONS = {
    'eyes': named_region_mask('ffhq', 'left_eye', GRID) | named_region_mask('ffhq', 'right_eye', GRID),
    'brows': _box_masks([(88, 112, 70, 186)]),
    'nose': named_region_mask('ffhq', 'nose', GRID),
    'mouth': named_region_mask('ffhq', 'mouth', GRID),
    'glasses': _box_masks([(100, 141, 36, 220)]),
    'global': np.ones([GRID, GRID], dtype=bool),
}


def region_mask(region, size=GRID):
    """Boolean mask [size, size] of a region of REGIONS: every output pixel that overlaps it (size divides 256)."""
    step = GRID // size
    return REGIONS[region].reshape(size, step, size, step).any(axis=(1, 3))


# ---------------------------------------------------------------------------------------------
# Factors.


def _factors_from_u(u):
    """Factors from positions u [NUM_FACTORS] in [0, 1): continuous ranges linearly, discrete choices by quantiles."""
    factors = {}
    for factor, value in zip(FACTORS, u):
        if factor.kind == 'discrete':
            index = min(int(value * len(factor.choices)), len(factor.choices) - 1)
            factors[factor.name] = factor.choices[index]
        else:
            factors[factor.name] = factor.low + float(value) * (factor.high - factor.low)
    return factors


def sample_factors(rng):
    """Factors drawn uniformly over their ranges (discrete choices equally likely).

    Args:
        rng: `np.random.RandomState` or `np.random.Generator`; only its `uniform` is called.
    """
    return _factors_from_u(rng.uniform(size=NUM_FACTORS))


def positions(z):
    """Where each factor of codes `z` `[..., num_z]` sits in its range: u `[..., NUM_FACTORS]` in (0, 1).

    Factor i reads t_i = z[i] / rms(z[NUM_FACTORS:]) through the CDF of Student's t with
    num_z - NUM_FACTORS degrees of freedom, the law of t_i when z ~ N(0, I): so each factor is uniform,
    a step of z[i] moves factor i alone, and scaling z (as the mapping network's normalisation does)
    changes nothing. A code of exactly NUM_FACTORS coordinates (the first face model, `faces64-v1`)
    reads them normalised to unit mean square, through the normal CDF.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.shape[-1] == NUM_FACTORS:
        return ndtr(z / np.sqrt(np.mean(np.square(z), axis=-1, keepdims=True) + 1e-8))
    assert z.shape[-1] > NUM_FACTORS, z.shape
    tail = np.sqrt(np.mean(np.square(z[..., NUM_FACTORS:]), axis=-1, keepdims=True))
    return stdtr(z.shape[-1] - NUM_FACTORS, z[..., :NUM_FACTORS] / tail)


def factors_from_z(z):
    """The fixed rule from a latent code `z` `[num_z]` to factors: `positions`, then each range."""
    return _factors_from_u(positions(z))


def check_factors(factors):
    """Raise ValueError unless `factors` names every factor once, each inside its range."""
    unknown = sorted(set(factors) - set(FACTOR_NAMES))
    if unknown:
        close = difflib.get_close_matches(unknown[0], FACTOR_NAMES, n=1)
        raise ValueError(f'unknown factor {unknown[0]!r}' + (f'; did you mean {close[0]!r}?' if close else ''))
    missing = [name for name in FACTOR_NAMES if name not in factors]
    wrong = [f'{f.name} = {factors[f.name]!r}' for f in FACTORS if f.name in factors and not (
        factors[f.name] in f.choices if f.kind == 'discrete' else f.low <= factors[f.name] <= f.high)]
    if missing or wrong:
        raise ValueError(f'factors miss {", ".join(missing)}' if missing else f'{wrong[0]} is out of its range')


def colour(name, value):
    """The RGB colour (3 ints) that a 'colour' factor's value stands for."""
    if name in _HUES:
        saturation, brightness = _HUES[name]
        return tuple(round(255 * c) for c in colorsys.hsv_to_rgb(value % 1.0, saturation, brightness))
    anchors = np.asarray(_RAMPS[name], dtype=np.float64)
    position = float(np.clip(value, 0.0, 1.0)) * (len(anchors) - 1)
    i = min(int(position), len(anchors) - 2)
    return tuple(int(round(c)) for c in anchors[i] + (position - i) * (anchors[i + 1] - anchors[i]))


def _mix(a, b, t):
    return tuple(int(round(x + (y - x) * t)) for x, y in zip(a, b))


# ---------------------------------------------------------------------------------------------
# Geometry: point arrays [n, 2] of (x, y) on the 256 grid.

_T17 = np.linspace(-1, 1, 17)     # curve parameters, end to end
_T25 = np.linspace(-1, 1, 25)


@functools.lru_cache(maxsize=64)
def _unit_superellipse(n, start, stop, count):
    t = np.linspace(start, stop, count, endpoint=stop - start < 2 * math.pi - 1e-9)
    c, s = np.cos(t), np.sin(t)
    points = np.stack([np.sign(c) * np.abs(c) ** (2 / n), np.sign(s) * np.abs(s) ** (2 / n)], axis=1)
    points.flags.writeable = False
    return points


def _superellipse(cx, cy, rx, ry, n=2.0, start=0.0, stop=2 * math.pi, count=40):
    """Points [count, 2] of |dx / rx|^n + |dy / ry|^n = 1 from angle `start` to `stop` (y down)."""
    return _unit_superellipse(n, start, stop, count) * (rx, ry) + (cx, cy)


def _stroke(points, widths):
    """Polygon of a curve [n, 2] drawn with a width per point (or one width)."""
    d = np.empty_like(points)
    d[1:-1] = points[2:] - points[:-2]
    d[0], d[-1] = points[1] - points[0], points[-1] - points[-2]
    normal = np.stack([-d[:, 1], d[:, 0]], axis=1) / np.linalg.norm(d, axis=1, keepdims=True)
    offset = normal * (np.broadcast_to(widths, len(points))[:, None] / 2)
    return np.concatenate([points + offset, (points - offset)[::-1]])


def _between(x, top, bottom):
    """Polygon [2n, 2] of the band between two curves y = top(x) and y = bottom(x) sampled at x [n]."""
    return np.stack([np.concatenate([x, x[::-1]]), np.concatenate([top, bottom[::-1]])], axis=1)


def _rotate(points, centre, degrees):
    a = math.radians(degrees)
    c, s = math.cos(a), math.sin(a)
    d = points - centre
    return np.stack([centre[0] + c * d[:, 0] - s * d[:, 1], centre[1] + s * d[:, 0] + c * d[:, 1]], axis=1)


class _Canvas:
    """A PIL canvas at SUPERSAMPLE x the output size that draws 256-grid shapes in the head pose."""

    def __init__(self, size, background, roll, shift):
        self.scale = SUPERSAMPLE * size / GRID
        self.image = Image.new('RGB', (SUPERSAMPLE * size, SUPERSAMPLE * size), background)
        self.draw = ImageDraw.Draw(self.image)
        # The pose and the scale as one affine map of row vectors: pixels = points @ matrix + offset.
        a = math.radians(roll)
        rotation = np.array([[math.cos(a), math.sin(a)], [-math.sin(a), math.cos(a)]])
        pivot = np.asarray(PIVOT)
        self.matrix = rotation * self.scale
        self.offset = (pivot - pivot @ rotation + (shift, 0.0)) * self.scale - 0.5

    def pixels(self, points):
        """Canvas coordinates [n, 2] of grid points [n, 2] in the pose; PIL puts pixel j's centre at j."""
        return points @ self.matrix + self.offset

    def polygon(self, points, fill):
        self.draw.polygon(self.pixels(points).ravel().tolist(), fill=fill)

    def _bounds(self, pixels):
        x0, y0 = np.floor(pixels.min(axis=0)).astype(int) - 1
        x1, y1 = np.ceil(pixels.max(axis=0)).astype(int) + 2
        w, h = self.image.size
        return max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)

    def clipped(self, clip, shapes):
        """Draw `shapes` [(points, fill)] only inside the polygon `clip`."""
        outline = self.pixels(clip)
        box = self._bounds(outline)
        origin = np.asarray(box[:2], dtype=np.float64)
        patch = self.image.crop(box)
        draw = ImageDraw.Draw(patch)
        for points, fill in shapes:
            draw.polygon((self.pixels(points) - origin).ravel().tolist(), fill=fill)
        mask = Image.new('L', patch.size, 0)
        ImageDraw.Draw(mask).polygon((outline - origin).ravel().tolist(), fill=255)
        self.image.paste(patch, box[:2], mask)

    def ring(self, outer, inner, fill):
        """Fill the part of polygon `outer` outside polygon `inner`."""
        outline = self.pixels(outer)
        box = self._bounds(outline)
        origin = np.asarray(box[:2], dtype=np.float64)
        mask = Image.new('L', (box[2] - box[0], box[3] - box[1]), 0)
        draw = ImageDraw.Draw(mask)
        draw.polygon((outline - origin).ravel().tolist(), fill=255)
        draw.polygon((self.pixels(inner) - origin).ravel().tolist(), fill=0)
        self.image.paste(fill, box, mask)

    def result(self):
        return np.asarray(self.image.reduce(SUPERSAMPLE))


# ---------------------------------------------------------------------------------------------
# The face, back to front.


def _head_outline(width, jaw):
    upper = _superellipse(AXIS_X, HEAD_Y, width, CROWN, 2.0, math.pi, 2 * math.pi, 48)
    lower = _superellipse(AXIS_X, HEAD_Y, width, CHIN_Y - HEAD_Y, 1.6 + 2.0 * jaw, 0.0, math.pi, 48)
    return np.concatenate([lower, upper])


def _hairline(style, width):
    """Points of the hairline from the left sideburn over the forehead to the right one."""
    x = np.linspace(-0.72, 0.72, 25)
    if style == 'short':        # fringe swept to the image left
        y = 66 + 14 * (1 - x) / 2 * (1 - x ** 2) ** 0.5 + 6 * x ** 2
    elif style == 'long':       # centre parting, curtains
        y = 60 + 22 * np.abs(x) ** 0.7
    elif style == 'bun':        # pulled back, high and smooth
        y = 60 + 12 * x ** 2
    else:                       # curly fringe
        y = 66 + 8 * x ** 2 + 6 * np.abs(np.sin(3.5 * math.pi * x))
    fringe = np.stack([AXIS_X + width * x, y], axis=1)
    left = np.array([[AXIS_X - width + 5, 118.0], [AXIS_X - width + 9, 90.0]])
    right = np.array([[AXIS_X + width - 9, 90.0], [AXIS_X + width - 5, 118.0]])
    return np.concatenate([left, fringe, right])


def _draw_hair_back(canvas, style, width, volume, colour_):
    if style == 'long':
        rx = width + 10 + 12 * volume
        bottom = 196 + 44 * volume
        top = _superellipse(AXIS_X, HEAD_Y, rx, CROWN + 8 + 6 * volume, 2.0, math.pi, 2 * math.pi, 32)
        low = _superellipse(AXIS_X, HEAD_Y, rx, bottom - HEAD_Y, 4.0, 0.0, math.pi, 32)
        canvas.polygon(np.concatenate([low, top]), colour_)
    elif style == 'curly':
        t = np.linspace(0, 2 * math.pi, 120, endpoint=False)
        r = 1 + 0.045 * np.abs(np.sin(9 * t))
        rx, ry = width + 16 + 14 * volume, CROWN + 8 + 10 * volume
        points = np.stack([AXIS_X + rx * r * np.cos(t), 118 + ry * r * np.sin(t) * 1.02], axis=1)
        canvas.polygon(points, colour_)
    elif style == 'bun':
        r = 15 + 6 * volume
        canvas.polygon(_superellipse(AXIS_X, HEAD_Y - CROWN - 2 - r * 0.35, r * 1.1, r, count=32), colour_)


def _draw_hair_cap(canvas, style, width, volume, colour_):
    grow = {'short': 3 + 7 * volume, 'long': 4 + 6 * volume, 'bun': 2 + 2 * volume, 'curly': 8 + 10 * volume}[style]
    rx, ry = width + grow, CROWN + grow
    start = math.asin((HEAD_Y - 118.0) / ry)
    t = np.linspace(-start, -math.pi + start, 48)       # right side, over the top, to the left
    if style == 'curly':
        r = 1 + 0.05 * np.abs(np.sin(9 * t))
    else:
        r = 1.0
    outer = np.stack([AXIS_X + rx * r * np.cos(t), HEAD_Y + ry * r * np.sin(t)], axis=1)
    canvas.polygon(np.concatenate([outer, _hairline(style, width)]), colour_)


def _draw_neck(canvas, skin):
    shadow = _mix(skin, (60, 30, 20), 0.18)
    neck = np.concatenate([np.array([[AXIS_X + 27, 180.0]]),
                           _superellipse(AXIS_X, 238.0, 27.0, 12.0, 2.0, 0.0, math.pi, 16),
                           np.array([[AXIS_X - 27, 180.0]])])
    canvas.polygon(neck, shadow)


def _draw_head(canvas, width, jaw, skin):
    ear = _mix(skin, (120, 50, 40), 0.12)
    for side in (-1, 1):
        canvas.polygon(_superellipse(AXIS_X + side * (width - 1), 130.0, 9.0, 16.0, count=24), ear)
    canvas.polygon(_head_outline(width, jaw), skin)
    blush = _mix(skin, (235, 110, 120), 0.22)
    for side in (-1, 1):
        canvas.polygon(_superellipse(AXIS_X + side * 45, 160.0, 11.0, 6.5, count=24), blush)


def _eye_outline(cx, half_width, half_height):
    t = _T25
    base = 1 - t ** 2
    upper = np.stack([cx + half_width * t, EYE_Y - half_height * base ** 0.6], axis=1)
    lower = np.stack([cx - half_width * t, EYE_Y + half_height * 0.9 * base[::-1] ** 0.8], axis=1)
    return np.concatenate([upper, lower[1:-1]]), upper


def _draw_eyes(canvas, size, iris_hue, gaze):
    half_width, half_height = 8.5 + 4 * size, 3.5 + 3 * size
    radius = 0.95 * half_height + 0.6
    iris = colour('iris_hue', iris_hue)
    dark = _mix(iris, (0, 0, 0), 0.35)
    lid = 0.6 + 1.2 * (1 - _T25 ** 2)
    for cx in EYE_XS:
        outline, upper = _eye_outline(cx, half_width, half_height)
        canvas.polygon(outline, (250, 250, 246))
        ix = cx + gaze * (half_width - radius) * 0.85
        canvas.clipped(outline, [
            (_superellipse(ix, EYE_Y, radius, radius, count=24), dark),
            (_superellipse(ix, EYE_Y, radius * 0.82, radius * 0.82, count=24), iris),
            (_superellipse(ix, EYE_Y, radius * 0.45, radius * 0.45, count=20), (18, 16, 20)),
            (_superellipse(ix + radius * 0.3, EYE_Y - radius * 0.35, radius * 0.22, radius * 0.22, count=12),
             (255, 255, 255)),
        ])
        canvas.polygon(_stroke(upper, lid), LINE)


def _draw_brows(canvas, thickness, angle, colour_):
    t = _T17
    width = (1.5 + 4.5 * thickness) * (1 - 0.45 * ((t + 1) / 2) ** 2)     # thick at the inner end
    for cx, side in zip(EYE_XS, (-1, 1)):
        # t = -1 is the inner end (towards the midline), t = 1 the outer end.
        points = np.stack([cx + side * 16 * t, BROW_Y - 2.5 * (1 - t ** 2)], axis=1)
        points = _rotate(points, np.array([cx, BROW_Y]), -side * 15 * angle)
        canvas.polygon(_stroke(points, width), colour_)


def _draw_nose(canvas, length, skin):
    tip = 143 + 15 * length
    shade = _mix(skin, (90, 40, 30), 0.22)
    y = np.linspace(NOSE_TOP, tip - 5, 10)
    half = 2.5 + 4.5 * ((y - NOSE_TOP) / (tip - 5 - NOSE_TOP)) ** 2
    canvas.polygon(_between(y, AXIS_X - half, AXIS_X + half)[:, ::-1], shade)
    canvas.polygon(_superellipse(AXIS_X, tip - 5, 10.0, 5.0, 2.0, 0.0, math.pi, 20), shade)
    canvas.polygon(_superellipse(AXIS_X, tip - 6.5, 5.5, 4.0, count=20), _mix(skin, (255, 255, 255), 0.25))
    nostril = _mix(skin, (40, 15, 10), 0.6)
    for side in (-1, 1):
        canvas.polygon(_superellipse(AXIS_X + side * 4.5, tip - 1.8, 2.2, 1.3, count=12), nostril)


def _draw_mouth(canvas, width, smile, opening, skin):
    half_width = 14 + 12 * width
    t = _T25
    x = AXIS_X + half_width * t
    middle = MOUTH_Y + smile * 5 * (0.4 - t ** 2)
    gap = opening * 9 * (1 - t ** 2) ** 0.8
    top, bottom = middle - 0.35 * gap, middle + 0.65 * gap
    lip = _mix(skin, (186, 50, 66), 0.6)
    upper_lip = top - 2.8 * (1 - t ** 2) ** 0.6
    lower_lip = bottom + 3.6 * (1 - t ** 2) ** 0.6
    canvas.polygon(_between(x, upper_lip, lower_lip), lip)
    canvas.polygon(_stroke(np.stack([x, middle], 1), 0.8 + 1.0 * (1 - t ** 2)), _mix(lip, (40, 0, 10), 0.6))
    if opening > 0:
        canvas.polygon(_between(x, top, bottom), (92, 22, 32))
        teeth = top + np.minimum(2.6, 0.45 * gap)
        canvas.polygon(_between(x, top, teeth), (248, 246, 238))


def _draw_glasses(canvas, width, colour_):
    thick = 2.2
    for cx, side in zip(EYE_XS, (-1, 1)):
        outer = _superellipse(cx, EYE_Y, 20 + thick / 2, 14 + thick / 2, 3.2, count=48)
        inner = _superellipse(cx, EYE_Y, 20 - thick / 2, 14 - thick / 2, 3.2, count=48)
        canvas.ring(outer, inner, colour_)
        arm = np.array([[cx + side * 20, 116.0], [AXIS_X + side * (width - 1), 114.0]])
        canvas.polygon(_stroke(arm, thick), colour_)
    bridge = _superellipse(AXIS_X, 119.0, 12.5, 4.0, 2.0, math.pi * 1.05, math.pi * 1.95, 12)
    canvas.polygon(_stroke(bridge, thick), colour_)


def _render(factors, size):
    width = 64 + 20 * factors['face_width']
    skin = colour('skin', factors['skin'])
    hair = colour('hair_colour', factors['hair_colour'])
    style, volume = factors['hair_style'], factors['hair_volume']
    canvas = _Canvas(size, colour('background', factors['background']), factors['roll'], factors['shift'])
    canvas.polygon(_superellipse(AXIS_X, 300.0, 125.0, 62.0, 2.4, count=48), SHIRT)
    _draw_hair_back(canvas, style, width, volume, hair)
    _draw_neck(canvas, skin)
    _draw_head(canvas, width, factors['jaw'], skin)
    _draw_hair_cap(canvas, style, width, volume, hair)
    _draw_eyes(canvas, factors['eye_size'], factors['iris_hue'], factors['gaze'])
    _draw_brows(canvas, factors['brow_thickness'], factors['brow_angle'], _mix(hair, (0, 0, 0), 0.5))
    _draw_nose(canvas, factors['nose_length'], skin)
    _draw_mouth(canvas, factors['mouth_width'], factors['smile'], factors['mouth_open'], skin)
    if factors['glasses']:
        _draw_glasses(canvas, width, colour('glasses_colour', factors['glasses_colour']))
    return canvas.result()


def render(factors, size=256):
    """Render one face.

    Args:
        factors: a value for every factor of FACTORS, each inside its range.
        size: output resolution; the face is drawn at 4 * size and box-reduced.

    Returns:
        uint8 array [size, size, 3]; the same factors always give the same bytes.
    """
    check_factors(factors)
    return _render(factors, size)


def render_batch(z_batch, size=64):
    """Render the faces of a batch of latent codes, the training data of the face model.

    Args:
        z_batch: [N, num_z] floats (numpy or a CPU tensor), read by `positions`.
        size: output resolution.

    Returns:
        uint8 array [N, size, size, 3].
    """
    u = positions(z_batch)
    images = np.empty([len(u), size, size, 3], dtype=np.uint8)
    for i, row in enumerate(u):
        images[i] = _render(_factors_from_u(row), size)
    return images


# ---------------------------------------------------------------------------------------------
# Pictures for the docs and for looking at the data.


def tile(images, cols, fill=255):
    """Images [N, H, W, 3] laid out in rows of `cols`."""
    rows = -(-len(images) // cols)
    h, w = images[0].shape[:2]
    out = np.full([rows * h, cols * w, 3], fill, dtype=np.uint8)
    for i, image in enumerate(images):
        out[(i // cols) * h:(i // cols + 1) * h, (i % cols) * w:(i % cols + 1) * w] = image
    return out


def sample_grid(seed=0, rows=4, cols=4, size=256, show_size=None):
    """A grid of faces of codes from `np.random.RandomState(seed)`, rendered at `size`, shown at `show_size`
    (nearest neighbours when enlarged, so that the pixels of a small rendering stay visible)."""
    z = np.random.RandomState(seed).randn(rows * cols, Z_DIM)
    images = render_batch(z, size)
    if show_size is not None and show_size != size:
        resample = Image.NEAREST if show_size > size else Image.BOX
        images = np.stack([np.asarray(Image.fromarray(image).resize((show_size, show_size), resample))
                           for image in images])
    return tile(images, cols)


def factor_sheet(base=None, steps=6, size=96, label_width=120):
    """One row per factor, varied from low to high (or through its choices) on a `base` face.

    Glasses are put on for the glasses_colour row. Returns uint8 [len(FACTORS) * size, W, 3].
    """
    from PIL import ImageFont
    base = dict(DEFAULT_FACTORS if base is None else base)
    font = ImageFont.load_default()
    rows = []
    for factor in FACTORS:
        if factor.kind == 'discrete':
            values = list(factor.choices)
        else:
            values = list(np.linspace(factor.low, factor.high, steps, endpoint=factor.name not in _HUES))
        extra = {'glasses': True} if factor.name == 'glasses_colour' else {}
        images = [render({**base, **extra, factor.name: value}, size) for value in values]
        label = Image.new('RGB', (label_width, size), (255, 255, 255))
        ImageDraw.Draw(label).text((6, size // 2 - 6), factor.name, fill=(0, 0, 0), font=font)
        row = tile(images + [np.full_like(images[0], 255)] * (steps - len(images)), steps)
        rows.append(np.concatenate([np.asarray(label), row], axis=1))
    return np.concatenate(rows, axis=0)


if __name__ == '__main__':
    import click

    @click.command()
    @click.argument('outdir', type=click.Path(file_okay=False))
    def main(outdir):
        """Write the sample grids and the factor sheet of docs/faces.md into OUTDIR.

        Example: python -m demo.faces docs/images
        """
        import os
        os.makedirs(outdir, exist_ok=True)
        pictures = {
            'faces_grid.png': sample_grid(seed=0, rows=4, cols=4, size=256),
            'faces_grid_64.png': sample_grid(seed=0, rows=4, cols=4, size=64, show_size=128),
            'faces_factors.png': factor_sheet(size=112),
        }
        for name, picture in pictures.items():
            path = os.path.join(outdir, name)
            Image.fromarray(picture).save(path, optimize=True)
            click.echo(f'{path}: {picture.shape[1]}x{picture.shape[0]}, {os.path.getsize(path) // 1024} KB')

    main()
