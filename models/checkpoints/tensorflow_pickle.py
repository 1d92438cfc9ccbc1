"""Reader of NVlabs TensorFlow network pickles (StyleGAN2, StyleGAN, PGGAN), without TensorFlow.

The releases pickle `(G, D, Gs)` (some snapshots a dict with `Gs` or `G_ema`) of TensorFlow `Network`s, which
`safe_pickle` reads as `OpaqueObject`s. Their variables are named as NVlabs' `legacy.py` names them
(`mapping/Dense0/weight`); the family is told by the names, the architecture by the shapes, and the
`static_kwargs` supply what shapes cannot. Kernels `[kh, kw, in, out]` and dense weights `[in, out]` are stored
raw (scaled at run time, as ours); the tables below say where a layout also flips or transposes them.
"""

import dataclasses

import numpy as np
import torch

from . import genforce, names
from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError, lod_is_zero
from .names import Rule, count_indices, first, ignore, noise_map, plus_one
from .safe_pickle import OpaqueObject

FORMAT = 'NVlabs TensorFlow pickle'
TF_NETWORK_CLASSES = ('dnnlib.tflib.network.Network', 'tfutil.Network')
SUPPORTED_VERSIONS = (2, 3, 4)
LABEL = 'TensorFlow variable'  # what a source entry is called in messages

# Build-function arguments that change the computation: argument -> the values our modules reproduce.
_SG2_FIXED = {
    'mapping_nonlinearity': ['lrelu'], 'normalize_latents': [True], 'nonlinearity': ['lrelu'],
    'resample_kernel': [[1, 3, 3, 1]], 'use_noise': [True], 'mapping_func': ['G_mapping'],
    'synthesis_func': ['G_synthesis_stylegan2', 'G_synthesis'],
}
_SG1_FIXED = {
    'mapping_nonlinearity': ['lrelu'], 'use_wscale': [True], 'normalize_latents': [True], 'use_styles': [True],
    'const_input_layer': [True], 'use_noise': [True], 'nonlinearity': ['lrelu'], 'use_pixel_norm': [False],
    'use_instance_norm': [True], 'blur_filter': [[1, 2, 1]], 'fused_scale': [True, False, 'auto'],
}
_PGGAN_FIXED = {
    'normalize_latents': [True], 'use_wscale': [True], 'use_pixelnorm': [True], 'pixelnorm_epsilon': [1e-8],
    'use_leakyrelu': [True], 'label_size': [0],
}
# Build-function arguments that the variables tell too: argument -> our config field.
_KWARG_FIELDS = {'latent_size': 'z_dim', 'dlatent_size': 'w_dim', 'label_size': 'c_dim', 'resolution': 'img_resolution',
                 'num_channels': 'img_channels', 'mapping_layers': 'mapping_layers', 'architecture': 'architecture',
                 'fused_scale': 'fused_scale'}


# TensorFlow values -> our layouts.
_dense = lambda value: value.t()                                     # dense [in, out] -> [out, in]
_conv = lambda value: value.permute(3, 2, 0, 1)                      # kernel [kh, kw, in, out] -> [out, in, kh, kw]
_conv_flipped = lambda value: value.flip([0, 1]).permute(3, 2, 0, 1)  # the same, flipped spatially
_conv_transposed = lambda value: value.permute(2, 3, 0, 1)           # transposed [kh, kw, out, in] -> [out, in, ...]
# PGGAN's dense [z, 16 * C] (reshaped to [C, 4, 4]) -> flipped 4x4 kernel [C, z, 4, 4] of a 1x1 input.
_pggan_dense = lambda value: value.reshape(value.shape[0], -1, 4, 4).permute(1, 0, 2, 3).flip([2, 3])


def is_tf_network(obj):
    """Whether `obj` is a pickled TensorFlow `Network` as `safe_pickle` reads it."""
    return isinstance(obj, OpaqueObject) and obj.qualname in TF_NETWORK_CLASSES and isinstance(obj.state, dict)


