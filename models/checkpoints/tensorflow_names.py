"""NVlabs TensorFlow networks -> our modules: config inference and conversion tables.

`tensorflow_pickle` collects the variables of the official TensorFlow releases
(`stylegan2-ffhq-config-f.pkl`, `karras2019stylegan-ffhq-1024x1024.pkl`,
`karras2018iclr-celebahq-1024x1024.pkl`, StyleGAN2-ADA TensorFlow snapshots)
as NVlabs' `legacy.py` names them (`mapping/Dense0/weight`, ...). The family
is told by the variable names, the architecture by their shapes, and the
`static_kwargs` (the build function's arguments) supply what shapes cannot:
learning-rate multipliers, `fused_scale`, `conv_clamp`.

TensorFlow stores convolution kernels `[kh, kw, in, out]` (ours: `[out, in,
kh, kw]`) and dense weights `[in, out]` (ours: `[out, in]`), raw: they are
scaled at run time (equalised learning rate), as our modules do. Beyond that:

- StyleGAN2: the kernels of `Conv0_up` are flipped spatially (TensorFlow flips
  them inside `upsample_conv_2d`, NVlabs' PyTorch port stores them flipped),
  and style biases gain 1 (added at run time in TensorFlow, the port's bias
  starts at 1).
- StyleGAN: `Conv0_up` keeps the `[kh, kw, in, out]` layout whether or not it
  is fused, so `fused_scale` comes from the kwargs ('auto' by default: fused
  from 128x128 on); a fused layer computes nearest upsampling followed by the
  convolution with the flipped kernel. Only `ToRGB_lod0` is used at lod 0.
- PGGAN: the first layer is a dense layer `[z_dim, 16 * channels]` reshaped to
  `[channels, 4, 4]`, i.e. a 4x4 convolution of a 1x1 input (padding 3), so its
  kernel is flipped; fused upsampling layers (`Conv0_up`) store their kernel
  as `[kh, kw, out, in]` (`tf.nn.conv2d_transpose`), others (`Conv0`) as a
  plain convolution.
"""

from . import names
from . import stylegan2_names as sg2
from .common import CheckpointError, infer_channel_formula, lod_is_zero
from .names import Rule, count_indices, ignore

LABEL = 'TensorFlow variable'  # what a source entry is called in messages

# Build-function arguments that change the computation in ways our modules do not
# implement: argument -> the values our modules reproduce.
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


def read_tf_variables(variables, kwargs, where):
    """`(family, config, state_dict)` of a TensorFlow generator's variables and merged `static_kwargs`."""
    if 'synthesis/4x4/Conv/mod_weight' in variables:
        return ('stylegan2', *_read_stylegan2(variables, kwargs, where))
    if 'synthesis/4x4/Conv/StyleMod/weight' in variables:
        return ('stylegan', *_read_stylegan(variables, kwargs, where))
    if {'4x4/Dense/weight', 'ToRGB_lod0/weight'} <= set(variables):
        return ('pggan', *_read_pggan(variables, kwargs, where))
    raise CheckpointError(f'{where}: the TensorFlow network is not a StyleGAN2, StyleGAN or PGGAN generator '
                          f'this toolkit reads (variables: {sorted(variables)[:4]})')


# ----------------------------------------------------------------------------
# Shared helpers.

def _shape(variables, name, where, ndim):
    return names.shape_of(variables, name, where, ndim, LABEL)


def _check_kwargs(kwargs, fixed, inferred, where):
    """Kwargs must hold values our modules reproduce (`fixed`) and agree with the variables (`inferred`)."""
    def same(value, option):  # True must not pass for 1
        return value is option if isinstance(value, bool) or isinstance(option, bool) else value == option
    for name, value in kwargs.items():
        value = list(value) if isinstance(value, (list, tuple)) else value
        if name in fixed and not any(same(value, option) for option in fixed[name]):
            problem = f'is not supported (supported: {", ".join(repr(a) for a in fixed[name])})'
        elif name in inferred and value is not None and value != inferred[name]:
            problem = f'contradicts the variables, which give {inferred[name]!r}'
        else:
            continue
        raise CheckpointError(f'{where}: TensorFlow kwarg {name}={kwargs[name]!r} {problem}')


def _dense(value):
    """TF dense weight [in, out] -> [out, in]."""
    return value.t()


def _conv(value):
    """TF kernel [kh, kw, in, out] -> [out, in, kh, kw]."""
    return value.permute(3, 2, 0, 1)


