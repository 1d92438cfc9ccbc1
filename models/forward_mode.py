"""Forward-mode derivatives of the StyleGAN2 and StyleGAN3 synthesis networks, written by hand.

`linearize_stylegan2(synthesis, ws)` (and `linearize_stylegan3`) runs the
generator's own pass for one sample and returns the image with `push(ws_t)`, its
derivative along K tangents of `ws` at once: the numbers of `torch.func.jvp`
under `vmap`, several times faster. The primal pass runs once per sample; the
demodulation (and StyleGAN3's input gain), shared by a sample's tangents, rides
on the convolution weight; ToRGB's style tangent is one matrix product with the
sample's features; elementwise factors apply in place, channels-last.

Each rule takes a layer and its input at one sample, and returns the layer's
output and `push(x_t, w_t) -> out_t` for tangents `x_t` `[K, C, H, W]` of the
input and `w_t` `[K, w_dim]` of the layer's `w` (None: zero). A push may
overwrite its `x_t`.
"""

import numpy as np
import torch
import torch.nn.functional as F

from . import ops
from . import stylegan3 as sg3


def _style_tangent(affine, w_t, gain=1):
    """Tangent `[K, C]` of the styles `affine(w) * gain` (the affine layer is linear: its bias drops out)."""
    return None if w_t is None else w_t.matmul((affine.weight * (affine.weight_gain * gain)).t())


def _add(a, b):
    """Sum of two tangents, either of which may be None (zero)."""
    return b if a is None else a if b is None else a.add_(b.to(a.dtype))


def _mul(t, factor):
    """`t * factor`, in place; factors take the tangents' dtype (bfloat16 under autocast)."""
    return t.mul_(factor.to(t.dtype))


def _addmul(t, a, b):
    """`t + a * b`, in place, in the tangents' dtype."""
    return t.addcmul_(a.to(t.dtype), b.to(t.dtype))


def _modulate(x_t, x, styles, styles_t):
    """Tangent `x_t * styles + x * styles_t` of the modulated input, in `x_t`'s memory when there is one."""
    if x_t is None:
        return x * styles_t[:, :, None, None]
    x_t = _mul(ops.channels_last(x_t), styles.reshape(1, -1, 1, 1))
    return x_t if styles_t is None else _addmul(x_t, x, styles_t[:, :, None, None])


def _demodulation_tangent(dcoefs, energy, styles, styles_t):
    """Tangent `[K, C_out]` of `dcoefs = (sum_i energy_oi styles_i^2 + eps)^-1/2`."""
    return -(dcoefs ** 3) * (styles_t * styles).matmul(energy.t())


def _slopes(pre, slope, gain, clamp):
    """Derivative of `clamp(leaky_relu(pre, slope) * gain, +-clamp)` at `pre`."""
    slopes = torch.where(pre > 0, gain, slope * gain)
    return slopes if clamp is None else slopes * ((pre * slopes).abs() <= clamp)


# ----------------------------------------------------------------------------
# StyleGAN2.

def _sg2_layer(layer, x, w, noise_mode, gain=1):
    """`SynthesisLayer`: modulated 3x3 convolution (upsampling in conv0), noise, bias, leaky ReLU, clamp."""
    styles = layer.affine(w)  # [1, C_in]
    resample = dict(up=layer.up, padding=layer.padding, flip_weight=layer.up == 1)
    y = ops.modulated_conv2d(x, layer.weight, styles, resample_filter=layer.resample_filter, **resample)
    noise = layer.noise_input(1, x.device, noise_mode)
    y_noisy = y if noise is None else y + noise
    clamp = None if layer.conv_clamp is None else layer.conv_clamp * gain
    act_gain = ops.activation_gain('lrelu') * gain
    out = ops.bias_act(y_noisy, layer.bias, act='lrelu', gain=act_gain, clamp=clamp)

    dcoefs = ((layer.weight * styles.reshape(1, -1, 1, 1)).square().sum(dim=[1, 2, 3]) + 1e-8).rsqrt()
    weight = layer.weight * dcoefs.reshape(-1, 1, 1, 1)  # demodulated, not modulated: styles vary by tangent
    energy = layer.weight.square().sum(dim=[2, 3])  # [C_out, C_in]
    slopes = ops.channels_last(_slopes(y_noisy + layer.bias.reshape(1, -1, 1, 1), 0.2, act_gain, clamp))
    raw_slopes = ops.channels_last(y / dcoefs.reshape(1, -1, 1, 1) * slopes)  # d out / d dcoefs
    x = ops.channels_last(x)

    def push(x_t, w_t):
        styles_t = _style_tangent(layer.affine, w_t)
        if x_t is None and styles_t is None:
            return None
        x_t = _modulate(x_t, x, styles, styles_t)
        out_t = ops.conv2d_resample(ops.channels_last(x_t), weight, f=layer.resample_filter, **resample)
        out_t = _mul(ops.channels_last(out_t), slopes)
        if styles_t is not None:
            d_t = _demodulation_tangent(dcoefs, energy, styles, styles_t)
            _addmul(out_t, raw_slopes, d_t[:, :, None, None])
        return out_t

    return out, push


