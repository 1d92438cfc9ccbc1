"""genforce (SeFa) `.pth` checkpoints (PGGAN, StyleGAN, StyleGAN2), and config inference on our layouts.

The `hammer` reader opens the container; a table renames the state dict, the config is inferred from the renamed
tensors (the TensorFlow reader shares `config_from_*_state`) and `HINTS` supply what shapes cannot tell.
"""

import torch

from . import names
from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError, infer_channel_formula, lod_is_zero
from .names import Rule, count_indices, equals, first, ignore, noise_map, shape_of

FORMAT = 'genforce .pth'
WHERE = 'genforce checkpoint'
# Config fields the tensors cannot tell, per family: genforce's defaults unless given.
HINTS = {'pggan': ('c_dim', 'fused_scale', 'final_tanh'),
         'stylegan': ('mapping_lr_multiplier', 'fused_scale', 'final_tanh'),
         'stylegan2': ('mapping_lr_multiplier',)}
_swap_in_out = lambda value: value.transpose(0, 1).contiguous()  # a fused upsampling kernel [in, out, k, k]
BLUR_FILTER = torch.outer(torch.tensor([1., 2, 1]), torch.tensor([1., 2, 1]))[None, None] / 16  # per channel


def detect_genforce_family(state):
    """'pggan', 'stylegan' or 'stylegan2' from the key names of a genforce state dict, else None."""
    keys = set(state)
    if {'truncation.w_avg', 'mapping.dense0.weight'} <= keys:
        if 'synthesis.early_layer.const' in keys or 'synthesis.layer0.noise_strength' in keys:
            return 'stylegan2'
        if {'synthesis.layer0.style.weight', 'synthesis.layer0.apply_noise.weight'} <= keys:
            return 'stylegan'
        return None
    if {'layer0.weight', 'layer1.weight', 'output0.weight'} <= keys and not any(
            k.startswith(('mapping.', 'synthesis.', 'truncation.')) for k in keys):
        return 'pggan'
    return None


def checkpoint_from_genforce_state(state, hints=None, where=WHERE, extra=None):
    """`Checkpoint` of a genforce state dict, or None if it is not one; `hints` of other families are left out."""
    family = detect_genforce_family(state)
    if family is None:
        return None
    hints = {k: v for k, v in (hints or {}).items() if k in HINTS[family] and v is not None}
    if family == 'pggan':
        hints.setdefault('fused_scale', _pggan_fused(state, where))
        rules, infer = pggan_rules(state, hints['fused_scale']), config_from_pggan_state
    elif family == 'stylegan':
        rules, infer = stylegan_rules(state), config_from_stylegan_state
    else:  # Hammer's layout with three differences
        rules, infer = sg2.hammer_rules(state, genforce=True), sg2.config_from_state
    default_base = 32 << 10 if family == 'stylegan2' else 16 << 10  # genforce's, for widths that cannot tell it
    config, ours = names.convert_and_infer(state, rules, where, family, infer, default_base=default_base, **hints)
    return Checkpoint(family, config, ours, FORMAT, dict(extra or {}))


def _torgb_rules(src, used):
    """The ToRGB layer at the output resolution; those of lower levels of detail, unused at lod 0, are dropped."""
    if used:
        return [Rule(f'{src}.weight', 'synthesis.torgb.weight'), Rule(f'{src}.bias', 'synthesis.torgb.bias')]
    return [ignore(f'{src}.weight'), ignore(f'{src}.bias')]


# ----------------------------------------------------------------------------
# PGGAN.

def _pggan_fused(state, where):
    """Whether a genforce PGGAN upsamples by fused transposed convolutions (kernels `[in, out, k, k]`)."""
    for idx in range(2, count_indices(state, 'layer{}.weight'), 2):
        shape = shape_of(state, f'layer{idx}.weight', where, 4)
        if shape[0] != shape[1]:
            return shape[0] == shape_of(state, f'layer{idx - 1}.weight', where, 4)[0]
    return False


def pggan_rules(state, fused_scale):
    """Table of a genforce `PGGANGenerator` state dict, for its number of layers."""
    num_blocks = count_indices(state, 'layer{}.weight') // 2
    rules = [ignore('lod', (), lod_is_zero)]
    for idx in range(2 * num_blocks):
        transform = _swap_in_out if fused_scale and idx >= 2 and idx % 2 == 0 else None
        rules += [Rule(f'layer{idx}.weight', f'synthesis.layer{idx}.weight', transform),
                  Rule(f'layer{idx}.bias', f'synthesis.layer{idx}.bias')]
    for k in range(num_blocks):
        rules += _torgb_rules(f'output{k}', k == num_blocks - 1)
    return rules


