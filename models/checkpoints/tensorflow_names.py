"""NVlabs TensorFlow networks -> our modules: config inference and conversion tables.

The official TensorFlow releases (`stylegan2-ffhq-config-f.pkl`,
`karras2019stylegan-ffhq-1024x1024.pkl`, `karras2018iclr-celebahq-1024x1024.pkl`,
StyleGAN2-ADA TensorFlow snapshots) pickle a tuple `(G, D, Gs)` of
`dnnlib.tflib.network.Network` objects (`tfutil.Network` in the original
PGGAN code). Each network's state is a dict with `version`, `name`,
`static_kwargs` (the keyword arguments of its build function), `components`
(sub-networks: `mapping`, `synthesis`), `build_module_src` (source code,
which the official loader executes; here it stays an inert string),
`build_func_name` and `variables`, a list of `(name, numpy array)`.
`safe_pickle` turns the networks into `OpaqueObject`s holding that state, and
`tensorflow_pickle` collects their variables as NVlabs' `legacy.py` does
(`mapping/Dense0/weight`, `synthesis/4x4/Conv/weight`, ...).

Here the family is told by the variable names, the architecture is inferred
from their shapes (`static_kwargs` supply what shapes cannot: learning-rate
multipliers, `fused_scale`, `conv_clamp`), and every variable is converted
into our module's names with a strict table (`names.convert`): each one
consumed or explicitly ignored, each shape checked.

TensorFlow layouts: convolution kernels are `[kh, kw, in, out]`
(-> `[out, in, kh, kw]`), dense weights `[in, out]` (-> `[out, in]`). Weights
are stored raw and scaled at run time (equalised learning rate, learning-rate
multipliers), exactly as our modules do, so no value is rescaled. Per family:

- StyleGAN2 (`G_main`, `G_mapping`, `G_synthesis_stylegan2`; also the
  StyleGAN2-ADA TensorFlow `G_synthesis`): NVlabs' conversion. The kernels
  of `Conv0_up` are flipped spatially (TensorFlow flips them inside
  `upsample_conv_2d`, our module expects them pre-flipped as NVlabs' PyTorch
  port does), and style biases gain 1 (`affine.bias = mod_bias + 1`: the
  TensorFlow code adds 1 at run time, the PyTorch port initialises the bias
  at 1).
- StyleGAN (`G_style`, `G_mapping`, `G_synthesis`): `Conv0_up` keeps the
  `[kh, kw, in, out]` layout whether or not it is fused, so `fused_scale`
  comes from the kwargs ('auto' by default: fused from 128x128 on). It
  matters: a fused layer (a transposed convolution of the kernel summed over
  2x2 shifts) computes nearest upsampling followed by the convolution with the
  spatially flipped kernel. `StyleMod/weight` is `[w_dim, 2 * channels]`;
  only `ToRGB_lod0` is used at lod 0.
- PGGAN (`G_paper`): the first layer is a dense layer `[z_dim, 16 * channels]`
  reshaped to `[channels, 4, 4]`, i.e. a 4x4 convolution of a 1x1 input
  (padding 3), so its kernel is spatially flipped; fused upsampling layers
  (`Conv0_up`) store their kernel as `[kh, kw, out, in]` (the layout of
  `tf.nn.conv2d_transpose`), non-fused ones (`Conv0`) as a plain convolution.
"""

from ..pggan import PGGANConfig
from ..stylegan import StyleGANConfig
from ..stylegan2 import StyleGAN2Config
from . import names
from .common import CheckpointError, infer_channel_formula, lod_is_zero
from .names import Rule, count_indices, ignore

__all__ = ['LABEL', 'detect_tf_family', 'read_tf_variables']

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


# ----------------------------------------------------------------------------
# Family and dispatch.

def detect_tf_family(variables):
    """'stylegan2', 'stylegan' or 'pggan' from the variable names, else None."""
    if 'synthesis/4x4/Conv/mod_weight' in variables:
        return 'stylegan2'
    if 'synthesis/4x4/Conv/StyleMod/weight' in variables:
        return 'stylegan'
    if '4x4/Dense/weight' in variables and 'ToRGB_lod0/weight' in variables:
        return 'pggan'
    return None


