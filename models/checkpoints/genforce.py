"""genforce (SeFa) `.pth` checkpoints: PGGAN, StyleGAN and StyleGAN2 generators.

The files that genforce's SeFa `utils.load_generator` reads hold
`{'generator_smooth': sd, 'generator': sd}` (or the same under `'models'`; the
`hammer` reader opens that container), where `sd` is the state dict of
genforce's `PGGANGenerator`, `StyleGANGenerator` or `StyleGAN2Generator`, as
converted from the official TensorFlow networks.

The architecture is inferred from tensor shapes (resolution, latent sizes,
mapping depth, channel formula); what shapes cannot tell (genforce's defaults
otherwise) comes from `hints`, named as our config fields (`HINTS`): PGGAN
`c_dim`, `fused_scale` and `final_tanh`, StyleGAN `mapping_lr_multiplier`,
`fused_scale` and `final_tanh`, StyleGAN2 `mapping_lr_multiplier`.

Conversion is strict: every source tensor is consumed or explicitly ignored
(filter kernels, which our modules rebuild, are checked to be the standard
ones; the ToRGB layers of lower resolutions, used only during progressive
growing, are shape-checked and dropped), every shape is checked, and a
progressive-growing snapshot (`lod` != 0) is refused.

genforce's StyleGAN2 computes what NVlabs' does, so it converts into our
StyleGAN2 module (NVlabs names). The only change of value: genforce adds a
constant 1 to every style (`additional_bias`), NVlabs initialises the affine
bias at 1, so `affine.bias = style.bias + 1`; and genforce keeps the kernels of
the upsampling convolutions as TensorFlow stored them and flips them at run
time, where NVlabs flips them once on conversion, so `conv0.weight` is the
spatially flipped `layer{2k-1}.weight`.
"""

import numpy as np
import torch

from ..pggan import PGGANConfig
from ..stylegan import StyleGANConfig
from ..stylegan2 import StyleGAN2Config
from . import names
from .common import Checkpoint, CheckpointError, infer_channel_formula, lod_is_zero
from .names import Rule, count_indices, equals, ignore

__all__ = ['FORMAT', 'HINTS', 'detect_genforce_family', 'checkpoint_from_genforce_state',
           'config_from_genforce_pggan', 'config_from_genforce_stylegan', 'config_from_genforce_stylegan2',
           'pggan_rules', 'stylegan_rules', 'stylegan2_rules',
           'convert_genforce_pggan', 'convert_genforce_stylegan', 'convert_genforce_stylegan2']

FORMAT = 'genforce .pth'
WHERE = 'genforce checkpoint'
# Config fields the tensors cannot tell, per family: genforce's defaults unless given.
HINTS = {'pggan': ('c_dim', 'fused_scale', 'final_tanh'),
         'stylegan': ('mapping_lr_multiplier', 'fused_scale', 'final_tanh'),
         'stylegan2': ('mapping_lr_multiplier',)}
_DEFAULT_BASE = {'pggan': 16 << 10, 'stylegan': 16 << 10, 'stylegan2': 32 << 10}


# ----------------------------------------------------------------------------
# Detection.

def detect_genforce_family(state):
    """'pggan', 'stylegan' or 'stylegan2' from the key names of a genforce state dict, else None."""
    keys = set(state)
    if 'truncation.w_avg' in keys and 'mapping.dense0.weight' in keys:
        if 'synthesis.early_layer.const' in keys or 'synthesis.layer0.noise_strength' in keys:
            return 'stylegan2'
        if 'synthesis.layer0.style.weight' in keys and 'synthesis.layer0.apply_noise.weight' in keys:
            return 'stylegan'
        return None
    if {'layer0.weight', 'layer1.weight', 'output0.weight'} <= keys and not any(
            k.startswith(('mapping.', 'synthesis.', 'truncation.')) for k in keys):
        return 'pggan'
    return None


