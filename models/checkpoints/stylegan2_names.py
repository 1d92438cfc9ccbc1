r"""StyleGAN2 conversion tables: NVlabs, Hammer (ReSeFa) and rosinality layouts.

Our StyleGAN2 module uses NVlabs' names. NVlabs files are read with the
config their pickle records (or, for a bare state dict, the one their shapes
give) and a table of the model's own keys; Hammer and rosinality files are
renamed by a table generated from their number of layers, their config is
then inferred from the tensor shapes (`config_from_state`), and the model's
shapes are checked, naming the source key of any misfit.
"""

import re

from ..stylegan2 import StyleGAN2Config, StyleGAN2Generator
from . import names
from .common import CheckpointError, infer_channel_formula
from .names import Rule, count_indices, ignore

# Resampling-filter buffers, rebuilt from the config by our modules.
FILTERS = ignore(r'(?:.*\.)?(?:resample_filter|filter|kernel)')


def _first(value):
    return value[0]


def _noise(value):
    return value[0, 0]


# ----------------------------------------------------------------------------
# NVlabs (stylegan2-ada-pytorch, stylegan3 repo's networks_stylegan2).

def is_nvlabs_state(keys):
    keys = set(keys)
    return 'synthesis.b4.const' in keys and 'mapping.fc0.weight' in keys


def nvlabs_rules(config):
    """Table of an NVlabs `G_ema` state dict: the model's own keys and shapes; filters dropped."""
    shapes = names.model_shapes(StyleGAN2Generator, config)
    return [Rule(key, key, shape=shape) for key, shape in shapes.items()] + [ignore(r'.*\.resample_filter')]


def convert_nvlabs_state(state, config, where='checkpoint'):
    """NVlabs G_ema state dict -> ours (strict; the filter buffers are dropped)."""
    return names.convert(state, nvlabs_rules(config), where)


def config_from_nvlabs_kwargs(init_kwargs, state, where='checkpoint'):
    """Config from the constructor kwargs that NVlabs' persistence stores, defaults from the shapes."""
    kwargs = dict(init_kwargs)
    synthesis = dict(kwargs.pop('synthesis_kwargs', {}) or {})
    mapping = dict(kwargs.pop('mapping_kwargs', {}) or {})
    for name in ('channel_base', 'channel_max', 'num_fp16_res', 'conv_clamp', 'architecture'):
        if name in kwargs:
            synthesis[name] = kwargs.pop(name)
    inferred = config_from_state(state, where)
    try:
        return StyleGAN2Config(
            z_dim=int(kwargs.get('z_dim', inferred.z_dim)),
            w_dim=int(kwargs.get('w_dim', inferred.w_dim)),
            c_dim=int(kwargs.get('c_dim', inferred.c_dim)),
            img_resolution=int(kwargs.get('img_resolution', inferred.img_resolution)),
            img_channels=int(kwargs.get('img_channels', inferred.img_channels)),
            mapping_layers=int(mapping.get('num_layers', inferred.mapping_layers)),
            mapping_lr_multiplier=float(mapping.get('lr_multiplier', 0.01)),
            mapping_layer_features=mapping.get('layer_features'),
            mapping_embed_features=mapping.get('embed_features'),
            channel_base=int(synthesis.get('channel_base', inferred.channel_base)),
            channel_max=int(synthesis.get('channel_max', inferred.channel_max)),
            conv_clamp=synthesis.get('conv_clamp'),
            architecture=synthesis.get('architecture', inferred.architecture),
            num_fp16_res=int(synthesis.get('num_fp16_res', 0) or 0),
        )
    except (TypeError, ValueError) as error:
        raise CheckpointError(f'{where}: {error}') from None


# ----------------------------------------------------------------------------
# Shape inference on our (NVlabs) layout.

