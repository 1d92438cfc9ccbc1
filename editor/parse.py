"""The editor's one request parser: every field of every request is checked here, into small named tuples that
the session trusts. A bad field is a `RequestError` of one line that starts with the field's name."""

import contextlib
import io
import json
import math
import os
import re
import tempfile
from collections import namedtuple

import click

from cli.options import Box, check_layers
from directions import check_codes, latents_array
from semantics import inversion, regions
from utils.indices import IndexList
from utils.limits import MAX_DISTANCE, MAX_STEPS

PROJECTION_STEPS = 150  # the page's default: a short wait on a CPU
REQUIRED = object()
TYPES = {int: 'an integer', float: 'a number', str: 'a text', list: 'a list', dict: 'a JSON object'}

# What the parsers make of requests. A sample (a key of the session's caches) is the image before any edit: its code
# is ('seed', seed), ('prepared', name, row) or ('upload', id, row). An edit moves row `index` of a direction (`kind`
# a key of `Editor.DIRECTIONS`; `name` the SeFa layers, a file's name or a region's id) by `distance` on `layers`.
Sample = namedtuple('Sample', 'code truncation_psi class_index')
Edit = namedtuple('Edit', 'kind name index distance layers')
State = namedtuple('State', 'sample edits')  # what the image shows
Region = namedtuple('Region', 'sample name box mask count')


class RequestError(Exception):
    """A bad request: an HTTP `status` (4xx) and one line."""

    def __init__(self, message, status=400):
        super().__init__(message)
        self.status = status


def fail(field, message, status=400):
    raise RequestError(f'{field}: {" ".join(str(message).split())}', status)


def need(ok, field, message, status=400):
    if not ok:
        fail(field, message, status)


@contextlib.contextmanager
def blame(field):
    """Name `field` in the one-line error of a check of the toolkit's own (a reader, a model's rule, a click type)."""
    try:
        yield
    except (ValueError, click.BadParameter) as error:
        fail(field, error)


def get(fields, field, kind, default=REQUIRED, low=None, high=None, allowed=None):
    """`fields[last part of field]` of type `kind`, within `low..high`, one of `allowed`; `default` when absent."""
    value = fields.get(field.rsplit('.', 1)[-1])
    if value is None:
        need(default is not REQUIRED, field, 'is missing')
        return default
    typed = not isinstance(value, bool) and (isinstance(value, (int, float)) and math.isfinite(value)
                                             if kind is float else isinstance(value, kind))
    bounds = f' in {low:.10g}..{high:.10g}' if high is not None else f' of at least {low}' if low is not None else ''
    need(typed and (low is None or value >= low) and (high is None or value <= high), field,
         f'must be {TYPES[kind]}{bounds}, got {json.dumps(value)[:60]}')
    if allowed is not None:
        need(value in allowed, field, f'must be one of {", ".join(map(repr, allowed))}, got {value!r:.60}')
    return float(value) if kind is float else value


def lookup(table, key, field, what):
    """`table[key]`, or a 404 naming the field."""
    need(key in table, field, f'no {what} {key!r}', 404)
    return table[key]


def row(array, index, field):
    need(index < len(array), field, f'{index} is out of range 0..{len(array) - 1}')
    return array[index]


def layers_of(text, field, editor, allowed=None):
    """The layers of an index list ('all': `allowed`, else every ws; '0-3'; '2-5,8'), as the scripts read them."""
    with blame(field):
        return check_layers(editor.generator, IndexList().convert(text, None, None), field, allowed)


def sefa_layers(fields, field, editor):
    return tuple(layers_of(get(fields, field, str, 'all'), field, editor, editor.generator.sefa_layers()))


# ----------------------------------------------------------------------------
# The requests, one function each: `(fields, editor, raw body)` -> what the session's method takes.

def sample(fields, editor, raw=None):
    G, code = editor.generator, get(fields, 'code', dict)
    kind = get(code, 'code.kind', str, allowed=('seed', 'prepared', 'upload'))
    if kind == 'seed':
        key = ('seed', get(code, 'code.seed', int, low=0, high=2 ** 32 - 1))
    else:
        key = (kind, get(code, 'code.name' if kind == 'prepared' else 'code.id', str),
               get(code, 'code.index', int, 0, low=0))
    with blame('truncation_psi'):
        psi = G.check_truncation(get(fields, 'truncation_psi', float, 1.0))
    class_index = fields.get('class')
    need(class_index is not None or not G.c_dim, 'class', f'is missing: the model has {G.c_dim} classes')
    with blame('class'):
        class_index = None if class_index is None else G.class_index(class_index)
    return Sample(key, psi, class_index)