def checkpoint_from_genforce_state(state, hints=None, where=WHERE, extra=None):
    """`Checkpoint(family, config, state_dict)` of a genforce state dict, or None if it is not one.

    Args:
        state: A genforce generator state dict.
        hints: Settings; those in `HINTS[family]` (not None) are used, the
            others are left to the caller.
        extra: `Checkpoint.extra` (e.g. which copy of the container was read).
    """
    family = detect_genforce_family(state)
    if family is None:
        return None
    hints = {k: v for k, v in (hints or {}).items() if k in HINTS[family] and v is not None}
    config_fn, convert_fn = {
        'pggan': (config_from_genforce_pggan, convert_genforce_pggan),
        'stylegan': (config_from_genforce_stylegan, convert_genforce_stylegan),
        'stylegan2': (config_from_genforce_stylegan2, convert_genforce_stylegan2),
    }[family]
    config = config_fn(state, hints, where)
    return Checkpoint(family, config, convert_fn(state, config, where), FORMAT, dict(extra or {}))


# ----------------------------------------------------------------------------
# Shared helpers.

def _shape(state, key, where):
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    return tuple(state[key].shape)


def _config(family, config_class, inferred, hints, where):
    """Config from inferred values and hints; a hint the family does not take is an error."""
    values = dict(inferred)
    for name, value in (hints or {}).items():
        if name not in HINTS[family]:
            raise ValueError(f'{where}: {name!r} cannot be given for a genforce {family}; '
                             f'the tensors tell the rest (hints: {list(HINTS[family])})')
        if value is not None:
            values[name] = value
    try:
        return config_class(**values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f'{where}: {error}') from None


def _filter(taps, gain):
    """2D filter `outer(taps, taps) / sum * gain`, `[1, 1, k, k]` (genforce's kernel buffers)."""
    taps = np.asarray(taps, dtype=np.float32)
    kernel = np.outer(taps, taps)
    kernel = kernel / kernel.sum() * gain
    return torch.from_numpy(kernel.astype(np.float32))[None, None]


def _squeeze0(value):
    return value[0]


def _noise(value):
    return value[0, 0]


def _plus_one(value):
    return value + 1


def _flip_kernel(value):
    return value.flip([2, 3]).contiguous()


def _transpose01(value):
    return value.transpose(0, 1).contiguous()


# ----------------------------------------------------------------------------
# PGGAN.

