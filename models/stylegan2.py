"""StyleGAN2 generator, numerically the one of NVlabs' stylegan2-ada-pytorch.

Names follow `training.networks.Generator`, so an NVlabs state dict loads as it is (less the `resample_filter`
buffers). Computation is float32; `num_fp16_res` and `conv_clamp` are kept so that checkpoints give official numbers.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from . import forward_mode, ops
from .base import Generator

RESAMPLE_FILTER = [1, 3, 3, 1]


@dataclass
class StyleGAN2Config:
    """Everything needed to rebuild a StyleGAN2 generator."""

    z_dim: int = 512                    # Input latent (Z) dimensionality.
    w_dim: int = 512                    # Intermediate latent (W) dimensionality.
    c_dim: int = 0                      # Conditioning label dimensionality, 0 = none.
    img_resolution: int = 1024          # Output resolution (power of two, 4..1024+).
    img_channels: int = 3               # Number of output colour channels.
    mapping_layers: int = 8             # Number of mapping layers.
    mapping_lr_multiplier: float = 0.01  # Learning-rate multiplier of the mapping layers.
    mapping_layer_features: int = None  # Width of the mapping layers, None = w_dim.
    mapping_embed_features: int = None  # Label embedding width, None = w_dim.
    channel_base: int = 32768           # Overall multiplier for the number of channels.
    channel_max: int = 512              # Maximum number of channels in any layer.
    conv_clamp: float = None            # Clamp conv outputs to +-X, None = no clamping.
    architecture: str = 'skip'          # 'orig', 'skip' or 'resnet'.
    num_fp16_res: int = 0               # Recorded from the checkpoint; computation is float32.

    def __post_init__(self):
        res = self.img_resolution
        rules = {  # field: (valid, what it must be)
            'img_resolution': (isinstance(res, int) and res >= 4 and not res & (res - 1), 'a power of two >= 4'),
            'architecture': (self.architecture in ('orig', 'skip', 'resnet'), "'orig', 'skip' or 'resnet'"),
            **{name: (int(getattr(self, name)) > 0, 'positive')
               for name in ('z_dim', 'w_dim', 'img_channels', 'mapping_layers', 'channel_base', 'channel_max')}}
        for name, (valid, rule) in rules.items():
            if not valid:
                raise ValueError(f'{name} must be {rule}, got {getattr(self, name)!r}')

    def channels(self, res):
        """Number of feature maps at resolution `res`."""
        return min(self.channel_base // res, self.channel_max)

    def to_dict(self):
        return asdict(self)


class SynthesisLayer(nn.Module):
    """Modulated 3x3 convolution, noise, bias and leaky ReLU."""

    def __init__(self,
                 in_channels,       # Number of input channels.
                 out_channels,      # Number of output channels.
                 w_dim,             # Intermediate latent (W) dimensionality.
                 resolution,        # Output resolution of this layer.
                 up=1,              # Upsampling factor (1 or 2).
                 conv_clamp=None,   # Clamp the output to +-X.
                 kernel_size=3,     # Convolution kernel size.
                 ):
        super().__init__()
        self.resolution = resolution
        self.up = up
        self.conv_clamp = conv_clamp
        self.padding = kernel_size // 2
        self.register_buffer('resample_filter', ops.setup_filter(RESAMPLE_FILTER), persistent=False)
        self.affine = ops.FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.register_buffer('noise_const', torch.randn([resolution, resolution]))
        self.noise_strength = nn.Parameter(torch.zeros([]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))

    def noise_input(self, batch, device, noise_mode):
        """The noise added to the convolution: `noise_mode` 'const', 'random' or 'none' (None)."""
        if noise_mode == 'random':
            return torch.randn([batch, 1, self.resolution, self.resolution], device=device) * self.noise_strength
        return self.noise_const * self.noise_strength if noise_mode == 'const' else None

    def forward(self, x, w, noise_mode='const', fused_modconv=True, gain=1):
        styles = self.affine(w)  # [N, in_channels]
        noise = self.noise_input(x.shape[0], x.device, noise_mode)
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                                 fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias, act='lrelu', gain=ops.activation_gain('lrelu') * gain,
                            clamp=clamp)


class ToRGBLayer(nn.Module):
    """Modulated 1x1 convolution to colour, without demodulation."""

    def __init__(self, in_channels, out_channels, w_dim, conv_clamp=None):
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = ops.FullyConnectedLayer(w_dim, in_channels, bias_init=1)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, 1, 1]))
        self.bias = nn.Parameter(torch.zeros([out_channels]))
        self.weight_gain = 1 / np.sqrt(in_channels)

    def forward(self, x, w, fused_modconv=True):
        styles = self.affine(w) * self.weight_gain  # [N, in_channels]
        x = ops.modulated_conv2d(x, self.weight, styles, demodulate=False, fused_modconv=fused_modconv)
        return ops.bias_act(x, self.bias, clamp=self.conv_clamp)


class Conv2dLayer(nn.Module):
    """Plain equalised-lr convolution (the resnet skip path)."""

    def __init__(self, in_channels, out_channels, kernel_size, bias=True, up=1):
        super().__init__()
        self.up = up
        self.padding = kernel_size // 2
        self.register_buffer('resample_filter', ops.setup_filter(RESAMPLE_FILTER), persistent=False)
        self.weight = nn.Parameter(torch.randn([out_channels, in_channels, kernel_size, kernel_size]))
        self.bias = nn.Parameter(torch.zeros([out_channels])) if bias else None
        self.weight_gain = 1 / np.sqrt(in_channels * kernel_size ** 2)

    def forward(self, x, gain=1):
        x = ops.conv2d_resample(x, self.weight * self.weight_gain, f=self.resample_filter, up=self.up,
                                padding=self.padding, flip_weight=(self.up == 1))
        return ops.bias_act(x, self.bias, gain=gain)


class SynthesisBlock(nn.Module):
    """One resolution: [upsampling conv,] conv, and the ToRGB / skip image path."""

    def __init__(self, in_channels, out_channels, resolution, is_last, config):
        super().__init__()
        self.in_channels = in_channels
        self.resolution = resolution
        self.is_last = is_last
        self.architecture = config.architecture
        self.register_buffer('resample_filter', ops.setup_filter(RESAMPLE_FILTER), persistent=False)
        self.num_conv = 0
        self.num_torgb = 0
        w_dim, clamp = config.w_dim, config.conv_clamp
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn([out_channels, resolution, resolution]))
        else:
            self.conv0 = SynthesisLayer(in_channels, out_channels, w_dim, resolution, up=2, conv_clamp=clamp)
            self.num_conv += 1
        self.conv1 = SynthesisLayer(out_channels, out_channels, w_dim, resolution, conv_clamp=clamp)
        self.num_conv += 1
        if is_last or self.architecture == 'skip':
            self.torgb = ToRGBLayer(out_channels, config.img_channels, w_dim, conv_clamp=clamp)
            self.num_torgb += 1
        if in_channels != 0 and self.architecture == 'resnet':
            self.skip = Conv2dLayer(in_channels, out_channels, kernel_size=1, bias=False, up=2)

    def forward(self, x, img, ws, noise_mode='const', fused_modconv=True):
        # ws: [N, num_conv + num_torgb, w_dim]
        w_iter = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.unsqueeze(0).repeat([ws.shape[0], 1, 1, 1])
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv)
        elif self.architecture == 'resnet':
            y = self.skip(x, gain=np.sqrt(0.5))
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv, gain=np.sqrt(0.5))
            x = y + x
        else:
            x = self.conv0(x, next(w_iter), noise_mode, fused_modconv)
            x = self.conv1(x, next(w_iter), noise_mode, fused_modconv)
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == 'skip':
            y = self.torgb(x, next(w_iter), fused_modconv)
            img = img + y if img is not None else y
        return x, img


class SynthesisNetwork(nn.Module):
    """ws -> image."""

    def __init__(self, config):
        super().__init__()
        self.w_dim = config.w_dim
        self.img_resolution = config.img_resolution
        self.img_channels = config.img_channels
        log2 = int(np.log2(config.img_resolution))
        self.block_resolutions = [2 ** i for i in range(2, log2 + 1)]
        self.num_ws = 0
        for res in self.block_resolutions:
            in_channels = config.channels(res // 2) if res > 4 else 0
            is_last = res == config.img_resolution
            block = SynthesisBlock(in_channels, config.channels(res), res, is_last, config)
            self.num_ws += block.num_conv + (block.num_torgb if is_last else 0)
            setattr(self, f'b{res}', block)

    def forward(self, ws, noise_mode='const', fused_modconv=None):
        """Render `ws` `[N, num_ws, w_dim]` into images `[N, C, H, W]` (`fused_modconv=None`: the faster one)."""
        assert ws.shape[1:] == (self.num_ws, self.w_dim), ws.shape
        ws = ws.to(torch.float32)
        if fused_modconv is None:
            fused_modconv = ws.shape[0] <= 4
        x = img = None
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f'b{res}')
            block_ws = ws.narrow(1, w_idx, block.num_conv + block.num_torgb)
            w_idx += block.num_conv
            x, img = block(x, img, block_ws, noise_mode, fused_modconv)
        return img


class StyleGAN2Generator(Generator):
    """StyleGAN2 generator following the toolkit's generator contract (`models.base`)."""

    family = 'stylegan2'
    has_forward_mode = True
    tangent_copies = 3  # its forward-mode pass keeps two to three copies of the largest map per tangent

    def __init__(self, config):
        super().__init__(config, config.z_dim, config.c_dim, config.w_dim, config.img_resolution,
                         config.img_channels)
        self.synthesis = SynthesisNetwork(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = ops.MappingNetwork(config, self.num_ws)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const', **kwargs):
        ws = self.mapping(z, c, truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)
        return self.synthesis(ws, noise_mode=noise_mode, **kwargs)

    def synthesis_kwargs(self, noise_mode='const', truncation_psi=1, for_tangents=False):
        kwargs = dict(noise_mode=noise_mode)
        if for_tangents:
            kwargs['fused_modconv'] = False  # scaled activations and a shared convolution: cheaper tangents
        return kwargs

    def forward_mode_pass(self, ws, noise_mode='const'):
        return forward_mode.linearize_stylegan2(self.synthesis, ws, noise_mode)[1]

    def largest_feature_map(self):
        return max(self.config.channels(res) * res * res for res in self.synthesis.block_resolutions)

    def style_layers(self):
        """The affine layers in `ws` order: `[(ws_index, name, layer)]` (a ToRGB reads the index after its conv)."""
        layers = []
        w_idx = 0
        for res in self.synthesis.block_resolutions:
            block = getattr(self.synthesis, f'b{res}')
            names = (['conv0'] if block.in_channels else []) + ['conv1']
            for offset, name in enumerate(names):
                layers.append((w_idx + offset, f'synthesis.b{res}.{name}', getattr(block, name).affine))
            if block.num_torgb:
                layers.append((w_idx + block.num_conv, f'synthesis.b{res}.torgb', block.torgb.affine))
            w_idx += block.num_conv
        return layers
