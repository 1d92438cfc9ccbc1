"""StyleGAN2 conversion tables: NVlabs, Hammer (ReSeFa), genforce and rosinality layouts.

Our StyleGAN2 module uses NVlabs' names. The other layouts (and TensorFlow's) are renamed by tables built
from their numbers of layers, then their config is inferred from the renamed tensors (`config_from_state`).
"""

import re

import torch

from . import names
from .common import CheckpointError, infer_channel_formula
from .names import Rule, count_indices, equals, first, ignore, noise_map, plus_one, shape_of

# Resampling-filter buffers, rebuilt from the config by our modules.
FILTERS = ignore(r'(?:.*\.)?(?:resample_filter|filter|kernel)')
UP_FILTER = torch.outer(torch.tensor([1., 3, 3, 1]), torch.tensor([1., 3, 3, 1]))[None, None] / 16  # genforce's
_flip = lambda value: value.flip([2, 3]).contiguous()  # a kernel flipped spatially

# NVlabs constructor kwargs (top level, `mapping_kwargs` or `synthesis_kwargs`) -> our config fields.
_NVLABS_KWARGS = {name: name for name in ('z_dim', 'w_dim', 'c_dim', 'img_resolution', 'img_channels', 'channel_base',
                                          'channel_max', 'num_fp16_res', 'conv_clamp', 'architecture')}
_NVLABS_KWARGS.update(num_layers='mapping_layers', lr_multiplier='mapping_lr_multiplier',
                      layer_features='mapping_layer_features', embed_features='mapping_embed_features')


# ----------------------------------------------------------------------------
# NVlabs (stylegan2-ada-pytorch, the stylegan3 repo's networks_stylegan2) and shape inference on that layout.

def is_nvlabs_state(keys):
    return {'synthesis.b4.const', 'mapping.fc0.weight'} <= set(keys)


def convert_nvlabs_state(state, config, where='checkpoint'):
    """NVlabs G_ema state dict -> ours (strict; the filter buffers are dropped)."""
    return names.convert(state, names.own_rules('stylegan2', config) + [ignore(r'.*\.resample_filter')], where)


def config_from_nvlabs_kwargs(init_kwargs, state, where='checkpoint'):
    """Config from the constructor kwargs that NVlabs' persistence records; what they lack, from the shapes."""
    kwargs = {**init_kwargs, **(init_kwargs.get('mapping_kwargs') or {}), **(init_kwargs.get('synthesis_kwargs') or {})}
    values = config_from_state(state, where).to_dict()
    values.update({ours: kwargs[theirs] for theirs, ours in _NVLABS_KWARGS.items() if kwargs.get(theirs) is not None})
    return names.make_config('stylegan2', where, **values)


def config_from_state(state, where='checkpoint', default_base=None, **fields):
    """`StyleGAN2Config` from the shapes of a state dict in our layout; `fields` what shapes cannot tell."""
    blocks = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', key)))
    num_fc = count_indices(state, 'mapping.fc{}.weight')
    if not blocks or blocks != [2 ** i for i in range(2, blocks[-1].bit_length())] or not num_fc:
        raise CheckpointError(f'{where}: not a StyleGAN2 generator: synthesis blocks {blocks} do not run from 4 '
                              f'by powers of two, or mapping.fc0.weight is missing')
    resolution = blocks[-1]
    channel_base, channel_max = infer_channel_formula(
        {res: shape_of(state, f'synthesis.b{res}.conv1.weight', where, 4)[0] for res in blocks}, where, default_base)
    w_dim = shape_of(state, f'mapping.fc{num_fc - 1}.weight', where, 2)[0]
    embed, c_dim = shape_of(state, 'mapping.embed.weight', where, 2) if 'mapping.embed.weight' in state else (0, 0)
    hidden, inputs = shape_of(state, 'mapping.fc0.weight', where, 2)
    torgb = [f'synthesis.b{res}.torgb.weight' in state for res in blocks]
    architecture = 'resnet' if any('.skip.' in key for key in state) else 'skip' if all(torgb) else 'orig'
    return names.make_config(
        'stylegan2', where, z_dim=inputs - embed, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution,
        img_channels=shape_of(state, f'synthesis.b{resolution}.torgb.weight', where, 4)[0], mapping_layers=num_fc,
        mapping_layer_features=hidden if num_fc > 1 and hidden != w_dim else None,
        mapping_embed_features=embed if embed not in (0, w_dim) else None,
        channel_base=channel_base, channel_max=channel_max, architecture=architecture, **fields)


# ----------------------------------------------------------------------------
# Hammer / ReSeFa (`models/stylegan2_generator.py`) and genforce (SeFa's `StyleGAN2Generator`).

def is_hammer_state(keys):
    return {'synthesis.early_layer.const', 'synthesis.layer0.style.weight', 'mapping.dense0.weight',
            'w_avg'} <= set(keys)