def _sg2_torgb(layer, x, w):
    """`ToRGBLayer`: modulated 1x1 convolution without demodulation, bias, clamp."""
    styles = layer.affine(w) * layer.weight_gain
    y = ops.modulated_conv2d(x, layer.weight, styles, demodulate=False)
    out = ops.bias_act(y, layer.bias, clamp=layer.conv_clamp)
    inside = None
    if layer.conv_clamp is not None:
        inside = ops.channels_last((y + layer.bias.reshape(1, -1, 1, 1)).abs() <= layer.conv_clamp)
    # A 1x1 convolution is a matrix product over the channels of each pixel (channels-last [K, H, W, C]).
    weight = layer.weight[:, :, 0, 0].t()  # [C_in, C_out]
    modulated = weight * styles.t()
    features = x[0].permute(1, 2, 0).reshape(-1, x.shape[1])  # [H * W, C_in]
    _, channels, height, width = y.shape

    def push(x_t, w_t):
        styles_t = _style_tangent(layer.affine, w_t, layer.weight_gain)
        out_t = None
        if x_t is not None:
            out_t = x_t.permute(0, 2, 3, 1).reshape(len(x_t), -1, x_t.shape[1]).matmul(modulated)
        if styles_t is not None:  # sum_i weight_io styles_t_ki x_i: one product with the sample's features
            weights = (weight * styles_t[:, :, None]).transpose(0, 1).reshape(len(weight), -1)  # [C_in, K * C_out]
            out_t = _add(out_t, features.matmul(weights).reshape(-1, len(styles_t), channels).transpose(0, 1))
        if out_t is None:
            return None
        out_t = out_t.reshape(-1, height, width, channels).permute(0, 3, 1, 2)  # [K, C_out, H, W]
        return out_t if inside is None else _mul(out_t, inside)

    return out, push


def _sg2_block(block, x, img, ws, noise_mode):
    """`SynthesisBlock`: its `(x, img)` and `push(x_t, img_t, ws_t) -> (x_t, img_t)`."""
    ws = iter(ws.unbind(dim=1))
    resnet = block.in_channels != 0 and block.architecture == 'resnet'
    gain = np.sqrt(0.5) if resnet else 1
    conv0 = None
    if block.in_channels == 0:
        x = block.const.unsqueeze(0)
    else:
        skip = block.skip(x, gain=gain) if resnet else None
        x, conv0 = _sg2_layer(block.conv0, x, next(ws), noise_mode)
    x, conv1 = _sg2_layer(block.conv1, x, next(ws), noise_mode, gain)
    if resnet:
        x = skip + x
    if img is not None:
        img = ops.upsample2d(img, block.resample_filter)
    torgb = None
    if block.is_last or block.architecture == 'skip':
        y, torgb = _sg2_torgb(block.torgb, x, next(ws))
        img = img + y if img is not None else y

    def push(x_t, img_t, ws_t):
        ws_t = iter(ws_t)
        skip_t = None
        if resnet and x_t is not None:  # the skip path is linear in x
            layer = block.skip
            skip_t = ops.conv2d_resample(x_t, layer.weight * (layer.weight_gain * gain), f=layer.resample_filter,
                                         up=layer.up, padding=layer.padding, flip_weight=layer.up == 1)
        if conv0 is not None:
            x_t = conv0(x_t, next(ws_t))
        x_t = _add(conv1(x_t, next(ws_t)), skip_t)
        if img_t is not None:
            img_t = ops.upsample2d(img_t, block.resample_filter)
        if torgb is not None:
            img_t = _add(img_t, torgb(x_t, next(ws_t)))
        return x_t, img_t

    return x, img, push


@torch.no_grad()
def linearize_stylegan2(synthesis, ws, noise_mode='const'):
    """The image of one sample `ws` `[1, num_ws, w_dim]` and `push(ws_t) -> [K, C, H, W]`.

    `ws_t` holds `num_ws` tangents, each `[K, w_dim]` or None (that row does not move).
    """
    ws = ws.to(torch.float32)
    x = img = None
    blocks = []
    w_idx = 0
    for res in synthesis.block_resolutions:
        block = getattr(synthesis, f'b{res}')
        rows = slice(w_idx, w_idx + block.num_conv + block.num_torgb)
        x, img, push = _sg2_block(block, x, img, ws[:, rows], noise_mode)
        blocks.append((rows, push))
        w_idx += block.num_conv

    def push(ws_t):
        x_t = img_t = None
        for rows, block_push in blocks:
            x_t, img_t = block_push(x_t, img_t, ws_t[rows])
        return _zeros_if_none(img_t, ws_t, img)

    return img, push


