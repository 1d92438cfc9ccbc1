"""Checkpoint reading: a registry of readers, one per on-disk format.

Every reader module has `FORMAT`; `claims(source)`, decided from the content (never the name) of a `Source`, which
loads the file at most once; and `read(source, hints) -> Checkpoint`, `hints` being the settings asked for. The first
reader that claims the file reads it, checking every tensor against the model of its config (`names.convert`).
`torch.load` runs with `weights_only=True` and pickles go through `safe_pickle`: reading never runs code from a file.
"""

import dataclasses

from ..registry import build_skeleton
from . import hammer, huggingface, nvlabs_pickle, nvlabs_state_dict, rosinality, tensorflow_pickle, toolkit
from .common import Checkpoint, CheckpointError, SettingMismatch, SettingNeeded
from .huggingface import write_hf_biggan
from .names import model_shapes
from .source import Source

__all__ = ['READERS', 'Checkpoint', 'CheckpointError', 'SettingMismatch', 'SettingNeeded', 'Source',
           'check_expected', 'find_reader', 'generator_from_checkpoint', 'read_checkpoint', 'write_hf_biggan']

# In the order they are asked; each claims only its own format.
READERS = [
    nvlabs_pickle,       # pickle whose G_ema is an NVlabs persistent object
    tensorflow_pickle,   # pickle of dnnlib.tflib.network.Network objects: (G, D, Gs) or a dict
    rosinality,          # torch file {'g_ema': ..., 'latent_avg': ...}
    hammer,              # torch file {'models': {'generator_smooth', 'generator'}, ...}, or a genforce state dict
    nvlabs_state_dict,   # torch file of tensors with NVlabs names
    huggingface,         # folder or either file of config.json + pytorch_model.bin
    toolkit,             # torch file {'family', 'config', 'state_dict', 'meta'} written by demo.train
]

# Settings a caller may ask for: the `EXPECTED` ones (`cfg` is StyleGAN3's 'T' or 'R'), and `HINTS`, config
# fields that the tensors of some formats (genforce) cannot tell, which their readers then take from here.
EXPECTED = ('family', 'cfg', 'img_resolution', 'w_dim', 'z_dim', 'channel_base', 'channel_max')
HINTS = ('c_dim', 'fused_scale', 'mapping_lr_multiplier', 'final_tanh')


def find_reader(source):
    """The first reader of `READERS` that claims `source`; CheckpointError saying what the file looks like."""
    reader = next((reader for reader in READERS if reader.claims(source)), None)
    if reader is None:
        raise CheckpointError(f'{source.path}: not a checkpoint this toolkit reads: {source.describe()} '
                              f'(formats: {", ".join(reader.FORMAT for reader in READERS)})')
    return reader


def read_checkpoint(path, **expected):
    """The `Checkpoint` of a file, or of a folder (a HuggingFace BigGAN, or one holding a single checkpoint file),
    which must agree with the settings `expected` (`EXPECTED`, `HINTS`; None: not asked); CheckpointError."""
    expected = {name: value for name, value in expected.items() if value is not None}
    source = Source(path)
    if source.is_dir and not huggingface.claims(source) and source.only_file():  # a folder holding one file
        source = Source(source.only_file())
    checkpoint = find_reader(source).read(source, expected)
    check_expected(checkpoint, source.path, expected)
    return checkpoint


def check_expected(checkpoint, path, expected):
    """Raise `SettingMismatch` at the first setting of `expected` that disagrees with `checkpoint`; channel settings
    agree when they give the same tensor shapes."""
    assert set(expected) <= set(EXPECTED + HINTS), f'unknown checkpoint setting in {sorted(expected)}'
    expected = {name: value for name, value in expected.items() if value is not None}
    if not expected:
        return
    generator = build_skeleton(checkpoint.family, checkpoint.config)
    for name in (name for name in EXPECTED + HINTS if name in expected):
        if name in ('family', 'cfg'):
            held = checkpoint.family if name == 'family' else checkpoint.extra.get('cfg')
        elif name in ('img_resolution', 'w_dim', 'z_dim', 'c_dim'):
            held = getattr(generator, name)
        else:
            held = getattr(checkpoint.config, name, None)
        value = expected[name]
        if value != held and not (name in ('channel_base', 'channel_max') and held is not None and (
                model_shapes(checkpoint.family, dataclasses.replace(checkpoint.config, **{name: value}))
                == model_shapes(checkpoint.family, checkpoint.config))):
            raise SettingMismatch(path, name, value, held)


def generator_from_checkpoint(checkpoint):
    """The generator of a `Checkpoint`, its tensors loaded strictly and assigned (no copy, no initialisation)."""
    generator = build_skeleton(checkpoint.family, checkpoint.config)
    state = {key: value.contiguous() for key, value in checkpoint.state_dict.items()}
    generator.load_state_dict(state, strict=True, assign=True)
    return generator
