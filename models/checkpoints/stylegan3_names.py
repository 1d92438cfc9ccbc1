"""StyleGAN3 conversion tables: NVlabs and Hammer (ReSeFa) layouts.

Our StyleGAN3 module uses NVlabs' names, so an NVlabs table maps every key of
the model onto itself; Hammer's `StyleGAN3Generator` names are mapped onto
them. The designed `up_filter`/`down_filter` buffers (and Hammer's
coordinate `grid`) are not loaded: our modules design them from the config,
and the tables' checks require the checkpoint's copies to equal ours, which
also checks the config (resolution, T vs R) against the file. The random
Fourier `freqs`/`phases` are loaded.
"""

import torch

from ..stylegan3 import StyleGAN3Config, StyleGAN3Generator, input_grid, synthesis_specs
from . import names
from .common import CheckpointError, SettingNeeded
from .names import Rule, count_indices, ignore

FILTER_ATOL = 1e-6  # Designed filters must match the checkpoint's to this.


def cfg_of(config):
    """'R' or 'T': the NVlabs config name of a `StyleGAN3Config`."""
    return 'R' if config.use_radial_filters else 'T'


def designed_filters(config):
    """`{'synthesis.<layer>.up_filter' / '.down_filter': tensor}` for the layers that filter."""
    filters = {}
    for spec in synthesis_specs(config)[1]:
        for kind, f in (('up_filter', spec.up_filter()), ('down_filter', spec.down_filter())):
            if f is not None:
                filters[f'synthesis.{spec.name}.{kind}'] = f
    return filters


def _config_summary(config):
    return (f'img_resolution={config.img_resolution}, conv_kernel={config.conv_kernel}, '
            f'radial={config.use_radial_filters} (config {cfg_of(config)})')


def _same_as(ours, what, config):
    """Check of an ignored buffer: it must be `ours` (designed from `config`) to `FILTER_ATOL`."""
    def check(theirs):
        if tuple(theirs.shape) != tuple(ours.shape):
            return f'has shape {list(theirs.shape)}, the config ({_config_summary(config)}) designs {list(ours.shape)}'
        diff = (theirs.to(torch.float64) - ours.to(torch.float64)).abs().max().item()
        if not diff <= FILTER_ATOL:
            return f'differs from the {what} designed for this config ({_config_summary(config)}) by {diff:.3g}'
        return None
    return check


def _filter_rules(config, name_of):
    """Designed filters (checked, dropped) and a catch-all for filters the config does not design.

    Args:
        name_of: Our layer name -> the checkpoint's filter prefix (`synthesis.L3_36_32`
            or `synthesis.layer3.filter`).
    """
    rules = []
    for spec in synthesis_specs(config)[1]:
        for kind, ours in (('up_filter', spec.up_filter()), ('down_filter', spec.down_filter())):
            if ours is not None:
                rules.append(ignore(f'{name_of(spec)}.{kind}', check=_same_as(ours, 'filter', config)))
    designs_none = f'is a filter where the config ({_config_summary(config)}) designs none'
    rules.append(ignore(r'.*\.(?:up|down)_filter', check=lambda value: designs_none))
    return rules


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


def nvlabs_rules(config):
    """Table of an NVlabs `G_ema` state dict: the model's own keys and shapes; filters checked and dropped."""
    shapes = names.model_shapes(StyleGAN3Generator, config)
    rules = [Rule(key, key, shape=shape) for key, shape in shapes.items()]
    return rules + _filter_rules(config, lambda spec: f'synthesis.{spec.name}')


def convert_nvlabs_state(state, config, where='checkpoint'):
    """NVlabs G_ema state dict -> ours: filters checked against the config and dropped.

    Raises:
        CheckpointError: a missing, unexpected or misshapen tensor (named), or a
            filter that the config does not design.
    """
    return names.convert(state, nvlabs_rules(config), where)


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
_HAMMER_RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


def is_hammer_stylegan3_state(keys):
    keys = set(keys)
    return 'synthesis.early_layer.frequency' in keys and 'mapping.dense0.weight' in keys \
        and 'synthesis.layer0.conv.weight' in keys


# Hammer keys that follow a pattern, and those of the input layer.
_HAMMER_RULES = [
    Rule('w_avg', 'mapping.w_avg'),
    Rule(r'mapping\.dense(\d+)\.(weight|bias)', r'mapping.fc\1.\2'),
    Rule(r'mapping\.embedding\.(weight|bias)', r'mapping.embed.\1'),
    Rule('synthesis.early_layer.weight', 'synthesis.input.weight'),
    Rule(r'synthesis\.early_layer\.affine\.(weight|bias)', r'synthesis.input.affine.\1'),
    Rule('synthesis.early_layer.transform', 'synthesis.input.transform'),
    Rule('synthesis.early_layer.frequency', 'synthesis.input.freqs'),
    Rule('synthesis.early_layer.phase', 'synthesis.input.phases'),
]