def _zeros_if_none(img_t, ws_t, img):
    """`img_t`, or zeros `[K, ...img]` where no row of `ws` moves."""
    count = next((len(t) for t in ws_t if t is not None), 0)
    return img.new_zeros([count, *img.shape[1:]]) if img_t is None else img_t


# ----------------------------------------------------------------------------
# StyleGAN3.

def _sg3_layer(layer, x, w):
    """`SynthesisLayer`: modulated convolution, then the filtered leaky ReLU (up, act, clamp, down)."""
    spec = layer.spec
    demodulate = not layer.is_torgb
    styles = layer.affine(w) * layer.style_gain  # [1, C_in]
    input_gain = layer.magnitude_ema.rsqrt()
    y = sg3.modulated_conv2d(x, layer.weight, styles, demodulate=demodulate, padding=spec.conv_kernel - 1,
                             input_gain=input_gain)
    # filtered_lrelu, step by step, keeping the slopes of the activation (its gain rides on the down filter)
    gain, slope = layer.act_gain, layer.slope
    up = ops.upfirdn2d(ops.bias_act(y, layer.bias), layer.up_filter, up=spec.up_factor, padding=spec.padding,
                       gain=spec.up_factor ** 2)
    clamp = None if layer.conv_clamp is None else layer.conv_clamp / gain
    act = F.leaky_relu(up, slope)
    out = ops.upfirdn2d(act if clamp is None else act.clamp(-clamp, clamp), layer.down_filter,
                        down=spec.down_factor, gain=gain)

    slopes = ops.channels_last(_slopes(up, slope, 1, clamp))
    weight, style_rms, dcoefs = layer.weight, None, None
    if demodulate:
        weight, styles, style_rms = sg3.prenormalize(layer.weight, styles)
        dcoefs, energy = sg3.demodulation(weight, styles)
        y_raw = ops.channels_last(y / dcoefs.reshape(1, -1, 1, 1))
        weight = weight * dcoefs.reshape(-1, 1, 1, 1)
    weight = weight * input_gain
    x = ops.channels_last(x)

    def push(x_t, w_t):
        styles_t = _style_tangent(layer.affine, w_t, layer.style_gain)
        if styles_t is not None and demodulate:  # d(s / rms(s)) = (ds - s_n (s_n . ds) / n) / rms(s)
            styles_t = style_rms * (styles_t - styles * (styles_t * styles).mean(dim=1, keepdim=True))
        if x_t is None and styles_t is None:
            return None
        y_t = F.conv2d(ops.channels_last(_modulate(x_t, x, styles, styles_t)), weight,
                       padding=spec.conv_kernel - 1)
        if dcoefs is not None and styles_t is not None:
            _addmul(y_t, y_raw, _demodulation_tangent(dcoefs, energy, styles, styles_t)[:, :, None, None])
        up_t = ops.upfirdn2d(y_t, layer.up_filter, up=spec.up_factor, padding=spec.padding,
                             gain=spec.up_factor ** 2)
        return ops.upfirdn2d(_mul(up_t, slopes), layer.down_filter, down=spec.down_factor, gain=gain)

    return out, push


@torch.no_grad()
def linearize_stylegan3(synthesis, ws, noise_mode='const'):
    """The image of one sample `ws` `[1, num_ws, w_dim]` and `push(ws_t) -> [K, C, H, W]`.

    The Fourier-feature input (small) is differentiated by `torch.func.jvp`; `noise_mode` has no effect.
    """
    ws = ws.to(torch.float32).unbind(dim=1)
    x = synthesis.input(ws[0])
    layers = []
    for name, w in zip(synthesis.layer_names, ws[1:]):
        x, push = _sg3_layer(getattr(synthesis, name), x, w)
        layers.append(push)
    img = x * synthesis.output_scale

    def push(ws_t):
        x_t = None
        if ws_t[0] is not None:
            def input_tangent(t):
                return torch.func.jvp(synthesis.input, (ws[0],), (t.unsqueeze(0),))[1][0]
            x_t = torch.func.vmap(input_tangent)(ws_t[0])  # [K, channels, size, size]
        for layer_push, w_t in zip(layers, ws_t[1:]):
            x_t = layer_push(x_t, w_t)
        return _zeros_if_none(None if x_t is None else x_t.mul_(synthesis.output_scale), ws_t, img)

    return img, push