def read_tf_variables(variables, kwargs, where):
    """`(family, config, state_dict)` of a TensorFlow generator's variables.

    Args:
        variables: `{'mapping/Dense0/weight': tensor, ...}` (see `tensorflow_pickle`).
        kwargs: The merged `static_kwargs` of the network and its components.
        where: The file and network, for messages.

    Raises:
        CheckpointError: one line naming the file and the variable or kwarg at fault.
    """
    family = detect_tf_family(variables)
    if family is None:
        raise CheckpointError(f'{where}: the TensorFlow network is not a StyleGAN2, StyleGAN or PGGAN generator '
                              f'this toolkit reads (variables: {sorted(variables)[:4]})')
    read = {'stylegan2': _read_stylegan2, 'stylegan': _read_stylegan, 'pggan': _read_pggan}[family]
    config, state = read(variables, kwargs, where)
    return family, config, state


# ----------------------------------------------------------------------------
# Shared helpers.

def _shape(variables, name, where, ndim=None):
    if name not in variables:
        raise CheckpointError(f'{where}: missing TensorFlow variable {name}')
    shape = tuple(variables[name].shape)
    if ndim is not None and len(shape) != ndim:
        raise CheckpointError(f'{where}: TensorFlow variable {name} has shape {list(shape)}, '
                              f'expected {ndim} dimensions')
    return shape


def _resolutions(variables, pattern):
    """[4, 8, ...] while `pattern.format(res)` names a variable (4 always included)."""
    res = [4]
    while pattern.format(res[-1] * 2) in variables:
        res.append(res[-1] * 2)
    return res


def _check_kwargs(kwargs, fixed, where):
    for name, allowed in fixed.items():
        if name not in kwargs:
            continue
        value = kwargs[name]
        value = list(value) if isinstance(value, (list, tuple)) else value
        if not any(_same(value, option) for option in allowed):
            raise CheckpointError(f'{where}: TensorFlow kwarg {name}={kwargs[name]!r} is not supported '
                                  f'(supported: {", ".join(repr(a) for a in allowed)})')


def _same(value, option):
    if isinstance(value, bool) or isinstance(option, bool):  # True must not pass for 1
        return value is option
    return value == option


def _check_kwarg_values(kwargs, expected, where):
    """Kwargs that the shapes already determine must agree with them."""
    for name, value in expected.items():
        if kwargs.get(name) is not None and kwargs[name] != value:
            raise CheckpointError(f'{where}: TensorFlow kwarg {name}={kwargs[name]!r} contradicts the variables, '
                                  f'which give {value!r}')


def _dense(value):
    """TF dense weight [in, out] -> [out, in]."""
    return value.t()


def _conv(value):
    """TF kernel [kh, kw, in, out] -> [out, in, kh, kw]."""
    return value.permute(3, 2, 0, 1)


def _conv_flipped(value):
    """TF kernel [kh, kw, in, out] -> spatially flipped [out, in, kh, kw]."""
    return value.flip([0, 1]).permute(3, 2, 0, 1)


def _squeeze01(value):
    return value[0, 0]


def _squeeze0(value):
    return value[0]


def _plus_one(value):
    return value + 1


# ----------------------------------------------------------------------------
# StyleGAN2 (official TensorFlow and StyleGAN2-ADA TensorFlow) -> our StyleGAN2 module.

def _synthesis_widths(variables, scope, first, axis, where):
    """`(resolutions, channel_base, channel_max)` of the synthesis blocks `<scope><res>x<res>/Conv1`.

    The 4x4 block's width is axis `axis` of `<scope>4x4/<first>`; the others are the
    output channels of their `Conv1` kernel.
    """
    resolutions = _resolutions(variables, scope + '{0}x{0}/Conv1/weight')
    channels = {4: _shape(variables, f'{scope}4x4/{first}', where, ndim=4)[axis]}
    for res in resolutions[1:]:
        channels[res] = _shape(variables, f'{scope}{res}x{res}/Conv1/weight', where, ndim=4)[3]
    return (resolutions, *infer_channel_formula(channels, where))