def _conv_flipped(value):
    """TF kernel [kh, kw, in, out] -> spatially flipped [out, in, kh, kw]."""
    return value.flip([0, 1]).permute(3, 2, 0, 1)


def _first(value):
    return value[0]


def _noise(value):
    return value[0, 0]


def _plus_one(value):
    return value + 1


def _resolutions(variables, scope):
    """[4, 8, ...]: 4, and every resolution with a `<scope><res>x<res>/Conv1/weight` after it."""
    resolutions = [4]
    while f'{scope}{2 * resolutions[-1]}x{2 * resolutions[-1]}/Conv1/weight' in variables:
        resolutions.append(2 * resolutions[-1])
    return resolutions


def _synthesis_widths(variables, scope, first, axis, where):
    """`(resolutions, channel_base, channel_max)` of the synthesis blocks `<scope><res>x<res>/Conv1` (the 4x4
    block's width is axis `axis` of `<scope>4x4/<first>`)."""
    resolutions = _resolutions(variables, scope)
    channels = {4: _shape(variables, f'{scope}4x4/{first}', where, 4)[axis]}
    channels.update({res: _shape(variables, f'{scope}{res}x{res}/Conv1/weight', where, 4)[3]
                     for res in resolutions[1:]})
    return (resolutions, *infer_channel_formula(channels, where))


def _mapping_rules(in_features, hidden, config):
    features = [in_features] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
    return [rule for i in range(config.mapping_layers) for rule in (
        Rule(f'mapping/Dense{i}/weight', f'mapping.fc{i}.weight', _dense, (features[i], features[i + 1])),
        Rule(f'mapping/Dense{i}/bias', f'mapping.fc{i}.bias', None, (features[i + 1],)))]


def _torgb_rules(scope, lod, channels, img_channels):
    """The ToRGB layer of one level of detail: used at lod 0, shape-checked and dropped otherwise."""
    weight, bias = (1, 1, channels, img_channels), (img_channels,)
    if lod == 0:
        return [Rule(f'{scope}ToRGB_lod0/weight', 'synthesis.torgb.weight', _conv, weight),
                Rule(f'{scope}ToRGB_lod0/bias', 'synthesis.torgb.bias', None, bias)]
    return [ignore(f'{scope}ToRGB_lod{lod}/weight', weight), ignore(f'{scope}ToRGB_lod{lod}/bias', bias)]


# ----------------------------------------------------------------------------
# StyleGAN2 (official TensorFlow and StyleGAN2-ADA TensorFlow) -> our StyleGAN2 module.

def _read_stylegan2(variables, kwargs, where):
    config, state = sg2.convert_and_infer(
        variables, _stylegan2_rules(variables), where, label=LABEL, conv_clamp=kwargs.get('conv_clamp'),
        mapping_lr_multiplier=kwargs.get('mapping_lrmul', 0.01), num_fp16_res=kwargs.get('num_fp16_res') or 0)
    _check_kwargs(kwargs, _SG2_FIXED, dict(
        latent_size=config.z_dim, dlatent_size=config.w_dim, label_size=config.c_dim, num_channels=config.img_channels,
        resolution=config.img_resolution, mapping_layers=config.mapping_layers, architecture=config.architecture),
        where)
    return config, state


