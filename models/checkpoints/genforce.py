"""genforce (SeFa) `.pth` checkpoints: PGGAN, StyleGAN and StyleGAN2 generators.

The files that genforce's SeFa `utils.load_generator` reads hold
`{'generator_smooth': sd, 'generator': sd}` (or the same under `'models'`),
where `sd` is the state dict of genforce's `PGGANGenerator`,
`StyleGANGenerator` or `StyleGAN2Generator`, as converted from the official
TensorFlow networks. The smoothed (EMA) copy is preferred.

The architecture is inferred from tensor shapes (resolution, latent sizes,
mapping depth, channel formula); what shapes cannot tell (genforce's defaults
otherwise) comes from `overrides`, named as our config fields: PGGAN `c_dim`,
StyleGAN `mapping_lr_multiplier` and `fused_scale`, `final_tanh`.

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
from .common import Checkpoint, CheckpointError, check_tensors

__all__ = ['read_genforce_state', 'detect_genforce_family', 'config_from_genforce_pggan',
           'config_from_genforce_stylegan', 'config_from_genforce_stylegan2', 'convert_genforce_pggan',
           'convert_genforce_stylegan', 'convert_genforce_stylegan2', 'checkpoint_from_genforce_state']

WHERE = 'genforce checkpoint'
_DEFAULT_BASE = {'pggan': 16 << 10, 'stylegan': 16 << 10, 'stylegan2': 32 << 10}


# ----------------------------------------------------------------------------
# Reading and detection.

def read_genforce_state(obj, where=WHERE):
    """The generator state dict of a loaded genforce / Hammer `.pth` object.

    Args:
        obj: What `torch.load` returned: `{'generator_smooth': sd, 'generator': sd}`,
            or the same under `'models'`.

    Returns:
        `(state_dict, which)`, `which` being `'generator_smooth'` when present,
        else `'generator'`.
    """
    if not isinstance(obj, dict):
        raise CheckpointError(f'{where}: holds a {type(obj).__name__}, not a dict of networks')
    models = obj['models'] if isinstance(obj.get('models'), dict) else obj
    for which in ('generator_smooth', 'generator'):
        if which in models:
            state = models[which]
            if not isinstance(state, dict) or not state:
                raise CheckpointError(f'{where}: {which} is not a state dict')
            check_tensors(state, f'{where} [{which}]')
            return dict(state), which
    raise CheckpointError(f"{where}: no 'generator_smooth' or 'generator' entry "
                          f'(keys: {sorted(map(str, models))[:8]})')


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


def checkpoint_from_genforce_state(state, overrides=None, where=WHERE, which=None):
    """`Checkpoint(family, config, state_dict)` of a genforce state dict, or None if it is not one.

    `overrides` may hold any command-line settings; those named like a field of
    the family's config are applied, the others are left to the caller.
    """
    family = detect_genforce_family(state)
    if family is None:
        return None
    config_class = {'pggan': PGGANConfig, 'stylegan': StyleGANConfig}.get(family)
    names = set(config_class.__dataclass_fields__) if config_class else set(_SG2_FIELDS)
    overrides = {k: v for k, v in (overrides or {}).items() if k in names and v is not None}
    extra = {'which': which} if which else {}
    if family == 'pggan':
        config = config_from_genforce_pggan(state, overrides, where)
        return Checkpoint('pggan', config, convert_genforce_pggan(state, config, where), 'genforce .pth', extra)
    if family == 'stylegan':
        config = config_from_genforce_stylegan(state, overrides, where)
        return Checkpoint('stylegan', config, convert_genforce_stylegan(state, config, where), 'genforce .pth',
                          extra)
    kwargs = config_from_genforce_stylegan2(state, overrides, where)
    return Checkpoint('stylegan2', StyleGAN2Config(**kwargs), convert_genforce_stylegan2(state, kwargs, where),
                      'genforce .pth', extra)


# ----------------------------------------------------------------------------
# Shared helpers.

def _shape(state, key, where):
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    return tuple(state[key].shape)


def _count(state, pattern):
    """Number of consecutive indices i = 0, 1, ... with `pattern.format(i)` in `state`."""
    count = 0
    while pattern.format(count) in state:
        count += 1
    return count


def _channel_formula(channels_by_res, default_base, where):
    """`(channel_base, channel_max)` with `channels(res) = min(channel_base // res, channel_max)`.

    When every resolution sits at the cap, any large base fits; genforce's
    default is preferred then.
    """
    channel_max = max(channels_by_res.values())
    candidates = [default_base]
    below = [(res, ch) for res, ch in sorted(channels_by_res.items()) if ch < channel_max]
    if below:
        res, ch = below[0]
        candidates.insert(0, ch * res)
    candidates.append(channel_max * max(channels_by_res))
    for base in candidates:
        if all(min(base // res, channel_max) == ch for res, ch in channels_by_res.items()):
            return base, channel_max
    raise CheckpointError(f'{where}: channel counts {dict(sorted(channels_by_res.items()))} do not follow '
                          f'min(channel_base // res, channel_max)')


def _apply_overrides(inferred, overrides, config_class, where):
    """Config from inferred values and user overrides; unknown names are an error."""
    kwargs = dict(inferred)
    for name, value in (overrides or {}).items():
        if name not in config_class.__dataclass_fields__:
            raise ValueError(f'{where}: unknown {config_class.__name__} setting {name!r}; '
                             f'choose from {sorted(config_class.__dataclass_fields__)}')
        if value is not None:
            kwargs[name] = value
    try:
        return config_class(**kwargs)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f'{where}: {error}') from None


def _convert(state, entries, ignored, where):
    """Apply a table of `(source, target, source_shape, transform)` strictly.

    `ignored` maps source keys that our modules do not keep to
    `(shape, expected_value_or_None)`; they must be present and as expected.
    """
    known = {src for src, _, _, _ in entries} | set(ignored)
    for key in state:
        if key not in known:
            raise CheckpointError(f'{where}: unexpected tensor {key}')
    out = {}
    for src, dst, shape, transform in entries:
        value = _checked(state, src, shape, where)
        value = value.to(torch.float32) if value.is_floating_point() else value
        out[dst] = transform(value) if transform is not None else value
    for key, (shape, expected) in ignored.items():
        value = _checked(state, key, shape, where)
        if expected is not None and not torch.allclose(value.to(torch.float32), expected, atol=1e-6):
            raise CheckpointError(f'{where}: {key} is not the value this architecture assumes '
                                  f'({value.flatten()[:4].tolist()}...)')
    return out


def _checked(state, key, shape, where):
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    value = state[key]
    if tuple(value.shape) != tuple(shape):
        raise CheckpointError(f'{where}: {key} has shape {list(value.shape)}, expected {list(shape)}')
    return value


def _check_lod(state, key, where):
    lod = state.get(key)
    if lod is not None and lod.numel() == 1 and float(lod) != 0:
        raise CheckpointError(f'{where}: {key} is {float(lod):g}: a snapshot taken during progressive '
                              f'growing; only finished networks (lod 0) are supported')


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


def _check_fits(state, config, entries_fn, where):
    """Shapes of every tensor must match the config (used after overrides)."""
    entries, ignored = entries_fn(config)
    for src, _, shape, _ in entries:
        if src not in state:
            raise CheckpointError(f'{where}: missing tensor {src} (config {config})')
        if tuple(state[src].shape) != tuple(shape):
            raise CheckpointError(f'{where}: {src} has shape {list(state[src].shape)}, but the settings '
                                  f'given imply {list(shape)}')


# ----------------------------------------------------------------------------
# PGGAN.

def config_from_genforce_pggan(state, overrides=None, where=WHERE):
    """Infer a `PGGANConfig` from a genforce PGGAN state dict.

    Shapes give the resolution, `z_dim + c_dim`, the image channels, the channel
    formula and (when some layer changes width) `fused_scale`. `overrides`
    (our field names) supply the rest, chiefly `c_dim` of conditional models.
    """
    overrides = dict(overrides or {})
    num_layers = _count(state, 'layer{}.weight')
    num_blocks = num_layers // 2
    if num_blocks < 2 or num_layers % 2:
        raise CheckpointError(f'{where}: found {num_layers} PGGAN layers, expected an even number >= 4')
    resolution = 4 * 2 ** (num_blocks - 1)
    channels = {4 * 2 ** k: _shape(state, f'layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = _channel_formula(channels, _DEFAULT_BASE['pggan'], where)
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
    in_features = _shape(state, 'layer0.weight', where)[1]
    c_dim = int(overrides.get('c_dim') or 0)
    inferred = dict(z_dim=in_features - c_dim, c_dim=c_dim, img_resolution=resolution,
                    img_channels=_shape(state, 'output0.weight', where)[0], channel_base=base,
                    channel_max=cmax, fused_scale=bool(fused))
    config = _apply_overrides(inferred, overrides, PGGANConfig, where)
    if overrides:
        _check_fits(state, config, _pggan_entries, where)
    return config


def _pggan_entries(config):
    entries = []
    ignored = {'lod': ((), None)}
    log2 = int(np.log2(config.img_resolution))
    w_dim = config.z_dim + config.c_dim
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = config.channels(res)
        if res == 4:
            entries.append(('layer0.weight', 'synthesis.layer0.weight', (ch, w_dim, 4, 4), None))
        else:
            prev = config.channels(res // 2)
            if config.fused_scale:  # genforce stores the transposed-convolution kernel as [in, out, k, k].
                entries.append((f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', (prev, ch, 3, 3),
                                lambda v: v.transpose(0, 1).contiguous()))
            else:
                entries.append((f'layer{2 * k}.weight', f'synthesis.layer{2 * k}.weight', (ch, prev, 3, 3), None))
        entries.append((f'layer{2 * k}.bias', f'synthesis.layer{2 * k}.bias', (ch,), None))
        entries.append((f'layer{2 * k + 1}.weight', f'synthesis.layer{2 * k + 1}.weight', (ch, ch, 3, 3), None))
        entries.append((f'layer{2 * k + 1}.bias', f'synthesis.layer{2 * k + 1}.bias', (ch,), None))
        rgb = (config.img_channels, ch, 1, 1), (config.img_channels,)
        if res == config.img_resolution:
            entries.append((f'output{k}.weight', 'synthesis.torgb.weight', rgb[0], None))
            entries.append((f'output{k}.bias', 'synthesis.torgb.bias', rgb[1], None))
        else:  # ToRGB of a lower level of detail: unused at lod 0.
            ignored[f'output{k}.weight'] = (rgb[0], None)
            ignored[f'output{k}.bias'] = (rgb[1], None)
    return entries, ignored


def convert_genforce_pggan(state, config, where=WHERE):
    """genforce PGGAN state dict -> our `PGGANGenerator` state dict."""
    _check_lod(state, 'lod', where)
    entries, ignored = _pggan_entries(config)
    return _convert(state, entries, ignored, where)


# ----------------------------------------------------------------------------
# StyleGAN (v1).

def config_from_genforce_stylegan(state, overrides=None, where=WHERE):
    """Infer a `StyleGANConfig` from a genforce StyleGAN state dict.

    Shapes give the resolution, z/w/c dims, mapping depth and width, image
    channels and channel formula. `mapping_lr_multiplier` (0.01) and
    `fused_scale` ('auto') are genforce's defaults unless overridden.
    """
    mapping_layers = _count(state, 'mapping.dense{}.weight')
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
    num_layers = _count(state, 'synthesis.layer{}.style.weight')
    num_blocks = num_layers // 2
    if num_blocks < 2 or num_layers % 2:
        raise CheckpointError(f'{where}: found {num_layers} StyleGAN synthesis layers, expected an even number >= 4')
    if 'synthesis.layer0.const' not in state:
        raise CheckpointError(f'{where}: missing tensor synthesis.layer0.const (only constant-input '
                              f'StyleGAN generators are supported)')
    channels = {4 * 2 ** k: _shape(state, f'synthesis.layer{2 * k + 1}.weight', where)[0] for k in range(num_blocks)}
    base, cmax = _channel_formula(channels, _DEFAULT_BASE['stylegan'], where)
    inferred = dict(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=4 * 2 ** (num_blocks - 1),
                    img_channels=_shape(state, 'synthesis.output0.weight', where)[0],
                    mapping_layers=mapping_layers,
                    mapping_features=dense0[0] if mapping_layers > 1 else w_dim,
                    channel_base=base, channel_max=cmax)
    config = _apply_overrides(inferred, overrides, StyleGANConfig, where)
    if overrides:
        _check_fits(state, config, _stylegan_entries, where)
    return config


def _stylegan_entries(config):
    entries = []
    ignored = {'synthesis.lod': ((), None)}
    in_features = config.z_dim * (2 if config.c_dim else 1)
    features = [in_features] + [config.mapping_features] * (config.mapping_layers - 1) + [config.w_dim]
    for i in range(config.mapping_layers):
        entries.append((f'mapping.dense{i}.weight', f'mapping.fc{i}.weight', (features[i + 1], features[i]), None))
        entries.append((f'mapping.dense{i}.bias', f'mapping.fc{i}.bias', (features[i + 1],), None))
    if config.c_dim:
        entries.append(('mapping.label_weight', 'mapping.embed', (config.c_dim, config.z_dim), None))
    entries.append(('truncation.w_avg', 'mapping.w_avg', (config.w_dim,), None))
    log2 = int(np.log2(config.img_resolution))
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = config.channels(res)
        for idx in (2 * k, 2 * k + 1):
            src, dst = f'synthesis.layer{idx}', f'synthesis.layer{idx}'
            if idx == 0:
                entries.append((f'{src}.const', 'synthesis.const', (1, ch, 4, 4), _squeeze0))
            else:
                cin = config.channels(res // 2) if idx == 2 * k else ch
                entries.append((f'{src}.weight', f'{dst}.weight', (ch, cin, 3, 3), None))
            entries += [
                (f'{src}.bias', f'{dst}.bias', (ch,), None),
                (f'{src}.apply_noise.weight', f'{dst}.noise_strength', (ch,), None),
                (f'{src}.apply_noise.noise', f'{dst}.noise_const', (1, 1, res, res), _noise),
                (f'{src}.style.weight', f'{dst}.affine.weight', (2 * ch, config.w_dim), None),
                (f'{src}.style.bias', f'{dst}.affine.bias', (2 * ch,), None),
            ]
            if idx == 2 * k and res > 4:
                ignored[f'{src}.blur.kernel'] = ((ch, 1, 3, 3), _filter([1, 2, 1], 1).repeat(ch, 1, 1, 1))
        rgb = (config.img_channels, ch, 1, 1), (config.img_channels,)
        if res == config.img_resolution:
            entries.append((f'synthesis.output{k}.weight', 'synthesis.torgb.weight', rgb[0], None))
            entries.append((f'synthesis.output{k}.bias', 'synthesis.torgb.bias', rgb[1], None))
        else:  # ToRGB of a lower level of detail: unused at lod 0.
            ignored[f'synthesis.output{k}.weight'] = (rgb[0], None)
            ignored[f'synthesis.output{k}.bias'] = (rgb[1], None)
    return entries, ignored


def convert_genforce_stylegan(state, config, where=WHERE):
    """genforce StyleGAN state dict -> our `StyleGANGenerator` state dict."""
    _check_lod(state, 'synthesis.lod', where)
    entries, ignored = _stylegan_entries(config)
    return _convert(state, entries, ignored, where)


# ----------------------------------------------------------------------------
# StyleGAN2 -> our StyleGAN2 module (NVlabs names).

_SG2_FIELDS = ('z_dim', 'w_dim', 'c_dim', 'img_resolution', 'img_channels', 'mapping_layers',
               'mapping_lr_multiplier', 'mapping_layer_features', 'channel_base', 'channel_max',
               'conv_clamp', 'architecture', 'num_fp16_res')


def config_from_genforce_stylegan2(state, overrides=None, where=WHERE):
    """Infer the `StyleGAN2Config` kwargs of a genforce StyleGAN2 state dict.

    Returns:
        dict with `z_dim, w_dim, c_dim, img_resolution, img_channels,
        mapping_layers, mapping_lr_multiplier, channel_base, channel_max,
        conv_clamp, architecture, num_fp16_res` (plus `mapping_layer_features`
        when the hidden mapping width differs from `w_dim`), overrides applied.
    """
    if 'mapping.label_weight' in state:
        raise CheckpointError(f'{where}: conditional genforce StyleGAN2 generators (mapping.label_weight) '
                              f'are not supported')
    if 'synthesis.early_layer.const' not in state:
        raise CheckpointError(f'{where}: missing tensor synthesis.early_layer.const (only constant-input '
                              f'StyleGAN2 generators are supported)')
    mapping_layers = _count(state, 'mapping.dense{}.weight')
    if mapping_layers == 0:
        raise CheckpointError(f'{where}: missing tensor mapping.dense0.weight')
    w_dim = _shape(state, f'mapping.dense{mapping_layers - 1}.weight', where)[0]
    dense0 = _shape(state, 'mapping.dense0.weight', where)
    w_avg = _shape(state, 'truncation.w_avg', where)
    if w_avg != (w_dim,):
        raise CheckpointError(f'{where}: truncation.w_avg has shape {list(w_avg)}, expected [{w_dim}] '
                              f'(models without a shared w per layer are not supported)')
    num_convs = _count(state, 'synthesis.layer{}.weight')
    if num_convs < 3 or num_convs % 2 == 0:
        raise CheckpointError(f'{where}: found {num_convs} StyleGAN2 conv layers, expected an odd number >= 3')
    num_blocks = (num_convs + 1) // 2
    resolution = 4 * 2 ** (num_blocks - 1)
    num_outputs = _count(state, 'synthesis.output{}.weight')
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
    base, cmax = _channel_formula(channels, _DEFAULT_BASE['stylegan2'], where)
    hidden = dense0[0] if mapping_layers > 1 else w_dim
    kwargs = dict(z_dim=dense0[1], w_dim=w_dim, c_dim=0, img_resolution=resolution,
                  img_channels=_shape(state, f'synthesis.output{num_blocks - 1}.weight', where)[0],
                  mapping_layers=mapping_layers, mapping_lr_multiplier=0.01, channel_base=base,
                  channel_max=cmax, conv_clamp=None, architecture=architecture, num_fp16_res=0)
    if hidden != w_dim:
        kwargs['mapping_layer_features'] = hidden
    for name, value in (overrides or {}).items():
        if name not in _SG2_FIELDS:
            raise ValueError(f'{where}: unknown StyleGAN2 setting {name!r}; choose from {sorted(_SG2_FIELDS)}')
        if value is not None:
            kwargs[name] = value
    if overrides:
        _check_fits(state, kwargs, _stylegan2_entries, where)
    return kwargs


def _stylegan2_entries(kwargs):
    get = kwargs.get if isinstance(kwargs, dict) else lambda name, default=None: getattr(kwargs, name, default)
    w_dim, z_dim = get('w_dim'), get('z_dim')
    resolution, img_channels = get('img_resolution'), get('img_channels', 3)
    base, cmax = get('channel_base'), get('channel_max')
    mapping_layers = get('mapping_layers')
    hidden = get('mapping_layer_features') or w_dim
    architecture = get('architecture', 'skip')
    if architecture not in ('skip', 'orig'):
        raise CheckpointError(f'genforce StyleGAN2 architecture must be skip or orig, got {architecture!r}')

    def channels(res):
        return min(base // res, cmax)

    entries = []
    ignored = {}
    features = [z_dim] + [hidden] * (mapping_layers - 1) + [w_dim]
    for i in range(mapping_layers):
        entries.append((f'mapping.dense{i}.weight', f'mapping.fc{i}.weight', (features[i + 1], features[i]), None))
        entries.append((f'mapping.dense{i}.bias', f'mapping.fc{i}.bias', (features[i + 1],), None))
    entries.append(('truncation.w_avg', 'mapping.w_avg', (w_dim,), None))
    entries.append(('synthesis.early_layer.const', 'synthesis.b4.const', (1, channels(4), 4, 4), _squeeze0))
    log2 = int(np.log2(resolution))
    up_filter = _filter([1, 3, 3, 1], 4)
    for k, res in enumerate(2 ** i for i in range(2, log2 + 1)):
        ch = channels(res)
        layers = [(0, 'conv1', ch)] if k == 0 else [(2 * k - 1, 'conv0', channels(res // 2)), (2 * k, 'conv1', ch)]
        for idx, name, cin in layers:
            src, dst = f'synthesis.layer{idx}', f'synthesis.b{res}.{name}'
            flip = _flip_kernel if name == 'conv0' else None  # genforce flips it at run time, NVlabs on load.
            entries += [
                (f'{src}.weight', f'{dst}.weight', (ch, cin, 3, 3), flip),
                (f'{src}.bias', f'{dst}.bias', (ch,), None),
                (f'{src}.noise_strength', f'{dst}.noise_strength', (), None),
                (f'{src}.noise', f'{dst}.noise_const', (1, 1, res, res), _noise),
                (f'{src}.style.weight', f'{dst}.affine.weight', (cin, w_dim), None),
                (f'{src}.style.bias', f'{dst}.affine.bias', (cin,), _plus_one),
            ]
            if name == 'conv0':
                ignored[f'{src}.filter.kernel'] = ((1, 1, 4, 4), up_filter)
        if architecture == 'skip' or res == resolution:
            src, dst = f'synthesis.output{k}', f'synthesis.b{res}.torgb'
            entries += [
                (f'{src}.weight', f'{dst}.weight', (img_channels, ch, 1, 1), None),
                (f'{src}.bias', f'{dst}.bias', (img_channels,), None),
                (f'{src}.style.weight', f'{dst}.affine.weight', (ch, w_dim), None),
                (f'{src}.style.bias', f'{dst}.affine.bias', (ch,), _plus_one),
            ]
    if architecture == 'skip':
        ignored['synthesis.upsample.kernel'] = ((1, 1, 4, 4), up_filter)
    return entries, ignored


def _plus_one(value):
    return value + 1


def _flip_kernel(value):
    return value.flip([2, 3]).contiguous()


def convert_genforce_stylegan2(state, config=None, where=WHERE):
    """genforce StyleGAN2 state dict -> our StyleGAN2 (NVlabs-named) state dict.

    Args:
        state: genforce `StyleGAN2Generator` state dict.
        config: `StyleGAN2Config` or its kwargs; inferred from `state` when None.
    """
    if config is None:
        config = config_from_genforce_stylegan2(state, where=where)
    entries, ignored = _stylegan2_entries(config)
    return _convert(state, entries, ignored, where)
