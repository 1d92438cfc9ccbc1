"""StyleGAN2 checkpoints in NVlabs, Hammer (ReSeFa) and rosinality layouts.

Our StyleGAN2 module uses NVlabs' names, so every reader here first renames
into that layout, then `config_from_state` infers the architecture from the
tensor shapes, so that any resolution, width and mapping depth loads.
"""

import re

import torch

from ..stylegan2 import StyleGAN2Config
from .common import CheckpointError, infer_channel_formula, rename, take

_FILTER_KEY = re.compile(r'(^|\.)(resample_filter|filter|kernel)$')


def is_filter_key(key):
    """Resampling-filter buffers, rebuilt from the config by our modules."""
    return bool(_FILTER_KEY.search(key))


# ----------------------------------------------------------------------------
# NVlabs (stylegan2-ada-pytorch, stylegan3 repo's networks_stylegan2).

def is_nvlabs_stylegan2_state(keys):
    keys = set(keys)
    return 'synthesis.b4.const' in keys and 'mapping.fc0.weight' in keys


def convert_nvlabs_state(state, where='checkpoint'):
    """NVlabs G_ema state dict -> ours (drops the filter buffers)."""
    return {key: value for key, value in state.items() if not key.endswith('resample_filter')}


def config_from_nvlabs_kwargs(init_kwargs, state, where='checkpoint'):
    """Config from the constructor kwargs that NVlabs' persistence stores, checked against shapes."""
    kwargs = dict(init_kwargs)
    synthesis = dict(kwargs.pop('synthesis_kwargs', {}) or {})
    mapping = dict(kwargs.pop('mapping_kwargs', {}) or {})
    for name in ('channel_base', 'channel_max', 'num_fp16_res', 'conv_clamp', 'architecture'):
        if name in kwargs:
            synthesis[name] = kwargs.pop(name)
    inferred = config_from_state(state, where)
    config = StyleGAN2Config(
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
    return config


# ----------------------------------------------------------------------------
# Shape inference on our (NVlabs) layout.

def config_from_state(state, where='checkpoint', **overrides):
    """Infer a `StyleGAN2Config` from a state dict in our layout.

    `overrides` (e.g. `img_resolution`, `w_dim` from command-line flags) must agree
    with the tensors; a disagreement is an error naming the flag and the file.
    """
    blocks = sorted(int(m.group(1)) for key in state
                    if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', key)))
    if not blocks:
        raise CheckpointError(f'{where}: no StyleGAN2 synthesis blocks found')
    resolution = blocks[-1]
    if blocks != [2 ** i for i in range(2, resolution.bit_length())]:
        raise CheckpointError(f'{where}: synthesis blocks {blocks} do not run from 4 to {resolution} by powers of two')
    channels = {res: take(state, f'synthesis.b{res}.conv1.weight', where=where).shape[0] for res in blocks}
    channel_base, channel_max = infer_channel_formula(channels, where)
    fc = sorted(int(m.group(1)) for key in state if (m := re.fullmatch(r'mapping\.fc(\d+)\.weight', key)))
    if not fc or fc != list(range(len(fc))):
        raise CheckpointError(f'{where}: mapping layers missing or not numbered from 0')
    w_dim = take(state, f'mapping.fc{fc[-1]}.weight', where=where).shape[0]
    c_dim, embed = 0, 0
    if 'mapping.embed.weight' in state:
        embed, c_dim = state['mapping.embed.weight'].shape
    z_dim = take(state, 'mapping.fc0.weight', where=where).shape[1] - embed
    hidden = state['mapping.fc0.weight'].shape[0] if len(fc) > 1 else w_dim
    img_channels = take(state, f'synthesis.b{resolution}.torgb.weight', where=where).shape[0]
    has_skip = any(key.startswith('synthesis.b') and '.skip.' in key for key in state)
    all_torgb = all(f'synthesis.b{res}.torgb.weight' in state for res in blocks)
    architecture = 'resnet' if has_skip else ('skip' if all_torgb else 'orig')
    config = StyleGAN2Config(
        z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
        mapping_layers=len(fc), mapping_layer_features=hidden if hidden != w_dim else None,
        mapping_embed_features=embed if embed not in (0, w_dim) else None,
        channel_base=channel_base, channel_max=channel_max, architecture=architecture)
    return apply_overrides(config, overrides, where)


def apply_overrides(config, overrides, where):
    """Check command-line settings against the checkpoint; they must agree."""
    flags = {'img_resolution': '--img_size', 'w_dim': '--w_dim', 'z_dim': '--z_dim',
             'channel_base': '--scale_stylegan2', 'channel_max': '--channel_max'}
    for name, value in overrides.items():
        if value is None:
            continue
        if name not in flags:
            raise ValueError(f'unknown StyleGAN2 setting {name!r}')
        if name == 'channel_base':  # any base that gives the same channel counts agrees
            check = StyleGAN2Config(**{**config.to_dict(), 'channel_base': int(value)})
            res_list = [2 ** i for i in range(2, config.img_resolution.bit_length())]
            if all(check.channels(r) == config.channels(r) for r in res_list):
                continue
        elif getattr(config, name) == value:
            continue
        raise CheckpointError(f'{where}: {flags[name]} gives {name}={value}, '
                              f'but the checkpoint holds {name}={getattr(config, name)}')
    return config


# ----------------------------------------------------------------------------
# Hammer / ReSeFa (`models/stylegan2_generator.py`).

def is_hammer_stylegan2_state(keys):
    keys = set(keys)
    return 'synthesis.early_layer.const' in keys and 'synthesis.layer0.style.weight' in keys \
        and 'mapping.dense0.weight' in keys


def _hammer_layer_names(num_outputs):
    """Hammer `layer{i}`/`output{k}` -> NVlabs block layer names."""
    names = {'layer0': 'synthesis.b4.conv1', 'output0': 'synthesis.b4.torgb'}
    for k in range(1, num_outputs):
        res = 4 * 2 ** k
        names[f'layer{2 * k - 1}'] = f'synthesis.b{res}.conv0'
        names[f'layer{2 * k}'] = f'synthesis.b{res}.conv1'
        names[f'output{k}'] = f'synthesis.b{res}.torgb'
    return names


def convert_hammer_state(state, where='checkpoint', w_avg_key='w_avg', prefix_map=None):
    """Hammer/genforce StyleGAN2 generator state dict -> ours.

    Args:
        state: The generator's state dict.
        w_avg_key: Where the average `w` lives (`'w_avg'` in Hammer,
            `'truncation.w_avg'` in genforce's SeFa checkpoints).
    """
    num_outputs = len([k for k in state if re.fullmatch(r'synthesis\.output\d+\.weight', k)])
    if num_outputs == 0:
        raise CheckpointError(f'{where}: no synthesis.output*.weight tensors (not a Hammer StyleGAN2)')
    mapping = {w_avg_key: 'mapping.w_avg', 'synthesis.early_layer.const': 'synthesis.b4.const'}
    for key in state:
        m = re.fullmatch(r'mapping\.dense(\d+)\.(weight|bias)', key)
        if m:
            mapping[key] = f'mapping.fc{m.group(1)}.{m.group(2)}'
        m = re.fullmatch(r'mapping\.(?:embedding|label_embedding)\.(weight|bias)', key)
        if m:
            mapping[key] = f'mapping.embed.{m.group(1)}'
    suffixes = {'weight': 'weight', 'bias': 'bias', 'style.weight': 'affine.weight',
                'style.bias': 'affine.bias', 'noise_strength': 'noise_strength', 'noise': 'noise_const'}
    for src, dst in _hammer_layer_names(num_outputs).items():
        for s_suffix, d_suffix in suffixes.items():
            key = f'synthesis.{src}.{s_suffix}'
            if key in state:
                mapping[key] = f'{dst}.{d_suffix}'
    out = rename(state, mapping, ignore=[is_filter_key], where=where)
    out['synthesis.b4.const'] = take(out, 'synthesis.b4.const', (1, None, 4, 4), where)[0]
    for key in list(out):
        if key.endswith('.noise_const'):
            out[key] = out[key].reshape(out[key].shape[-2:])
    return out


# ----------------------------------------------------------------------------
# rosinality (`model.Generator`, `{'g_ema': ..., 'latent_avg': ...}`).

def is_rosinality_state(keys):
    keys = set(keys)
    return 'input.input' in keys and 'conv1.conv.weight' in keys and 'style.1.weight' in keys


def convert_rosinality_state(state, latent_avg=None, where='checkpoint'):
    """rosinality `g_ema` state dict (+ `latent_avg`) -> ours."""
    num_convs = len([k for k in state if re.fullmatch(r'convs\.\d+\.conv\.weight', k)])
    num_rgbs = len([k for k in state if re.fullmatch(r'to_rgbs\.\d+\.conv\.weight', k)])
    if num_convs != 2 * num_rgbs:
        raise CheckpointError(f'{where}: {num_convs} convs for {num_rgbs} to_rgbs; expected twice as many')
    mapping = {'input.input': 'synthesis.b4.const'}
    for key in state:
        m = re.fullmatch(r'style\.(\d+)\.(weight|bias)', key)
        if m:
            mapping[key] = f'mapping.fc{int(m.group(1)) - 1}.{m.group(2)}'
    layers = {'conv1': 'synthesis.b4.conv1'}
    rgbs = {'to_rgb1': 'synthesis.b4.torgb'}
    noises = ['synthesis.b4.conv1']
    for k in range(num_rgbs):
        res = 8 * 2 ** k
        layers[f'convs.{2 * k}'] = f'synthesis.b{res}.conv0'
        layers[f'convs.{2 * k + 1}'] = f'synthesis.b{res}.conv1'
        rgbs[f'to_rgbs.{k}'] = f'synthesis.b{res}.torgb'
        noises += [f'synthesis.b{res}.conv0', f'synthesis.b{res}.conv1']
    for src, dst in layers.items():
        mapping.update({f'{src}.conv.weight': f'{dst}.weight',
                        f'{src}.conv.modulation.weight': f'{dst}.affine.weight',
                        f'{src}.conv.modulation.bias': f'{dst}.affine.bias',
                        f'{src}.noise.weight': f'{dst}.noise_strength',
                        f'{src}.activate.bias': f'{dst}.bias'})
    for src, dst in rgbs.items():
        mapping.update({f'{src}.conv.weight': f'{dst}.weight',
                        f'{src}.conv.modulation.weight': f'{dst}.affine.weight',
                        f'{src}.conv.modulation.bias': f'{dst}.affine.bias',
                        f'{src}.bias': f'{dst}.bias'})
    for idx, dst in enumerate(noises):
        mapping[f'noises.noise_{idx}'] = f'{dst}.noise_const'
    out = rename(state, mapping, ignore=[is_filter_key], where=where)
    out['synthesis.b4.const'] = take(out, 'synthesis.b4.const', (1, None, 4, 4), where)[0]
    for key in list(out):
        if key.endswith('.noise_const'):
            out[key] = out[key].reshape(out[key].shape[-2:])
        elif key.endswith('.noise_strength'):
            out[key] = take(out, key, (1,), where).reshape([])
        elif key.endswith('.weight') and out[key].ndim == 5:
            out[key] = take(out, key, (1, None, None, None, None), where)[0]
        elif key.endswith('torgb.bias'):
            out[key] = out[key].reshape(-1)
    w_dim = out['mapping.fc0.weight'].shape[0]
    if latent_avg is None:
        raise CheckpointError(f'{where}: no latent_avg next to g_ema (needed for truncation)')
    latent_avg = torch.as_tensor(latent_avg, dtype=torch.float32).reshape(-1)
    if latent_avg.shape[0] != w_dim:
        raise CheckpointError(f'{where}: latent_avg has {latent_avg.shape[0]} values, expected {w_dim}')
    out['mapping.w_avg'] = latent_avg
    return out
