"""Generators and checkpoint loading.

`load_generator(source)` takes a checkpoint in any supported format, a model-zoo name, or `builtin:NAME`, and
returns a generator in eval mode that follows the contract of `models/base.py`.
"""

import os
import re

from utils.fileio import sha256_of

from . import builtin, zoo
from .base import MAX_TRUNCATION_PSI
from .checkpoints import (Checkpoint, CheckpointError, SettingMismatch, SettingNeeded, check_expected,
                          generator_from_checkpoint, read_checkpoint)
from .registry import FAMILIES, build_generator

__all__ = ['FAMILIES', 'MAX_TRUNCATION_PSI', 'CheckpointError', 'SettingMismatch', 'SettingNeeded',
           'build_generator', 'load_generator', 'read_checkpoint']

BUILTIN_FORMAT = builtin.RANDOM_FORMAT  # `checkpoint_format` of the built-in random-weight models


def load_generator(source, device='cpu', **expected):
    """The generator in eval mode on `device` of `source` (a file or folder in any supported format, a zoo name or
    `builtin:NAME`), which must agree with the settings `expected` (`models.checkpoints.EXPECTED`). It carries its
    identity: `source`, `checkpoint_format`, `checkpoint_sha256` and `model_name` (`<file stem>-<sha256[:8]>`).
    CheckpointError (one line naming the file), or ValueError for an unknown name or a failed download.
    """
    source = str(source)
    if source.startswith('builtin:'):
        name = source.split(':', 1)[1]
        generator, fmt, sha256 = builtin.load(name)
        check_expected(Checkpoint(generator.family, generator.config, {}, fmt), source, expected)
    else:
        path = source
        if zoo.is_zoo_name(source):
            path = zoo.resolve(source)
        elif not os.path.exists(source) and os.path.basename(source) == source and '.' not in source:
            zoo.entry(source)  # neither a file nor a known name: the error names the close ones
        checkpoint = read_checkpoint(path, **expected)
        generator, fmt, sha256 = generator_from_checkpoint(checkpoint), checkpoint.format, sha256_of(path)
        path = os.path.normpath(path)
        stem = os.path.basename(path) if os.path.isdir(path) else os.path.splitext(os.path.basename(path))[0]
        name = re.sub(r'[^A-Za-z0-9._+-]', '_', f'{stem}-{sha256[:8]}')
    generator.source, generator.checkpoint_format, generator.checkpoint_sha256 = source, fmt, sha256
    generator.model_name = name
    return generator.to(device).eval().requires_grad_(False)
