"""Write our weights in other projects' layouts (the inverse of the readers), independently of them.

Used to build the same weights as a Hammer `.pth`, a rosinality `.pt`, a
genforce `.pth` or TensorFlow variables, so the readers can be checked on
identical models.
"""

import re

import numpy as np
import torch

from models.checkpoints.stylegan2_names import hammer_layer_names
from tests.pickles import Network


def to_hammer(state):
    """Our (NVlabs-named) state dict -> Hammer StyleGAN2 generator state dict."""
    blocks = sorted(int(m.group(1)) for k in state if (m := re.fullmatch(r'synthesis\.b(\d+)\.conv1\.weight', k)))
    inverse = {dst: src for src, dst in hammer_layer_names(len(blocks)).items()}
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


# ----------------------------------------------------------------------------
# genforce (SeFa) layouts, at lod 0: lower-resolution ToRGB layers are random.

BLUR = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
UP = torch.outer(torch.tensor([1., 3., 3., 1.]), torch.tensor([1., 3., 3., 1.])) / 16


def to_genforce_pggan(sd, config):
    out = {'lod': torch.zeros([])}
    num_blocks = int(np.log2(config.img_resolution)) - 1
    for idx in range(2 * num_blocks):
        weight = sd[f'synthesis.layer{idx}.weight']
        out[f'layer{idx}.weight'] = weight.transpose(0, 1) if config.fused_scale and idx % 2 == 0 and idx else weight
        out[f'layer{idx}.bias'] = sd[f'synthesis.layer{idx}.bias']
    for k in range(num_blocks):
        channels = config.channels(4 * 2 ** k)
        last = k == num_blocks - 1
        out[f'output{k}.weight'] = sd['synthesis.torgb.weight'] if last else torch.randn(3, channels, 1, 1)
        out[f'output{k}.bias'] = sd['synthesis.torgb.bias'] if last else torch.randn(3)
    return out


def to_genforce_stylegan(sd, config):
    out = {}
    for i in range(config.mapping_layers):
        out[f'mapping.dense{i}.weight'] = sd[f'mapping.fc{i}.weight']
        out[f'mapping.dense{i}.bias'] = sd[f'mapping.fc{i}.bias']
    out['truncation.w_avg'] = sd['mapping.w_avg']
    out['synthesis.lod'] = torch.zeros([])
    out['synthesis.layer0.const'] = sd['synthesis.const'][None]
    num_blocks = int(np.log2(config.img_resolution)) - 1
    for idx in range(2 * num_blocks):
        src, dst = f'synthesis.layer{idx}', f'synthesis.layer{idx}'
        if idx:
            out[f'{dst}.weight'] = sd[f'{src}.weight']
        out[f'{dst}.bias'] = sd[f'{src}.bias']
        out[f'{dst}.apply_noise.weight'] = sd[f'{src}.noise_strength']
        out[f'{dst}.apply_noise.noise'] = sd[f'{src}.noise_const'][None, None]
        out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
        out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias']
        if idx and idx % 2 == 0:
            out[f'{dst}.blur.kernel'] = BLUR.repeat(sd[f'{src}.bias'].shape[0], 1, 1, 1)
    for k in range(num_blocks):
        last = k == num_blocks - 1
        channels = config.channels(4 * 2 ** k)
        out[f'synthesis.output{k}.weight'] = sd['synthesis.torgb.weight'] if last else torch.randn(3, channels, 1, 1)
        out[f'synthesis.output{k}.bias'] = sd['synthesis.torgb.bias'] if last else torch.randn(3)
    return out


def to_genforce_stylegan2(sd, config):
    out = {}
    for i in range(config.mapping_layers):
        out[f'mapping.dense{i}.weight'] = sd[f'mapping.fc{i}.weight']
        out[f'mapping.dense{i}.bias'] = sd[f'mapping.fc{i}.bias']
    out['truncation.w_avg'] = sd['mapping.w_avg']
    out['synthesis.early_layer.const'] = sd['synthesis.b4.const'][None]
    resolutions = [2 ** i for i in range(2, int(np.log2(config.img_resolution)) + 1)]
    for k, res in enumerate(resolutions):
        convs = [(0, 'conv1')] if k == 0 else [(2 * k - 1, 'conv0'), (2 * k, 'conv1')]
        for idx, name in convs:
            src, dst = f'synthesis.b{res}.{name}', f'synthesis.layer{idx}'
            weight = sd[f'{src}.weight']
            out[f'{dst}.weight'] = weight.flip([2, 3]) if name == 'conv0' else weight
            out[f'{dst}.bias'] = sd[f'{src}.bias']
            out[f'{dst}.noise_strength'] = sd[f'{src}.noise_strength']
            out[f'{dst}.noise'] = sd[f'{src}.noise_const'][None, None]
            out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
            out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias'] - 1
            if name == 'conv0':
                out[f'{dst}.filter.kernel'] = UP[None, None]
        src, dst = f'synthesis.b{res}.torgb', f'synthesis.output{k}'
        out[f'{dst}.weight'] = sd[f'{src}.weight']
        out[f'{dst}.bias'] = sd[f'{src}.bias']
        out[f'{dst}.style.weight'] = sd[f'{src}.affine.weight']
        out[f'{dst}.style.bias'] = sd[f'{src}.affine.bias'] - 1
    out['synthesis.upsample.kernel'] = UP[None, None]
    return out


