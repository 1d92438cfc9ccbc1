"""StyleGAN2 generator, numerically the one of NVlabs' stylegan2-ada-pytorch.

Module and parameter names follow `training.networks.Generator`, so an NVlabs
state dict loads as it is (less the `resample_filter` buffers, which are
rebuilt from the config). Computation is float32; `num_fp16_res` and
`conv_clamp` are kept so that official checkpoints give official numbers.
"""

from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from . import ops
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
        if not isinstance(res, int) or res < 4 or res & (res - 1):
            raise ValueError(f'img_resolution must be a power of two >= 4, got {res!r}')
        if self.architecture not in ('orig', 'skip', 'resnet'):
            raise ValueError(f"architecture must be 'orig', 'skip' or 'resnet', got {self.architecture!r}")
        for name in ('z_dim', 'w_dim', 'img_channels', 'mapping_layers', 'channel_base', 'channel_max'):
            if int(getattr(self, name)) <= 0:
                raise ValueError(f'{name} must be positive, got {getattr(self, name)!r}')

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

    def _noise(self, batch, device, noise_mode):
        if noise_mode == 'random':
            return torch.randn([batch, 1, self.resolution, self.resolution], device=device) * self.noise_strength
        if noise_mode == 'const':
            return self.noise_const * self.noise_strength
        if noise_mode != 'none':
            raise ValueError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")
        return None

    def forward(self, x, w, noise_mode='const', fused_modconv=True, gain=1):
        styles = self.affine(w)  # [N, in_channels]
        noise = self._noise(x.shape[0], x.device, noise_mode)
        x = ops.modulated_conv2d(x, self.weight, styles, noise=noise, up=self.up, padding=self.padding,
                                 resample_filter=self.resample_filter, flip_weight=(self.up == 1),
                                 fused_modconv=fused_modconv)
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        return ops.bias_act(x, self.bias, act='lrelu', gain=ops.activation_gain('lrelu') * gain,
                            clamp=clamp)

    def linearize(self, x, w, noise_mode='const', gain=1):
        """Output of one sample (`x` `[1, ...]`, `w` `[1, w_dim]`) and the factors of its derivative."""
        styles = self.affine(w)
        y, factors = ops.linearize_modulated_conv2d(x, self.weight, styles, up=self.up, padding=self.padding,
                                                    resample_filter=self.resample_filter,
                                                    flip_weight=(self.up == 1))
        noise = self._noise(x.shape[0], x.device, noise_mode)
        if noise is not None:
            y = y + noise
        clamp = self.conv_clamp * gain if self.conv_clamp is not None else None
        out, slopes = ops.leaky_relu_slopes(y + self.bias.reshape(1, -1, 1, 1), 0.2,
                                            ops.activation_gain('lrelu') * gain, clamp)
        slopes = slopes.contiguous(memory_format=torch.channels_last)
        factors['scale'] = factors['dcoefs'].reshape(1, -1, 1, 1) * slopes  # d out / d y_raw, fixed demodulation
        factors['raw_slopes'] = factors.pop('y_raw') * slopes
        return out, factors

    def push(self, x_t, w_t, factors):
        """Tangent of the output along `x_t` `[K, ...]` and `w_t` `[K, w_dim]` (None = zero)."""
        styles_t = None if w_t is None else self.affine.tangent(w_t)
        y_t = ops.push_modulated_conv2d(x_t, styles_t, self.weight, factors, up=self.up, padding=self.padding,
                                        resample_filter=self.resample_filter, flip_weight=(self.up == 1))
        if y_t is None:
            return None
        out_t = y_t * factors['scale']
        if styles_t is not None:
            d_t = ops.demodulation_tangent(self.weight, factors['styles'], styles_t, factors['dcoefs'])
            out_t = torch.addcmul(out_t, factors['raw_slopes'], d_t.reshape(*d_t.shape, 1, 1))
        return out_t


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

    def linearize(self, x, w):
        styles = self.affine(w) * self.weight_gain
        y, factors = ops.linearize_modulated_conv2d(x, self.weight, styles, demodulate=False)
        out = ops.bias_act(y, self.bias, clamp=self.conv_clamp)
        factors['mask'] = None
        if self.conv_clamp is not None:
            inside = (y + self.bias.reshape(1, -1, 1, 1)).abs() <= self.conv_clamp
            factors['mask'] = inside.contiguous(memory_format=torch.channels_last)
        return out, factors

    def push(self, x_t, w_t, factors):
        styles_t = None if w_t is None else self.affine.tangent(w_t) * self.weight_gain
        y_t = ops.push_modulated_conv2d(x_t, styles_t, self.weight, factors)
        if y_t is not None and factors['mask'] is not None:
            y_t = y_t * factors['mask']
        return y_t


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

    def push(self, x_t, gain=1):
        """Tangent of the output (the layer is affine in `x`)."""
        if x_t is None:
            return None
        x_t = ops.conv2d_resample(x_t, self.weight * self.weight_gain, f=self.resample_filter, up=self.up,
                                  padding=self.padding, flip_weight=(self.up == 1))
        return x_t * gain if gain != 1 else x_t


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

    def linearize(self, x, img, ws, noise_mode='const'):
        """`forward` for one sample (`ws` `[1, n, w_dim]`), keeping each layer's derivative factors."""
        w_iter = iter(ws.unbind(dim=1))
        factors = {}
        if self.in_channels == 0:
            x, factors['conv1'] = self.conv1.linearize(self.const.unsqueeze(0), next(w_iter), noise_mode)
        elif self.architecture == 'resnet':
            y = self.skip(x, gain=np.sqrt(0.5))
            x, factors['conv0'] = self.conv0.linearize(x, next(w_iter), noise_mode)
            x, factors['conv1'] = self.conv1.linearize(x, next(w_iter), noise_mode, gain=np.sqrt(0.5))
            x = y + x
        else:
            x, factors['conv0'] = self.conv0.linearize(x, next(w_iter), noise_mode)
            x, factors['conv1'] = self.conv1.linearize(x, next(w_iter), noise_mode)
        if img is not None:
            img = ops.upsample2d(img, self.resample_filter)
        if self.is_last or self.architecture == 'skip':
            y, factors['torgb'] = self.torgb.linearize(x, next(w_iter))
            img = img + y if img is not None else y
        return x, img, factors

    def push(self, x_t, img_t, ws_t, factors):
        """Tangents of `(x, img)` along `x_t`, `img_t` and one `[K, w_dim]` tangent (or None) per ws row."""
        w_iter = iter(ws_t)
        if self.in_channels == 0:
            x_t = self.conv1.push(None, next(w_iter), factors['conv1'])
        elif self.architecture == 'resnet':
            y_t = self.skip.push(x_t, gain=np.sqrt(0.5))
            x_t = self.conv0.push(x_t, next(w_iter), factors['conv0'])
            x_t = _add_tangents(y_t, self.conv1.push(x_t, next(w_iter), factors['conv1']))
        else:
            x_t = self.conv0.push(x_t, next(w_iter), factors['conv0'])
            x_t = self.conv1.push(x_t, next(w_iter), factors['conv1'])
        if img_t is not None:
            img_t = ops.upsample2d(img_t, self.resample_filter)
        if self.is_last or self.architecture == 'skip':
            img_t = _add_tangents(img_t, self.torgb.push(x_t, next(w_iter), factors['torgb']))
        return x_t, img_t


