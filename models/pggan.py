"""PGGAN generator, numerically the one of genforce's SeFa `PGGANGenerator`.

Progressive GAN (Karras et al., ICLR 2018) as converted from the official TensorFlow networks: equalised
learning rate, pixel norm in front of every convolution, nearest-neighbour upsampling (or one fused transposed
convolution), leaky ReLU, and a 1x1 ToRGB layer at the output resolution: the final level of detail (lod 0).

PGGAN has no mapping network: `mapping` returns the pixel-normalised `z` (the label appended, as genforce does) as a
single `w`, `ws [N, 1, z_dim + c_dim]`, so editing `ws` gives what genforce's `G(code)` gives for the edited code.
Truncation arguments are accepted and ignored.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from . import ops
from .base import Generator


@dataclass
class PGGANConfig:
    """Everything needed to rebuild a PGGAN generator (trusted: readers check what a file says)."""

    z_dim: int = 512              # Input latent (Z) dimensionality.
    c_dim: int = 0                # Conditioning label dimensionality, 0 = none.
    img_resolution: int = 1024    # Output resolution (a power of two).
    img_channels: int = 3         # Number of output colour channels.
    channel_base: int = 16384     # Feature maps at resolution res: min(channel_base // res, channel_max).
    channel_max: int = 512        # Maximum number of feature maps in any layer.
    fused_scale: bool = False     # Upsample with a fused transposed convolution instead of nearest + conv.
    final_tanh: bool = False      # Squash the output image with tanh.

    def channels(self, res):
        """Number of feature maps at resolution `res`."""
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self):
        return asdict(self)


def pixel_norm(x, eps=1e-8):
    """Normalise every feature vector (dim 1) to unit mean square."""
    return ops.normalize_2nd_moment(x, dim=1, eps=eps)


def conv2d(x, weight, bias=None, padding=1, up=False, fused_scale=False):
    """Convolution of `x` `[N, C_in, H, W]`, after 2x nearest upsampling with `up`; with `fused_scale`, both in one
    stride-2 transposed convolution, as the TF `upscale2d_conv2d`."""
    if up and fused_scale:
        w = F.pad(weight, [1, 1, 1, 1])
        w = w[:, :, 1:, 1:] + w[:, :, :-1, 1:] + w[:, :, 1:, :-1] + w[:, :, :-1, :-1]  # [C_out, C_in, k+1, k+1]
        return F.conv_transpose2d(x, w.transpose(0, 1), bias, stride=2, padding=1)
    if up:
        x = F.interpolate(x, scale_factor=2, mode='nearest')
    return F.conv2d(x, weight, bias, padding=padding)


class ConvLayer(nn.Module):
    """Pixel norm, [2x upsampling,] equalised-lr convolution, bias, [leaky ReLU]."""

    def __init__(self,
                 in_channels,           # Number of input channels.
                 out_channels,          # Number of output channels.
                 kernel_size=3,         # Convolution kernel size.
                 padding=1,             # Zero padding of the convolution.
                 up=False,              # Upsample 2x before the convolution?
                 fused_scale=False,     # Fuse the upsampling into a transposed convolution?
                 gain=np.sqrt(2),       # Weight-scaling gain.
                 activation='lrelu',    # 'lrelu' or 'linear'.
                 ):
        super().__init__()
        self.padding = padding
        self.up = up
        self.fused_scale = fused_scale
        self.activation = activation
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = gain / np.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x):
        x = conv2d(pixel_norm(x), self.weight * self.weight_gain, self.bias, self.padding, self.up, self.fused_scale)
        return F.leaky_relu(x, 0.2) if self.activation == 'lrelu' else x


class SynthesisNetwork(nn.Module):
    """Normalised code `[N, 1, w_dim]` -> image."""

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.w_dim = config.z_dim + config.c_dim
        resolutions = [2 ** k for k in range(2, config.img_resolution.bit_length())]
        self.num_layers = 2 * len(resolutions)
        for idx, res in enumerate(resolutions):
            channels = config.channels(res)
            if res == 4:  # The dense layer, written as a 4x4 convolution of a 1x1 input.
                first = ConvLayer(self.w_dim, channels, kernel_size=4, padding=3)
            else:
                first = ConvLayer(config.channels(res // 2), channels, up=True, fused_scale=config.fused_scale)
            setattr(self, f'layer{2 * idx}', first)
            setattr(self, f'layer{2 * idx + 1}', ConvLayer(channels, channels))
        self.torgb = ConvLayer(config.channels(config.img_resolution), config.img_channels, kernel_size=1,
                               padding=0, gain=1, activation='linear')

    def forward(self, ws, noise_mode='const'):
        """Render `ws` `[N, 1, w_dim]` (or `[N, w_dim]`) into images `[N, C, H, W]`; PGGAN has no noise."""
        x = ws.to(torch.float32).reshape(ws.shape[0], self.w_dim, 1, 1)
        for idx in range(self.num_layers):
            x = getattr(self, f'layer{idx}')(x)
        img = self.torgb(x)
        return torch.tanh(img) if self.config.final_tanh else img


class PGGANGenerator(Generator):
    """PGGAN generator following the toolkit's generator contract (`models.base`; see the module docstring)."""

    family = 'pggan'
    has_mapping = False
    has_noise = False
    has_truncation = False
    has_truncation_cutoff = False

    def __init__(self, config):
        super().__init__(config, config.z_dim, config.c_dim, config.z_dim + config.c_dim, config.img_resolution,
                         config.img_channels)
        self.num_ws = 1
        self.synthesis = SynthesisNetwork(config)

    def sefa_weights(self, layers):
        """The first layer's kernel `[C, w_dim, 4, 4]`, flipped and arranged as `[w_dim, 16 C]` (genforce)."""
        (_, name, module), = self.style_layers()
        weight = module.weight.detach().float()  # [C, w_dim, 4, 4]
        return [(name, weight.flip(2, 3).permute(1, 0, 2, 3).flatten(1))]  # [w_dim, 16 C]

    def mapping(self, z, c=None, truncation_psi=1, truncation_cutoff=None):
        """Pixel-normalised `z` `[N, z_dim]` (label `c` `[N, c_dim]` appended) as `ws` `[N, 1, w_dim]`."""
        w = pixel_norm(z.to(torch.float32))  # [N, z_dim]
        if self.c_dim:
            w = torch.cat([w, c.to(torch.float32)], dim=1)
        return w.unsqueeze(1)  # [N, 1, w_dim]

    def style_layers(self):
        """The one layer that reads the latent code: the first (dense) layer, `weight` `[channels, w_dim, 4, 4]`."""
        return [(0, 'synthesis.layer0', self.synthesis.layer0)]