# ----------------------------------------------------------------------------
# TensorFlow variables (NVlabs' official networks).

def f32(tensor):
    return np.ascontiguousarray(tensor.detach().numpy().astype(np.float32))


def hwio(weight):
    """[out, in, kh, kw] -> TensorFlow [kh, kw, in, out]."""
    return f32(weight.permute(2, 3, 1, 0))


def scalar(tensor):
    return np.float32(tensor.item())  # TensorFlow returns numpy scalars for 0-d variables


# ----------------------------------------------------------------------------
# Inverse mappings: our state dicts -> TensorFlow variables.

def stylegan2_to_tf(sd, resolution, kwargs):
    """NVlabs StyleGAN2 state dict -> `Gs` (`G_main` with `mapping` and `synthesis` components)."""
    mapping = {}
    for i in range(8):
        mapping[f'Dense{i}/weight'] = f32(sd[f'mapping.fc{i}.weight'].t())
        mapping[f'Dense{i}/bias'] = f32(sd[f'mapping.fc{i}.bias'])
    synthesis = {}
    noise = 0
    for r in range(2, resolution.bit_length()):
        res, block = 2 ** r, f'synthesis.b{2 ** r}'
        if res == 4:
            synthesis['4x4/Const/const'] = f32(sd[f'{block}.const'][None])
            layers = [('4x4/Conv', 'conv1')]
        else:
            layers = [(f'{res}x{res}/Conv0_up', 'conv0'), (f'{res}x{res}/Conv1', 'conv1')]
        for scope, name in layers:
            layer = f'{block}.{name}'
            kernel = hwio(sd[f'{layer}.weight'])
            synthesis[f'{scope}/weight'] = np.ascontiguousarray(kernel[::-1, ::-1]) if name == 'conv0' else kernel
            synthesis[f'{scope}/bias'] = f32(sd[f'{layer}.bias'])
            synthesis[f'{scope}/noise_strength'] = scalar(sd[f'{layer}.noise_strength'])
            synthesis[f'{scope}/mod_weight'] = f32(sd[f'{layer}.affine.weight'].t())
            synthesis[f'{scope}/mod_bias'] = f32(sd[f'{layer}.affine.bias'] - 1)
            synthesis[f'noise{noise}'] = f32(sd[f'{layer}.noise_const'][None, None])
            noise += 1
        scope = f'{res}x{res}/ToRGB'
        synthesis[f'{scope}/weight'] = hwio(sd[f'{block}.torgb.weight'])
        synthesis[f'{scope}/bias'] = f32(sd[f'{block}.torgb.bias'])
        synthesis[f'{scope}/mod_weight'] = f32(sd[f'{block}.torgb.affine.weight'].t())
        synthesis[f'{scope}/mod_bias'] = f32(sd[f'{block}.torgb.affine.bias'] - 1)
    top = {'lod': np.float32(0), 'dlatent_avg': f32(sd['mapping.w_avg'])}
    components = {
        'synthesis': Network('G_synthesis', synthesis, static_kwargs=kwargs, build_func_name='G_synthesis_stylegan2'),
        'mapping': Network('G_mapping', mapping, static_kwargs=dict(kwargs, dlatent_broadcast=8),
                           build_func_name='G_mapping'),
    }
    return Network('Gs', top, components, static_kwargs=kwargs, build_func_name='G_main')