def _generator(obj):
    """`(which, network)` of the generator to read, or None when `obj` holds no TensorFlow networks."""
    if isinstance(obj, tuple) and len(obj) == 3 and all(is_tf_network(net) for net in obj):
        return 'Gs', obj[2]
    which = 'G_ema' if isinstance(obj, dict) and 'G_ema' in obj else 'Gs'
    return (which, obj[which]) if isinstance(obj, dict) and is_tf_network(obj.get(which)) else None


def claims(source):
    """A pickle of `(G, D, Gs)` TensorFlow networks, or a dict whose `G_ema` / `Gs` is one."""
    return source.is_pickle and _generator(source.pickle_object()) is not None


def read(source, hints):
    """`Checkpoint` of the generator `Gs` (or `G_ema`); nothing in `hints` is needed."""
    which, network = _generator(source.pickle_object())
    where = f'{source.path} [{which}]'
    variables, kwargs = collect_tf_variables(network, where)
    if 'synthesis/4x4/Conv/mod_weight' in variables:
        family, fixed, rules, infer = 'stylegan2', _SG2_FIXED, _stylegan2_rules(variables), sg2.config_from_state
        settings = dict(conv_clamp=kwargs.get('conv_clamp'), num_fp16_res=kwargs.get('num_fp16_res') or 0,
                        mapping_lr_multiplier=kwargs.get('mapping_lrmul', 0.01))
    elif 'synthesis/4x4/Conv/StyleMod/weight' in variables:
        family, fixed, infer = 'stylegan', _SG1_FIXED, genforce.config_from_stylegan_state
        rules = _stylegan_rules(variables)
        settings = dict(mapping_lr_multiplier=kwargs.get('mapping_lrmul', 0.01),
                        fused_scale=kwargs.get('fused_scale', 'auto'))
    elif {'4x4/Dense/weight', 'ToRGB_lod0/weight'} <= set(variables):
        settings = dict(fused_scale='8x8/Conv0_up/weight' in variables)
        family, fixed, infer = 'pggan', _PGGAN_FIXED, genforce.config_from_pggan_state
        rules = _pggan_rules(variables, settings['fused_scale'])
    else:
        raise CheckpointError(f'{where}: the TensorFlow network is not a StyleGAN2, StyleGAN or PGGAN generator '
                              f'this toolkit reads (variables: {sorted(variables)[:4]})')
    config, state = names.convert_and_infer(variables, rules, where, family, infer, LABEL, **settings)
    _check_kwargs(kwargs, fixed, dataclasses.asdict(config), where)
    return Checkpoint(family, config, state, FORMAT, {'which': which})


def collect_tf_variables(network, where):
    """`(variables, kwargs)` of a network and its components: float32 variables named as NVlabs' `legacy.py` does."""
    variables, kwargs, seen = {}, {}, set()

    def visit(net, prefix):
        problem = _problem(net, seen)
        if problem:
            raise CheckpointError(f'{where}: network {prefix or "Gs"} {problem}')
        seen.add(id(net))
        kwargs.update(net.state.get('static_kwargs') or {})
        for name, value in net.state['variables']:
            variables[prefix + name] = torch.from_numpy(np.array(value, dtype=np.float32))
        for name, child in (net.state.get('components') or {}).items():
            visit(child, f'{prefix}{name}/')

    visit(network, '')
    return variables, kwargs


def _problem(net, seen):
    """What is wrong with a network of the component tree, or None."""
    if id(net) in seen:
        return 'appears twice in the component tree'
    if not is_tf_network(net):
        return f'is a {type(net).__name__}, not a TensorFlow network'
    state = net.state
    if state.get('version') not in SUPPORTED_VERSIONS:
        return f'has format version {state.get("version")!r}; this reader knows versions {list(SUPPORTED_VERSIONS)}'
    pairs = state.get('variables')
    if not (isinstance(state.get('static_kwargs') or {}, dict) and isinstance(state.get('components') or {}, dict)
            and isinstance(pairs, (list, tuple)) and all(
                isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str)
                and np.asarray(pair[1]).dtype.kind in 'fiub' for pair in pairs)):
        return 'has malformed static_kwargs, components or variables (a list of names and numeric arrays)'
    return None