def _stylegan2_rules(variables):
    """Table of a TensorFlow StyleGAN2 generator for its numbers of layers, with the ToRGB and skip layers it has
    (skip, orig or resnet architecture)."""
    rules = [Rule('dlatent_avg', 'mapping.w_avg'),
             ignore('lod', (), lod_is_zero, optional=True),  # G_main of StyleGAN2-ADA has none
             Rule('synthesis/4x4/Const/const', 'synthesis.b4.const', _first, (1, None, 4, 4))]
    for i in range(count_indices(variables, 'mapping/Dense{}/weight')):
        rules += [Rule(f'mapping/Dense{i}/weight', f'mapping.fc{i}.weight', _dense, (None, None)),
                  Rule(f'mapping/Dense{i}/bias', f'mapping.fc{i}.bias')]
    if 'mapping/LabelEmbed/weight' in variables:
        rules += [Rule('mapping/LabelEmbed/weight', 'mapping.embed.weight', _dense, (None, None)),
                  Rule('mapping/LabelEmbed/bias', 'mapping.embed.bias')]
    resolutions = _resolutions(variables, 'synthesis/')
    for k, res in enumerate(resolutions):
        scope = f'synthesis/{res}x{res}'
        layers = [(f'{scope}/Conv0_up', 'conv0', _conv_flipped, 2 * k - 1), (f'{scope}/Conv1', 'conv1', _conv, 2 * k)]
        for src, name, kernel, noise in layers if k else [(f'{scope}/Conv', 'conv1', _conv, 0)]:
            dst = f'synthesis.b{res}.{name}'
            rules += [Rule(f'{src}/weight', f'{dst}.weight', kernel, (None,) * 4), Rule(f'{src}/bias', f'{dst}.bias'),
                      Rule(f'{src}/noise_strength', f'{dst}.noise_strength'),
                      Rule(f'{src}/mod_weight', f'{dst}.affine.weight', _dense, (None, None)),
                      Rule(f'{src}/mod_bias', f'{dst}.affine.bias', _plus_one),
                      Rule(f'synthesis/noise{noise}', f'{dst}.noise_const', _noise, (1, 1, res, res))]
        if f'{scope}/ToRGB/weight' in variables or res == resolutions[-1]:
            dst = f'synthesis.b{res}.torgb'
            rules += [Rule(f'{scope}/ToRGB/weight', f'{dst}.weight', _conv, (None,) * 4),
                      Rule(f'{scope}/ToRGB/bias', f'{dst}.bias'),
                      Rule(f'{scope}/ToRGB/mod_weight', f'{dst}.affine.weight', _dense, (None, None)),
                      Rule(f'{scope}/ToRGB/mod_bias', f'{dst}.affine.bias', _plus_one)]
        if f'{scope}/Skip/weight' in variables:
            rules.append(Rule(f'{scope}/Skip/weight', f'synthesis.b{res}.skip.weight', _conv_flipped, (None,) * 4))
    return rules


# ----------------------------------------------------------------------------
# StyleGAN (v1) -> our StyleGAN module.

def _read_stylegan(variables, kwargs, where):
    mapping_layers = count_indices(variables, 'mapping/Dense{}/weight')
    inputs, hidden = _shape(variables, 'mapping/Dense0/weight', where, 2)
    w_dim = _shape(variables, f'mapping/Dense{mapping_layers - 1}/weight', where, 2)[1]
    has_labels = 'mapping/LabelConcat/weight' in variables
    c_dim, z_dim = _shape(variables, 'mapping/LabelConcat/weight', where, 2) if has_labels else (0, inputs)
    resolutions, channel_base, channel_max = _synthesis_widths(variables, 'synthesis/', 'Const/const', 1, where)
    img_channels = _shape(variables, 'synthesis/ToRGB_lod0/weight', where, 4)[3]
    _check_kwargs(kwargs, _SG1_FIXED, dict(
        latent_size=z_dim, dlatent_size=w_dim, label_size=c_dim, resolution=resolutions[-1],
        num_channels=img_channels, mapping_layers=mapping_layers), where)
    config = names.make_config(
        'stylegan', where, z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolutions[-1],
        img_channels=img_channels,
        mapping_layers=mapping_layers, mapping_features=hidden if mapping_layers > 1 else w_dim,
        mapping_lr_multiplier=kwargs.get('mapping_lrmul', 0.01), channel_base=channel_base,
        channel_max=channel_max, fused_scale=kwargs.get('fused_scale', 'auto'))
    return config, names.convert(variables, _stylegan_rules(config), where, label=LABEL)


