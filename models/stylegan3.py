"""StyleGAN3 generator (configs T and R), numerically the one of NVlabs' stylegan3.

Names follow `training.networks_stylegan3.Generator`, so an NVlabs state dict loads as it is, less the
`up_filter`/`down_filter` buffers, designed again from the config. Computation is float32 and follows NVlabs'
reference (`*_ref`) paths; nothing is done in place on tensors that carry gradients, so `torch.func.jvp` / `vmap`
work through the whole generator. `synthesis.input.transform` is the inverse of the user transform of the output
image, as in NVlabs' `gen_images.py`.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .base import Generator


@dataclass
class StyleGAN3Config:
    """Everything needed to rebuild a StyleGAN3 generator; defaults are NVlabs' (config T)."""

    z_dim: int = 512                      # Input latent (Z) dimensionality.
    w_dim: int = 512                      # Intermediate latent (W) dimensionality.
    c_dim: int = 0                        # Conditioning label dimensionality, 0 = none.
    img_resolution: int = 1024            # Output resolution.
    img_channels: int = 3                 # Number of output colour channels.
    mapping_layers: int = 2               # Number of mapping layers.
    mapping_lr_multiplier: float = 0.01   # Learning-rate multiplier of the mapping layers.
    mapping_layer_features: int = None    # Width of the hidden mapping layers, None = w_dim.
    mapping_embed_features: int = None    # Label embedding width, None = w_dim.
    channel_base: int = 32768             # Overall multiplier for the number of channels.
    channel_max: int = 512                # Maximum number of channels in any layer.
    num_layers: int = 14                  # Layers, excluding the Fourier features and ToRGB.
    num_critical: int = 2                 # Number of critically sampled layers at the end.
    first_cutoff: float = 2               # Cutoff frequency of the first layer (f_{c,0}).
    first_stopband: float = 2 ** 2.1      # Minimum stopband of the first layer (f_{t,0}).
    last_stopband_rel: float = 2 ** 0.3   # Minimum stopband of the last layer, relative to its cutoff.
    margin_size: int = 10                 # Number of additional pixels outside the image.
    output_scale: float = 0.25            # Scale factor of the output image.
    conv_kernel: int = 3                  # Convolution kernel size (1 for config R).
    filter_size: int = 6                  # Low-pass filter taps per unit of the lower sampling rate.
    lrelu_upsampling: int = 2             # Relative sampling rate of the leaky ReLU.
    use_radial_filters: bool = False      # Radially symmetric downsampling filters (config R).
    conv_clamp: float = 256               # Clamp layer outputs to +-X, None = no clamping.
    magnitude_ema_beta: float = 0.999     # Decay of the input magnitude average (training only).
    num_fp16_res: int = 4                 # Recorded from the checkpoint; computation is float32.

    def __post_init__(self):
        integers = ('z_dim', 'w_dim', 'img_channels', 'mapping_layers', 'channel_base', 'channel_max',
                    'num_layers', 'conv_kernel', 'filter_size', 'lrelu_upsampling')
        rules = {name: (int(getattr(self, name)) == getattr(self, name) > 0, 'a positive integer')
                 for name in integers}  # field: (valid, what it must be)
        rules.update(img_resolution=(int(self.img_resolution) == self.img_resolution >= 4, 'an integer >= 4'),
                     c_dim=(self.c_dim >= 0, '>= 0'),
                     num_critical=(0 <= self.num_critical < self.num_layers, 'in [0, num_layers)'))
        for name, (valid, rule) in rules.items():
            if not valid:
                raise ValueError(f'{name} must be {rule}, got {getattr(self, name)!r}')

    @property
    def num_ws(self):
        return self.num_layers + 2

    def to_dict(self):
        return asdict(self)


# ----------------------------------------------------------------------------
# Filters, layer geometry and the user transform.

def design_lowpass_filter(numtaps, cutoff, width, fs, radial=False):
    """Low-pass filter as NVlabs' `SynthesisLayer.design_lowpass_filter`: None for `numtaps == 1`, separable
    Kaiser taps `[numtaps]`, or a radial jinc-based filter `[numtaps, numtaps]`, float32."""
    if numtaps == 1:
        return None
    import scipy.signal  # imported here: it takes a second and a half, and only StyleGAN3 needs it
    import scipy.special
    if not radial:
        f = scipy.signal.firwin(numtaps=numtaps, cutoff=cutoff, width=width, fs=fs)
        return torch.as_tensor(f, dtype=torch.float32)
    x = (np.arange(numtaps) - (numtaps - 1) / 2) / fs
    r = np.hypot(*np.meshgrid(x, x))
    f = scipy.special.j1(2 * cutoff * (np.pi * r)) / (np.pi * r)
    beta = scipy.signal.kaiser_beta(scipy.signal.kaiser_atten(numtaps, width / (fs / 2)))
    window = np.kaiser(numtaps, beta)
    f = f * np.outer(window, window)
    f = f / np.sum(f)
    return torch.as_tensor(f, dtype=torch.float32)


