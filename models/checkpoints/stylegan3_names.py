"""StyleGAN3 conversion tables: NVlabs and Hammer (ReSeFa) layouts.

Our StyleGAN3 module uses NVlabs' names; Hammer's are mapped onto them. The designed `up_filter` /
`down_filter` buffers (and Hammer's coordinate `grid`) are not loaded but required to equal those our modules
design from the config, which also checks the config (resolution, T vs R) against the file.
"""

import dataclasses

from ..stylegan3 import StyleGAN3Config, input_grid, synthesis_specs
from . import names
from .common import CheckpointError, SettingNeeded
from .names import Rule, count_indices, ignore, shape_of

FILTER_ATOL = 1e-6  # Designed filters must match the checkpoint's to this.
# NVlabs constructor kwargs named otherwise in our config (None: not kept); the rest have our names.
_NVLABS_RENAMED = {'mapping.num_layers': 'mapping_layers', 'mapping.lr_multiplier': 'mapping_lr_multiplier',
                   'mapping.w_avg_beta': None, 'class_name': None}
# Hammer's constructor kwargs named otherwise in our config.
_HAMMER_RENAMED = {
    'mapping_fmaps': 'mapping_layer_features', 'mapping_lr_mul': 'mapping_lr_multiplier', 'label_dim': 'c_dim',
    'embedding_dim': 'mapping_embed_features', 'resolution': 'img_resolution', 'image_channels': 'img_channels',
    'fmaps_base': 'channel_base', 'fmaps_max': 'channel_max', 'kernel_size': 'conv_kernel',
    'act_upsampling': 'lrelu_upsampling', 'use_radial_filter': 'use_radial_filters'}
# Hammer options whose other values change the numerics in ways our module does not have.
_HAMMER_FIXED = {'model_type': 'StyleGAN3Generator', 'repeat_w': True, 'normalize_z': True, 'embedding_bias': True,
                 'embedding_lr_mul': 1.0, 'normalize_embedding': True, 'normalize_embedding_latent': False,
                 'final_tanh': False, 'eps': 1e-8}
# Hammer's defaults where they differ from NVlabs' (kernel size 1, 512-wide mapping).
_HAMMER_DEFAULTS = {'conv_kernel': 1, 'mapping_layer_features': 512, 'mapping_embed_features': 512,
                    'num_fp16_res': 0}
_HAMMER_RESOLUTIONS = (8, 16, 32, 64, 128, 256, 512, 1024)


def cfg_of(config):
    """'R' or 'T': the NVlabs config name of a `StyleGAN3Config`."""
    return 'R' if config.use_radial_filters else 'T'


def designed_filters(config, name_of=lambda spec: f'synthesis.{spec.name}'):
    """`{name_of(spec) + '.up_filter' / '.down_filter': tensor}` for the layers that filter."""
    return {f'{name_of(spec)}.{kind}': f for spec in synthesis_specs(config)[1]
            for kind, f in (('up_filter', spec.up_filter()), ('down_filter', spec.down_filter())) if f is not None}


def _same_as(ours, what, config):
    """Check of an ignored buffer: it must be `ours` (designed from `config`) to `FILTER_ATOL`."""
    summary = (f'img_resolution={config.img_resolution}, conv_kernel={config.conv_kernel}, '
               f'radial={config.use_radial_filters} (config {cfg_of(config)})')

    def check(theirs):
        if theirs.shape != ours.shape:
            return f'has shape {list(theirs.shape)}, the config ({summary}) designs {list(ours.shape)}'
        diff = (theirs.double() - ours.double()).abs().max().item()
        return None if diff <= FILTER_ATOL else f'differs from the {what} the config ({summary}) designs by {diff:.3g}'
    return check


def _filter_rules(config, name_of):
    """Designed filters (checked, dropped; `name_of`: spec -> the file's filter prefix), and any other refused."""
    rules = [ignore(key, check=_same_as(f, 'filter', config)) for key, f in designed_filters(config, name_of).items()]
    return rules + [ignore(r'.*\.(?:up|down)_filter', check=lambda value: 'is a filter where the config designs none')]


# ----------------------------------------------------------------------------
# NVlabs (stylegan3 repo, `training.networks_stylegan3.Generator`).

def is_nvlabs_stylegan3_state(keys):
    keys = set(keys)
    return {'synthesis.input.freqs', 'mapping.fc0.weight'} <= keys and any(k.startswith('synthesis.L0_') for k in keys)


