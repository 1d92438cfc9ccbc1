"""Pure-PyTorch building blocks shared by the generator families.

Semantics follow NVlabs' `torch_utils/ops` reference paths (upfirdn2d,
bias_act, conv2d_resample) and equalised-learning-rate layers, so that the
same weights give the same numbers, on CPU and CUDA, with no compiled code.
Nothing here modifies its inputs in place, so every op also works under
`torch.func.jvp` / `vmap`.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# name -> (function, default alpha, default gain)
_ACTIVATIONS = {
    'linear': (lambda x, alpha: x, 0.0, 1.0),
    'relu': (lambda x, alpha: F.relu(x), 0.0, math.sqrt(2)),
    'lrelu': (lambda x, alpha: F.leaky_relu(x, alpha), 0.2, math.sqrt(2)),
}


def activation_gain(act):
    """Default gain of an activation function ('linear', 'relu', 'lrelu')."""
    return _ACTIVATIONS[act][2]


def bias_act(x, b=None, dim=1, act='linear', alpha=None, gain=None, clamp=None):
    """Add a bias, apply an activation, scale by a gain and clamp, as NVlabs' bias_act.

    Args:
        x: Input tensor.
        b: Optional bias of shape `[x.shape[dim]]`.
        dim: Dimension of `x` that the bias runs along.
        act: 'linear', 'relu' or 'lrelu'.
        alpha: Negative slope of 'lrelu' (default 0.2).
        gain: Output scale (default: the activation's own gain).
        clamp: Clamp the output to +-clamp; None disables clamping.
    """
    func, def_alpha, def_gain = _ACTIVATIONS[act]
    alpha = def_alpha if alpha is None else float(alpha)
    gain = def_gain if gain is None else float(gain)
    clamp = -1 if clamp is None else float(clamp)
    if b is not None:
        x = x + b.reshape([-1 if i == dim else 1 for i in range(x.ndim)])
    x = func(x, alpha)
    if gain != 1:
        x = x * gain
    if clamp >= 0:
        x = x.clamp(-clamp, clamp)
    return x


def normalize_2nd_moment(x, dim=1, eps=1e-8):
    """Scale `x` to unit mean square along `dim` (pixel norm)."""
    return x * (x.square().mean(dim=dim, keepdim=True) + eps).rsqrt()


# ----------------------------------------------------------------------------
# FIR filtering with up/down-sampling.

def setup_filter(f, normalize=True, flip_filter=False, gain=1, separable=None):
    """Prepare a 2D FIR filter for `upfirdn2d`, as NVlabs' setup_filter.

    Args:
        f: Taps `[n]`, a 2D filter `[h, w]`, a scalar, or None (identity).
        normalize: Scale the filter to unit DC gain.
        flip_filter: Flip the filter.
        gain: Overall signal gain.
        separable: Keep a 1D (separable) filter; default: when it has >= 8 taps.

    Returns:
        float32 tensor `[n]` (separable) or `[h, w]`.
    """
    if f is None:
        f = 1
    f = torch.as_tensor(f, dtype=torch.float32)
    assert f.ndim <= 2 and f.numel() > 0, f.shape
    if f.ndim == 0:
        f = f[np.newaxis]
    if separable is None:
        separable = f.ndim == 1 and f.numel() >= 8
    if f.ndim == 1 and not separable:
        f = torch.outer(f, f)
    if normalize:
        f = f / f.sum()
    if flip_filter:
        f = f.flip(list(range(f.ndim)))
    return f * (gain ** (f.ndim / 2))


def _parse_pair(value):
    if isinstance(value, int):
        return value, value
    sx, sy = value
    return int(sx), int(sy)


def _parse_padding(padding):
    if isinstance(padding, int):
        return padding, padding, padding, padding
    if len(padding) == 2:
        px, py = padding
        return px, px, py, py
    px0, px1, py0, py1 = padding
    return px0, px1, py0, py1


def upfirdn2d(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """Upsample by zero insertion, pad, FIR filter, downsample: NVlabs' upfirdn2d.

    The numbers are those of NVlabs' reference path. The work is not: the
    zero-inserted samples are never multiplied (upsampling is a transposed
    depthwise convolution with stride `up`), the dropped samples are never
    computed (downsampling is a strided convolution), and the filter runs on
    channels-last data, where mkldnn's depthwise kernels are several times
    faster on CPU.

    Args:
        x: Images `[N, C, H, W]`.
        f: Filter from `setup_filter` (`[n]` separable or `[h, w]`), or None.
        up: Upsampling factor (int or `(x, y)`).
        down: Downsampling factor (int or `(x, y)`).
        padding: `p`, `(px, py)` or `(px0, px1, py0, py1)`; negative crops.
        flip_filter: Correlate instead of convolve.
        gain: Signal gain.

    Returns:
        `[N, C, H', W']`.
    """
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    upx, upy = _parse_pair(up)
    downx, downy = _parse_pair(down)
    px0, px1, py0, py1 = _parse_padding(padding)
    channels = x.shape[1]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if x.shape[1] > 1:
        x = channels_last(x)
    if f.ndim == 1:  # separable: one pass per axis
        x = _fir_1d(x, f, 3, upx, downx, px0, px1, flip_filter, channels)
        return _fir_1d(x, f, 2, upy, downy, py0, py1, flip_filter, channels)
    if (upx > 1 or upy > 1) and (downx > 1 or downy > 1):
        x = _fir_2d(x, f, (upy, upx), (1, 1), (py0, py1, px0, px1), flip_filter, channels)
        return x[:, :, ::downy, ::downx]
    return _fir_2d(x, f, (upy, upx), (downy, downx), (py0, py1, px0, px1), flip_filter, channels)


def channels_last(x):
    """`x` in channels-last layout, or unchanged where that layout is not available (inside `vmap`)."""
    try:
        return x.contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # vmap keeps its own layouts
        return x


def _fir_1d(x, f, dim, up, down, p0, p1, flip_filter, channels):
    """One axis (`dim` 2 = rows, 3 = columns) of a separable `upfirdn2d`."""
    n = f.shape[0]
    shape = [1, n] if dim == 3 else [n, 1]
    if up > 1 and down > 1:
        x = _zero_insert(x, dim, up)
        up = 1
    if up > 1:  # transposed convolution with stride `up` = zero insertion + full convolution
        weight = (f.flip(0) if flip_filter else f).reshape(1, 1, *shape).repeat(channels, 1, 1, 1)
        length = x.shape[dim]
        full = F.conv_transpose2d(x, weight, stride=(1, up) if dim == 3 else (up, 1), groups=channels)
        start = n - 1 - p0  # full[start + j] is output sample j
        return _crop_or_pad(full, dim, start, length * up + p0 + p1 - n + 1)
    weight = (f if flip_filter else f.flip(0)).reshape(1, 1, *shape).repeat(channels, 1, 1, 1)
    x, pad = _pad_for_conv(x, [p0, p1, 0, 0] if dim == 2 else [0, 0, p0, p1])
    return F.conv2d(x, weight, stride=(1, down) if dim == 3 else (down, 1), padding=pad, groups=channels)


def _pad_for_conv(x, pads):
    """`(x, padding)` for `F.conv2d` that pads `x` by `pads` `(y0, y1, x0, x1)`: symmetric
    non-negative pads go to the convolution (no copy), the rest is padded or cropped here."""
    y0, y1, x0, x1 = pads
    if y0 == y1 >= 0 and x0 == x1 >= 0:
        return x, (y0, x0)
    return channels_last(F.pad(x, [x0, x1, y0, y1])), (0, 0)


def _crop_or_pad(x, dim, start, length):
    """Samples `start .. start + length` of `x` along `dim`, zero outside it; a view where nothing is padded."""
    if start >= 0 and start + length <= x.shape[dim]:
        return x.narrow(dim, start, length)
    pad = [-start, start + length - x.shape[dim]]
    return F.pad(x, pad if dim == 3 else [0, 0] + pad)


def _zero_insert(x, dim, up):
    """Insert `up - 1` zeros after every sample along `dim` (NVlabs' upsampling by zero insertion)."""
    shape = list(x.shape)
    x = x.unsqueeze(dim + 1)
    x = F.pad(x, [0, 0] * (x.ndim - dim - 2) + [0, up - 1])
    shape[dim] *= up
    return x.reshape(shape)


def _fir_2d(x, f, up, down, pads, flip_filter, channels):
    """`upfirdn2d` with a 2D filter; at most one of `up` and `down` differs from (1, 1)."""
    n_y, n_x = f.shape
    py0, py1, px0, px1 = pads
    if up != (1, 1):
        weight = (f if not flip_filter else f.flip([0, 1]))[None, None].repeat(channels, 1, 1, 1)
        height, width = x.shape[2:]
        full = F.conv_transpose2d(x, weight, stride=up, groups=channels)
        full = _crop_or_pad(full, 2, n_y - 1 - py0, height * up[0] + py0 + py1 - n_y + 1)
        return _crop_or_pad(full, 3, n_x - 1 - px0, width * up[1] + px0 + px1 - n_x + 1)
    weight = (f.flip([0, 1]) if not flip_filter else f)[None, None].repeat(channels, 1, 1, 1)
    x, pad = _pad_for_conv(x, [py0, py1, px0, px1])
    return F.conv2d(x, weight, stride=down, padding=pad, groups=channels)


def upfirdn2d_reference(x, f, up=1, down=1, padding=0, flip_filter=False, gain=1):
    """NVlabs' reference path step by step (zero insertion, pad, filter, slice); for tests."""
    if f is None:
        f = torch.ones([1, 1], dtype=torch.float32, device=x.device)
    upx, upy = _parse_pair(up)
    downx, downy = _parse_pair(down)
    px0, px1, py0, py1 = _parse_padding(padding)
    batch, channels, height, width = x.shape
    if upx > 1 or upy > 1:
        x = x.reshape(batch, channels, height, 1, width, 1)
        x = F.pad(x, [0, upx - 1, 0, 0, 0, upy - 1])
        x = x.reshape(batch, channels, height * upy, width * upx)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    f = f[None, None].repeat([channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=channels)
    else:
        x = F.conv2d(x, f.unsqueeze(2), groups=channels)
        x = F.conv2d(x, f.unsqueeze(3), groups=channels)
    return x[:, :, ::downy, ::downx]


def upsample2d(x, f, up=2):
    """Upsample by `up` with an FIR filter, keeping the signal centred (NVlabs' upsample2d)."""
    taps = f.shape[-1]
    return upfirdn2d(x, f, up=up, padding=[(taps + up - 1) // 2, (taps - up) // 2] * 2, gain=up ** 2)


def conv2d_resample(x, w, f=None, up=1, padding=0, groups=1, flip_weight=True):
    """2D convolution with optional FIR upsampling: NVlabs' conv2d_resample on the generator's paths
    (square kernels, the same padding on every side, no downsampling).

    Args:
        x: `[N, C_in, H, W]`.
        w: `[C_out, C_in // groups, k, k]`.
        f: Upsampling filter from `setup_filter` (for `up > 1`).
        up: Integer upsampling factor.
        padding: Zero padding, with respect to the upsampled image.
        groups: Grouped convolution.
        flip_weight: True = correlation (as `F.conv2d`), False = convolution.
    """
    if up == 1:
        return F.conv2d(x, w if flip_weight else w.flip([2, 3]), padding=padding, groups=groups)
    out_channels, in_per_group, k, _ = w.shape
    taps = f.shape[-1]
    p0, p1 = padding + (taps + up - 1) // 2, padding + (taps - up) // 2  # of the upsampled image
    if k == 1:
        return upfirdn2d(F.conv2d(x, w, groups=groups), f, up=up, padding=[p0, p1] * 2, gain=up ** 2)
    # A transposed convolution with stride `up` never multiplies the inserted zeros; the filter follows.
    if groups == 1:
        w = w.transpose(0, 1)
    else:
        w = w.reshape(groups, out_channels // groups, in_per_group, k, k)
        w = w.transpose(1, 2).reshape(groups * in_per_group, out_channels // groups, k, k)
    p0, p1 = p0 - (k - 1), p1 - (k - up)
    pt = max(min(-p0, -p1), 0)
    x = F.conv_transpose2d(x, w.flip([2, 3]) if flip_weight else w, stride=up, padding=pt, groups=groups)
    return upfirdn2d(x, f, padding=[p0 + pt, p1 + pt] * 2, gain=up ** 2)


# ----------------------------------------------------------------------------
# Modulated convolution and equalised-learning-rate layers.

def modulated_conv2d(x, weight, styles, noise=None, up=1, padding=0, resample_filter=None, demodulate=True,
                     flip_weight=True, fused_modconv=True):
    """StyleGAN2 modulated convolution (NVlabs' modulated_conv2d, float32).

    Args:
        x: `[N, C_in, H, W]`.
        weight: `[C_out, C_in, kh, kw]`.
        styles: `[N, C_in]` modulation coefficients.
        noise: Optional tensor added to the output (after demodulation).
        up, padding, resample_filter, flip_weight: As in `conv2d_resample`.
        demodulate: Normalise each output feature map's weights.
        fused_modconv: One grouped convolution with per-sample weights (True), or
            scale the activations before and after a shared convolution (False).
            Same result; the second is faster for large batches and under vmap.
    """
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    w = None
    dcoefs = None
    if demodulate or fused_modconv:
        w = weight.unsqueeze(0) * styles.reshape(batch, 1, -1, 1, 1)  # [N, O, I, kh, kw]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, O]
    if demodulate and fused_modconv:
        w = w * dcoefs.reshape(batch, -1, 1, 1, 1)

    if not fused_modconv:
        x = x * styles.reshape(batch, -1, 1, 1)
        x = conv2d_resample(x, weight, f=resample_filter, up=up, padding=padding, flip_weight=flip_weight)
        if demodulate:
            x = x * dcoefs.reshape(batch, -1, 1, 1)
        if noise is not None:
            x = x + noise
        return x

    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = conv2d_resample(x, w, f=resample_filter, up=up, padding=padding, groups=batch, flip_weight=flip_weight)
    x = x.reshape(batch, -1, *x.shape[2:])
    if noise is not None:
        x = x + noise
    return x



class FullyConnectedLayer(nn.Module):
    """Dense layer with equalised learning rate (NVlabs' FullyConnectedLayer)."""

    def __init__(self,
                 in_features,           # Number of input features.
                 out_features,          # Number of output features.
                 bias=True,             # Add a bias before the activation?
                 activation='linear',   # 'linear', 'relu' or 'lrelu'.
                 lr_multiplier=1,       # Learning-rate multiplier (scales weight and bias).
                 bias_init=0,           # Initial bias value.
                 ):
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.full([out_features], float(bias_init))) if bias else None
        self.weight_gain = lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        w = self.weight * self.weight_gain
        b = self.bias
        if b is not None and self.bias_gain != 1:
            b = b * self.bias_gain
        if self.activation == 'linear' and b is not None:
            return torch.addmm(b.unsqueeze(0), x, w.t())
        return bias_act(x.matmul(w.t()), b, act=self.activation)

    def extra_repr(self):
        return f'in_features={self.in_features}, out_features={self.out_features}, activation={self.activation}'


# ----------------------------------------------------------------------------
# Mapping network shared by StyleGAN2 and StyleGAN3 (NVlabs' MappingNetwork).

def truncate(ws, w_avg, truncation_psi=1, truncation_cutoff=None):
    """Move `ws` `[N, num_ws, w_dim]` towards `w_avg` on the first `truncation_cutoff` layers."""
    if truncation_psi == 1:
        return ws
    truncated = w_avg.lerp(ws, truncation_psi)
    if truncation_cutoff is None or truncation_cutoff >= ws.shape[1]:
        return truncated
    layer = torch.arange(ws.shape[1], device=ws.device).reshape(1, -1, 1)
    return torch.where(layer < truncation_cutoff, truncated, ws)


class MappingNetwork(nn.Module):
    """z (and c) -> w, broadcast to `num_ws` copies, with truncation.

    `config` needs `z_dim`, `c_dim`, `w_dim`, `mapping_layers`,
    `mapping_lr_multiplier`, `mapping_layer_features` and `mapping_embed_features`.
    """

    def __init__(self,
                 config,    # StyleGAN2Config or StyleGAN3Config.
                 num_ws,    # Number of ws to broadcast to.
                 ):
        super().__init__()
        self.z_dim = config.z_dim
        self.c_dim = config.c_dim
        self.w_dim = config.w_dim
        self.num_ws = num_ws
        self.num_layers = config.mapping_layers
        embed = (config.mapping_embed_features or config.w_dim) if config.c_dim > 0 else 0
        hidden = config.mapping_layer_features or config.w_dim
        features = [config.z_dim + embed] + [hidden] * (self.num_layers - 1) + [config.w_dim]
        if config.c_dim > 0:
            self.embed = FullyConnectedLayer(config.c_dim, embed)
        for idx in range(self.num_layers):
            layer = FullyConnectedLayer(features[idx], features[idx + 1], activation='lrelu',
                                        lr_multiplier=config.mapping_lr_multiplier)
            setattr(self, f'fc{idx}', layer)
        self.register_buffer('w_avg', torch.zeros([config.w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None):
        assert z.shape[1:] == (self.z_dim,), z.shape
        x = normalize_2nd_moment(z.to(torch.float32))  # [N, z_dim]
        if self.c_dim > 0:  # labels [N, c_dim], checked where the class is given
            y = normalize_2nd_moment(self.embed(c.to(torch.float32)))
            x = torch.cat([x, y], dim=1)
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)