def config_from_genforce_pggan(state, hints=None, where=WHERE):
    """Infer a `PGGANConfig` from a genforce PGGAN state dict.

    Shapes give the resolution, `z_dim + c_dim`, the image channels, the channel
    formula and (when some layer changes width) `fused_scale`. `hints` (our
    field names) supply the rest, chiefly `c_dim` of conditional models.
    """
    hints = dict(hints or {})
    num_layers = count_indices(state, 'layer{}.weight')
    num_blocks = num_layers // 2
    if num_blocks < 2 or num_layers % 2:
        raise CheckpointError(f'{where}: found {num_layers} PGGAN layers, expected an even number >= 4')
    resolution = 4 * 2 ** (num_blocks - 1)
    channels = {4 * 2 ** k: _shape(state, f'layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, _DEFAULT_BASE['pggan'])
    fused = None
    for k in range(1, num_blocks):
        res = 4 * 2 ** k
        shape = _shape(state, f'layer{2 * k}.weight', where)
        if channels[res] == channels[res // 2]:
            continue
        this = shape[:2] == (channels[res // 2], channels[res])
        if fused is not None and fused != this:
            raise CheckpointError(f'{where}: layer{2 * k}.weight {list(shape)} contradicts the layout of the '
                                  f'other upsampling layers')
        fused = this
    if fused is not None and hints.get('fused_scale') not in (None, fused):
        raise CheckpointError(f'{where}: fused_scale={hints["fused_scale"]} was given, but the shapes of the '
                              f'upsampling layers give fused_scale={fused}')
    in_features = _shape(state, 'layer0.weight', where)[1]
    c_dim = int(hints.get('c_dim') or 0)
    inferred = dict(z_dim=in_features - c_dim, c_dim=c_dim, img_resolution=resolution,
                    img_channels=_shape(state, 'output0.weight', where)[0], channel_base=base,
                    channel_max=cmax, fused_scale=bool(fused))
    return _config('pggan', PGGANConfig, inferred, hints, where)


def pggan_rules(config):
    """Table of a genforce `PGGANGenerator` state dict for `config`."""
    rules = [ignore('lod', (), lod_is_zero)]
    log2 = int(np.log2(config.img_resolution))
    w_dim = config.z_dim + config.c_dim
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = config.channels(res)
        if res == 4:
            rules.append(Rule('layer0.weight', 'synthesis.layer0.weight', shape=(ch, w_dim, 4, 4)))
        else:
            prev = config.channels(res // 2)
            if config.fused_scale:  # genforce stores the transposed-convolution kernel as [in, out, k, k].
                rules.append(Rule(f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', _transpose01,
                                  (prev, ch, 3, 3)))
            else:
                rules.append(Rule(f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', shape=(ch, prev, 3, 3)))
        rules += [Rule(f'layer{2 * k}.bias', f'synthesis.layer{2 * k}.bias', shape=(ch,)),
                  Rule(f'layer{2 * k + 1}.weight', f'synthesis.layer{2 * k + 1}.weight', shape=(ch, ch, 3, 3)),
                  Rule(f'layer{2 * k + 1}.bias', f'synthesis.layer{2 * k + 1}.bias', shape=(ch,))]
        rules += _torgb_rules(f'output{k}', res == config.img_resolution, config.img_channels, ch)
    return rules


def _torgb_rules(src, used, img_channels, channels):
    """The ToRGB layer at the output resolution; those of lower levels of detail are unused at lod 0."""
    shapes = {'weight': (img_channels, channels, 1, 1), 'bias': (img_channels,)}
    if used:
        return [Rule(f'{src}.{name}', f'synthesis.torgb.{name}', shape=shape) for name, shape in shapes.items()]
    return [ignore(f'{src}.{name}', shape) for name, shape in shapes.items()]


def convert_genforce_pggan(state, config, where=WHERE):
    """genforce PGGAN state dict -> our `PGGANGenerator` state dict."""
    return names.convert(state, pggan_rules(config), where)


# ----------------------------------------------------------------------------
# StyleGAN (v1).

def config_from_genforce_stylegan(state, hints=None, where=WHERE):
    """Infer a `StyleGANConfig` from a genforce StyleGAN state dict.

    Shapes give the resolution, z/w/c dims, mapping depth and width, image
    channels and channel formula. `mapping_lr_multiplier` (0.01) and
    `fused_scale` ('auto') are genforce's defaults unless given as `hints`.
    """
    mapping_layers = count_indices(state, 'mapping.dense{}.weight')
    if mapping_layers == 0:
        raise CheckpointError(f'{where}: missing tensor mapping.dense0.weight')
    w_avg = _shape(state, 'truncation.w_avg', where)
    w_dim = _shape(state, f'mapping.dense{mapping_layers - 1}.weight', where)[0]
    if w_avg != (w_dim,):
        raise CheckpointError(f'{where}: truncation.w_avg has shape {list(w_avg)}, expected [{w_dim}] '
                              f'(models without a shared w per layer are not supported)')
    dense0 = _shape(state, 'mapping.dense0.weight', where)
    if 'mapping.label_weight' in state:
        c_dim, z_dim = _shape(state, 'mapping.label_weight', where)
    else:
        c_dim, z_dim = 0, dense0[1]
    num_layers = count_indices(state, 'synthesis.layer{}.style.weight')
    num_blocks = num_layers // 2
    if num_blocks < 2 or num_layers % 2:
        raise CheckpointError(f'{where}: found {num_layers} StyleGAN synthesis layers, expected an even number >= 4')
    if 'synthesis.layer0.const' not in state:
        raise CheckpointError(f'{where}: missing tensor synthesis.layer0.const (only constant-input '
                              f'StyleGAN generators are supported)')
    channels = {4 * 2 ** k: _shape(state, f'synthesis.layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = infer_channel_formula(channels, where, _DEFAULT_BASE['stylegan'])
    inferred = dict(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=4 * 2 ** (num_blocks - 1),
                    img_channels=_shape(state, 'synthesis.output0.weight', where)[0],
                    mapping_layers=mapping_layers,
                    mapping_features=dense0[0] if mapping_layers > 1 else w_dim,
                    channel_base=base, channel_max=cmax)
    return _config('stylegan', StyleGANConfig, inferred, hints, where)


def stylegan_rules(config):
    """Table of a genforce `StyleGANGenerator` state dict for `config`."""
    rules = [ignore('synthesis.lod', (), lod_is_zero)]
    in_features = config.z_dim * (2 if config.c_dim else 1)
    features = [in_features] + [config.mapping_features] * (config.mapping_layers - 1) + [config.w_dim]
    for i in range(config.mapping_layers):
        rules += [Rule(f'mapping.dense{i}.weight', f'mapping.fc{i}.weight', shape=(features[i + 1], features[i])),
                  Rule(f'mapping.dense{i}.bias', f'mapping.fc{i}.bias', shape=(features[i + 1],))]
    if config.c_dim:
        rules.append(Rule('mapping.label_weight', 'mapping.embed', shape=(config.c_dim, config.z_dim)))
    rules.append(Rule('truncation.w_avg', 'mapping.w_avg', shape=(config.w_dim,)))
    log2 = int(np.log2(config.img_resolution))
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = config.channels(res)
        for idx in (2 * k, 2 * k + 1):
            layer = f'synthesis.layer{idx}'
            if idx == 0:
                rules.append(Rule(f'{layer}.const', 'synthesis.const', _squeeze0, (1, ch, 4, 4)))
            else:
                cin = config.channels(res // 2) if idx == 2 * k else ch
                rules.append(Rule(f'{layer}.weight', f'{layer}.weight', shape=(ch, cin, 3, 3)))
            rules += [
                Rule(f'{layer}.bias', f'{layer}.bias', shape=(ch,)),
                Rule(f'{layer}.apply_noise.weight', f'{layer}.noise_strength', shape=(ch,)),
                Rule(f'{layer}.apply_noise.noise', f'{layer}.noise_const', _noise, (1, 1, res, res)),
                Rule(f'{layer}.style.weight', f'{layer}.affine.weight', shape=(2 * ch, config.w_dim)),
                Rule(f'{layer}.style.bias', f'{layer}.affine.bias', shape=(2 * ch,)),
            ]
            if idx == 2 * k and res > 4:
                blur = _filter([1, 2, 1], 1).repeat(ch, 1, 1, 1)
                rules.append(ignore(f'{layer}.blur.kernel', (ch, 1, 3, 3), equals(blur)))
        rules += _torgb_rules(f'synthesis.output{k}', res == config.img_resolution, config.img_channels, ch)
    return rules


def convert_genforce_stylegan(state, config, where=WHERE):
    """genforce StyleGAN state dict -> our `StyleGANGenerator` state dict."""
    return names.convert(state, stylegan_rules(config), where)


# ----------------------------------------------------------------------------
# StyleGAN2 -> our StyleGAN2 module (NVlabs names).

def config_from_genforce_stylegan2(state, hints=None, where=WHERE):
    """Infer the `StyleGAN2Config` of a genforce StyleGAN2 state dict (`hints`: `mapping_lr_multiplier`)."""
    if 'mapping.label_weight' in state:
        raise CheckpointError(f'{where}: conditional genforce StyleGAN2 generators (mapping.label_weight) '
                              f'are not supported')
    if 'synthesis.early_layer.const' not in state:
        raise CheckpointError(f'{where}: missing tensor synthesis.early_layer.const (only constant-input '
                              f'StyleGAN2 generators are supported)')
    mapping_layers = count_indices(state, 'mapping.dense{}.weight')
    if mapping_layers == 0:
        raise CheckpointError(f'{where}: missing tensor mapping.dense0.weight')
    w_dim = _shape(state, f'mapping.dense{mapping_layers - 1}.weight', where)[0]
    dense0 = _shape(state, 'mapping.dense0.weight', where)
    w_avg = _shape(state, 'truncation.w_avg', where)
    if w_avg != (w_dim,):
        raise CheckpointError(f'{where}: truncation.w_avg has shape {list(w_avg)}, expected [{w_dim}] '
                              f'(models without a shared w per layer are not supported)')
    num_convs = count_indices(state, 'synthesis.layer{}.weight')
    if num_convs < 3 or num_convs % 2 == 0:
        raise CheckpointError(f'{where}: found {num_convs} StyleGAN2 conv layers, expected an odd number >= 3')
    num_blocks = (num_convs + 1) // 2
    resolution = 4 * 2 ** (num_blocks - 1)
    num_outputs = count_indices(state, 'synthesis.output{}.weight')
    if num_outputs == num_blocks:
        architecture = 'skip'
    elif num_outputs == 0 and f'synthesis.output{num_blocks - 1}.weight' in state:
        architecture = 'orig'
    else:
        raise CheckpointError(f'{where}: ToRGB layers (synthesis.output*) fit neither the skip nor the '
                              f'origin architecture (resnet generators are not supported)')
    channels = {4: _shape(state, 'synthesis.early_layer.const', where)[1]}
    for k in range(1, num_blocks):
        channels[4 * 2 ** k] = _shape(state, f'synthesis.layer{2 * k}.weight', where)[0]
    base, cmax = infer_channel_formula(channels, where, _DEFAULT_BASE['stylegan2'])
    hidden = dense0[0] if mapping_layers > 1 else w_dim
    inferred = dict(z_dim=dense0[1], w_dim=w_dim, c_dim=0, img_resolution=resolution,
                    img_channels=_shape(state, f'synthesis.output{num_blocks - 1}.weight', where)[0],
                    mapping_layers=mapping_layers, mapping_lr_multiplier=0.01, channel_base=base,
                    channel_max=cmax, conv_clamp=None, architecture=architecture, num_fp16_res=0,
                    mapping_layer_features=hidden if hidden != w_dim else None)
    return _config('stylegan2', StyleGAN2Config, inferred, hints, where)


def stylegan2_rules(config):
    """Table of a genforce `StyleGAN2Generator` state dict for `config` (skip or orig architecture)."""
    if config.architecture not in ('skip', 'orig'):
        raise CheckpointError(f'genforce StyleGAN2 architecture must be skip or orig, got {config.architecture!r}')
    w_dim, resolution = config.w_dim, config.img_resolution
    hidden = config.mapping_layer_features or w_dim
    features = [config.z_dim] + [hidden] * (config.mapping_layers - 1) + [w_dim]
    rules = []
    for i in range(config.mapping_layers):
        rules += [Rule(f'mapping.dense{i}.weight', f'mapping.fc{i}.weight', shape=(features[i + 1], features[i])),
                  Rule(f'mapping.dense{i}.bias', f'mapping.fc{i}.bias', shape=(features[i + 1],))]
    rules += [Rule('truncation.w_avg', 'mapping.w_avg', shape=(w_dim,)),
              Rule('synthesis.early_layer.const', 'synthesis.b4.const', _squeeze0, (1, config.channels(4), 4, 4))]
    up_filter = _filter([1, 3, 3, 1], 4)
    log2 = int(np.log2(resolution))
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = config.channels(res)
        layers = [(0, 'conv1', ch)]
        if k:
            layers = [(2 * k - 1, 'conv0', config.channels(res // 2)), (2 * k, 'conv1', ch)]
        for idx, name, cin in layers:
            src, dst = f'synthesis.layer{idx}', f'synthesis.b{res}.{name}'
            flip = _flip_kernel if name == 'conv0' else None  # genforce flips it at run time, NVlabs on load.
            rules += [
                Rule(f'{src}.weight', f'{dst}.weight', flip, (ch, cin, 3, 3)),
                Rule(f'{src}.bias', f'{dst}.bias', shape=(ch,)),
                Rule(f'{src}.noise_strength', f'{dst}.noise_strength', shape=()),
                Rule(f'{src}.noise', f'{dst}.noise_const', _noise, (1, 1, res, res)),
                Rule(f'{src}.style.weight', f'{dst}.affine.weight', shape=(cin, w_dim)),
                Rule(f'{src}.style.bias', f'{dst}.affine.bias', _plus_one, (cin,)),
            ]
            if name == 'conv0':
                rules.append(ignore(f'{src}.filter.kernel', (1, 1, 4, 4), equals(up_filter)))
        if config.architecture == 'skip' or res == resolution:
            src, dst = f'synthesis.output{k}', f'synthesis.b{res}.torgb'
            rules += [
                Rule(f'{src}.weight', f'{dst}.weight', shape=(config.img_channels, ch, 1, 1)),
                Rule(f'{src}.bias', f'{dst}.bias', shape=(config.img_channels,)),
                Rule(f'{src}.style.weight', f'{dst}.affine.weight', shape=(ch, w_dim)),
                Rule(f'{src}.style.bias', f'{dst}.affine.bias', _plus_one, (ch,)),
            ]
    if config.architecture == 'skip':
        rules.append(ignore('synthesis.upsample.kernel', (1, 1, 4, 4), equals(up_filter)))
    return rules


def convert_genforce_stylegan2(state, config, where=WHERE):
    """genforce StyleGAN2 state dict -> our StyleGAN2 (NVlabs-named) state dict."""
    return names.convert(state, stylegan2_rules(config), where)