def config_from_nvlabs_kwargs(init_kwargs, where='checkpoint'):
    """`StyleGAN3Config` from the constructor kwargs NVlabs' persistence records (as in a pickle's `G_ema`)."""
    kwargs = {key: value for key, value in init_kwargs.items() if key not in ('synthesis_kwargs', 'mapping_kwargs')}
    kwargs.update(init_kwargs.get('synthesis_kwargs') or {})
    kwargs.update({f'mapping.{key}': value for key, value in (init_kwargs.get('mapping_kwargs') or {}).items()})
    values = {_NVLABS_RENAMED.get(key, key): value for key, value in kwargs.items() if _NVLABS_RENAMED.get(key, key)}
    return names.make_config('stylegan3', where, **values)  # an unknown kwarg is named there


def convert_nvlabs_state(state, config, where='checkpoint'):
    """NVlabs G_ema state dict -> ours: filters checked against the config and dropped."""
    rules = names.own_rules('stylegan3', config) + _filter_rules(config, lambda spec: f'synthesis.{spec.name}')
    return names.convert(state, rules, where)


# ----------------------------------------------------------------------------
# Hammer / ReSeFa (`models/stylegan3_generator.py`).

def is_hammer_stylegan3_state(keys):
    return {'synthesis.early_layer.frequency', 'mapping.dense0.weight', 'synthesis.layer0.conv.weight'} <= set(keys)


def hammer_rules(config):
    """Table of a Hammer `StyleGAN3Generator` state dict for `config` (layer names depend on it)."""
    input_spec, specs = synthesis_specs(config)
    early = {'weight': 'weight', 'transform': 'transform', 'frequency': 'freqs', 'phase': 'phases',
             'affine.weight': 'affine.weight', 'affine.bias': 'affine.bias'}
    rules = [Rule('w_avg', 'mapping.w_avg'), ignore('synthesis.early_layer.grid', check=_same_as(
        input_grid(input_spec), 'sampling grid', config))]
    rules += [Rule(f'synthesis.early_layer.{src}', f'synthesis.input.{dst}') for src, dst in early.items()]
    rules += [Rule(f'mapping.dense{i}.{p}', f'mapping.fc{i}.{p}') for i in range(config.mapping_layers)
              for p in ('weight', 'bias')]
    if config.c_dim:
        rules += [Rule(f'mapping.embedding.{p}', f'mapping.embed.{p}') for p in ('weight', 'bias')]
    for spec in specs:
        src, dst = f'synthesis.layer{spec.idx}', f'synthesis.{spec.name}'
        rules += [Rule(f'{src}.magnitude_ema', f'{dst}.magnitude_ema'), Rule(f'{src}.conv.weight', f'{dst}.weight'),
                  Rule(f'{src}.conv.style.weight', f'{dst}.affine.weight'),
                  Rule(f'{src}.conv.style.bias', f'{dst}.affine.bias'), Rule(f'{src}.filter.bias', f'{dst}.bias')]
    return rules + _filter_rules(config, lambda spec: f'synthesis.layer{spec.idx}.filter')


def convert_hammer_state(state, config, where='checkpoint'):
    """Hammer `StyleGAN3Generator` state dict -> ours; filters and the coordinate grid checked and dropped."""
    return names.convert(state, hammer_rules(config), where, names.model_shapes('stylegan3', config))


def config_from_hammer(state, model_kwargs=None, hints=None, where='checkpoint'):
    """`StyleGAN3Config` of a Hammer `StyleGAN3Generator` state dict: from `model_kwargs` (`model_kwargs_init`), or
    inferred from the shapes and filters, narrowed by `hints`; SettingNeeded when several resolutions fit."""
    if model_kwargs is None:
        fixed = {name: int(value) for name, value in (hints or {}).items()
                 if name in ('img_resolution', 'channel_base', 'channel_max') and value is not None}
        return _infer_hammer_config(state, fixed, where)
    unsupported = [f'{name}={value!r}' for name, value in model_kwargs.items()  # act_upsampling 1: linear layers
                   if value != _HAMMER_FIXED.get(name, value) or (name, value) == ('act_upsampling', 1)]
    if unsupported:
        raise CheckpointError(f'{where}: Hammer StyleGAN3 option {unsupported[0]} is not supported')
    values = {**_HAMMER_DEFAULTS, **{_HAMMER_RENAMED.get(name, name): value for name, value in model_kwargs.items()
                                     if name not in _HAMMER_FIXED}}
    if not values.get('c_dim'):
        values['mapping_embed_features'] = None
    return names.make_config('stylegan3', where, **values)  # an unknown kwarg is named there