def _read_stylegan2(variables, kwargs, where):
    _check_kwargs(kwargs, _SG2_FIXED, where)
    if 'mapping/LabelConcat/weight' in variables:
        raise CheckpointError(f'{where}: conditional StyleGAN2 TensorFlow networks with mapping/LabelConcat/weight '
                              f'(labels normalised together with z) are not supported')
    if any(name.startswith('synthesis/ToRGB_lod') for name in variables):
        raise CheckpointError(f'{where}: StyleGAN2 networks with progressive-growing ToRGB_lod layers '
                              f'(G_synthesis_stylegan_revised) are not supported')
    mapping_layers = count_indices(variables, 'mapping/Dense{}/weight')
    dense0 = _shape(variables, 'mapping/Dense0/weight', where, ndim=2)
    w_dim = _shape(variables, f'mapping/Dense{mapping_layers - 1}/weight', where, ndim=2)[1]
    c_dim, embed = 0, 0
    if 'mapping/LabelEmbed/weight' in variables:
        c_dim, embed = _shape(variables, 'mapping/LabelEmbed/weight', where, ndim=2)
    z_dim = dense0[0] - embed
    hidden = dense0[1] if mapping_layers > 1 else w_dim
    resolutions, channel_base, channel_max = _synthesis_widths(variables, 'synthesis/', 'Conv/weight', 3, where)
    resolution = resolutions[-1]
    if any(name.endswith('/Skip/weight') for name in variables):
        architecture = 'resnet'
    elif 'synthesis/4x4/ToRGB/weight' in variables or resolution == 4:
        architecture = 'skip'
    else:
        architecture = 'orig'
    img_channels = _shape(variables, f'synthesis/{resolution}x{resolution}/ToRGB/weight', where, ndim=4)[3]
    _check_kwarg_values(kwargs, {'latent_size': z_dim, 'dlatent_size': w_dim, 'label_size': c_dim,
                                 'resolution': resolution, 'num_channels': img_channels,
                                 'mapping_layers': mapping_layers, 'architecture': architecture}, where)
    try:
        config = StyleGAN2Config(
            z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
            mapping_layers=mapping_layers, mapping_lr_multiplier=float(kwargs.get('mapping_lrmul', 0.01)),
            mapping_layer_features=hidden if hidden != w_dim else None,
            mapping_embed_features=embed if embed not in (0, w_dim) else None,
            channel_base=channel_base, channel_max=channel_max, conv_clamp=kwargs.get('conv_clamp'),
            architecture=architecture, num_fp16_res=int(kwargs.get('num_fp16_res') or 0))
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None
    return config, names.convert(variables, _stylegan2_rules(config), where, LABEL)


