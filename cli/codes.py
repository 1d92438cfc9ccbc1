"""The codes a script works on, from its sampling options: `--nums` draws of `--seed`, or `--latent_path`."""

from dataclasses import dataclass
from typing import Optional

import click
import numpy as np
import torch

import directions
from semantics import sampling

from .options import class_index_of
from .runs import file_label, samples_part

__all__ = ['Codes', 'codes_from_options']


@dataclass
class Codes:
    """Latent codes to edit or render, and how to name and describe them."""

    space: str                      # 'z', 'w' or 'wp'.
    values: np.ndarray              # float32 [N, z_dim], [N, w_dim] or [N, num_ws, w_dim].
    labels: Optional[torch.Tensor]  # [N, c_dim] one-hot labels of a conditional model, else None.
    class_index: Optional[int]      # The class of the labels.
    part: str                       # Output-path part: 'seed_4_num_8' or 'latents_<label>_num_<n>'.
    description: str                # For pages: 'seed 4, 8 samples (z)' or the file read.

    def __len__(self):
        return len(self.values)

    def ws(self, generator, truncation_psi=1, truncation_cutoff=None, batch_size=16):
        """ws `[N, num_ws, w_dim]` of these codes (truncation applies to z codes only)."""
        return sampling.to_ws(generator, self.values, self.space, truncation_psi, truncation_cutoff, self.labels,
                              batch_size)


def codes_from_options(generator, opts, nums_key='nums', truncation_psi=1):
    """The codes the sampling options name, validated for this model (before anything is written).

    Args:
        opts: Click options holding `seed`, `nums_key`, `latent_path`, `latent_space`, `class_spec`.
        truncation_psi: The truncation z is drawn with (BigGAN samples truncated noise).
    """
    class_index = class_index_of(generator, opts.get('class_spec'))
    try:
        generator.check_truncation(truncation_psi)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint='--trunc_psi') from None
    nums = opts[nums_key]
    if opts.get('latent_path'):
        try:
            path, array, _ = directions.read_latents(opts['latent_path'])
        except directions.CatalogError as error:
            raise click.BadParameter(str(error), param_hint='--latent_path') from None
        try:
            space, values = sampling.check_codes(generator, array, opts.get('latent_space', 'auto'), nums, path)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint='--latent_path') from None
        part = samples_part(None, len(values), path, file_label(path))
        description = f'{len(values)} codes ({space}) from {path}'
    else:
        values = sampling.sample_z(generator, nums, opts['seed'], truncation_psi)
        space = 'z'
        part = samples_part(opts['seed'], nums)
        description = f'{nums} samples of seed {opts["seed"]} (np.random.RandomState, z)'
    labels = sampling.class_labels(generator, class_index, len(values), generator.device)
    if class_index is not None:
        part += f'_class_{class_index}'
        description += f', class {class_index} ({generator.class_name(class_index)})'
    return Codes(space, values, labels, class_index, part, description)
