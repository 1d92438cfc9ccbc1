"""StyleGAN3 checkpoints in NVlabs and Hammer (ReSeFa) layouts.

Our StyleGAN3 module uses NVlabs' names, so NVlabs states need no renaming;
Hammer's `StyleGAN3Generator` names are mapped onto them. The designed
`up_filter`/`down_filter` buffers (and Hammer's coordinate `grid`) are not
loaded: our modules design them from the config, and the converters check that
the checkpoint's copies equal ours, which also checks the config (resolution,
T vs R) against the file. The random Fourier `freqs`/`phases` are loaded.
"""

import re

import torch

from ..stylegan3 import StyleGAN3Config, StyleGAN3Generator, input_grid, synthesis_specs
from .common import CheckpointError, rename

FILTER_ATOL = 1e-6  # Designed filters must match the checkpoint's to this.


def _layer_index(key):
    m = re.match(r'synthesis\.L(\d+)_\d+_\d+\.', key)
    return int(m.group(1)) if m else None


def expected_shapes(config):
    """`{key: shape}` of our generator's state dict for `config` (built on the meta device)."""
    with torch.device('meta'):
        G = StyleGAN3Generator(config)
    return {key: tuple(value.shape) for key, value in G.state_dict().items()}


def designed_filters(config):
    """`{'synthesis.<layer>.up_filter' / '.down_filter': tensor}` for the layers that filter."""
    filters = {}
    for spec in synthesis_specs(config)[1]:
        for kind, f in (('up_filter', spec.up_filter()), ('down_filter', spec.down_filter())):
            if f is not None:
                filters[f'synthesis.{spec.name}.{kind}'] = f
    return filters


def check_filters(found, config, where='checkpoint', names=None):
    """Compare the checkpoint's filter buffers with the ones designed from `config`.

    Args:
        found: `{our filter key: tensor}` taken from the checkpoint.
        names: Optional `{our key: checkpoint key}` for error messages.
    """
    names = names or {}
    designed = designed_filters(config)
    for key, ours in designed.items():
        if key not in found:
            raise CheckpointError(f'{where}: missing tensor {names.get(key, key)}')
    for key, theirs in found.items():
        label = names.get(key, key)
        if key not in designed:
            raise CheckpointError(f'{where}: {label} is a filter where the config '
                                  f'({_config_summary(config)}) designs none')
        ours = designed[key]
        if tuple(theirs.shape) != tuple(ours.shape):
            raise CheckpointError(f'{where}: {label} has shape {list(theirs.shape)}, the config '
                                  f'({_config_summary(config)}) designs {list(ours.shape)}')
        diff = (theirs.to(torch.float64) - ours.to(torch.float64)).abs().max().item()
        if not diff <= FILTER_ATOL:
            raise CheckpointError(f'{where}: {label} differs from the filter designed for this config '
                                  f'({_config_summary(config)}) by {diff:.3g}')


def _config_summary(config):
    cfg = 'R' if config.use_radial_filters else 'T'
    return (f'img_resolution={config.img_resolution}, conv_kernel={config.conv_kernel}, '
            f'radial={config.use_radial_filters} (config {cfg})')


def check_shapes(state, config, where='checkpoint', names=None):
    """Every key of our layout present, nothing else, every shape as `config` builds it."""
    names = names or {}
    expected = expected_shapes(config)
    for key, shape in expected.items():
        if key not in state:
            raise CheckpointError(f'{where}: missing tensor {names.get(key, key)}')
        if tuple(state[key].shape) != shape:
            raise CheckpointError(f'{where}: {names.get(key, key)} has shape {list(state[key].shape)}, '
                                  f'expected {list(shape)}')
    for key in state:
        if key not in expected:
            raise CheckpointError(f'{where}: unexpected tensor {names.get(key, key)}')
    return state


# ----------------------------------------------------------------------------
# NVlabs (stylegan3 repo, `training.networks_stylegan3.Generator`).

_NVLABS_MAPPING_KWARGS = {'num_layers': 'mapping_layers', 'lr_multiplier': 'mapping_lr_multiplier',
                          'w_avg_beta': None}
_NVLABS_SYNTHESIS_KWARGS = {name: name for name in (
    'channel_base', 'channel_max', 'num_layers', 'num_critical', 'first_cutoff', 'first_stopband',
    'last_stopband_rel', 'margin_size', 'output_scale', 'num_fp16_res', 'conv_kernel', 'filter_size',
    'lrelu_upsampling', 'use_radial_filters', 'conv_clamp', 'magnitude_ema_beta')}