def _stylegan2_rules(config):
    rules = []
    embed = (config.mapping_embed_features or config.w_dim) if config.c_dim else 0
    hidden = config.mapping_layer_features or config.w_dim
    features = [config.z_dim + embed] + [hidden] * (config.mapping_layers - 1) + [config.w_dim]
    for i in range(config.mapping_layers):
        rules += [Rule(f'mapping/Dense{i}/weight', f'mapping.fc{i}.weight', _dense, (features[i], features[i + 1])),
                  Rule(f'mapping/Dense{i}/bias', f'mapping.fc{i}.bias', None, (features[i + 1],))]
    if config.c_dim:
        rules += [Rule('mapping/LabelEmbed/weight', 'mapping.embed.weight', _dense, (config.c_dim, embed)),
                  Rule('mapping/LabelEmbed/bias', 'mapping.embed.bias', None, (embed,))]
    rules.append(Rule('dlatent_avg', 'mapping.w_avg', None, (config.w_dim,)))
    rules.append(ignore('lod', (), lod_is_zero, optional=True))  # G_main of StyleGAN2-ADA has none
    ch4 = config.channels(4)
    rules.append(Rule('synthesis/4x4/Const/const', 'synthesis.b4.const', _squeeze0, (1, ch4, 4, 4)))
    w_dim, img_channels = config.w_dim, config.img_channels
    log2 = config.img_resolution.bit_length() - 1
    for r in range(2, log2 + 1):
        res, ch = 2 ** r, config.channels(2 ** r)
        prev = config.channels(res // 2)
        if res == 4:
            layers = [('synthesis/4x4/Conv', 'conv1', ch, 0, _conv)]
        else:
            layers = [(f'synthesis/{res}x{res}/Conv0_up', 'conv0', prev, 2 * r - 5, _conv_flipped),
                      (f'synthesis/{res}x{res}/Conv1', 'conv1', ch, 2 * r - 4, _conv)]
        for scope, name, cin, noise_idx, kernel in layers:
            dst = f'synthesis.b{res}.{name}'
            rules += [
                Rule(f'{scope}/weight', f'{dst}.weight', kernel, (3, 3, cin, ch)),
                Rule(f'{scope}/bias', f'{dst}.bias', None, (ch,)),
                Rule(f'{scope}/noise_strength', f'{dst}.noise_strength', None, ()),
                Rule(f'{scope}/mod_weight', f'{dst}.affine.weight', _dense, (w_dim, cin)),
                Rule(f'{scope}/mod_bias', f'{dst}.affine.bias', _plus_one, (cin,)),
                Rule(f'synthesis/noise{noise_idx}', f'{dst}.noise_const', _squeeze01, (1, 1, res, res)),
            ]
        if config.architecture == 'skip' or res == config.img_resolution:
            scope, dst = f'synthesis/{res}x{res}/ToRGB', f'synthesis.b{res}.torgb'
            rules += [
                Rule(f'{scope}/weight', f'{dst}.weight', _conv, (1, 1, ch, img_channels)),
                Rule(f'{scope}/bias', f'{dst}.bias', None, (img_channels,)),
                Rule(f'{scope}/mod_weight', f'{dst}.affine.weight', _dense, (w_dim, ch)),
                Rule(f'{scope}/mod_bias', f'{dst}.affine.bias', _plus_one, (ch,)),
            ]
        if config.architecture == 'resnet' and res > 4:
            rules.append(Rule(f'synthesis/{res}x{res}/Skip/weight', f'synthesis.b{res}.skip.weight', _conv_flipped,
                              (1, 1, prev, ch)))
    return rules


# ----------------------------------------------------------------------------
# StyleGAN (v1) -> our StyleGAN module.

def _read_stylegan(variables, kwargs, where):
    _check_kwargs(kwargs, _SG1_FIXED, where)
    mapping_layers = count_indices(variables, 'mapping/Dense{}/weight')
    dense0 = _shape(variables, 'mapping/Dense0/weight', where, ndim=2)
    w_dim = _shape(variables, f'mapping/Dense{mapping_layers - 1}/weight', where, ndim=2)[1]
    if 'mapping/LabelConcat/weight' in variables:
        c_dim, z_dim = _shape(variables, 'mapping/LabelConcat/weight', where, ndim=2)
    else:
        c_dim, z_dim = 0, dense0[0]
    resolutions, channel_base, channel_max = _synthesis_widths(variables, 'synthesis/', 'Const/const', 1, where)
    resolution = resolutions[-1]
    img_channels = _shape(variables, 'synthesis/ToRGB_lod0/weight', where, ndim=4)[3]
    _check_kwarg_values(kwargs, {'latent_size': z_dim, 'dlatent_size': w_dim, 'label_size': c_dim,
                                 'resolution': resolution, 'num_channels': img_channels,
                                 'mapping_layers': mapping_layers}, where)
    try:
        config = StyleGANConfig(
            z_dim=z_dim, w_dim=w_dim, c_dim=c_dim, img_resolution=resolution, img_channels=img_channels,
            mapping_layers=mapping_layers, mapping_features=dense0[1] if mapping_layers > 1 else w_dim,
            mapping_lr_multiplier=float(kwargs.get('mapping_lrmul', 0.01)), channel_base=channel_base,
            channel_max=channel_max, fused_scale=kwargs.get('fused_scale', 'auto'))
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None
    return config, names.convert(variables, _stylegan_rules(config), where, LABEL)


def _stylegan_rules(config):
    rules = [ignore('lod', (), lod_is_zero), ignore('synthesis/lod', (), lod_is_zero)]
    in_features = config.z_dim * (2 if config.c_dim else 1)
    features = [in_features] + [config.mapping_features] * (config.mapping_layers - 1) + [config.w_dim]
    for i in range(config.mapping_layers):
        rules += [Rule(f'mapping/Dense{i}/weight', f'mapping.fc{i}.weight', _dense, (features[i], features[i + 1])),
                  Rule(f'mapping/Dense{i}/bias', f'mapping.fc{i}.bias', None, (features[i + 1],))]
    if config.c_dim:
        rules.append(Rule('mapping/LabelConcat/weight', 'mapping.embed', None, (config.c_dim, config.z_dim)))
    rules.append(Rule('dlatent_avg', 'mapping.w_avg', None, (config.w_dim,)))
    rules.append(Rule('synthesis/4x4/Const/const', 'synthesis.const', _squeeze0, (1, config.channels(4), 4, 4)))
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
            rules += [
                Rule(f'{scope}/bias', f'{dst}.bias', None, (ch,)),
                Rule(f'{scope}/Noise/weight', f'{dst}.noise_strength', None, (ch,)),
                Rule(f'{scope}/StyleMod/weight', f'{dst}.affine.weight', _dense, (config.w_dim, 2 * ch)),
                Rule(f'{scope}/StyleMod/bias', f'{dst}.affine.bias', None, (2 * ch,)),
                Rule(f'synthesis/noise{idx}', f'{dst}.noise_const', _squeeze01, (1, 1, res, res)),
            ]
        rules += _torgb_rules('synthesis/', log2 - r, ch, config.img_channels)
    return rules


def _torgb_rules(scope, lod, channels, img_channels):
    """The ToRGB layer of one level of detail: used at lod 0, shape-checked and dropped otherwise."""
    weight, bias = (1, 1, channels, img_channels), (img_channels,)
    if lod == 0:
        return [Rule(f'{scope}ToRGB_lod0/weight', 'synthesis.torgb.weight', _conv, weight),
                Rule(f'{scope}ToRGB_lod0/bias', 'synthesis.torgb.bias', None, bias)]
    return [ignore(f'{scope}ToRGB_lod{lod}/weight', weight), ignore(f'{scope}ToRGB_lod{lod}/bias', bias)]


# ----------------------------------------------------------------------------
# PGGAN -> our PGGAN module.

def _read_pggan(variables, kwargs, where):
    _check_kwargs(kwargs, _PGGAN_FIXED, where)
    resolutions, channel_base, channel_max = _synthesis_widths(variables, '', 'Conv/weight', 3, where)
    resolution = resolutions[-1]
    fused = [f'{res}x{res}/Conv0_up/weight' in variables for res in resolutions[1:]]
    if len(set(fused)) > 1:
        raise CheckpointError(f'{where}: some upsampling layers are fused (Conv0_up) and some are not (Conv0)')
    fused_scale = bool(fused and fused[0])
    z_dim = _shape(variables, '4x4/Dense/weight', where, ndim=2)[0]
    img_channels = _shape(variables, 'ToRGB_lod0/weight', where, ndim=4)[3]
    _check_kwarg_values(kwargs, {'latent_size': z_dim, 'resolution': resolution, 'num_channels': img_channels,
                                 'fused_scale': fused_scale}, where)
    try:
        config = PGGANConfig(z_dim=z_dim, c_dim=0, img_resolution=resolution, img_channels=img_channels,
                             channel_base=channel_base, channel_max=channel_max, fused_scale=fused_scale)
    except ValueError as error:
        raise CheckpointError(f'{where}: {error}') from None
    return config, names.convert(variables, _pggan_rules(config), where, LABEL)


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
            up = (f'{res}x{res}/Conv0_up', (3, 3, ch, prev), _conv_transposed)
        else:
            up = (f'{res}x{res}/Conv0', (3, 3, prev, ch), _conv)
        rules += [Rule(f'{up[0]}/weight', f'synthesis.layer{2 * k}.weight', up[2], up[1]),
                  Rule(f'{up[0]}/bias', f'synthesis.layer{2 * k}.bias', None, (ch,)),
                  Rule(f'{res}x{res}/Conv1/weight', f'synthesis.layer{2 * k + 1}.weight', _conv, (3, 3, ch, ch)),
                  Rule(f'{res}x{res}/Conv1/bias', f'synthesis.layer{2 * k + 1}.bias', None, (ch,))]
    for r in range(2, log2 + 1):
        rules += _torgb_rules('', log2 - r, config.channels(2 ** r), config.img_channels)
    return rules