def config_from_state(state, where='checkpoint'):
    """Infer a `StyleGAN2Config` from the shapes of a state dict in our layout."""
    def shape(key):
        if key not in state:
            raise CheckpointError(f'{where}: missing tensor {key}')
        return tuple(state[key].shape)

    blocks = sorted(int(m.group(1)) for key in state
                    if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', key)))
    if not blocks:
        raise CheckpointError(f'{where}: no StyleGAN2 synthesis blocks found')
    resolution = blocks[-1]
    if blocks != [2 ** i for i in range(2, resolution.bit_length())]:
        raise CheckpointError(f'{where}: synthesis blocks {blocks} do not run from 4 to {resolution} by powers of two')
    channels = {res: shape(f'synthesis.b{res}.conv1.weight')[0] for res in blocks}
    channel_base, channel_max = infer_channel_formula(channels, where)
    fc = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r'mapping\.fc(\d+)\.weight', key)))
    if not fc or fc != list(range(len(fc))):
        raise CheckpointError(f'{where}: mapping layers missing or not numbered from 0')
    w_dim = shape(f'mapping.fc{fc[-1]}.weight')[0]
    c_dim, embed = 0, 0
    if 'mapping.embed.weight' in state:
        embed, c_dim = shape('mapping.embed.weight')
    z_dim = shape('mapping.fc0.weight')[1] - embed
    hidden = shape('mapping.fc0.weight')[0] if len(fc) > 1 else w_dim
    img_channels = shape(f'synthesis.b{resolution}.torgb.weight')[0]
    has_skip = any(key.startswith('synthesis.b') and '.skip.' in key for key in state)
    all_torgb = all(f'synthesis.b{res}.torgb.weight' in state for res in blocks)
    architecture = 'resnet' if has_skip else ('skip' if all_torgb else 'orig')
    try:
        return StyleGAN2Config(
            z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
            mapping_layers=len(fc), mapping_layer_features=hidden if hidden != w_dim else None,
            mapping_embed_features=embed if embed not in (0, w_dim) else None,
            channel_base=channel_base, channel_max=channel_max, architecture=architecture)
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None


def convert_and_infer(state, rules, where='checkpoint'):
    """Rename with `rules`, infer the config from the result, check every shape against it.

    Returns:
        `(StyleGAN2Config, our state dict)`.
    """
    converted = names.apply(state, rules, where)
    config = config_from_state(converted.state, where)
    names.check_shapes(converted, names.model_shapes(StyleGAN2Generator, config), where)
    return config, converted.state


# ----------------------------------------------------------------------------
# Hammer / ReSeFa (`models/stylegan2_generator.py`).

def is_hammer_state(keys):
    keys = set(keys)
    return 'synthesis.early_layer.const' in keys and 'synthesis.layer0.style.weight' in keys \
        and 'mapping.dense0.weight' in keys and 'w_avg' in keys


def hammer_layer_names(num_outputs):
    """Hammer `layer{i}` / `output{k}` -> our block layer names."""
    layers = {'layer0': 'synthesis.b4.conv1', 'output0': 'synthesis.b4.torgb'}
    for k in range(1, num_outputs):
        res = 4 * 2 ** k
        layers[f'layer{2 * k - 1}'] = f'synthesis.b{res}.conv0'
        layers[f'layer{2 * k}'] = f'synthesis.b{res}.conv1'
        layers[f'output{k}'] = f'synthesis.b{res}.torgb'
    return layers


