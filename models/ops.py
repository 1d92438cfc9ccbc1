"""Pure-PyTorch building blocks shared by the generator families.

Semantics follow NVlabs' `torch_utils/ops` reference paths, so that the same weights give the same numbers, with no
compiled code. Nothing here modifies its inputs in place, so every op also works under `torch.func.jvp` / `vmap`.
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
    """Add a bias `b` along `dim`, apply `act` ('linear', 'relu' or 'lrelu' with slope `alpha`), scale by
    `gain` (default: the activation's) and clamp to +-`clamp` (None: no clamp), as NVlabs' bias_act."""
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

def setup_filter(f):
    """NVlabs' setup_filter of taps `[n]`: unit DC gain; 2D (their outer product) below 8 taps, else separable."""
    f = torch.as_tensor(f, dtype=torch.float32)
    f = torch.outer(f, f) if f.numel() < 8 else f
    return f / f.sum()


def channels_last(x):
    """`x` in channels-last layout, or unchanged where that layout is not available (inside `vmap`)."""
    try:
        return x.contiguous(memory_format=torch.channels_last)
    except RuntimeError:  # vmap keeps its own layouts
        return x


def upfirdn2d(x, f, up=1, down=1, padding=0, gain=1):
    """Upsample by zero insertion, pad, FIR filter, downsample: NVlabs' upfirdn2d of `x` `[N, C, H, W]` by `f` (from
    `setup_filter`, or None), one of `up` and `down` 1, `padding` `p` or `(px0, px1, py0, py1)` (negative crops).

    The numbers of NVlabs' reference path, with less work: upsampling is a transposed depthwise convolution, down-
    sampling a strided one, and the filter runs on channels-last data (mkldnn's fast depthwise kernels on CPU).
    """
    assert up == 1 or down == 1, (up, down)
    f = torch.ones([1, 1], device=x.device) if f is None else f
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype)
    px0, px1, py0, py1 = [padding] * 4 if isinstance(padding, int) else padding
    x = channels_last(x) if x.shape[1] > 1 else x
    if f.ndim == 1:  # separable: one pass per axis
        x = _fir(x, f[None, :], (1, up), (1, down), (0, 0, px0, px1))
        return _fir(x, f[:, None], (up, 1), (down, 1), (py0, py1, 0, 0))
    return _fir(x, f, (up, up), (down, down), (py0, py1, px0, px1))


def _fir(x, f, up, down, pads):
    """`upfirdn2d` with a kernel `f` `[kh, kw]`, factors `up` and `down` `(y, x)` and pads `(y0, y1, x0, x1)`."""
    channels = x.shape[1]
    kh, kw = f.shape
    y0, y1, x0, x1 = pads
    if up != (1, 1):  # a transposed convolution with stride `up`: full[start + j] is output sample j
        full = F.conv_transpose2d(x, f[None, None].repeat(channels, 1, 1, 1), stride=up, groups=channels)
        full = _crop_or_pad(full, 2, kh - 1 - y0, x.shape[2] * up[0] + y0 + y1 - kh + 1)
        return _crop_or_pad(full, 3, kw - 1 - x0, x.shape[3] * up[1] + x0 + x1 - kw + 1)
    weight = f.flip([0, 1])[None, None].repeat(channels, 1, 1, 1)
    if y0 == y1 >= 0 and x0 == x1 >= 0:  # symmetric pads go to the convolution (no copy)
        return F.conv2d(x, weight, stride=down, padding=(y0, x0), groups=channels)
    return F.conv2d(channels_last(F.pad(x, [x0, x1, y0, y1])), weight, stride=down, groups=channels)


def _crop_or_pad(x, dim, start, length):
    """Samples `start .. start + length` of `x` along `dim`, zero outside it; a view where nothing is padded."""
    if start >= 0 and start + length <= x.shape[dim]:
        return x.narrow(dim, start, length)
    pad = [-start, start + length - x.shape[dim]]
    return F.pad(x, pad if dim == 3 else [0, 0] + pad)


def upfirdn2d_reference(x, f, up=1, down=1, padding=0, gain=1):
    """NVlabs' reference path step by step (zero insertion, pad, filter, slice); for tests and benchmarks."""
    f = torch.ones([1, 1], device=x.device) if f is None else f
    px0, px1, py0, py1 = [padding] * 4 if isinstance(padding, int) else padding
    batch, channels, height, width = x.shape
    x = F.pad(x.reshape(batch, channels, height, 1, width, 1), [0, up - 1, 0, 0, 0, up - 1])
    x = x.reshape(batch, channels, height * up, width * up)
    x = F.pad(x, [max(px0, 0), max(px1, 0), max(py0, 0), max(py1, 0)])
    x = x[:, :, max(-py0, 0): x.shape[2] - max(-py1, 0), max(-px0, 0): x.shape[3] - max(-px1, 0)]
    f = (f * (gain ** (f.ndim / 2))).to(x.dtype).flip(list(range(f.ndim)))
    f = f[None, None].repeat([channels, 1] + [1] * f.ndim)
    if f.ndim == 4:
        x = F.conv2d(x, f, groups=channels)
    else:
        x = F.conv2d(F.conv2d(x, f.unsqueeze(2), groups=channels), f.unsqueeze(3), groups=channels)
    return x[:, :, ::down, ::down]


def upsample2d(x, f, up=2):
    """Upsample by `up` with an FIR filter, keeping the signal centred (NVlabs' upsample2d)."""
    taps = f.shape[-1]
    return upfirdn2d(x, f, up=up, padding=[(taps + up - 1) // 2, (taps - up) // 2] * 2, gain=up ** 2)


def conv2d_resample(x, w, f=None, up=1, padding=0, groups=1, flip_weight=True):
    """Convolution of `x` `[N, C_in, H, W]` by `w` `[C_out, C_in // groups, k, k]`, upsampling by `up` with the FIR
    filter `f`: NVlabs' conv2d_resample on the generator's paths (no downsampling)."""
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
    """StyleGAN2 modulated convolution (NVlabs' modulated_conv2d) of `x` `[N, C_in, H, W]` by styles `[N, C_in]`,
    plus `noise`. `fused_modconv`: one grouped convolution with per-sample weights, else the activations scaled
    around a shared convolution (the same numbers, faster for large batches and under vmap)."""
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
    """z (and c) -> w, broadcast to `num_ws` copies, with truncation (StyleGAN2 and StyleGAN3)."""

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
