"""BigGAN-deep generator, numerically the one of HuggingFace's `pytorch-pretrained-BigGAN`.

Contract adaptation (see DESIGN.md): `c` is a class vector `[N, num_classes]` or class indices `[N]`.
`mapping(z, c)` returns `ws [N, num_ws, w_dim]`, `num_ws = 1 + len(layers)`, every row `w = cat(z, embed(c))`
(`w_dim = 2 * z_dim`): row 0 feeds the input linear layer, row `1 + i` the batch norms of block `i`, so one
block's `w` can be edited, as with StyleGAN's per-layer `w`. Truncation scales the noise (`truncated_noise`) and
picks the batch-norm statistics: `forward(z, c, truncation_psi=t)` equals the official `BigGAN(z, c, t)`. There
is no noise input and no `truncation_cutoff`. Spectral normalisation is folded into plain weights when a
checkpoint is read.
"""

import difflib
import functools
import math
import re
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .base import Generator
from .imagenet_classes import IMAGENET_CLASSES

# (up-sample in the block?, input channels, output channels), in units of `channel_width`.
_LAYERS_128 = ((False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
               (True, 8, 4), (False, 4, 4), (True, 4, 2), (False, 2, 2), (True, 2, 1))
_LAYERS_256 = ((False, 16, 16), (True, 16, 16), (False, 16, 16), (True, 16, 8), (False, 8, 8),
               (True, 8, 8), (False, 8, 8), (True, 8, 4), (False, 4, 4), (True, 4, 2),
               (False, 2, 2), (True, 2, 1))
_LAYERS_512 = _LAYERS_256[:-1] + ((True, 2, 1), (False, 1, 1), (True, 1, 1))
PRESET_LAYERS = {128: _LAYERS_128, 256: _LAYERS_256, 512: _LAYERS_512}


@dataclass
class BigGANConfig:
    """Fields of HuggingFace's `BigGANConfig`; the defaults are BigGAN-deep 128."""

    output_dim: int = 128                   # Output resolution.
    z_dim: int = 128                        # Noise dimensionality (also the class embedding width).
    class_embed_dim: int = 128              # Recorded only: the official model embeds classes into z_dim.
    channel_width: int = 128                # Channel unit; layer widths are multiples of it.
    num_classes: int = 1000                 # Number of classes.
    layers: tuple = field(default=_LAYERS_128)  # (up-sample?, in, out) per residual block.
    attention_layer_position: int = 8       # Self-attention runs before this block.
    eps: float = 1e-4                       # Batch-norm epsilon.
    n_stats: int = 51                       # Stored batch-norm statistics, truncation 0..1.

    def __post_init__(self):
        self.layers = tuple((bool(up), int(cin), int(cout)) for up, cin, cout in self.layers)  # JSON gives lists

    @classmethod
    def preset(cls, resolution):
        """Configuration of the released BigGAN-deep model at `resolution` (128, 256 or 512)."""
        return cls(output_dim=resolution, layers=PRESET_LAYERS[resolution])

    def to_dict(self):
        out = asdict(self)
        out['layers'] = [list(layer) for layer in self.layers]
        return out


# ----------------------------------------------------------------------------
# Sampling and class names.

def truncated_noise(n, z_dim=128, truncation=1.0, seed=0):
    """`[n, z_dim]` noise as the official `truncated_noise_sample`: a normal truncated to [-2, 2], times
    `truncation` (pass the same to the generator), from `np.random.RandomState(seed)`."""
    from scipy.stats import truncnorm
    values = truncnorm.rvs(-2, 2, size=(n, z_dim), random_state=np.random.RandomState(seed)).astype(np.float32)
    return torch.from_numpy(values * np.float32(truncation))


def _normalise_name(name):
    return ' '.join(name.replace('_', ' ').lower().split())


@functools.lru_cache(maxsize=None)
def _class_lookup():
    """(wnid -> index, first name -> indices, any synonym -> indices, all synonyms)."""
    by_wnid, by_first, by_synonym = {}, {}, {}
    for index, (wnid, names) in enumerate(IMAGENET_CLASSES):
        by_wnid[wnid] = index
        synonyms = [_normalise_name(s) for s in names.split(', ')]
        by_first.setdefault(synonyms[0], []).append(index)
        for synonym in dict.fromkeys(synonyms):
            by_synonym.setdefault(synonym, []).append(index)
    return by_wnid, by_first, by_synonym, sorted(by_synonym)


def resolve_class(name_or_index, num_classes=1000):
    """ImageNet class index from an index, a WordNet id ('n01440764') or a name ('goldfish'), matched
    case-insensitively against the first name of each class, then all its synonyms; ValueError otherwise."""
    by_wnid, by_first, by_synonym, synonyms = _class_lookup()
    query, key = str(name_or_index).strip(), _normalise_name(str(name_or_index))
    if query.isdigit():
        found = [int(query)]
    elif re.fullmatch(r'n\d{8}', query):
        found = [by_wnid[query]] if query in by_wnid else []
    else:
        found = by_first.get(key) or by_synonym.get(key) or []
    if len(found) > 1:
        why = 'is ambiguous: ' + '; '.join(f'{i} ({IMAGENET_CLASSES[i][0]}: {IMAGENET_CLASSES[i][1]})'
                                           for i in found) + '. Pass the index instead'
    elif not found:
        close = difflib.get_close_matches(key, synonyms, n=5, cutoff=0.6)
        hint = ', '.join(f'{name!r} ({"/".join(map(str, by_synonym[name]))})' for name in close)
        why = 'is not an ImageNet class name, WordNet id or index' + (f'; close matches: {hint}' if hint else '')
    elif not 0 <= found[0] < num_classes:
        why = f'is index {found[0]}, out of range [0, {num_classes})'
    else:
        return found[0]
    raise ValueError(f'class {name_or_index!r} {why}')


# ----------------------------------------------------------------------------
# Layers.

def standing_stats(running_means, running_vars, truncation_psi):
    """Batch-norm statistics for a truncation, as the official BigGANBatchNorm interpolates them (its weights
    swapped: kept)."""
    step = 1.0 / (running_means.shape[0] - 1)
    coef, start = math.modf(truncation_psi / step)  # divided as the official code does, to the last bit
    start = int(start)
    if coef == 0.0:
        return running_means[start], running_vars[start]  # [C], [C]
    return (running_means[start] * coef + running_means[start + 1] * (1 - coef),
            running_vars[start] * coef + running_vars[start + 1] * (1 - coef))


class ConditionalBatchNorm(nn.Module):
    """Batch norm with stored per-truncation statistics and a gain/bias predicted from `w`."""

    def __init__(self,
        num_features,       # Number of channels.
        w_dim,              # Condition vector dimensionality.
        n_stats,            # Number of stored statistics.
        eps,                # Added to the variance.
    ):
        super().__init__()
        self.eps = eps
        self.scale = nn.Linear(w_dim, num_features, bias=False)
        self.offset = nn.Linear(w_dim, num_features, bias=False)
        self.register_buffer('running_means', torch.zeros([n_stats, num_features]))
        self.register_buffer('running_vars', torch.ones([n_stats, num_features]))

    def forward(self, x, w, truncation_psi):
        mean, var = standing_stats(self.running_means, self.running_vars, truncation_psi)
        gain = (1 + self.scale(w)).unsqueeze(-1).unsqueeze(-1)  # [N, C, 1, 1]
        bias = self.offset(w).unsqueeze(-1).unsqueeze(-1)       # [N, C, 1, 1]
        return (x - mean.reshape(1, -1, 1, 1)) / torch.sqrt(var.reshape(1, -1, 1, 1) + self.eps) * gain + bias


class BatchNorm(nn.Module):
    """Unconditional batch norm with stored per-truncation statistics."""

    def __init__(self,
        num_features,       # Number of channels.
        n_stats,            # Number of stored statistics.
        eps,                # Added to the variance.
    ):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones([num_features]))
        self.bias = nn.Parameter(torch.zeros([num_features]))
        self.register_buffer('running_means', torch.zeros([n_stats, num_features]))
        self.register_buffer('running_vars', torch.ones([n_stats, num_features]))

    def forward(self, x, truncation_psi):
        mean, var = standing_stats(self.running_means, self.running_vars, truncation_psi)
        scale = self.weight * torch.rsqrt(var + self.eps)  # [C]
        shift = self.bias - mean * scale                   # [C]
        return x * scale.reshape(1, -1, 1, 1) + shift.reshape(1, -1, 1, 1)