def is_nvlabs_stylegan3_state(keys):
    keys = set(keys)
    return 'synthesis.input.freqs' in keys and 'mapping.fc0.weight' in keys \
        and any(key.startswith('synthesis.L0_') for key in keys)


def config_from_nvlabs_kwargs(init_kwargs, where='checkpoint'):
    """`StyleGAN3Config` from the constructor kwargs NVlabs' persistence records.

    Args:
        init_kwargs: `z_dim, c_dim, w_dim, img_resolution, img_channels,
            mapping_kwargs` and the synthesis kwargs (`channel_base`,
            `conv_kernel`, `use_radial_filters`, ...), as in a pickle's `G_ema`.

    Raises:
        CheckpointError: a required kwarg is missing or one is unknown.
    """
    kwargs = dict(init_kwargs)
    kwargs.pop('class_name', None)
    kwargs.update(dict(kwargs.pop('synthesis_kwargs', None) or {}))
    mapping = dict(kwargs.pop('mapping_kwargs', None) or {})
    values = {}
    for name in ('z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels'):
        if name not in kwargs:
            raise CheckpointError(f'{where}: generator kwargs lack {name}')
        values[name] = int(kwargs.pop(name))
    for name, value in mapping.items():
        if name not in _NVLABS_MAPPING_KWARGS:
            raise CheckpointError(f'{where}: unknown StyleGAN3 mapping kwarg {name!r}')
        if _NVLABS_MAPPING_KWARGS[name]:
            values[_NVLABS_MAPPING_KWARGS[name]] = value
    for name, value in kwargs.items():
        if name not in _NVLABS_SYNTHESIS_KWARGS:
            raise CheckpointError(f'{where}: unknown StyleGAN3 generator kwarg {name!r}')
        values[_NVLABS_SYNTHESIS_KWARGS[name]] = value
    try:
        return StyleGAN3Config(**values)
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None


def convert_nvlabs_state(state, config, where='checkpoint'):
    """NVlabs G_ema state dict -> ours: filters checked against the config and dropped.

    Raises:
        CheckpointError: a missing, unexpected or misshapen tensor (named), or a
            filter that the config does not design.
    """
    filters = {k: v for k, v in state.items() if k.endswith(('.up_filter', '.down_filter'))}
    check_filters(filters, config, where)
    out = {k: v for k, v in state.items() if k not in filters}
    return check_shapes(out, config, where)


# ----------------------------------------------------------------------------
# Hammer / ReSeFa (`models/stylegan3_generator.py`).

# Hammer's constructor kwargs -> our config fields.
_HAMMER_KWARGS = {
    'z_dim': 'z_dim', 'w_dim': 'w_dim', 'mapping_layers': 'mapping_layers',
    'mapping_fmaps': 'mapping_layer_features', 'mapping_lr_mul': 'mapping_lr_multiplier',
    'label_dim': 'c_dim', 'embedding_dim': 'mapping_embed_features', 'resolution': 'img_resolution',
    'image_channels': 'img_channels', 'output_scale': 'output_scale', 'num_layers': 'num_layers',
    'num_critical': 'num_critical', 'fmaps_base': 'channel_base', 'fmaps_max': 'channel_max',
    'kernel_size': 'conv_kernel', 'conv_clamp': 'conv_clamp', 'first_cutoff': 'first_cutoff',
    'first_stopband': 'first_stopband', 'last_stopband_rel': 'last_stopband_rel',
    'margin_size': 'margin_size', 'filter_size': 'filter_size', 'act_upsampling': 'lrelu_upsampling',
    'use_radial_filter': 'use_radial_filters',
}
# Options whose non-default values change the numerics in ways our module does not have.
_HAMMER_FIXED = {'repeat_w': True, 'normalize_z': True, 'embedding_bias': True, 'embedding_lr_mul': 1.0,
                 'normalize_embedding': True, 'normalize_embedding_latent': False, 'final_tanh': False,
                 'eps': 1e-8}
# Hammer's defaults where they differ from NVlabs' (kernel size 1, 512-wide mapping).
_HAMMER_DEFAULTS = {'conv_kernel': 1, 'mapping_layer_features': 512, 'mapping_embed_features': 512,
                    'num_fp16_res': 0}
_HAMMER_CFG = {'T': {'conv_kernel': 3, 'use_radial_filters': False},
               'R': {'conv_kernel': 1, 'use_radial_filters': True}}