def hammer_layer_names(num_blocks):
    """Hammer `layer{i}` / `output{k}` -> our block layer names."""
    layers = {'layer0': 'synthesis.b4.conv1', 'output0': 'synthesis.b4.torgb'}
    for k in range(1, num_blocks):
        res = 4 * 2 ** k
        layers[f'layer{2 * k - 1}'] = f'synthesis.b{res}.conv0'
        layers[f'layer{2 * k}'] = f'synthesis.b{res}.conv1'
        layers[f'output{k}'] = f'synthesis.b{res}.torgb'
    return layers


def hammer_rules(state, genforce=False):
    """Table of a Hammer (or, with `genforce`, a genforce) `StyleGAN2Generator` state dict, for its numbers of
    layers. genforce's layout is Hammer's with `truncation.w_avg`, style biases that gain 1 and upsampling kernels
    flipped (it does both at run time), and filter kernels to check."""
    num_blocks = (count_indices(state, 'synthesis.layer{}.weight') + 1) // 2
    embed = 'mapping.label_embedding' if 'mapping.label_embedding.weight' in state else 'mapping.embedding'
    style_bias, flip = (plus_one, _flip) if genforce else (None, None)
    rules = [Rule('truncation.w_avg' if genforce else 'w_avg', 'mapping.w_avg'), FILTERS,
             Rule('synthesis.early_layer.const', 'synthesis.b4.const', first, (1, None, 4, 4))]
    for i in range(count_indices(state, 'mapping.dense{}.weight')):
        rules += [Rule(f'mapping.dense{i}.{p}', f'mapping.fc{i}.{p}') for p in ('weight', 'bias')]
    if f'{embed}.weight' in state:
        rules += [Rule(f'{embed}.{p}', f'mapping.embed.{p}') for p in ('weight', 'bias')]
    for src, dst in hammer_layer_names(num_blocks).items():
        if src.startswith('output') and src != f'output{num_blocks - 1}' and f'synthesis.{src}.weight' not in state:
            continue
        src = f'synthesis.{src}'
        rules += [Rule(f'{src}.weight', f'{dst}.weight', flip if dst.endswith('conv0') else None),
                  Rule(f'{src}.bias', f'{dst}.bias'), Rule(f'{src}.style.weight', f'{dst}.affine.weight'),
                  Rule(f'{src}.style.bias', f'{dst}.affine.bias', style_bias)]
        if not dst.endswith('torgb'):
            rules += [Rule(f'{src}.noise_strength', f'{dst}.noise_strength'),
                      Rule(f'{src}.noise', f'{dst}.noise_const', noise_map, (1, 1, None, None))]
        if genforce and dst.endswith('conv0'):
            rules.append(ignore(f'{src}.filter.kernel', (1, 1, 4, 4), equals(UP_FILTER)))
    if genforce and 'synthesis.output0.weight' in state:
        rules.append(ignore('synthesis.upsample.kernel', (1, 1, 4, 4), equals(UP_FILTER)))
    return rules


# ----------------------------------------------------------------------------
# rosinality (`model.Generator`, `{'g_ema': ..., 'latent_avg': ...}`).

def is_rosinality_state(keys):
    return {'input.input', 'conv1.conv.weight', 'style.1.weight'} <= set(keys)


def rosinality_rules(state):
    """Table of a rosinality `g_ema` state dict plus its `latent_avg`, for its numbers of layers."""
    rules = [Rule('input.input', 'synthesis.b4.const', first, (1, None, 4, 4)),
             Rule('latent_avg', 'mapping.w_avg', lambda value: value.reshape(-1)), FILTERS]
    for i in range(count_indices(state, 'style.{}.weight', start=1)):  # style.0 is rosinality's PixelNorm
        rules += [Rule(f'style.{i + 1}.{p}', f'mapping.fc{i}.{p}') for p in ('weight', 'bias')]
    layers, rgbs = {'conv1': 'synthesis.b4.conv1'}, {'to_rgb1': 'synthesis.b4.torgb'}  # noises in the order of layers
    for k in range(count_indices(state, 'to_rgbs.{}.conv.weight')):
        res = 8 * 2 ** k
        layers[f'convs.{2 * k}'], layers[f'convs.{2 * k + 1}'] = f'synthesis.b{res}.conv0', f'synthesis.b{res}.conv1'
        rgbs[f'to_rgbs.{k}'] = f'synthesis.b{res}.torgb'
    for src, dst in {**layers, **rgbs}.items():
        rules += [Rule(f'{src}.conv.weight', f'{dst}.weight', first, (1, None, None, None, None)),  # [1, out, in, ...]
                  Rule(f'{src}.conv.modulation.weight', f'{dst}.affine.weight'),
                  Rule(f'{src}.conv.modulation.bias', f'{dst}.affine.bias')]
    for src, dst in layers.items():
        rules += [Rule(f'{src}.noise.weight', f'{dst}.noise_strength', lambda value: value.reshape([]), (1,)),
                  Rule(f'{src}.activate.bias', f'{dst}.bias')]
    rules += [Rule(f'{src}.bias', f'{dst}.bias', lambda value: value.reshape(-1), (1, None, 1, 1))
              for src, dst in rgbs.items()]
    rules += [Rule(f'noises.noise_{i}', f'{dst}.noise_const', noise_map, (1, 1, None, None))
              for i, dst in enumerate(layers.values())]
    return rules