class SelfAttention(nn.Module):
    """SAGAN self-attention with 2x2 max-pooled keys and values."""

    def __init__(self,
        channels,           # Number of input and output channels.
    ):
        super().__init__()
        self.theta = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.phi = nn.Conv2d(channels, channels // 8, 1, bias=False)
        self.g = nn.Conv2d(channels, channels // 2, 1, bias=False)
        self.o = nn.Conv2d(channels // 2, channels, 1, bias=False)
        self.gamma = nn.Parameter(torch.zeros([1]))

    def forward(self, x):
        _, channels, h, w = x.shape
        theta = self.theta(x).reshape(-1, channels // 8, h * w)                      # [N, C/8, HW]
        phi = F.max_pool2d(self.phi(x), 2).reshape(-1, channels // 8, h * w // 4)    # [N, C/8, HW/4]
        attn = torch.softmax(torch.bmm(theta.transpose(1, 2), phi), dim=-1)          # [N, HW, HW/4]
        g = F.max_pool2d(self.g(x), 2).reshape(-1, channels // 2, h * w // 4)        # [N, C/2, HW/4]
        attn_g = torch.bmm(g, attn.transpose(1, 2)).reshape(-1, channels // 2, h, w)  # [N, C/2, H, W]
        return x + self.gamma * self.o(attn_g)


class GenBlock(nn.Module):
    """BigGAN-deep residual block: four (batch norm, ReLU, conv) steps with a 4x bottleneck."""

    def __init__(self,
        in_channels,        # Number of input channels.
        out_channels,       # Number of output channels (in_channels or half of it).
        w_dim,              # Condition vector dimensionality.
        up,                 # Up-sample 2x (nearest)?
        n_stats,            # Number of stored batch-norm statistics.
        eps,                # Batch-norm epsilon.
    ):
        super().__init__()
        mid = in_channels // 4
        self.up = up
        self.out_channels = out_channels
        self.bn0 = ConditionalBatchNorm(in_channels, w_dim, n_stats, eps)
        self.conv0 = nn.Conv2d(in_channels, mid, 1)
        self.bn1 = ConditionalBatchNorm(mid, w_dim, n_stats, eps)
        self.conv1 = nn.Conv2d(mid, mid, 3, padding=1)
        self.bn2 = ConditionalBatchNorm(mid, w_dim, n_stats, eps)
        self.conv2 = nn.Conv2d(mid, mid, 3, padding=1)
        self.bn3 = ConditionalBatchNorm(mid, w_dim, n_stats, eps)
        self.conv3 = nn.Conv2d(mid, out_channels, 1)

    def forward(self, x, w, truncation_psi):
        h = self.conv0(F.relu(self.bn0(x, w, truncation_psi)))
        h = F.relu(self.bn1(h, w, truncation_psi))
        if self.up:
            h = F.interpolate(h, scale_factor=2, mode='nearest')
        h = self.conv1(h)
        h = self.conv2(F.relu(self.bn2(h, w, truncation_psi)))
        h = self.conv3(F.relu(self.bn3(h, w, truncation_psi)))
        skip = x[:, :self.out_channels] if x.shape[1] != self.out_channels else x
        if self.up:
            skip = F.interpolate(skip, scale_factor=2, mode='nearest')
        return h + skip


# ----------------------------------------------------------------------------
# Networks.

class BigGANMapping(nn.Module):
    """(z, c) -> ws: the condition vector `cat(z, embed(c))`, once per consumer."""

    def __init__(self, config, num_ws):
        super().__init__()
        self.c_dim = config.num_classes
        self.num_ws = num_ws
        self.embed = nn.Linear(config.num_classes, config.z_dim, bias=False)

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None):
        """ws `[N, num_ws, w_dim]` of truncated noise `z` `[N, z_dim]` and classes `c`: every row `cat(z, embed(c))`."""
        assert c is not None and truncation_cutoff is None, 'BigGAN takes a class c and no truncation_cutoff'
        c = c if c.is_floating_point() else F.one_hot(c.long(), self.c_dim)
        w = torch.cat([z, self.embed(c.to(z))], dim=1)  # [N, w_dim]
        return w.unsqueeze(1).repeat(1, self.num_ws, 1)


class BigGANSynthesis(nn.Module):
    """ws -> image: input linear layer, residual blocks (one w each), self-attention, output conv."""

    def __init__(self, config):
        super().__init__()
        ch = config.channel_width
        self.w_dim = 2 * config.z_dim
        self.num_ws = 1 + len(config.layers)
        self.input_channels = 16 * ch
        self.fc = nn.Linear(self.w_dim, 4 * 4 * self.input_channels)
        self.blocks = nn.ModuleList([
            GenBlock(ch * cin, ch * cout, self.w_dim, up, config.n_stats, config.eps)
            for up, cin, cout in config.layers])
        self.attn_index = config.attention_layer_position
        has_attn = self.attn_index < len(config.layers)
        self.attn = SelfAttention(ch * config.layers[self.attn_index][1]) if has_attn else None
        self.out_bn = BatchNorm(ch, config.n_stats, config.eps)
        self.to_rgb = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, ws, noise_mode='const', truncation_psi=1):
        """Image of `ws` `[N, num_ws, w_dim]`; `truncation_psi`, that of the noise, picks the batch-norm statistics."""
        t = float(truncation_psi)
        assert 0 < t <= 1, 'BigGAN truncation_psi lies in (0, 1] (see check_truncation)'
        x = self.fc(ws[:, 0])  # [N, 4 * 4 * C], laid out as [N, 4, 4, C]
        x = x.reshape(-1, 4, 4, self.input_channels).permute(0, 3, 1, 2).contiguous()  # [N, C, 4, 4]
        for i, block in enumerate(self.blocks):
            if i == self.attn_index:
                x = self.attn(x)
            x = block(x, ws[:, 1 + i], t)
        x = F.relu(self.out_bn(x, t))
        x = F.conv2d(x, self.to_rgb.weight[:3], self.to_rgb.bias[:3], padding=1)  # only the 3 channels kept
        return torch.tanh(x)  # [N, 3, H, W]


class BigGANGenerator(Generator):
    """BigGAN-deep generator following the toolkit's generator contract (see the module docstring)."""

    family = 'biggan'
    has_mapping = False
    has_noise = False
    has_truncation_cutoff = False

    def __init__(self, config):
        super().__init__(config, config.z_dim, config.num_classes, 2 * config.z_dim, config.output_dim, 3)
        self.synthesis = BigGANSynthesis(config)
        self.num_ws = self.synthesis.num_ws
        self.mapping = BigGANMapping(config, self.num_ws)

    def sample_z(self, num, seed, truncation_psi=1):
        """The official truncated noise (a normal cut at +-2, times `truncation_psi`), from `RandomState(seed)`."""
        return truncated_noise(num, self.z_dim, truncation_psi, seed).numpy()

    def check_truncation(self, truncation_psi):
        """BigGAN's truncation must lie in (0, 1]: it scales the noise and picks batch-norm statistics."""
        if not 0 < truncation_psi <= 1:
            raise ValueError(f'BigGAN truncation_psi must be in (0, 1], got {truncation_psi!r}')
        return truncation_psi

    def mapping_kwargs(self, truncation_psi=1, truncation_cutoff=None):
        return dict(truncation_psi=truncation_psi)

    def synthesis_kwargs(self, noise_mode='const', truncation_psi=1, for_tangents=False):
        return dict(truncation_psi=truncation_psi)

    def class_index(self, spec):
        """An ImageNet index, WordNet id ('n01440764') or name ('goldfish'); see `resolve_class`."""
        return resolve_class(spec, self.c_dim)

    def class_name(self, index):
        return IMAGENET_CLASSES[index][1].split(', ')[0] if self.c_dim == len(IMAGENET_CLASSES) else str(index)

    def sefa_weights(self, layers):
        """The columns of the input linear layer that read the noise `z` (the class half is left out)."""
        _, name, module = self.style_layers()[0]
        return [(f'{name} (latent columns)', module.weight.detach().float()[:, :self.z_dim].T)]  # [z_dim, out]

    def largest_feature_map(self):
        largest, res = 0, 4
        for up, cin, cout in self.config.layers:
            res *= 2 if up else 1
            largest = max(largest, self.config.channel_width * max(cin, cout) * res * res)
        return largest

    def style_layers(self):
        """The linear layers that read `w`: the input layer (index 0), the batch norms of block `i` (index `1 + i`)."""
        return [(0, 'synthesis.fc', self.synthesis.fc)] + [
            (1 + i, f'synthesis.blocks.{i}.bn{k}.{part}', getattr(getattr(block, f'bn{k}'), part))
            for i, block in enumerate(self.synthesis.blocks) for k in range(4) for part in ('scale', 'offset')]