def _stylegan_rules(config):
    rules = [ignore('lod', (), lod_is_zero), ignore('synthesis/lod', (), lod_is_zero),
             Rule('dlatent_avg', 'mapping.w_avg', None, (config.w_dim,)),
             Rule('synthesis/4x4/Const/const', 'synthesis.const', _first, (1, config.channels(4), 4, 4))]
    rules += _mapping_rules(config.z_dim * (2 if config.c_dim else 1), config.mapping_features, config)
    if config.c_dim:
        rules.append(Rule('mapping/LabelConcat/weight', 'mapping.embed', None, (config.c_dim, config.z_dim)))
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(2, log2 + 1)):
        res, ch = 2 ** r, config.channels(2 ** r)
        if res == 4:
            scopes = [('synthesis/4x4/Const', 0), ('synthesis/4x4/Conv', ch)]
        else:
            scopes = [(f'synthesis/{res}x{res}/Conv0_up', config.channels(res // 2)),
                      (f'synthesis/{res}x{res}/Conv1', ch)]
        for offset, (scope, cin) in enumerate(scopes):
            idx = 2 * k + offset
            dst = f'synthesis.layer{idx}'
            if cin:  # both fused and separate upsampling store [kh, kw, in, out]
                rules.append(Rule(f'{scope}/weight', f'{dst}.weight', _conv, (3, 3, cin, ch)))
            rules += [Rule(f'{scope}/bias', f'{dst}.bias', None, (ch,)),
                      Rule(f'{scope}/Noise/weight', f'{dst}.noise_strength', None, (ch,)),
                      Rule(f'{scope}/StyleMod/weight', f'{dst}.affine.weight', _dense, (config.w_dim, 2 * ch)),
                      Rule(f'{scope}/StyleMod/bias', f'{dst}.affine.bias', None, (2 * ch,)),
                      Rule(f'synthesis/noise{idx}', f'{dst}.noise_const', _noise, (1, 1, res, res))]
        rules += _torgb_rules('synthesis/', log2 - r, ch, config.img_channels)
    return rules


# ----------------------------------------------------------------------------
# PGGAN -> our PGGAN module.

def _read_pggan(variables, kwargs, where):
    resolutions, channel_base, channel_max = _synthesis_widths(variables, '', 'Conv/weight', 3, where)
    fused_scale = len(resolutions) > 1 and '8x8/Conv0_up/weight' in variables
    z_dim = _shape(variables, '4x4/Dense/weight', where, 2)[0]
    img_channels = _shape(variables, 'ToRGB_lod0/weight', where, 4)[3]
    _check_kwargs(kwargs, _PGGAN_FIXED, dict(latent_size=z_dim, resolution=resolutions[-1], num_channels=img_channels,
                                             fused_scale=fused_scale), where)
    config = names.make_config('pggan', where, z_dim=z_dim, img_resolution=resolutions[-1], img_channels=img_channels,
                               channel_base=channel_base, channel_max=channel_max, fused_scale=fused_scale)
    return config, names.convert(variables, _pggan_rules(config), where, label=LABEL)


def _pggan_dense(channels):
    """TF dense [z, 16 * C] (reshaped to [C, 4, 4]) -> flipped 4x4 kernel [C, z, 4, 4] of a 1x1 input."""
    def convert(value):
        return value.reshape(value.shape[0], channels, 4, 4).permute(1, 0, 2, 3).flip([2, 3])
    return convert


def _conv_transposed(value):
    """TF transposed-convolution kernel [kh, kw, out, in] -> [out, in, kh, kw]."""
    return value.permute(2, 3, 0, 1)


def _pggan_rules(config):
    ch4 = config.channels(4)
    rules = [ignore('lod', (), lod_is_zero),
             Rule('4x4/Dense/weight', 'synthesis.layer0.weight', _pggan_dense(ch4), (config.z_dim, 16 * ch4)),
             Rule('4x4/Dense/bias', 'synthesis.layer0.bias', None, (ch4,)),
             Rule('4x4/Conv/weight', 'synthesis.layer1.weight', _conv, (3, 3, ch4, ch4)),
             Rule('4x4/Conv/bias', 'synthesis.layer1.bias', None, (ch4,))]
    log2 = config.img_resolution.bit_length() - 1
    for k, r in enumerate(range(3, log2 + 1), start=1):
        res, ch, prev = 2 ** r, config.channels(2 ** r), config.channels(2 ** (r - 1))
        if config.fused_scale:
            up, shape, kernel = f'{res}x{res}/Conv0_up', (3, 3, ch, prev), _conv_transposed
        else:
            up, shape, kernel = f'{res}x{res}/Conv0', (3, 3, prev, ch), _conv
        rules += [Rule(f'{up}/weight', f'synthesis.layer{2 * k}.weight', kernel, shape),
                  Rule(f'{up}/bias', f'synthesis.layer{2 * k}.bias', None, (ch,)),
                  Rule(f'{res}x{res}/Conv1/weight', f'synthesis.layer{2 * k + 1}.weight', _conv, (3, 3, ch, ch)),
                  Rule(f'{res}x{res}/Conv1/bias', f'synthesis.layer{2 * k + 1}.bias', None, (ch,))]
    for r in range(2, log2 + 1):
        rules += _torgb_rules('', log2 - r, config.channels(2 ** r), config.img_channels)
    return rules