_HAMMER_RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


def is_hammer_stylegan3_state(keys):
    keys = set(keys)
    return 'synthesis.early_layer.frequency' in keys and 'mapping.dense0.weight' in keys \
        and 'synthesis.layer0.conv.weight' in keys


def _hammer_rename_map(state):
    mapping = {'w_avg': 'mapping.w_avg',
               'synthesis.early_layer.weight': 'synthesis.input.weight',
               'synthesis.early_layer.affine.weight': 'synthesis.input.affine.weight',
               'synthesis.early_layer.affine.bias': 'synthesis.input.affine.bias',
               'synthesis.early_layer.transform': 'synthesis.input.transform',
               'synthesis.early_layer.frequency': 'synthesis.input.freqs',
               'synthesis.early_layer.phase': 'synthesis.input.phases'}
    for key in state:
        m = re.fullmatch(r'mapping\.dense(\d+)\.(weight|bias)', key)
        if m:
            mapping[key] = f'mapping.fc{m.group(1)}.{m.group(2)}'
        m = re.fullmatch(r'mapping\.embedding\.(weight|bias)', key)
        if m:
            mapping[key] = f'mapping.embed.{m.group(1)}'
    return mapping


def _hammer_layers(state):
    return sorted(int(m.group(1)) for key in state
                  if (m := re.fullmatch(r'synthesis\.layer(\d+)\.conv\.weight', key)))


def config_from_hammer(state, model_kwargs=None, overrides=None, where='checkpoint'):
    """`StyleGAN3Config` for a Hammer `StyleGAN3Generator` state dict.

    With `model_kwargs` (the checkpoint's `model_kwargs_init`), the config is
    Hammer's constructor with those kwargs. Without, it is inferred: widths and
    depths from the tensor shapes, T vs R from the kernel size (3 vs 1) and the
    downsampling filters (separable vs radial), the resolution and channel
    formula from the layer widths and designed filters.

    Args:
        state: The generator's state dict (Hammer names).
        model_kwargs: Hammer constructor kwargs, or None.
        overrides: Command-line settings that win over inference:
            `img_size` (or `img_resolution`), `w_dim`, `cfg` ('T' or 'R'),
            `channel_base`, `channel_max`. None values are ignored.

    Raises:
        CheckpointError: the kwargs or overrides are unknown, or no config fits.
    """
    overrides = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    unknown = set(overrides) - {'img_size', 'img_resolution', 'w_dim', 'z_dim', 'cfg', 'channel_base',
                                'channel_max'}
    if unknown:
        raise ValueError(f'unknown StyleGAN3 setting {sorted(unknown)[0]!r}')
    if 'img_size' in overrides:
        overrides['img_resolution'] = overrides.pop('img_size')
    fixed = {}
    cfg = overrides.pop('cfg', None)
    flags = {}
    if cfg is not None:
        if str(cfg).upper() not in _HAMMER_CFG:
            raise ValueError(f"cfg must be 'T' or 'R', got {cfg!r}")
        fixed.update(_HAMMER_CFG[str(cfg).upper()])
        flags.update({name: f'--cfg {str(cfg).upper()}' for name in _HAMMER_CFG[str(cfg).upper()]})
    fixed.update({k: int(v) for k, v in overrides.items()})
    flags.update({'img_resolution': '--img_size', 'w_dim': '--w_dim', 'z_dim': '--z_dim',
                  'channel_base': '--scale_stylegan3r/t', 'channel_max': '--channel_max'})

    if model_kwargs is not None:
        values = _config_values_from_hammer_kwargs(model_kwargs, where)
        for name, value in fixed.items():
            if name in values and values[name] != value:
                raise CheckpointError(f'{where}: {flags.get(name, name)} gives {name}={value}, but the '
                                      f'checkpoint holds {name}={values[name]}')
        values.update(fixed)
    else:
        values = _infer_hammer_config(state, fixed, where)
    try:
        return StyleGAN3Config(**values)
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None