def stylegan_to_tf(sd, config, synthesis_kwargs=None):
    """Our StyleGAN state dict -> `Gs` (`G_style`), with random lower-lod ToRGB layers."""
    rng = np.random.RandomState(0)
    mapping = {}
    for i in range(config.mapping_layers):
        mapping[f'Dense{i}/weight'] = f32(sd[f'mapping.fc{i}.weight'].t())
        mapping[f'Dense{i}/bias'] = f32(sd[f'mapping.fc{i}.bias'])
    synthesis = {'lod': np.float32(0), '4x4/Const/const': f32(sd['synthesis.const'][None])}
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(2, log2 + 1)):
        res = 2 ** r
        scopes = ['4x4/Const', '4x4/Conv'] if res == 4 else [f'{res}x{res}/Conv0_up', f'{res}x{res}/Conv1']
        for offset, scope in enumerate(scopes):
            idx = 2 * k + offset
            layer = f'synthesis.layer{idx}'
            if idx:
                synthesis[f'{scope}/weight'] = hwio(sd[f'{layer}.weight'])
            synthesis[f'{scope}/bias'] = f32(sd[f'{layer}.bias'])
            synthesis[f'{scope}/Noise/weight'] = f32(sd[f'{layer}.noise_strength'])
            synthesis[f'{scope}/StyleMod/weight'] = f32(sd[f'{layer}.affine.weight'].t())
            synthesis[f'{scope}/StyleMod/bias'] = f32(sd[f'{layer}.affine.bias'])
            synthesis[f'noise{idx}'] = f32(sd[f'{layer}.noise_const'][None, None])
        lod = log2 - r
        if lod == 0:
            synthesis['ToRGB_lod0/weight'] = hwio(sd['synthesis.torgb.weight'])
            synthesis['ToRGB_lod0/bias'] = f32(sd['synthesis.torgb.bias'])
        else:
            synthesis[f'ToRGB_lod{lod}/weight'] = rng.randn(1, 1, config.channels(res), 3).astype(np.float32)
            synthesis[f'ToRGB_lod{lod}/bias'] = rng.randn(3).astype(np.float32)
    kwargs = dict(num_channels=3, resolution=config.img_resolution, label_size=0)
    top = {'lod': np.float32(0), 'dlatent_avg': f32(sd['mapping.w_avg'])}
    components = {
        'synthesis': Network('G_synthesis', synthesis, static_kwargs=dict(kwargs, **(synthesis_kwargs or {})),
                             build_func_name='G_synthesis', version=3),
        'mapping': Network('G_mapping', mapping, static_kwargs=dict(kwargs, dlatent_broadcast=config.num_ws),
                           build_func_name='G_mapping', version=3),
    }
    return Network('Gs', top, components, static_kwargs=kwargs, build_func_name='G_style', version=3)


def pggan_to_tf(sd, config, fused_scale=False, version=3):
    """Our PGGAN state dict -> `Gs` (`G_paper`, no components)."""
    rng = np.random.RandomState(0)
    dense = sd['synthesis.layer0.weight'].flip([2, 3]).permute(1, 0, 2, 3)  # [z, C, 4, 4]
    variables = {'lod': np.float32(0), '4x4/Dense/weight': f32(dense.reshape(dense.shape[0], -1)),
                 '4x4/Dense/bias': f32(sd['synthesis.layer0.bias']),
                 '4x4/Conv/weight': hwio(sd['synthesis.layer1.weight']),
                 '4x4/Conv/bias': f32(sd['synthesis.layer1.bias'])}
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(3, log2 + 1), start=1):
        res = 2 ** r
        up = sd[f'synthesis.layer{2 * k}.weight']
        if fused_scale:  # tf.nn.conv2d_transpose filter layout [kh, kw, out, in]
            variables[f'{res}x{res}/Conv0_up/weight'] = f32(up.permute(2, 3, 0, 1))
            variables[f'{res}x{res}/Conv0_up/bias'] = f32(sd[f'synthesis.layer{2 * k}.bias'])
        else:
            variables[f'{res}x{res}/Conv0/weight'] = hwio(up)
            variables[f'{res}x{res}/Conv0/bias'] = f32(sd[f'synthesis.layer{2 * k}.bias'])
        variables[f'{res}x{res}/Conv1/weight'] = hwio(sd[f'synthesis.layer{2 * k + 1}.weight'])
        variables[f'{res}x{res}/Conv1/bias'] = f32(sd[f'synthesis.layer{2 * k + 1}.bias'])
    for r in range(2, log2 + 1):
        lod = log2 - r
        if lod == 0:
            variables['ToRGB_lod0/weight'] = hwio(sd['synthesis.torgb.weight'])
            variables['ToRGB_lod0/bias'] = f32(sd['synthesis.torgb.bias'])
        else:
            variables[f'ToRGB_lod{lod}/weight'] = rng.randn(1, 1, config.channels(2 ** r), 3).astype(np.float32)
            variables[f'ToRGB_lod{lod}/bias'] = rng.randn(3).astype(np.float32)
    kwargs = dict(num_channels=3, resolution=config.img_resolution, label_size=0, fmap_base=config.channel_base // 2,
                  fmap_max=config.channel_max, latent_size=config.z_dim, fused_scale=fused_scale)
    return Network('Gs', variables, static_kwargs=kwargs, build_func_name='G_paper', version=version)