def hammer_rules(state, where='checkpoint'):
    """Table of a Hammer `StyleGAN2Generator` state dict, for its number of ToRGB layers."""
    num_outputs = count_indices(state, 'synthesis.output{}.weight')
    if num_outputs == 0:
        raise CheckpointError(f'{where}: no synthesis.output*.weight tensors (not a Hammer StyleGAN2)')
    rules = [
        Rule('w_avg', 'mapping.w_avg'),
        Rule('synthesis.early_layer.const', 'synthesis.b4.const', _first, (1, None, 4, 4)),
        Rule(r'mapping\.dense(\d+)\.(weight|bias)', r'mapping.fc\1.\2'),
        Rule(r'mapping\.embedding\.(weight|bias)', r'mapping.embed.\1'),
        Rule(r'mapping\.label_embedding\.(weight|bias)', r'mapping.embed.\1'),
        FILTERS,
    ]
    for src, dst in hammer_layer_names(num_outputs).items():
        src = f'synthesis.{src}'
        rules += [Rule(f'{src}.weight', f'{dst}.weight'), Rule(f'{src}.bias', f'{dst}.bias'),
                  Rule(f'{src}.style.weight', f'{dst}.affine.weight'), Rule(f'{src}.style.bias', f'{dst}.affine.bias')]
        if not dst.endswith('torgb'):
            rules += [Rule(f'{src}.noise_strength', f'{dst}.noise_strength'),
                      Rule(f'{src}.noise', f'{dst}.noise_const', _noise, (1, 1, None, None))]
    return rules


# ----------------------------------------------------------------------------
# rosinality (`model.Generator`, `{'g_ema': ..., 'latent_avg': ...}`).

def is_rosinality_state(keys):
    keys = set(keys)
    return 'input.input' in keys and 'conv1.conv.weight' in keys and 'style.1.weight' in keys


def rosinality_rules(state, where='checkpoint'):
    """Table of a rosinality `g_ema` state dict plus its `latent_avg`, for its number of layers."""
    num_convs = count_indices(state, 'convs.{}.conv.weight')
    num_rgbs = count_indices(state, 'to_rgbs.{}.conv.weight')
    if num_convs != 2 * num_rgbs:
        raise CheckpointError(f'{where}: {num_convs} convs for {num_rgbs} to_rgbs; expected twice as many')
    rules = [Rule('input.input', 'synthesis.b4.const', _first, (1, None, 4, 4)),
             Rule('latent_avg', 'mapping.w_avg', lambda value: value.reshape(-1)),
             FILTERS]
    num_styles = count_indices(state, 'style.{}.weight', start=1)  # style.0 is rosinality's PixelNorm: no weights
    for i in range(num_styles):
        rules += [Rule(f'style.{i + 1}.weight', f'mapping.fc{i}.weight'),
                  Rule(f'style.{i + 1}.bias', f'mapping.fc{i}.bias')]
    layers, rgbs = {'conv1': 'synthesis.b4.conv1'}, {'to_rgb1': 'synthesis.b4.torgb'}
    noises = ['synthesis.b4.conv1']
    for k in range(num_rgbs):
        res = 8 * 2 ** k
        layers[f'convs.{2 * k}'] = f'synthesis.b{res}.conv0'
        layers[f'convs.{2 * k + 1}'] = f'synthesis.b{res}.conv1'
        rgbs[f'to_rgbs.{k}'] = f'synthesis.b{res}.torgb'
        noises += [f'synthesis.b{res}.conv0', f'synthesis.b{res}.conv1']
    modulated = (1, None, None, None, None)  # [1, out, in, kh, kw]
    for src, dst in {**layers, **rgbs}.items():
        rules += [Rule(f'{src}.conv.weight', f'{dst}.weight', _first, modulated),
                  Rule(f'{src}.conv.modulation.weight', f'{dst}.affine.weight'),
                  Rule(f'{src}.conv.modulation.bias', f'{dst}.affine.bias')]
    for src, dst in layers.items():
        rules += [Rule(f'{src}.noise.weight', f'{dst}.noise_strength', lambda value: value.reshape([]), (1,)),
                  Rule(f'{src}.activate.bias', f'{dst}.bias')]
    for src, dst in rgbs.items():
        rules.append(Rule(f'{src}.bias', f'{dst}.bias', lambda value: value.reshape(-1), (1, None, 1, 1)))
    for idx, dst in enumerate(noises):
        rules.append(Rule(f'noises.noise_{idx}', f'{dst}.noise_const', _noise, (1, 1, None, None)))
    return rules
