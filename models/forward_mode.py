"""Forward-mode derivatives of the StyleGAN2 and StyleGAN3 synthesis networks, written by hand.

`linearize_stylegan2(synthesis, ws)` (and `linearize_stylegan3`) runs the
generator's own pass for one sample and returns the image with `push(ws_t)`, its
derivative along K tangents of `ws` at once: the numbers of `torch.func.jvp`
under `vmap`, several times faster. The primal pass runs once per sample; the
demodulation (and StyleGAN3's input gain), shared by a sample's tangents, rides
on the convolution weight; ToRGB's style tangent is one matrix product with the
sample's features; elementwise factors apply in place, channels-last. StyleGAN2's
last convolution and its ToRGB fold into one kernel per pixel (`_sg2_conv_into_rgb`),
so the network's widest convolution never runs on the tangents.

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
    """`SynthesisLayer` (modulated 3x3 convolution, upsampling in conv0, noise, bias, leaky ReLU, clamp): its output,
    `push(x_t, w_t) -> out_t`, and the parts that `_sg2_conv_into_rgb` folds."""
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

    def inputs(x_t, w_t):
        """Tangents of the modulated input and of the demodulation coefficients (None: zero)."""
        styles_t = _style_tangent(layer.affine, w_t)
        d_t = None if styles_t is None else _demodulation_tangent(dcoefs, energy, styles, styles_t)
        return (None if x_t is None and styles_t is None else _modulate(x_t, x, styles, styles_t)), d_t

    def push(x_t, w_t):
        x_t, d_t = inputs(x_t, w_t)
        if x_t is None:
            return None
        out_t = ops.conv2d_resample(ops.channels_last(x_t), weight, f=layer.resample_filter, **resample)
        out_t = _mul(ops.channels_last(out_t), slopes)
        return out_t if d_t is None else _addmul(out_t, raw_slopes, d_t[:, :, None, None])

    return out, push, dict(inputs=inputs, weight=weight, slopes=slopes[0], raw_slopes=raw_slopes[0])


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

    return out, push, (modulated, inside)


FOLD_BYTES = 2 * 2 ** 30  # the largest per-pixel kernel of a folded last layer (below)


def _sg2_conv_into_rgb(layer, torgb, x, w, w_rgb, noise_mode, gain=1, skip=None):
    """The last `SynthesisLayer` and its `ToRGBLayer` (after a resnet block's `skip`) as one: `(x, rgb, push(x_t,
    w_t, w_rgb_t, skip_t) -> rgb_t)`. Convolution, slopes, ToRGB and clamp are linear in the modulated input
    tangent: they fold into a kernel per output pixel (`[C_img, C_in]` per 3x3 offset, built once per sample),
    so the widest convolution never runs on the tangents."""
    out, _, conv = _sg2_layer(layer, x, w, noise_mode, gain)
    x_rgb = out if skip is None else skip + out
    rgb, rgb_push, (modulated, inside) = _sg2_torgb(torgb, x_rgb, w_rgb)  # modulated: [C_out, C_img]
    (_, c_in, height, width), (c_out, c_img) = x.shape, modulated.shape
    scale = modulated.t()[:, None] * conv['slopes'].permute(1, 2, 0).reshape(1, -1, c_out)  # [C_img, HW, C_out]
    raw = modulated[:, :, None] * conv['raw_slopes'].reshape(c_out, 1, -1)                 # [C_out, C_img, HW]
    if inside is not None:
        scale, raw = scale * inside[0].reshape(c_img, -1, 1), raw * inside[0].reshape(1, c_img, -1)
    # On the grid of the input padded by one pixel, each offset's neighbours are one slice of the flat input.
    row, length = width + 2, height * (width + 2) - 2
    kernel = x.new_zeros([9, height, row, c_img, c_in])
    for offset in range(9):
        tap = scale.matmul(conv['weight'][:, :, offset // 3, offset % 3])  # [C_img, HW, C_in]
        kernel[offset, :, :width] = tap.reshape(c_img, height, width, c_in).permute(1, 2, 0, 3)
    kernel, raw = kernel.reshape(9, height * row, c_img, c_in)[:, :length], raw.reshape(c_out, -1)

    def push(x_t, w_t, w_rgb_t, skip_t):
        rgb_t = rgb_push(skip_t, w_rgb_t)  # ToRGB's own style, and the skip path
        x_t, d_t = conv['inputs'](x_t, w_t)
        if x_t is None:
            return rgb_t
        count = len(x_t)
        padded = ops.channels_last(F.pad(x_t, [1, 1, 1, 1])).permute(0, 2, 3, 1).reshape(count, -1, c_in)
        folded = x_t.new_zeros([length, c_img, count])
        for offset in range(9):
            start = offset // 3 * row + offset % 3
            folded = torch.baddbmm(folded, kernel[offset], padded[:, start:start + length].permute(1, 2, 0))
        folded = F.pad(folded, [0, 0, 0, 0, 0, 2]).reshape(height, row, c_img, count)[:, :width].permute(3, 2, 0, 1)
        if d_t is not None:
            folded = folded + d_t.to(raw.dtype).matmul(raw).reshape(count, c_img, height, width)
        return _add(rgb_t, folded)

    return x_rgb, rgb, push


def _sg2_block(block, x, img, ws, noise_mode):
    """`SynthesisBlock`: its `(x, img)` and `push(x_t, img_t, ws_t) -> (x_t, img_t)`."""
    ws = iter(ws.unbind(dim=1))
    resnet = block.in_channels != 0 and block.architecture == 'resnet'
    gain = np.sqrt(0.5) if resnet else 1
    conv0 = skip = None
    if block.in_channels == 0:
        x = block.const.unsqueeze(0)
    else:
        skip = block.skip(x, gain=gain) if resnet else None
        x, conv0, _ = _sg2_layer(block.conv0, x, next(ws), noise_mode)
    if img is not None:
        img = ops.upsample2d(img, block.resample_filter)
    fold = block.is_last and (36 * block.torgb.weight[:, :, 0, 0].numel() * block.resolution * (block.resolution + 2)
                              <= FOLD_BYTES)  # the kernels of `_sg2_conv_into_rgb`, in bytes
    torgb = y = None
    if fold:
        x, y, last = _sg2_conv_into_rgb(block.conv1, block.torgb, x, next(ws), next(ws), noise_mode, gain, skip)
    else:
        x, conv1, _ = _sg2_layer(block.conv1, x, next(ws), noise_mode, gain)
        x = x if skip is None else skip + x
        if block.is_last or block.architecture == 'skip':
            y, torgb, _ = _sg2_torgb(block.torgb, x, next(ws))
    img = y if img is None else img if y is None else img + y

    def push(x_t, img_t, ws_t):
        ws_t = iter(ws_t)
        skip_t = None
        if resnet and x_t is not None:  # the skip path is linear in x
            layer = block.skip
            skip_t = ops.conv2d_resample(x_t, layer.weight * (layer.weight_gain * gain), f=layer.resample_filter,
                                         up=layer.up, padding=layer.padding, flip_weight=layer.up == 1)
        if conv0 is not None:
            x_t = conv0(x_t, next(ws_t))
        if img_t is not None:
            img_t = ops.upsample2d(img_t, block.resample_filter)
        if fold:  # the last block: only the image goes on
            return None, _add(img_t, last(x_t, next(ws_t), next(ws_t), skip_t))
        x_t = _add(conv1(x_t, next(ws_t)), skip_t)
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