# ----------------------------------------------------------------------------
# Variables -> our modules: shared helpers.

def _check_kwargs(kwargs, fixed, fields, where):
    """Kwargs must hold values our modules reproduce (`fixed`) and agree with the config the variables gave."""
    def same(value, option):  # True must not pass for 1
        return value is option if isinstance(value, bool) or isinstance(option, bool) else value == option
    for name, value in kwargs.items():
        value, held = list(value) if isinstance(value, (list, tuple)) else value, fields.get(_KWARG_FIELDS.get(name))
        if name in fixed and not any(same(value, option) for option in fixed[name]):
            problem = f'is not supported (supported: {", ".join(repr(a) for a in fixed[name])})'
        elif held is not None and value is not None and value != held:
            problem = f'contradicts the variables, which give {held!r}'
        else:
            continue
        raise CheckpointError(f'{where}: TensorFlow kwarg {name}={kwargs[name]!r} {problem}')


def _resolutions(variables, scope):
    """[4, 8, ...]: 4, and every resolution with a `<scope><res>x<res>/Conv1/weight` after it."""
    resolutions = [4]
    while f'{scope}{2 * resolutions[-1]}x{2 * resolutions[-1]}/Conv1/weight' in variables:
        resolutions.append(2 * resolutions[-1])
    return resolutions


def _mapping_rules(variables):
    return [Rule(f'mapping/Dense{i}/{p}', f'mapping.fc{i}.{p}', _dense if p == 'weight' else None)
            for i in range(count_indices(variables, 'mapping/Dense{}/weight')) for p in ('weight', 'bias')]


def _torgb_rules(scope, lod):
    """The ToRGB layer of one level of detail: used at lod 0, dropped otherwise."""
    if lod == 0:
        return [Rule(f'{scope}ToRGB_lod0/weight', 'synthesis.torgb.weight', _conv),
                Rule(f'{scope}ToRGB_lod0/bias', 'synthesis.torgb.bias')]
    return [ignore(f'{scope}ToRGB_lod{lod}/weight'), ignore(f'{scope}ToRGB_lod{lod}/bias')]


# ----------------------------------------------------------------------------
# StyleGAN2 (official TensorFlow and StyleGAN2-ADA TensorFlow) -> our StyleGAN2 module.

def _stylegan2_rules(variables):
    """Table of a TensorFlow StyleGAN2 generator, with the ToRGB and skip layers it has."""
    rules = [Rule('dlatent_avg', 'mapping.w_avg'),
             ignore('lod', (), lod_is_zero, optional=True),  # G_main of StyleGAN2-ADA has none
             Rule('synthesis/4x4/Const/const', 'synthesis.b4.const', first, (1, None, 4, 4))]
    rules += _mapping_rules(variables)
    if 'mapping/LabelEmbed/weight' in variables:
        rules += [Rule('mapping/LabelEmbed/weight', 'mapping.embed.weight', _dense),
                  Rule('mapping/LabelEmbed/bias', 'mapping.embed.bias')]
    resolutions = _resolutions(variables, 'synthesis/')
    for k, res in enumerate(resolutions):
        scope = f'synthesis/{res}x{res}'
        layers = [(f'{scope}/Conv0_up', 'conv0', _conv_flipped, 2 * k - 1), (f'{scope}/Conv1', 'conv1', _conv, 2 * k)]
        for src, name, kernel, noise_idx in layers if k else [(f'{scope}/Conv', 'conv1', _conv, 0)]:
            dst = f'synthesis.b{res}.{name}'
            rules += [Rule(f'{src}/weight', f'{dst}.weight', kernel), Rule(f'{src}/bias', f'{dst}.bias'),
                      Rule(f'{src}/noise_strength', f'{dst}.noise_strength'),
                      Rule(f'{src}/mod_weight', f'{dst}.affine.weight', _dense),
                      Rule(f'{src}/mod_bias', f'{dst}.affine.bias', plus_one),
                      Rule(f'synthesis/noise{noise_idx}', f'{dst}.noise_const', noise_map, (1, 1, res, res))]
        if f'{scope}/ToRGB/weight' in variables or res == resolutions[-1]:
            dst = f'synthesis.b{res}.torgb'
            rules += [Rule(f'{scope}/ToRGB/weight', f'{dst}.weight', _conv),
                      Rule(f'{scope}/ToRGB/bias', f'{dst}.bias'),
                      Rule(f'{scope}/ToRGB/mod_weight', f'{dst}.affine.weight', _dense),
                      Rule(f'{scope}/ToRGB/mod_bias', f'{dst}.affine.bias', plus_one)]
        if f'{scope}/Skip/weight' in variables:
            rules.append(Rule(f'{scope}/Skip/weight', f'synthesis.b{res}.skip.weight', _conv_flipped))
    return rules


