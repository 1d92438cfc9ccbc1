"""Write our StyleGAN2 weights in other projects' layouts (inverse of the readers).

Used to build the same weights as a Hammer `.pth`, a rosinality `.pt` and an
NVlabs pickle, so the three readers can be compared on identical models.
"""

import re

import torch

from models.checkpoints.stylegan2_names import _hammer_layer_names


def to_hammer(state):
    """Our (NVlabs-named) state dict -> Hammer StyleGAN2 generator state dict."""
    blocks = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', k)))
    inverse = {dst: src for src, dst in _hammer_layer_names(len(blocks)).items()}
    out = {}
    for key, value in state.items():
        if key == 'mapping.w_avg':
            out['w_avg'] = value
        elif key.startswith('mapping.fc'):
            out[key.replace('mapping.fc', 'mapping.dense')] = value
        elif key == 'synthesis.b4.const':
            out['synthesis.early_layer.const'] = value[None]
        else:
            layer, suffix = key.rsplit('.', 1) if not key.endswith(('affine.weight', 'affine.bias')) \
                else (key.rsplit('.', 2)[0], 'style.' + key.rsplit('.', 1)[1])
            suffix = {'noise_const': 'noise'}.get(suffix, suffix)
            value = value[None, None] if suffix == 'noise' else value
            out[f'synthesis.{inverse[layer]}.{suffix}'] = value
    return out


def to_rosinality(state):
    """Our state dict -> `{'g_ema': ..., 'latent_avg': ...}` in rosinality's layout."""
    blocks = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', k)))
    layers = {'synthesis.b4.conv1': 'conv1'}
    rgbs = {'synthesis.b4.torgb': 'to_rgb1'}
    noises = ['synthesis.b4.conv1']
    for k, res in enumerate(blocks[1:]):
        layers[f'synthesis.b{res}.conv0'] = f'convs.{2 * k}'
        layers[f'synthesis.b{res}.conv1'] = f'convs.{2 * k + 1}'
        rgbs[f'synthesis.b{res}.torgb'] = f'to_rgbs.{k}'
        noises += [f'synthesis.b{res}.conv0', f'synthesis.b{res}.conv1']
    g = {}
    for key, value in state.items():
        if key == 'mapping.w_avg':
            continue
        if key.startswith('mapping.fc'):
            idx, kind = re.fullmatch(r'mapping\.fc(\d+)\.(\w+)', key).groups()
            g[f'style.{int(idx) + 1}.{kind}'] = value
        elif key == 'synthesis.b4.const':
            g['input.input'] = value[None]
        else:
            layer, rest = re.fullmatch(r'(synthesis\.b\d+\.\w+?)\.(.+)', key).groups()
            if layer in rgbs:
                src = rgbs[layer]
                name = {'weight': 'conv.weight', 'bias': 'bias', 'affine.weight': 'conv.modulation.weight',
                        'affine.bias': 'conv.modulation.bias'}[rest]
                value = value[None] if rest == 'weight' else value.reshape(1, -1, 1, 1) if rest == 'bias' else value
                g[f'{src}.{name}'] = value
            elif rest == 'noise_const':
                g[f'noises.noise_{noises.index(layer)}'] = value[None, None]
            else:
                src = layers[layer]
                name = {'weight': 'conv.weight', 'bias': 'activate.bias', 'affine.weight': 'conv.modulation.weight',
                        'affine.bias': 'conv.modulation.bias', 'noise_strength': 'noise.weight'}[rest]
                value = value[None] if rest == 'weight' else value.reshape(1) if rest == 'noise_strength' else value
                g[f'{src}.{name}'] = value
    return {'g_ema': g, 'latent_avg': state['mapping.w_avg'].clone()}


def clone(state):
    return {k: v.clone() for k, v in state.items()}


__all__ = ['clone', 'to_hammer', 'to_rosinality', 'torch']
