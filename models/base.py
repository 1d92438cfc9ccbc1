"""The generator contract: what generic code may rely on, for every family.

Generic code (`semantics/`, the scripts, the editor) drives a generator only
through the members and hooks of `Generator`, never asking `G.family == ...`
or probing it with `hasattr`; where families differ, the family overrides a hook.

| member | meaning |
| --- | --- |
| `family` | registry name: 'stylegan2', 'stylegan3', 'stylegan', 'pggan' or 'biggan' |
| `config` | the family's dataclass config; `models.build_generator(family, config)` rebuilds the model |
| `z_dim, c_dim, w_dim, num_ws, img_resolution, img_channels` | as in NVlabs' code |
| `mapping(z, c=None, **mapping_kwargs)` | ws `[N, num_ws, w_dim]` |
| `synthesis(ws, **synthesis_kwargs)` | image `[N, C, H, W]`, float32, about [-1, 1] |
| `forward(z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const')` | mapping, then synthesis |
Identity: `source`, `checkpoint_format`, `checkpoint_sha256`, `model_name` (see `models.load_generator`).
"""

import numpy as np
import torch
from torch import nn

# Truncation pulls codes towards the mean (|psi| < 1) or pushes them away; far beyond this bound codes leave
# what any model draws (psi 1e30 gives NaN images).
MAX_TRUNCATION_PSI = 10.0


