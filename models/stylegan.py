"""StyleGAN (v1) generator, numerically the one of genforce's SeFa `StyleGANGenerator`.

Synthesis: a learned 4x4 constant, then per layer [upsampling,] 3x3 convolution, [blur], noise, bias, leaky ReLU,
instance norm and style modulation `x * (1 + s_scale) + s_bias`; upsampling is fused into a transposed convolution
from 128x128 up (`fused_scale='auto'`). Layer `i` reads `ws[:, i]`. `truncation_cutoff=None` truncates all layers, as
in NVlabs' code (genforce's `trunc_layers=None` means none; pass `truncation_psi=1` for that).
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .base import Generator
from .pggan import conv2d, pixel_norm

BLUR_FILTER = [1, 2, 1]
FUSED_SCALE_MIN_RES = 128  # 'auto' fuses upsampling and convolution from this resolution on.
NOISE_MODES = ('const', 'random', 'none')


@dataclass
class StyleGANConfig:
    """Everything needed to rebuild a StyleGAN (v1) generator (trusted: readers check what a file says)."""

    z_dim: int = 512                     # Input latent (Z) dimensionality.
    w_dim: int = 512                     # Intermediate latent (W) dimensionality.
    c_dim: int = 0                       # Conditioning label dimensionality, 0 = none.
    img_resolution: int = 1024           # Output resolution (a power of two).
    img_channels: int = 3                # Number of output colour channels.
    mapping_layers: int = 8              # Number of mapping layers.
    mapping_features: int = 512          # Width of the hidden mapping layers.
    mapping_lr_multiplier: float = 0.01  # Learning-rate multiplier of the mapping layers.
    channel_base: int = 16384            # Feature maps at resolution res: min(channel_base // res, channel_max).
    channel_max: int = 512               # Maximum number of feature maps in any layer.
    fused_scale: bool | str = 'auto'     # True, False, or 'auto' (fused from 128x128 on).
    final_tanh: bool = False             # Squash the output image with tanh.

    @property
    def num_ws(self):
        return 2 * int(np.log2(self.img_resolution)) - 2

    def channels(self, res):
        """Number of feature maps at resolution `res`."""
        return min(self.channel_base // res, self.channel_max)

    def fused_at(self, res):
        """Whether the upsampling layer producing resolution `res` is fused."""
        return res >= FUSED_SCALE_MIN_RES if self.fused_scale == 'auto' else bool(self.fused_scale)

    def to_dict(self):
        return asdict(self)


class DenseLayer(nn.Module):
    """Equalised-lr dense layer of the TF StyleGAN: gain in the weight scale, plain leaky ReLU."""

    def __init__(self,
                 in_features,       # Number of input features.
                 out_features,      # Number of output features.
                 lr_multiplier=1,   # Learning-rate multiplier (scales weight and bias).
                 gain=np.sqrt(2),   # Weight-scaling gain.
                 ):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_features, in_features]) / lr_multiplier)
        self.bias = nn.Parameter(torch.zeros([out_features]))
        self.weight_gain = gain * lr_multiplier / np.sqrt(in_features)
        self.bias_gain = lr_multiplier

    def forward(self, x):
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        return F.leaky_relu(x, 0.2)


class MappingNetwork(nn.Module):
    """z (and c) -> w, broadcast to `num_ws` copies, with truncation."""

    def __init__(self, config):
        super().__init__()
        self.c_dim = config.c_dim
        self.num_ws = config.num_ws
        self.num_layers = config.mapping_layers
        in_features = config.z_dim * (2 if config.c_dim else 1)
        features = [in_features] + [config.mapping_features] * (self.num_layers - 1) + [config.w_dim]
        if config.c_dim:
            self.embed = nn.Parameter(torch.randn([config.c_dim, config.z_dim]))  # Label embedding matrix.
        for idx in range(self.num_layers):
            layer = DenseLayer(features[idx], features[idx + 1], lr_multiplier=config.mapping_lr_multiplier)
            setattr(self, f'fc{idx}', layer)
        self.register_buffer('w_avg', torch.zeros([config.w_dim]))

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None):
        x = z.to(torch.float32)  # [N, z_dim]
        if self.c_dim:  # c: [N, c_dim]
            x = torch.cat([x, c.to(torch.float32).matmul(self.embed)], dim=1)
        x = pixel_norm(x)
        for idx in range(self.num_layers):
            x = getattr(self, f'fc{idx}')(x)
        ws = x.unsqueeze(1).repeat([1, self.num_ws, 1])  # [N, num_ws, w_dim]
        return ops.truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


def instance_norm(x, eps=1e-8):
    """Normalise every feature map to zero mean and unit mean square."""
    x = x - x.mean(dim=[2, 3], keepdim=True)
    return x * (x.square().mean(dim=[2, 3], keepdim=True) + eps).rsqrt()


class SynthesisLayer(nn.Module):
    """[Upsampling,] 3x3 convolution, [blur,] noise, bias, leaky ReLU, instance norm, style."""

    def __init__(self,
                 in_channels,       # Number of input channels; 0 = no convolution (the constant input).
                 out_channels,      # Number of output channels.
                 w_dim,             # Intermediate latent (W) dimensionality.
                 resolution,        # Output resolution of this layer.
                 up=False,          # Upsample 2x before the convolution (and blur after it)?
                 fused_scale=False,  # Fuse the upsampling into a transposed convolution?
                 ):
        super().__init__()
        self.out_channels = out_channels
        self.resolution = resolution
        self.up = up
        self.fused_scale = fused_scale
        if in_channels:
            self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 3, 3]))
            self.weight_gain = np.sqrt(2) / np.sqrt(in_channels * 9)
        else:
            self.weight = None
        if up:
            self.register_buffer('blur_filter', ops.setup_filter(BLUR_FILTER), persistent=False)
        self.register_buffer('noise_const', torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([out_channels]))  # Per-channel noise weight.
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.affine = ops.FullyConnectedLayer(w_dim, 2 * out_channels)  # -> [scale - 1, bias] per channel.

    def forward(self, x, w, noise_mode='const'):
        if self.weight is not None:
            x = conv2d(x, self.weight * self.weight_gain, up=self.up, fused_scale=self.fused_scale)
            if self.up:
                x = ops.upfirdn2d(x, self.blur_filter, padding=1)
        assert noise_mode in NOISE_MODES, noise_mode
        strength = self.noise_strength.reshape(1, -1, 1, 1)
        if noise_mode == 'const':
            x = x + self.noise_const * strength
        elif noise_mode == 'random':
            x = x + torch.randn([x.shape[0], 1, self.resolution, self.resolution], device=x.device) * strength
        x = F.leaky_relu(x + self.bias.reshape(1, -1, 1, 1), 0.2)
        x = instance_norm(x)
        style = self.affine(w).reshape(-1, 2, self.out_channels, 1, 1)  # [N, 2, C, 1, 1]
        return x * (style[:, 0] + 1) + style[:, 1]


class ToRGBLayer(nn.Module):
    """Equalised-lr 1x1 convolution to colour, plus bias."""

    def __init__(self, in_channels, out_channels):
        super().__init__()
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x):
        return F.conv2d(x, self.weight * self.weight_gain, self.bias)


class SynthesisNetwork(nn.Module):
    """ws -> image."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.num_ws = config.num_ws
        self.const = nn.Parameter(torch.ones([config.channels(4), 4, 4]))
        for idx, res in enumerate(2 ** k for k in range(2, config.img_resolution.bit_length())):
            channels = config.channels(res)
            if res == 4:
                first = SynthesisLayer(0, channels, config.w_dim, res)
            else:
                first = SynthesisLayer(config.channels(res // 2), channels, config.w_dim, res, up=True,
                                       fused_scale=config.fused_at(res))
            setattr(self, f'layer{2 * idx}', first)
            setattr(self, f'layer{2 * idx + 1}', SynthesisLayer(channels, channels, config.w_dim, res))
        self.torgb = ToRGBLayer(config.channels(config.img_resolution), config.img_channels)

    def forward(self, ws, noise_mode='const'):
        """Render `ws` `[N, num_ws, w_dim]` into images `[N, C, H, W]`."""
        ws = ws.to(torch.float32)
        x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])  # [N, C, 4, 4]
        for idx in range(self.num_ws):
            x = getattr(self, f'layer{idx}')(x, ws[:, idx], noise_mode)
        img = self.torgb(x)
        return torch.tanh(img) if self.config.final_tanh else img


class StyleGANGenerator(Generator):
    """StyleGAN (v1) generator following the toolkit's generator contract (`models.base`)."""

    family = 'stylegan'

    def __init__(self, config):
        super().__init__(config, config.z_dim, config.c_dim, config.w_dim, config.img_resolution,
                         config.img_channels)
        self.num_ws = config.num_ws
        self.mapping = MappingNetwork(config)
        self.synthesis = SynthesisNetwork(config)

    def style_layers(self):
        """The style (affine) layers in `ws` order; each `weight` `[2 * channels, w_dim]` is what SeFa factorises."""
        return [(idx, f'synthesis.layer{idx}', getattr(self.synthesis, f'layer{idx}').affine)
                for idx in range(self.num_ws)]
