"""genforce (SeFa) `.pth` checkpoints: PGGAN, StyleGAN and StyleGAN2 generators.

SeFa's `utils.load_generator` reads `{'generator_smooth': sd, 'generator': sd}`
(or the same under `'models'`; the `hammer` reader opens that container), where
`sd` is the state dict of genforce's `PGGANGenerator`, `StyleGANGenerator` or
`StyleGAN2Generator`. The architecture is inferred from tensor shapes; what
shapes cannot tell comes from `hints` (`HINTS`, genforce's defaults otherwise).
Filter kernels, which our modules rebuild, must be the standard ones; the
ToRGB layers of lower resolutions are shape-checked and dropped; a snapshot
taken during progressive growing (`lod` != 0) is refused.

genforce's StyleGAN2 computes what NVlabs' does; it is read as Hammer's layout
with three differences (`stylegan2_names.hammer_rules`) into our StyleGAN2 module.
"""

import numpy as np
import torch

from . import names
from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError, infer_channel_formula, lod_is_zero
from .names import Rule, count_indices, equals, ignore, shape_of

FORMAT = 'genforce .pth'
WHERE = 'genforce checkpoint'
# Config fields the tensors cannot tell, per family: genforce's defaults unless given.
HINTS = {'pggan': ('c_dim', 'fused_scale', 'final_tanh'),
         'stylegan': ('mapping_lr_multiplier', 'fused_scale', 'final_tanh'),
         'stylegan2': ('mapping_lr_multiplier',)}
_DEFAULT_BASE = 16 << 10  # channel_base of genforce's PGGAN and StyleGAN when the widths cannot tell it


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
    if family == 'stylegan2':  # Hammer's layout with three differences
        config, ours = sg2.convert_and_infer(state, sg2.hammer_rules(state, genforce=True), where, 32 << 10, **hints)
    else:
        config_of = {'pggan': config_from_genforce_pggan, 'stylegan': config_from_genforce_stylegan}[family]
        config = config_of(state, hints, where)
        ours = convert_genforce(family, state, config, where)
    return Checkpoint(family, config, ours, FORMAT, dict(extra or {}))


def convert_genforce(family, state, config, where=WHERE):
    """genforce PGGAN or StyleGAN state dict -> ours, checked against the model of `config`."""
    rules = {'pggan': pggan_rules, 'stylegan': stylegan_rules}[family](config)
    return names.convert(state, rules, where, names.model_shapes(family, config))


def _filter(taps, gain):
    """2D filter `outer(taps, taps) / sum * gain`, `[1, 1, k, k]` (genforce's kernel buffers)."""
    kernel = np.outer(taps, taps).astype(np.float32)
    return torch.from_numpy(kernel / kernel.sum() * gain)[None, None]


def _first(value):
    return value[0]


def _noise(value):
    return value[0, 0]


def _transpose01(value):
    return value.transpose(0, 1).contiguous()


def _torgb_rules(src, used, img_channels, channels):
    """The ToRGB layer at the output resolution; those of lower levels of detail are unused at lod 0."""
    shapes = {'weight': (img_channels, channels, 1, 1), 'bias': (img_channels,)}
    if used:
        return [Rule(f'{src}.{name}', f'synthesis.torgb.{name}', shape=shape) for name, shape in shapes.items()]
    return [ignore(f'{src}.{name}', shape) for name, shape in shapes.items()]


# ----------------------------------------------------------------------------
# PGGAN.