def _config_values_from_hammer_kwargs(model_kwargs, where):
    kwargs = dict(model_kwargs)
    model_type = kwargs.pop('model_type', 'StyleGAN3Generator')
    if model_type != 'StyleGAN3Generator':
        raise CheckpointError(f'{where}: model_type is {model_type!r}, not StyleGAN3Generator')
    values = dict(_HAMMER_DEFAULTS)
    for name, value in kwargs.items():
        if name in _HAMMER_FIXED:
            if value != _HAMMER_FIXED[name]:
                raise CheckpointError(f'{where}: Hammer option {name}={value!r} is not supported '
                                      f'(only {_HAMMER_FIXED[name]!r})')
        elif name in _HAMMER_KWARGS:
            values[_HAMMER_KWARGS[name]] = value
        else:
            raise CheckpointError(f'{where}: unknown Hammer StyleGAN3Generator kwarg {name!r}')
    if values.get('lrelu_upsampling', 2) == 1:
        raise CheckpointError(f'{where}: act_upsampling=1 (linear Hammer layers) is not supported')
    if 'img_resolution' not in values:
        raise CheckpointError(f'{where}: Hammer kwargs lack resolution')
    if not values.get('c_dim'):
        values['mapping_embed_features'] = None
    return values


def _infer_hammer_config(state, fixed, where):
    """Config values from the shapes of a Hammer state dict (see `config_from_hammer`)."""
    def get(key, ndim):
        if key not in state:
            raise CheckpointError(f'{where}: missing tensor {key}')
        if state[key].ndim != ndim:
            raise CheckpointError(f'{where}: {key} has shape {list(state[key].shape)}, expected {ndim} dims')
        return state[key]

    layers = _hammer_layers(state)
    if not layers or layers != list(range(len(layers))) or len(layers) < 3:
        raise CheckpointError(f'{where}: synthesis layers missing or not numbered from 0')
    num_layers = len(layers) - 1
    dense = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r'mapping\.dense(\d+)\.weight', key)))
    if not dense or dense != list(range(len(dense))):
        raise CheckpointError(f'{where}: mapping layers missing or not numbered from 0')
    w_dim = get(f'mapping.dense{dense[-1]}.weight', 2).shape[0]
    c_dim = embed = 0
    if 'mapping.embedding.weight' in state:
        embed, c_dim = get('mapping.embedding.weight', 2).shape
    z_dim = get('mapping.dense0.weight', 2).shape[1] - embed
    hidden = get('mapping.dense0.weight', 2).shape[0] if len(dense) > 1 else w_dim
    kernel = get('synthesis.layer0.conv.weight', 4).shape[-1]
    channels = [get('synthesis.early_layer.weight', 2).shape[0]]
    channels += [get(f'synthesis.layer{i}.conv.weight', 4).shape[0] for i in layers]
    radial = any(state[key].ndim == 2 for key in state if key.endswith('.filter.down_filter'))
    values = dict(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_channels=channels[-1],
                  mapping_layers=len(dense), mapping_layer_features=hidden,
                  mapping_embed_features=embed or None, num_layers=num_layers,
                  conv_kernel=kernel, use_radial_filters=radial, num_fp16_res=0)
    for name, value in fixed.items():
        if name in values and values[name] != value:
            raise CheckpointError(f'{where}: {_flag(name)} gives {name}={value}, '
                                  f'but the checkpoint holds {name}={values[name]}')
    values.update(fixed)

    resolutions = [fixed['img_resolution']] if 'img_resolution' in fixed else _HAMMER_RESOLUTIONS
    found = []
    for res in resolutions:
        try:
            trial = StyleGAN3Config(**{**values, 'img_resolution': res, 'channel_base': 1, 'channel_max': 1})
            bases = _channel_formula(trial, channels, fixed)
        except ValueError:
            continue
        if bases is None:
            continue
        trial = StyleGAN3Config(**{**values, 'img_resolution': res, 'channel_base': bases[0],
                                   'channel_max': bases[1]})
        if _filters_match(state, trial):
            found.append(trial)
    if not found:
        raise CheckpointError(f'{where}: no StyleGAN3 resolution in {list(resolutions)} fits the layer widths '
                              f'{channels} and filters (kernel {kernel}, radial {radial})')
    if len(found) > 1:
        raise CheckpointError(f'{where}: resolutions {[c.img_resolution for c in found]} all fit; '
                              f'give the resolution (--img_size)')
    return found[0].to_dict()


def _flag(name):
    return {'img_resolution': '--img_size', 'w_dim': '--w_dim', 'z_dim': '--z_dim', 'conv_kernel': '--cfg',
            'use_radial_filters': '--cfg', 'channel_base': '--channel_base',
            'channel_max': '--channel_max'}.get(name, name)