class Generator(nn.Module):
    """Base class of every family's generator; see the module docstring for the contract."""

    family = None                 # Registry name of the family.
    has_mapping = True            # mapping() is a learned network (images can be projected into w).
    has_noise = True              # synthesis() reads noise_mode.
    has_truncation = True         # Codes can be truncated (mapping() or sampling reads truncation_psi).
    has_truncation_cutoff = True  # mapping() can truncate only the first truncation_cutoff ws.
    has_transform = False         # set_transform() moves the output image.
    has_forward_mode = False      # forward_mode_pass() returns a hand-written forward-mode pass.
    tangent_copies = 12           # Copies of the largest feature map one tangent costs under torch.func.jvp.

    def __init__(self, config, z_dim, c_dim, w_dim, img_resolution, img_channels):
        super().__init__()
        self.config = config  # The family's dataclass config.
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)  # 0: unconditional.
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.num_ws = None  # Set by the family once its synthesis network exists.
        self.source = self.checkpoint_format = self.checkpoint_sha256 = None  # Identity, set by load_generator.
        self.model_name = self.family

    def forward(self, z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const'):
        ws = self.mapping(z, c, **self.mapping_kwargs(truncation_psi, truncation_cutoff))
        return self.synthesis(ws, **self.synthesis_kwargs(noise_mode, truncation_psi))

    @property
    def variant(self):
        """Name of the architecture as the original scripts name it ('stylegan2', 'stylegan3r', ...)."""
        return self.family

    def describe(self):
        """One line: architecture, resolution and latent sizes."""
        cond = f', {self.c_dim} classes' if self.c_dim else ''
        return (f'{self.variant} {self.img_resolution}x{self.img_resolution}, z_dim {self.z_dim}, '
                f'w_dim {self.w_dim}, {self.num_ws} ws{cond}')

    @property
    def device(self):
        return next(self.parameters()).device

    # ------------------------------------------------------------------------
    # Latent codes, class labels, noise and the output transform.

    def sample_z(self, num, seed, truncation_psi=1):
        """`num` float32 codes `[num, z_dim]` from `RandomState(seed)` (BigGAN's sampling reads `truncation_psi`)."""
        return np.random.RandomState(seed).randn(num, self.z_dim).astype(np.float32)

    def check_truncation(self, truncation_psi):
        """`truncation_psi` if this family accepts it (a finite number within the bound); ValueError otherwise."""
        if not abs(truncation_psi) <= MAX_TRUNCATION_PSI:
            raise ValueError(f'truncation_psi must lie in [-{MAX_TRUNCATION_PSI:g}, {MAX_TRUNCATION_PSI:g}], '
                             f'got {truncation_psi:g}')
        return truncation_psi

    def mapping_kwargs(self, truncation_psi=1, truncation_cutoff=None):
        return dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def synthesis_kwargs(self, noise_mode='const', truncation_psi=1, for_tangents=False):
        """Keyword arguments of `synthesis`; `truncation_psi` is the one the codes were drawn with (BigGAN reads it),
        `for_tangents` picks the variant whose tangents are cheapest under `torch.func.jvp` (same numbers)."""
        return dict(noise_mode=noise_mode)

    def class_index(self, spec):
        """Class index of a class given by the user (an index, or a name where the family has names); ValueError."""
        if not self.c_dim:
            raise ValueError(f'this {self.variant} model is unconditional: it takes no class')
        text = str(spec).strip()
        if not (text.lstrip('-').isdigit() and 0 <= int(text) < self.c_dim):
            what = 'out of range' if text.lstrip('-').isdigit() else 'not a class index'
            raise ValueError(f'class {spec!r} is {what} (0-{self.c_dim - 1})')
        return int(text)

    def noise_buffers(self):
        """`{name: tensor}`: the constant noise inputs `noise_mode='const'` renders with (empty without noise)."""
        return {name: buffer for name, buffer in self.synthesis.named_buffers() if name.endswith('noise_const')}

    def set_noise_buffers(self, buffers):
        """Replace the constant noise inputs (e.g. a projection's); ValueError for a foreign name or shape."""
        own = self.noise_buffers()
        for name, value in buffers.items():
            want = list(own[name].shape) if name in own else None
            if want != list(value.shape):
                found = f"is not one of this model's {len(own)}" if want is None else \
                    f"has shape {list(value.shape)}, the model's is {want}"
                raise ValueError(f'noise buffer {name!r} {found}')
        for name, value in buffers.items():
            own[name].copy_(torch.as_tensor(value, dtype=own[name].dtype))

    def class_name(self, index):
        """Human-readable name of a class index (the index itself where the family has no names)."""
        return str(int(index))

    def set_transform(self, tx=0.0, ty=0.0, rotate=0.0):
        """Translate the output by `(tx, ty)` and rotate it by `rotate` degrees (ValueError: the family cannot)."""
        if tx or ty or rotate:
            raise ValueError(f'a {self.variant} model cannot be translated or rotated (StyleGAN3 can)')

    # ------------------------------------------------------------------------
    # SeFa: the weights that project the latent code into the generator.

    def style_layers(self):
        """The layers that read ws: `[(ws_index, name, module)]`, in ws order."""
        raise NotImplementedError

    def sefa_layers(self):
        """The ws indices that have weights to factorise (sorted)."""
        return sorted({index for index, _, _ in self.style_layers()})

    def sefa_weights(self, layers):
        """`[(name, weight)]`: the float32 weights `[w_dim, out]` SeFa factorises for ws indices `layers`; an index
        feeding a convolution and a ToRGB layer gives the convolution's (genforce's rule)."""
        out = []
        for index in layers:
            found = [(name, module) for i, name, module in self.style_layers() if i == index]
            convs = [(name, module) for name, module in found if not name.endswith('torgb')]
            out += [(name, module.weight.detach().float().T) for name, module in (convs or found)]
        return out

    # ------------------------------------------------------------------------
    # Forward-mode differentiation (Jacobians w.r.t. w).

    def forward_mode_pass(self, ws, noise_mode='const'):
        """A hand-written forward-mode pass at `ws` `[1, num_ws, w_dim]`: `push(ws_t) -> image tangents [K, C, H, W]`,
        `ws_t` holding per row `[K, w_dim]` or None (still). None where the family has none (`torch.func.jvp` then)."""
        return None

    def largest_feature_map(self):
        """Elements of the largest feature map of one image (sets the memory a tangent costs)."""
        return max(self.config.channels(2 ** k) * 4 ** k for k in range(2, self.img_resolution.bit_length()))

    def tangent_bytes(self):
        """Memory one tangent costs in a batched forward-mode pass, in bytes (float32)."""
        return 4 * self.tangent_copies * self.largest_feature_map()