# ----------------------------------------------------------------------------
# StyleGAN (v1) and PGGAN -> our modules; configs inferred on our layout, as for genforce's files.

def _stylegan_rules(variables):
    """Table of a TensorFlow StyleGAN generator, for its numbers of layers."""
    rules = [ignore('lod', (), lod_is_zero), ignore('synthesis/lod', (), lod_is_zero),
             Rule('dlatent_avg', 'mapping.w_avg'),
             Rule('synthesis/4x4/Const/const', 'synthesis.const', first, (1, None, 4, 4))]
    rules += _mapping_rules(variables)
    if 'mapping/LabelConcat/weight' in variables:
        rules.append(Rule('mapping/LabelConcat/weight', 'mapping.embed'))
    resolutions = _resolutions(variables, 'synthesis/')
    for k, res in enumerate(resolutions):
        scopes = ['Const', 'Conv'] if k == 0 else ['Conv0_up', 'Conv1']  # both up layers store [kh, kw, in, out]
        for offset, scope in enumerate(f'synthesis/{res}x{res}/{name}' for name in scopes):
            dst = f'synthesis.layer{2 * k + offset}'
            rules += [Rule(f'{scope}/weight', f'{dst}.weight', _conv)] if k or offset else []
            rules += [Rule(f'{scope}/bias', f'{dst}.bias'), Rule(f'{scope}/Noise/weight', f'{dst}.noise_strength'),
                      Rule(f'{scope}/StyleMod/weight', f'{dst}.affine.weight', _dense),
                      Rule(f'{scope}/StyleMod/bias', f'{dst}.affine.bias'),
                      Rule(f'synthesis/noise{2 * k + offset}', f'{dst}.noise_const', noise_map, (1, 1, res, res))]
        rules += _torgb_rules('synthesis/', len(resolutions) - 1 - k)
    return rules


def _pggan_rules(variables, fused_scale):
    """Table of a TensorFlow PGGAN generator, for its number of layers and kind of upsampling."""
    resolutions = _resolutions(variables, '')
    rules = [ignore('lod', (), lod_is_zero),
             Rule('4x4/Dense/weight', 'synthesis.layer0.weight', _pggan_dense),
             Rule('4x4/Dense/bias', 'synthesis.layer0.bias'),
             Rule('4x4/Conv/weight', 'synthesis.layer1.weight', _conv), Rule('4x4/Conv/bias', 'synthesis.layer1.bias')]
    for k, res in enumerate(resolutions[1:], start=1):
        up, kernel = (f'{res}x{res}/Conv0_up', _conv_transposed) if fused_scale else (f'{res}x{res}/Conv0', _conv)
        rules += [Rule(f'{up}/weight', f'synthesis.layer{2 * k}.weight', kernel),
                  Rule(f'{up}/bias', f'synthesis.layer{2 * k}.bias'),
                  Rule(f'{res}x{res}/Conv1/weight', f'synthesis.layer{2 * k + 1}.weight', _conv),
                  Rule(f'{res}x{res}/Conv1/bias', f'synthesis.layer{2 * k + 1}.bias')]
    for k in range(len(resolutions)):
        rules += _torgb_rules('', len(resolutions) - 1 - k)
    return rules