@dataclass(frozen=True)
class LayerSpec:
    """Geometry of one synthesis layer, as NVlabs' `SynthesisNetwork` lays it out."""

    idx: int
    name: str                  # NVlabs' name, L{idx}_{out_size}_{out_channels}.
    is_torgb: bool
    is_critically_sampled: bool
    in_channels: int
    out_channels: int
    in_size: int
    out_size: int
    in_sampling_rate: int
    out_sampling_rate: int
    tmp_sampling_rate: int
    in_cutoff: float
    out_cutoff: float
    in_half_width: float
    out_half_width: float
    conv_kernel: int
    up_factor: int
    up_taps: int
    down_factor: int
    down_taps: int
    down_radial: bool
    padding: tuple             # (x0, x1, y0, y1) with respect to the upsampled image.

    def up_filter(self):
        return design_lowpass_filter(self.up_taps, self.in_cutoff, self.in_half_width * 2,
                                     self.tmp_sampling_rate)

    def down_filter(self):
        return design_lowpass_filter(self.down_taps, self.out_cutoff, self.out_half_width * 2,
                                     self.tmp_sampling_rate, radial=self.down_radial)


@dataclass(frozen=True)
class InputSpec:
    """Geometry of the Fourier-feature input."""

    channels: int
    size: int
    sampling_rate: int
    bandwidth: float