def hammer_rules(config):
    """Table of a Hammer `StyleGAN3Generator` state dict for `config` (layer names depend on it)."""
    input_spec, specs = synthesis_specs(config)
    rules = list(_HAMMER_RULES)
    for spec in specs:
        src, dst = f'synthesis.layer{spec.idx}', f'synthesis.{spec.name}'
        rules += [Rule(f'{src}.magnitude_ema', f'{dst}.magnitude_ema'),
                  Rule(f'{src}.conv.weight', f'{dst}.weight'),
                  Rule(f'{src}.conv.style.weight', f'{dst}.affine.weight'),
                  Rule(f'{src}.conv.style.bias', f'{dst}.affine.bias'),
                  Rule(f'{src}.filter.bias', f'{dst}.bias')]
    rules.append(ignore('synthesis.early_layer.grid', check=_same_as(input_grid(input_spec), 'sampling grid', config)))
    return rules + _filter_rules(config, lambda spec: f'synthesis.layer{spec.idx}.filter')


def convert_hammer_state(state, config, where='checkpoint'):
    """Hammer `StyleGAN3Generator` state dict -> ours.

    Filters and the coordinate grid are checked against the ones designed from
    `config` and dropped.

    Raises:
        CheckpointError: a missing, unexpected or misshapen tensor (named by its
            Hammer key), or filters that do not match the config.
    """
    return names.convert(state, hammer_rules(config), where,
                         expected=names.model_shapes(StyleGAN3Generator, config))


def config_from_hammer(state, model_kwargs=None, hints=None, where='checkpoint'):
    """`StyleGAN3Config` for a Hammer `StyleGAN3Generator` state dict.

    With `model_kwargs` (the checkpoint's `model_kwargs_init`), the config is
    Hammer's constructor with those kwargs. Without, it is inferred: widths and
    depths from the tensor shapes, T vs R from the kernel size (3 vs 1) and the
    downsampling filters (separable vs radial), the resolution and channel
    formula from the layer widths and designed filters.

    Args:
        state: The generator's state dict (Hammer names).
        model_kwargs: Hammer constructor kwargs, or None.
        hints: Settings that narrow the inference when several configs fit:
            `img_resolution`, `channel_base`, `channel_max` (others, and None
            values, are ignored; the caller checks them against the result).

    Raises:
        CheckpointError: the kwargs are unknown or unsupported, or no config fits.
        SettingNeeded: several resolutions fit and `img_resolution` was not given.
    """
    if model_kwargs is not None:
        values = _config_values_from_hammer_kwargs(model_kwargs, where)
    else:
        fixed = {name: int(value) for name, value in (hints or {}).items()
                 if name in ('img_resolution', 'channel_base', 'channel_max') and value is not None}
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
            raise CheckpointError(f'{where}: tensor {key} has shape {list(state[key].shape)}, expected {ndim} dims')
        return state[key]

    num_layers = count_indices(state, 'synthesis.layer{}.conv.weight') - 1
    if num_layers < 2:
        raise CheckpointError(f'{where}: synthesis layers missing or not numbered from 0')
    mapping_layers = count_indices(state, 'mapping.dense{}.weight')
    if mapping_layers == 0:
        raise CheckpointError(f'{where}: missing tensor mapping.dense0.weight')
    w_dim = get(f'mapping.dense{mapping_layers - 1}.weight', 2).shape[0]
    c_dim = embed = 0
    if 'mapping.embedding.weight' in state:
        embed, c_dim = get('mapping.embedding.weight', 2).shape
    z_dim = get('mapping.dense0.weight', 2).shape[1] - embed
    hidden = get('mapping.dense0.weight', 2).shape[0] if mapping_layers > 1 else w_dim
    kernel = get('synthesis.layer0.conv.weight', 4).shape[-1]
    channels = [get('synthesis.early_layer.weight', 2).shape[0]]
    channels += [get(f'synthesis.layer{i}.conv.weight', 4).shape[0] for i in range(num_layers + 1)]
    radial = any(state[key].ndim == 2 for key in state if key.endswith('.filter.down_filter'))
    values = dict(z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_channels=channels[-1],
                  mapping_layers=mapping_layers, mapping_layer_features=hidden,
                  mapping_embed_features=embed or None, num_layers=num_layers,
                  conv_kernel=kernel, use_radial_filters=radial, num_fp16_res=0)
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
        raise SettingNeeded(where, 'img_resolution', [config.img_resolution for config in found])
    return found[0].to_dict()


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
    """Whether the Hammer state's filters are exactly the ones `config` designs."""
    filters = {key: value for key, value in state.items() if key.endswith(('.up_filter', '.down_filter'))}
    try:
        names.apply(filters, _filter_rules(config, lambda spec: f'synthesis.layer{spec.idx}.filter'), 'filters')
    except CheckpointError:
        return False
    return True