def _infer_hammer_config(state, fixed, where):
    """The config of a Hammer state dict without kwargs (see `config_from_hammer`)."""
    num_layers = count_indices(state, 'synthesis.layer{}.conv.weight') - 1
    mapping_layers = count_indices(state, 'mapping.dense{}.weight')
    w_dim = shape_of(state, f'mapping.dense{mapping_layers - 1}.weight', where, 2)[0]
    unconditional = 'mapping.embedding.weight' not in state
    embed, c_dim = (0, 0) if unconditional else shape_of(state, 'mapping.embedding.weight', where, 2)
    hidden, inputs = shape_of(state, 'mapping.dense0.weight', where, 2)
    kernel = shape_of(state, 'synthesis.layer0.conv.weight', where, 4)[-1]
    channels = [shape_of(state, 'synthesis.early_layer.weight', where, 2)[0]]
    channels += [shape_of(state, f'synthesis.layer{i}.conv.weight', where, 4)[0] for i in range(num_layers + 1)]
    radial = any(state[key].ndim == 2 for key in state if key.endswith('.filter.down_filter'))
    values = dict(
        z_dim=inputs - embed, w_dim=w_dim, c_dim=c_dim, img_channels=channels[-1], mapping_layers=mapping_layers,
        mapping_layer_features=hidden if mapping_layers > 1 else w_dim, mapping_embed_features=embed or None,
        num_layers=num_layers, conv_kernel=kernel, use_radial_filters=radial, num_fp16_res=0)
    resolutions = [fixed['img_resolution']] if 'img_resolution' in fixed else _HAMMER_RESOLUTIONS
    found = []
    for res in resolutions:
        try:
            trial = StyleGAN3Config(**values, img_resolution=res)
            bases = _channel_formula(trial, channels, fixed)
        except ValueError:  # not a valid config or geometry at this resolution
            continue
        if bases is not None:
            trial = dataclasses.replace(trial, channel_base=bases[0], channel_max=bases[1])
            found += [trial] if _filters_match(state, trial) else []
    if len(found) > 1:
        raise SettingNeeded(where, 'img_resolution', [config.img_resolution for config in found])
    if not found:
        raise CheckpointError(f'{where}: no StyleGAN3 resolution in {list(resolutions)} fits the layer widths '
                              f'{channels} and filters (kernel {kernel}, radial {radial})')
    return found[0]


def _channel_formula(config, channels, fixed):
    """`(channel_base, channel_max)` giving `channels[i] = rint(min(channel_base / 2 / cutoff[i], channel_max))` at
    `config`'s cutoffs (input and layers but ToRGB), Hammer's values first; None when none fits."""
    specs = synthesis_specs(config)[1]
    cutoffs = [specs[0].in_cutoff] + [spec.out_cutoff for spec in specs[:-1]]
    widths = channels[:-1]

    def fits(base, cap):
        return all(round(min(base / 2 / c, cap)) == w for c, w in zip(cutoffs, widths))

    if 'channel_max' in fixed:
        caps = [fixed['channel_max']]
    else:
        caps = [1024, 512, max(widths)] if config.use_radial_filters else [512, 1024, max(widths)]
    for cap in (cap for cap in caps if cap >= max(widths)):
        if 'channel_base' in fixed:
            bases = [fixed['channel_base']]
        else:  # Hammer's scales, else the smallest bases in the intersection of the rounding intervals
            low, high = 0.0, float('inf')
            for c, w in zip(cutoffs, widths):
                low = max(low, 2 * c * (w - 0.5))
                high = min(high, 2 * c * (w + 0.5)) if w < cap else high
            bases = [int(scale * 32768) for scale in (1, 2, 0.5, 4, 0.25)]
            bases += list(range(int(low), int(min(high, low + 4)) + 1))
        found = next((base for base in bases if fits(base, cap)), None)
        if found is not None:
            return found, cap
    return None


def _filters_match(state, config):
    """Whether the Hammer state's filters are exactly the ones `config` designs."""
    filters = {key: value for key, value in state.items() if key.endswith(('.up_filter', '.down_filter'))}
    try:
        names.convert(filters, _filter_rules(config, lambda spec: f'synthesis.layer{spec.idx}.filter'), 'filters')
    except CheckpointError:
        return False
    return True