def synthesis_specs(config):
    """Layer geometry of a config: `(InputSpec, [LayerSpec] * (num_layers + 1))`."""
    res = config.img_resolution
    n = config.num_layers
    last_cutoff = res / 2
    last_stopband = last_cutoff * config.last_stopband_rel
    exponents = np.minimum(np.arange(n + 1) / (n - config.num_critical), 1)
    cutoffs = config.first_cutoff * (last_cutoff / config.first_cutoff) ** exponents
    stopbands = config.first_stopband * (last_stopband / config.first_stopband) ** exponents
    sampling_rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, res))))
    half_widths = np.maximum(stopbands, sampling_rates / 2) - cutoffs
    sizes = sampling_rates + config.margin_size * 2
    sizes[-2:] = res
    channels = np.rint(np.minimum((config.channel_base / 2) / cutoffs, config.channel_max))
    channels[-1] = config.img_channels

    input_spec = InputSpec(channels=int(channels[0]), size=int(sizes[0]),
                           sampling_rate=int(sampling_rates[0]), bandwidth=float(cutoffs[0]))
    layers = []
    for idx in range(n + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == n
        is_critical = idx >= n - config.num_critical
        in_rate, out_rate = int(sampling_rates[prev]), int(sampling_rates[idx])
        tmp_rate = max(in_rate, out_rate) * (1 if is_torgb else config.lrelu_upsampling)
        up_factor = int(np.rint(tmp_rate / in_rate))
        down_factor = int(np.rint(tmp_rate / out_rate))
        assert in_rate * up_factor == tmp_rate == out_rate * down_factor  # rates are powers of two
        up_taps = config.filter_size * up_factor if up_factor > 1 and not is_torgb else 1
        down_taps = config.filter_size * down_factor if down_factor > 1 and not is_torgb else 1
        kernel = 1 if is_torgb else config.conv_kernel
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        pad_total = (out_size - 1) * down_factor + 1              # size before downsampling
        pad_total -= (in_size + kernel - 1) * up_factor           # size after upsampling
        pad_total += up_taps + down_taps - 2                      # shrinkage by the filters
        pad_lo = (pad_total + up_factor) // 2                     # symmetric interpretation
        pad_hi = pad_total - pad_lo
        out_channels = int(channels[idx])
        layers.append(LayerSpec(
            idx=idx, name=f'L{idx}_{out_size}_{out_channels}', is_torgb=is_torgb,
            is_critically_sampled=is_critical, in_channels=int(channels[prev]),
            out_channels=out_channels, in_size=in_size, out_size=out_size,
            in_sampling_rate=in_rate, out_sampling_rate=out_rate, tmp_sampling_rate=tmp_rate,
            in_cutoff=float(cutoffs[prev]), out_cutoff=float(cutoffs[idx]),
            in_half_width=float(half_widths[prev]), out_half_width=float(half_widths[idx]),
            conv_kernel=kernel, up_factor=up_factor, up_taps=up_taps, down_factor=down_factor,
            down_taps=down_taps, down_radial=bool(config.use_radial_filters and not is_critical),
            padding=(int(pad_lo), int(pad_hi), int(pad_lo), int(pad_hi))))
    return input_spec, layers


def input_grid(spec):
    """Sampling grid of the Fourier features `[1, size, size, 2]` (NVlabs' `SynthesisInput`)."""
    theta = torch.eye(2, 3)
    theta[0, 0] = 0.5 * spec.size / spec.sampling_rate
    theta[1, 1] = 0.5 * spec.size / spec.sampling_rate
    return F.affine_grid(theta.unsqueeze(0), [1, 1, spec.size, spec.size], align_corners=False)


def make_transform(translate=(0, 0), angle=0):
    """Rotation by `angle` degrees and translation, `[3, 3]` float64, as NVlabs' `gen_images.make_transform`."""
    s, c = np.sin(angle / 360.0 * np.pi * 2), np.cos(angle / 360.0 * np.pi * 2)
    return np.array([[c, s, translate[0]], [-s, c, translate[1]], [0, 0, 1]], dtype=np.float64)


# ----------------------------------------------------------------------------
# Ops of StyleGAN3 layers.

def prenormalize(weight, styles):
    """`(weight, styles, style RMS^-1)`: the weights normalised per output map and the styles as a whole, by RMS."""
    style_rms = styles.square().mean().rsqrt()
    return weight * weight.square().mean([1, 2, 3], keepdim=True).rsqrt(), styles * style_rms, style_rms


def demodulation(weight, styles):
    """`(dcoefs [N, C_out], energy [C_out, C_in])`: demodulation coefficients from the weights' per-tap energy."""
    energy = weight.square().sum(dim=[2, 3])
    return (styles.square().matmul(energy.t()) + 1e-8).rsqrt(), energy


def modulated_conv2d(x, weight, styles, demodulate=True, padding=0, input_gain=None, fused_modconv=True):
    """StyleGAN3's modulated convolution (NVlabs' `modulated_conv2d`) of `x` `[N, C_in, H, W]` by styles `[N, C_in]`;
    `input_gain` scales the input channels. `fused_modconv`: one grouped convolution with per-sample weights (as
    NVlabs), else the activations scaled around a shared convolution (faster for large batches and under vmap)."""
    batch = x.shape[0]
    out_channels, in_channels, kh, kw = weight.shape
    if demodulate:
        weight, styles, _ = prenormalize(weight, styles)
    if input_gain is not None:
        input_gain = input_gain.expand(batch, in_channels)  # [N, C_in]

    if not fused_modconv:
        dcoefs = None
        if demodulate:
            dcoefs, _ = demodulation(weight, styles)
        scale = styles if input_gain is None else styles * input_gain
        x = F.conv2d(x * scale.reshape(batch, -1, 1, 1), weight, padding=padding)
        if dcoefs is not None:
            x = x * dcoefs.reshape(batch, -1, 1, 1)
        return x

    w = weight.unsqueeze(0) * styles.unsqueeze(1).unsqueeze(3).unsqueeze(4)  # [N, C_out, C_in, k, k]
    if demodulate:
        dcoefs = (w.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # [N, C_out]
        w = w * dcoefs.unsqueeze(2).unsqueeze(3).unsqueeze(4)
    if input_gain is not None:
        w = w * input_gain.unsqueeze(1).unsqueeze(3).unsqueeze(4)
    x = x.reshape(1, -1, *x.shape[2:])
    w = w.reshape(-1, in_channels, kh, kw)
    x = F.conv2d(x, w.to(x.dtype), padding=padding, groups=batch)
    return x.reshape(batch, -1, *x.shape[2:])


def filtered_lrelu(x, fu=None, fd=None, b=None, up=1, down=1, padding=0, gain=np.sqrt(2), slope=0.2,
                   clamp=None):
    """Bias, upsample with `fu`, leaky ReLU, clamp, downsample with `fd`: NVlabs' `_filtered_lrelu_ref`."""
    x = ops.bias_act(x, b)
    x = ops.upfirdn2d(x, fu, up=up, padding=padding, gain=up ** 2)
    # clamp(lrelu(x) * gain, +-clamp) = gain * clamp(lrelu(x), +-clamp / gain): the gain rides
    # on the down filter instead of costing a pass over the largest tensor of the network.
    inplace = not x.requires_grad  # x is ours; in place spares allocating the largest tensor twice
    x = F.leaky_relu(x, slope, inplace=inplace)
    if clamp is not None:
        x = x.clamp_(-clamp / gain, clamp / gain) if inplace else x.clamp(-clamp / gain, clamp / gain)
    return ops.upfirdn2d(x, fd, down=down, gain=gain)


# ----------------------------------------------------------------------------
# Networks.

class SynthesisInput(nn.Module):
    """Fourier features, rotated and translated by `w` and by the user `transform`."""

    def __init__(self,
                 w_dim,     # Intermediate latent (W) dimensionality.
                 spec,      # InputSpec: channels, size, sampling rate, bandwidth.
                 ):
        super().__init__()
        self.w_dim = w_dim
        self.channels = spec.channels
        self.size = spec.size
        self.sampling_rate = spec.sampling_rate
        self.bandwidth = spec.bandwidth

        # Random frequencies from a uniform 2D disc, random phases (replaced by the checkpoint's).
        freqs = torch.randn([self.channels, 2])
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * self.bandwidth
        phases = torch.rand([self.channels]) - 0.5

        self.weight = nn.Parameter(torch.randn([self.channels, self.channels]))
        self.affine = ops.FullyConnectedLayer(w_dim, 4)  # (r_c, r_s, t_x, t_y)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer('transform', torch.eye(3, 3))  # Inverse user transform of the image.
        self.register_buffer('freqs', freqs)                # [channels, 2]
        self.register_buffer('phases', phases)              # [channels]

        self.register_buffer('grid', input_grid(spec), persistent=False)  # [1, size, size, 2]

    def forward(self, w):
        t = self.affine(w)  # [N, 4]
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        cos, sin, tx, ty = t.unbind(dim=1)
        one, zero = torch.ones_like(cos), torch.zeros_like(cos)
        m_r = torch.stack([cos, -sin, zero, sin, cos, zero, zero, zero, one], dim=1).reshape(-1, 3, 3)
        m_t = torch.stack([one, zero, -tx, zero, one, -ty, zero, zero, one], dim=1).reshape(-1, 3, 3)
        transforms = m_r @ m_t @ self.transform.unsqueeze(0)  # [N, 3, 3]

        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ transforms[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ transforms[:, :2, :2]  # [N, channels, 2]
        amplitudes = (1 - (freqs.norm(dim=2) - self.bandwidth)
                      / (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)  # [N, channels]

        x = (self.grid.unsqueeze(3) @ freqs.permute(0, 2, 1).unsqueeze(1).unsqueeze(2)).squeeze(3)
        x = x + phases.unsqueeze(1).unsqueeze(2)  # [N, H, W, channels]
        x = torch.sin(x * (np.pi * 2))
        x = x * amplitudes.unsqueeze(1).unsqueeze(2)
        x = x @ (self.weight / np.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2)  # [N, channels, H, W]


class SynthesisLayer(nn.Module):
    """Modulated convolution and filtered leaky ReLU (or the final ToRGB)."""

    def __init__(self,
                 w_dim,             # Intermediate latent (W) dimensionality.
                 spec,              # LayerSpec: channels, sizes, rates, cutoffs, filters, padding.
                 conv_clamp=256,    # Clamp the output to +-X, None = no clamping.
                 ):
        super().__init__()
        self.spec = spec
        self.is_torgb = spec.is_torgb
        self.in_channels = spec.in_channels
        self.conv_clamp = conv_clamp
        self.affine = ops.FullyConnectedLayer(w_dim, spec.in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([spec.out_channels, spec.in_channels,
                                                spec.conv_kernel, spec.conv_kernel]))
        self.bias = nn.Parameter(torch.zeros([spec.out_channels]))
        self.register_buffer('magnitude_ema', torch.ones([]))
        self.register_buffer('up_filter', spec.up_filter(), persistent=False)
        self.register_buffer('down_filter', spec.down_filter(), persistent=False)
        self.style_gain = 1 / np.sqrt(spec.in_channels * spec.conv_kernel ** 2) if spec.is_torgb else 1
        self.act_gain, self.slope = (1, 1) if spec.is_torgb else (np.sqrt(2), 0.2)  # ToRGB: linear

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.style_gain  # [N, in_channels]
        x = modulated_conv2d(x, self.weight, styles, demodulate=not self.is_torgb,
                             padding=self.spec.conv_kernel - 1, input_gain=self.magnitude_ema.rsqrt(),
                             fused_modconv=fused_modconv)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, up=self.spec.up_factor,
                              down=self.spec.down_factor, padding=self.spec.padding, gain=self.act_gain,
                              slope=self.slope, clamp=self.conv_clamp)

    def extra_repr(self):
        s = self.spec
        return (f'in={s.in_channels}x{s.in_size}, out={s.out_channels}x{s.out_size}, '
                f'rates={s.in_sampling_rate}->{s.tmp_sampling_rate}->{s.out_sampling_rate}, '
                f'cutoffs={s.in_cutoff:g}->{s.out_cutoff:g}, radial={s.down_radial}')


class SynthesisNetwork(nn.Module):
    """ws -> image."""

    def __init__(self, config):
        super().__init__()
        self.w_dim = config.w_dim
        self.num_ws = config.num_ws
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        self.output_scale = config.output_scale
        input_spec, self.layer_specs = synthesis_specs(config)
        self.input = SynthesisInput(config.w_dim, input_spec)
        self.layer_names = []
        for spec in self.layer_specs:
            setattr(self, spec.name, SynthesisLayer(config.w_dim, spec, conv_clamp=config.conv_clamp))
            self.layer_names.append(spec.name)

    def forward(self, ws, noise_mode='const', fused_modconv=None, force_fp32=True):
        """Render `ws` `[N, num_ws, w_dim]` into images `[N, C, H, W]`; `noise_mode` and `force_fp32` are accepted
        as NVlabs' code accepts them, `fused_modconv=None` picks the faster variant for the batch size."""
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        if fused_modconv is None:
            fused_modconv = ws.shape[0] <= 4
        ws = ws.to(torch.float32).unbind(dim=1)
        x = self.input(ws[0])
        for name, w in zip(self.layer_names, ws[1:]):
            x = getattr(self, name)(x, w, fused_modconv=fused_modconv)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x


class StyleGAN3Generator(Generator):
    """StyleGAN3 generator following the toolkit's generator contract (`models.base`)."""

    family = 'stylegan3'
    has_noise = False
    has_transform = True
    has_forward_mode = True
    tangent_copies = 3  # its forward-mode pass keeps about three copies of the largest (upsampled) map

    def __init__(self, config):
        super().__init__(config, config.z_dim, config.c_dim, config.w_dim, config.img_resolution,
                         config.img_channels)
        self.num_ws = config.num_ws
        self.synthesis = SynthesisNetwork(config)
        self.mapping = ops.MappingNetwork(config, config.num_ws)

    @property
    def variant(self):
        return 'stylegan3r' if self.config.use_radial_filters else 'stylegan3t'

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **kwargs)

    def synthesis_kwargs(self, noise_mode='const', truncation_psi=1, for_tangents=False):
        kwargs = dict(noise_mode=noise_mode)
        if for_tangents:
            kwargs['fused_modconv'] = False  # scaled activations and a shared convolution: cheaper tangents
        return kwargs

    @torch.no_grad()
    def set_transform(self, tx=0.0, ty=0.0, rotate=0.0):
        """Translate the output by `(tx, ty)` and rotate it by `rotate` degrees (NVlabs' gen_images)."""
        m = np.linalg.inv(make_transform((tx, ty), rotate))
        self.synthesis.input.transform.copy_(torch.from_numpy(m))

    def style_layers(self):
        """The modulated layers in `ws` order: `[(ws_index, name, FullyConnectedLayer)]`; `L{idx}` reads
        `ws[:, idx + 1]` (the Fourier features' affine, `ws[:, 0]`, is not a style)."""
        return [(spec.idx + 1, f'synthesis.{spec.name}', getattr(self.synthesis, spec.name).affine)
                for spec in self.synthesis.layer_specs]

    def forward_mode_pass(self, ws, noise_mode='const'):
        from .forward_mode import linearize_stylegan3  # imported here: the rules use this module's ops
        return linearize_stylegan3(self.synthesis, ws, noise_mode)[1]

    def largest_feature_map(self):
        """Channels times the upsampled size inside each layer's filtered leaky ReLU, the largest."""
        return max(spec.out_channels * (spec.in_size * spec.up_factor + sum(spec.padding[:2])) ** 2
                   for spec in self.synthesis.layer_specs)