def config_from_genforce_pggan(state, hints=None, where=WHERE):
    """`PGGANConfig` of a genforce PGGAN state dict: shapes give the resolution, `z_dim + c_dim`, the image
    channels, the channel formula and (when some layer changes width) `fused_scale`; `hints` the rest,
    chiefly `c_dim` of conditional models."""
    hints = dict(hints or {})
    num_blocks = count_indices(state, 'layer{}.weight') // 2
    channels = {4 * 2 ** k: shape_of(state, f'layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, _DEFAULT_BASE)
    # A fused (transposed) upsampling kernel is stored [in, out, k, k]: told where the width changes.
    fused = next((shape_of(state, f'layer{2 * k}.weight', where)[:2] == (channels[res // 2], channels[res])
                  for k, res in enumerate(channels) if k and channels[res] != channels[res // 2]), False)
    z_dim = shape_of(state, 'layer0.weight', where)[1] - hints.get('c_dim', 0)
    if z_dim <= 0:
        raise CheckpointError(f'{where}: c_dim={hints["c_dim"]} leaves no z_dim for the '
                              f'{z_dim + hints["c_dim"]} inputs of layer0.weight')
    return names.make_config('pggan', where, **{
        **dict(z_dim=z_dim, img_resolution=4 * 2 ** (num_blocks - 1), channel_base=base, channel_max=cmax,
               img_channels=shape_of(state, 'output0.weight', where)[0], fused_scale=fused), **hints})


def pggan_rules(config):
    """Table of a genforce `PGGANGenerator` state dict for `config`."""
    rules = [ignore('lod', (), lod_is_zero)]
    for k, res in enumerate(2 ** i for i in range(2, config.img_resolution.bit_length())):
        ch, prev = config.channels(res), config.channels(res // 2)
        if res == 4:
            w_dim = config.z_dim + config.c_dim
            rules.append(Rule('layer0.weight', 'synthesis.layer0.weight', shape=(ch, w_dim, 4, 4)))
        elif config.fused_scale:  # genforce stores the transposed-convolution kernel as [in, out, k, k].
            rules.append(Rule(f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', _transpose01, (prev, ch, 3, 3)))
        else:
            rules.append(Rule(f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', shape=(ch, prev, 3, 3)))
        rules += [Rule(f'layer{2 * k}.bias', f'synthesis.layer{2 * k}.bias', shape=(ch,)),
                  Rule(f'layer{2 * k + 1}.weight', f'synthesis.layer{2 * k + 1}.weight', shape=(ch, ch, 3, 3)),
                  Rule(f'layer{2 * k + 1}.bias', f'synthesis.layer{2 * k + 1}.bias', shape=(ch,))]
        rules += _torgb_rules(f'output{k}', res == config.img_resolution, config.img_channels, ch)
    return rules


# ----------------------------------------------------------------------------
# StyleGAN (v1).

def config_from_genforce_stylegan(state, hints=None, where=WHERE):
    """`StyleGANConfig` of a genforce StyleGAN state dict: shapes give the resolution, z/w/c dims, mapping
    depth and width, image channels and channel formula; `mapping_lr_multiplier` (0.01) and `fused_scale`
    ('auto') are genforce's defaults unless given as `hints`."""
    mapping_layers = count_indices(state, 'mapping.dense{}.weight')
    w_dim = shape_of(state, f'mapping.dense{mapping_layers - 1}.weight', where)[0]
    hidden, inputs = shape_of(state, 'mapping.dense0.weight', where, 2)
    c_dim, z_dim = shape_of(state, 'mapping.label_weight', where, 2) if 'mapping.label_weight' in state else (0, inputs)
    num_blocks = count_indices(state, 'synthesis.layer{}.style.weight') // 2
    channels = {4 * 2 ** k: shape_of(state, f'synthesis.layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, _DEFAULT_BASE)
    return names.make_config('stylegan', where, **{
        **dict(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=4 * 2 ** (num_blocks - 1),
               img_channels=shape_of(state, 'synthesis.output0.weight', where)[0], mapping_layers=mapping_layers,
               mapping_features=hidden if mapping_layers > 1 else w_dim, channel_base=base, channel_max=cmax),
        **(hints or {})})


def stylegan_rules(config):
    """Table of a genforce `StyleGANGenerator` state dict for `config`."""
    rules = [ignore('synthesis.lod', (), lod_is_zero), Rule('truncation.w_avg', 'mapping.w_avg', shape=(config.w_dim,))]
    features = [config.z_dim * (2 if config.c_dim else 1)] + [config.mapping_features] * (config.mapping_layers - 1)
    features.append(config.w_dim)
    rules += [Rule(f'mapping.dense{i}.{name}', f'mapping.fc{i}.{name}', shape=(features[i + 1], features[i])[:size])
              for i in range(config.mapping_layers) for name, size in (('weight', 2), ('bias', 1))]
    if config.c_dim:
        rules.append(Rule('mapping.label_weight', 'mapping.embed', shape=(config.c_dim, config.z_dim)))
    for k, res in enumerate(2 ** i for i in range(2, config.img_resolution.bit_length())):
        ch = config.channels(res)
        for idx in (2 * k, 2 * k + 1):
            layer = f'synthesis.layer{idx}'
            if idx == 0:
                rules.append(Rule(f'{layer}.const', 'synthesis.const', _first, (1, ch, 4, 4)))
            else:
                cin = config.channels(res // 2) if idx == 2 * k else ch
                rules.append(Rule(f'{layer}.weight', f'{layer}.weight', shape=(ch, cin, 3, 3)))
            rules += [Rule(f'{layer}.bias', f'{layer}.bias', shape=(ch,)),
                      Rule(f'{layer}.apply_noise.weight', f'{layer}.noise_strength', shape=(ch,)),
                      Rule(f'{layer}.apply_noise.noise', f'{layer}.noise_const', _noise,
                           (1, 1, res, res)),
                      Rule(f'{layer}.style.weight', f'{layer}.affine.weight', shape=(2 * ch, config.w_dim)),
                      Rule(f'{layer}.style.bias', f'{layer}.affine.bias', shape=(2 * ch,))]
            if idx == 2 * k and res > 4:
                blur = _filter([1, 2, 1], 1).repeat(ch, 1, 1, 1)
                rules.append(ignore(f'{layer}.blur.kernel', (ch, 1, 3, 3), equals(blur)))
        rules += _torgb_rules(f'synthesis.output{k}', res == config.img_resolution, config.img_channels, ch)
    return rules