def _add_tangents(a, b):
    """Sum of two tangents, either of which may be None (zero)."""
    if a is None:
        return b
    if b is None:
        return a
    return a + b


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
        """Render `ws` `[N, num_ws, w_dim]` into images `[N, C, H, W]`.

        `fused_modconv=None` picks the fused grouped convolution for small batches
        and the shared convolution for large ones (same numbers).
        """
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f'ws must have shape [N, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}')
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

    def linearize(self, ws, noise_mode='const'):
        """Image of one sample and the factors of its derivative w.r.t. `ws`, for `push`.

        Together, `linearize` and `push` are a hand-written forward-mode pass:
        the same numbers as `torch.func.jvp` of `forward` under `vmap`, at a
        fraction of the cost, with the primal pass run once per sample.

        Args:
            ws: `[1, num_ws, w_dim]`.

        Returns:
            `(img [1, C, H, W], factors)`.
        """
        if ws.ndim != 3 or ws.shape[0] != 1 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ValueError(f'ws must have shape [1, {self.num_ws}, {self.w_dim}], got {tuple(ws.shape)}')
        ws = ws.to(torch.float32)
        x = img = None
        factors = []
        w_idx = 0
        for res in self.block_resolutions:
            block = getattr(self, f'b{res}')
            x, img, block_factors = block.linearize(x, img, ws.narrow(1, w_idx, block.num_conv + block.num_torgb),
                                                    noise_mode)
            factors.append(block_factors)
            w_idx += block.num_conv
        return img, factors

    def push(self, ws_t, factors):
        """Derivative of the image `[K, C, H, W]` along K tangents of `ws`.

        Args:
            ws_t: `num_ws` tangents, each `[K, w_dim]` or None (that row does not move).
            factors: From `linearize`.
        """
        if len(ws_t) != self.num_ws:
            raise ValueError(f'ws_t must hold {self.num_ws} tangents (or None), got {len(ws_t)}')
        x_t = img_t = None
        w_idx = 0
        for res, block_factors in zip(self.block_resolutions, factors):
            block = getattr(self, f'b{res}')
            x_t, img_t = block.push(x_t, img_t, ws_t[w_idx:w_idx + block.num_conv + block.num_torgb], block_factors)
            w_idx += block.num_conv
        if img_t is None:
            count = next((t.shape[0] for t in ws_t if t is not None), 0)
            res = self.img_resolution
            img_t = torch.zeros([count, self.img_channels, res, res], device=self.b4.const.device)
        return img_t


class StyleGAN2Generator(Generator):
    """StyleGAN2 generator following the toolkit's generator contract (`models.base`)."""

    family = 'stylegan2'
    has_forward_mode = True

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
        return ops.lazy_forward_mode_pass(self.synthesis, ws, noise_mode)

    def largest_feature_map(self):
        return max(self.config.channels(res) * res * res for res in self.synthesis.block_resolutions)

    def style_layers(self):
        """The affine (style) layers in `ws` order: `[(ws_index, name, FullyConnectedLayer)]`.

        Index `i` is the `w` that feeds the layer; the last ToRGB shares the index
        after the last conv, the other ToRGB layers share their block's next index.
        """
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
