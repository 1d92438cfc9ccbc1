"""Built-in models, loaded as `builtin:NAME`: no download needed.

- `stylegan2-tiny`: a small StyleGAN2 with random weights (seeded, so always
  the same), for tests and for trying the scripts.
- `faces64`: a StyleGAN2 at 64x64 trained on the toolkit's procedural
  cartoon faces, whose factors are known (`demo/faces.py`); see
  `docs/builtin_faces64.md`. Its weights are shipped in this folder
  (`faces64.pt`, float16, a toolkit export), read with `torch.load(weights_only=True)`.
- `faces64-v2`, `faces64-v1`: the earlier face models (v1: z of 20 coordinates), kept for comparison.
"""

import os

import torch

from utils.fileio import sha256_of

from ..checkpoints import CheckpointError, Source, generator_from_checkpoint, toolkit
from ..registry import build_generator

__all__ = ['RANDOM', 'TRAINED', 'RANDOM_FORMAT', 'names', 'load', 'read_trained']

FOLDER = os.path.dirname(os.path.abspath(__file__))
RANDOM = {  # name: (family, config fields)
    'stylegan2-tiny': ('stylegan2', dict(z_dim=64, w_dim=64, img_resolution=64, channel_base=2048,
                                         channel_max=64, mapping_layers=4)),
}
TRAINED = {  # name: file in this folder
    'faces64': 'faces64.pt',
    'faces64-v2': 'faces64-v2.pt',  # the second: this rule, 392 thousand faces, local features hardly learned
    'faces64-v1': 'faces64-v1.pt',  # the first face model: z of 20 coordinates, trained without pairs
}
RANDOM_FORMAT = 'built-in random weights'


def names():
    return sorted(set(RANDOM) | set(TRAINED))


def load(name, seed=0):
    """`(generator, format, sha256 or None)` of a built-in model; ValueError naming the known ones."""
    if name in RANDOM:
        family, config = RANDOM[name]
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            return build_generator(family, **config), RANDOM_FORMAT, None
    if name not in TRAINED:
        raise ValueError(f'unknown built-in model {name!r}; choose from {names()}')
    path = os.path.join(FOLDER, TRAINED[name])
    return read_trained(path), f'built-in trained weights ({TRAINED[name]})', sha256_of(path)


def read_trained(path):
    """The generator of a toolkit export (`checkpoints.toolkit`), as float32; CheckpointError naming the file."""
    source = Source(path)
    if not toolkit.claims(source):
        raise CheckpointError(f'{source.path}: not a toolkit export (a dict of {", ".join(toolkit.KEYS)})')
    return generator_from_checkpoint(toolkit.read(source, {}))