def _channel_formula(config, channels, fixed):
    """`(channel_base, channel_max)` giving `channels` (input, layers) at `config`'s cutoffs, or None.

    `channels[i] = rint(min(channel_base / 2 / cutoff[i], channel_max))` for the
    input and all layers but ToRGB. Prefers the values of Hammer's scripts
    (`fmaps_base = scale * 32768`, `fmaps_max` 512 or 1024) when they fit.
    """
    specs = synthesis_specs(config)[1]
    cutoffs = [specs[0].in_cutoff] + [spec.out_cutoff for spec in specs[:-1]]
    widths = channels[:-1]

    def fits(base, cap):
        return all(round(min(base / 2 / c, cap)) == w for c, w in zip(cutoffs, widths))

    if 'channel_max' in fixed:
        caps = [fixed['channel_max']]
    else:
        caps = [1024, 512, max(widths)] if config.use_radial_filters else [512, 1024, max(widths)]
    for cap in caps:
        if cap < max(widths):
            continue
        if 'channel_base' in fixed:
            if fits(fixed['channel_base'], cap):
                return fixed['channel_base'], cap
            continue
        for scale in (1, 2, 0.5, 4, 0.25):
            if fits(int(scale * 32768), cap):
                return int(scale * 32768), cap
        # Otherwise the smallest base in the intersection of the rounding intervals.
        low, high = 0.0, float('inf')
        for c, w in zip(cutoffs, widths):
            if w < cap:
                low, high = max(low, 2 * c * (w - 0.5)), min(high, 2 * c * (w + 0.5))
            else:
                low = max(low, 2 * c * (cap - 0.5))
        for base in range(int(low), int(min(high, low + 4)) + 1):
            if fits(base, cap):
                return base, cap
    return None


def _filters_match(state, config):
    """Whether the Hammer state's filters are the ones `config` designs."""
    found = {}
    for spec in synthesis_specs(config)[1]:
        for kind in ('up_filter', 'down_filter'):
            key = f'synthesis.layer{spec.idx}.filter.{kind}'
            if key in state:
                found[f'synthesis.{spec.name}.{kind}'] = state[key]
    try:
        check_filters(found, config)
    except CheckpointError:
        return False
    return True


def convert_hammer_state(state, config, where='checkpoint'):
    """Hammer `StyleGAN3Generator` state dict -> ours.

    Filters and the coordinate grid are checked against the ones designed from
    `config` and dropped.

    Raises:
        CheckpointError: a missing, unexpected or misshapen tensor (named by its
            Hammer key), or filters that do not match the config.
    """
    specs = synthesis_specs(config)[1]
    mapping = _hammer_rename_map(state)
    filter_names = {}
    for spec in specs:
        src, dst = f'synthesis.layer{spec.idx}', f'synthesis.{spec.name}'
        mapping.update({f'{src}.magnitude_ema': f'{dst}.magnitude_ema',
                        f'{src}.conv.weight': f'{dst}.weight',
                        f'{src}.conv.style.weight': f'{dst}.affine.weight',
                        f'{src}.conv.style.bias': f'{dst}.affine.bias',
                        f'{src}.filter.bias': f'{dst}.bias'})
        for kind in ('up_filter', 'down_filter'):
            filter_names[f'{dst}.{kind}'] = f'{src}.filter.{kind}'
    filter_keys = set(filter_names.values())
    extra_layers = [k for k in state if re.match(r'synthesis\.layer\d+\.', k) and k not in mapping
                    and k not in filter_keys]
    if extra_layers:
        raise CheckpointError(f'{where}: unexpected tensor {extra_layers[0]} '
                              f'(the config has {len(specs)} synthesis layers)')
    out = rename(state, mapping, ignore=list(filter_keys) + ['synthesis.early_layer.grid'], where=where)
    found = {ours: state[theirs] for ours, theirs in filter_names.items() if theirs in state}
    check_filters(found, config, where, names=filter_names)
    _check_grid(state, config, where)
    names = {ours: theirs for theirs, ours in mapping.items()}
    return check_shapes(out, config, where, names=names)


def _check_grid(state, config, where):
    key = 'synthesis.early_layer.grid'
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    ours = input_grid(synthesis_specs(config)[0])
    theirs = state[key]
    if tuple(theirs.shape) != tuple(ours.shape):
        raise CheckpointError(f'{where}: {key} has shape {list(theirs.shape)}, expected {list(ours.shape)}')
    diff = (theirs.to(torch.float64) - ours.to(torch.float64)).abs().max().item()
    if not diff <= FILTER_ATOL:
        raise CheckpointError(f'{where}: {key} differs from the sampling grid of this config by {diff:.3g}')