def config_from_pggan_state(state, where, default_base=None, c_dim=0, **fields):
    """`PGGANConfig` from the shapes of a state dict in our layout; `c_dim` and `fields` what shapes cannot tell."""
    num_blocks = max(count_indices(state, 'synthesis.layer{}.weight') // 2, 1)
    channels = {4 * 2 ** k: shape_of(state, f'synthesis.layer{2 * k + 1}.weight', where, 4)[0]
                for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, default_base)
    z_dim = shape_of(state, 'synthesis.layer0.weight', where, 4)[1] - c_dim
    if z_dim <= 0:
        raise CheckpointError(f'{where}: c_dim={c_dim} leaves no z_dim for the {z_dim + c_dim} inputs of layer 0')
    return names.make_config(
        'pggan', where, z_dim=z_dim, c_dim=c_dim, img_resolution=4 * 2 ** (num_blocks - 1), channel_base=base,
        channel_max=cmax, img_channels=shape_of(state, 'synthesis.torgb.weight', where, 4)[0], **fields)


# ----------------------------------------------------------------------------
# StyleGAN (v1).

def stylegan_rules(state):
    """Table of a genforce `StyleGANGenerator` state dict, for its numbers of layers."""
    num_layers = 2 * (count_indices(state, 'synthesis.layer{}.style.weight') // 2)
    rules = [ignore('synthesis.lod', (), lod_is_zero), Rule('truncation.w_avg', 'mapping.w_avg'),
             Rule('synthesis.layer0.const', 'synthesis.const', first, (1, None, 4, 4))]
    rules += [Rule(f'mapping.dense{i}.{p}', f'mapping.fc{i}.{p}')
              for i in range(count_indices(state, 'mapping.dense{}.weight')) for p in ('weight', 'bias')]
    if 'mapping.label_weight' in state:
        rules.append(Rule('mapping.label_weight', 'mapping.embed'))
    for idx in range(num_layers):
        layer = f'synthesis.layer{idx}'
        rules += [Rule(f'{layer}.weight', f'{layer}.weight')] if idx else []
        rules += [Rule(f'{layer}.bias', f'{layer}.bias'),
                  Rule(f'{layer}.apply_noise.weight', f'{layer}.noise_strength'),
                  Rule(f'{layer}.apply_noise.noise', f'{layer}.noise_const', noise_map, (1, 1, None, None)),
                  Rule(f'{layer}.style.weight', f'{layer}.affine.weight'),
                  Rule(f'{layer}.style.bias', f'{layer}.affine.bias')]
        if idx >= 2 and idx % 2 == 0:
            rules.append(ignore(f'{layer}.blur.kernel', (None, 1, 3, 3), equals(BLUR_FILTER)))
    for k in range(num_layers // 2):
        rules += _torgb_rules(f'synthesis.output{k}', k == num_layers // 2 - 1)
    return rules


def config_from_stylegan_state(state, where, default_base=None, **fields):
    """`StyleGANConfig` from the shapes of a state dict in our layout; `fields` what shapes cannot tell."""
    mapping_layers = count_indices(state, 'mapping.fc{}.weight')
    w_dim = shape_of(state, f'mapping.fc{mapping_layers - 1}.weight', where, 2)[0]
    hidden, inputs = shape_of(state, 'mapping.fc0.weight', where, 2)
    c_dim, z_dim = shape_of(state, 'mapping.embed', where, 2) if 'mapping.embed' in state else (0, inputs)
    num_blocks = max(count_indices(state, 'synthesis.layer{}.affine.weight') // 2, 1)
    channels = {4 * 2 ** k: shape_of(state, f'synthesis.layer{2 * k + 1}.weight', where, 4)[0]
                for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, default_base)
    return names.make_config(
        'stylegan', where, z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=4 * 2 ** (num_blocks - 1),
        img_channels=shape_of(state, 'synthesis.torgb.weight', where, 4)[0], mapping_layers=mapping_layers,
        mapping_features=hidden if mapping_layers > 1 else w_dim, channel_base=base, channel_max=cmax, **fields)