def state(fields, editor, raw=None):
    edits = []
    for i, edit in enumerate(get(fields, 'edits', list, [])):
        where = f'edits[{i}].'
        need(isinstance(edit, dict), where[:-1], 'must be a JSON object')
        ref = get(edit, where + 'direction', dict)
        kind = get(ref, where + 'direction.kind', str, allowed=tuple(editor.DIRECTIONS))
        name = sefa_layers(ref, where + 'direction.layers', editor) if kind == 'sefa' else \
            get(ref, where + ('direction.name' if kind == 'file' else 'direction.id'), str)
        layers = edit.get('layers')  # ws indices: null, 'all', a list, or a text like '4-7'
        layers = None if layers is None else layers_of(layers, where + 'layers', editor)
        edits.append(Edit(kind, name, get(ref, where + 'direction.index', int, 0, low=0),
                          get(edit, where + 'distance', float, 0.0, -MAX_DISTANCE, MAX_DISTANCE), layers))
    return State(sample(fields, editor), tuple(edits))


def sefa(fields, editor, raw=None):
    return sefa_layers(fields, 'layers', editor), get(fields, 'count', int, 5, 1, editor.generator.w_dim)


def region(fields, editor, raw=None):
    if fields.get('box') is not None:
        with blame('box'):  # read as the scripts' --box
            box = Box().convert(','.join(map(str, get(fields, 'box', list))), None, None)
        name = 'box_' + '_'.join(map(str, box))
    else:
        name = get(fields, 'region', str)
        with blame('region'):
            box = regions.named_box(editor.data_name, name)
    size, count = editor.jacobian_size, get(fields, 'count', int, 5, 1, editor.generator.w_dim)
    # A box inside the grid may cross the edges once scaled, by rounding: it is moved back inside.
    mask = regions.box_mask(regions.scale_box(box, size), size, clip=True)
    return Region(sample(fields, editor), name, tuple(box), mask, count)


def gif(fields, editor, raw=None):
    shown = state(get(fields, 'state', dict), editor)
    edit = get(fields, 'edit', int, 0, low=0)
    need(edit < len(shown.edits), 'edit', f'{edit} is out of range: the state has {len(shown.edits)} edits')
    return (shown, edit, get(fields, 'steps', int, 9, 2, MAX_STEPS),
            get(fields, 'start', float, -3.0, -MAX_DISTANCE, MAX_DISTANCE),
            get(fields, 'end', float, 3.0, -MAX_DISTANCE, MAX_DISTANCE))


def task_id(fields, editor, raw=None):
    return get(fields, 'id', str)


def upload(fields, editor, raw):
    """`(space, codes)` of an uploaded `.npy`, read by the scripts' reader of latent codes."""
    name = re.sub(r'[^\w.+-]+', '_', os.path.basename(get(fields, 'name', str, 'upload.npy')))[-100:] or 'upload.npy'
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, name)
        with open(path, 'wb') as file:
            file.write(raw)
        try:  # the reader's message names its file: the upload's name, not the temporary folder
            return check_codes(editor.generator, latents_array(path), what=name)
        except ValueError as error:
            fail('upload', str(error).replace(path, name))


def projection(fields, editor, raw):
    """`(target [1, C, R, R], settings)` of an image file to project."""
    G = editor.generator
    need(G.has_mapping and not G.c_dim, 'image', f'cannot be projected into this {G.variant}: it needs an '
         f'unconditional StyleGAN, StyleGAN2 or StyleGAN3')
    settings = inversion.ProjectionSettings(steps=get(fields, 'steps', int, PROJECTION_STEPS, low=1),
                                            space=get(fields, 'space', str, 'w', allowed=('w', 'wp')))
    from PIL import Image
    try:
        with Image.open(io.BytesIO(raw)) as image, blame('image'):
            image.load()
            return inversion.fit_target(image, G.img_resolution, G.img_channels)[0].to(G.device), settings
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        fail('image', f'not an image ({error})')
