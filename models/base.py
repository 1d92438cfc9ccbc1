"""The generator contract: what generic code may rely on, for every family.

Every family's generator subclasses `Generator`. Generic code (the methods in
`semantics/`, the command-line scripts, the editor) drives a generator only
through the members and hooks declared here; where families differ, the
family overrides a hook. Generic code never asks `G.family == ...` and never
probes a generator with `hasattr`.

Members (set by each family's constructor):

| member | meaning |
| --- | --- |
| `family` | registry name: 'stylegan2', 'stylegan3', 'stylegan', 'pggan' or 'biggan' |
| `config` | the family's dataclass config; `models.build_generator(family, config)` rebuilds the model |
| `z_dim, c_dim, w_dim, num_ws, img_resolution, img_channels` | as in NVlabs' code |
| `mapping(z, c=None, **mapping_kwargs)` | ws `[N, num_ws, w_dim]` |
| `synthesis(ws, **synthesis_kwargs)` | image `[N, C, H, W]`, float32, about [-1, 1] |
| `forward(z, c=None, truncation_psi=1, truncation_cutoff=None, noise_mode='const')` | mapping, then synthesis |

Identity (set by `models.load_generator`; defaults for a model built in code):
`source` (what the user named), `checkpoint_format`, `checkpoint_sha256`
(None for built-in models) and `model_name`, a short name for output paths.

Declared capabilities (class attributes): `has_mapping` (a learned mapping
network: images can be projected into `w`), `has_noise` (synthesis reads
`noise_mode`), `has_truncation` (codes can be truncated),
`has_truncation_cutoff` (truncation can stop after the first
`truncation_cutoff` ws), `has_transform` (the output can be translated and
rotated, `set_transform`), `has_forward_mode` (`forward_mode_pass` gives a
hand-written forward-mode pass).
"""

import numpy as np
import torch
from torch import nn

__all__ = ['Generator', 'MAX_TRUNCATION_PSI']

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

    def __init__(self,
        config,          # The family's dataclass config.
        z_dim,           # Input latent (Z) dimensionality.
        c_dim,           # Conditioning label dimensionality, 0 = unconditional.
        w_dim,           # Intermediate latent (W) dimensionality.
        img_resolution,  # Output resolution.
        img_channels,    # Number of output colour channels.
    ):
        super().__init__()
        self.config = config
        self.z_dim = int(z_dim)
        self.c_dim = int(c_dim)
        self.w_dim = int(w_dim)
        self.img_resolution = int(img_resolution)
        self.img_channels = int(img_channels)
        self.num_ws = None  # Set by the family once its synthesis network exists.
        self.source = None
        self.checkpoint_format = None
        self.checkpoint_sha256 = None
        self.model_name = self.family

    # ------------------------------------------------------------------------
    # Description.

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
        """Device of the parameters."""
        return next(self.parameters()).device

    # ------------------------------------------------------------------------
    # Latent codes and class labels.

    def sample_z(self, num, seed, truncation_psi=1):
        """`num` latent codes `[num, z_dim]` (float32 numpy) drawn with `np.random.RandomState(seed)`.

        `truncation_psi` matters only for families that truncate when sampling (BigGAN).
        """
        return np.random.RandomState(seed).randn(num, self.z_dim).astype(np.float32)

    def check_truncation(self, truncation_psi):
        """`truncation_psi` if this family accepts it; ValueError otherwise."""
        if not np.isfinite(truncation_psi):
            raise ValueError(f'truncation_psi must be a finite number, got {truncation_psi}')
        if abs(truncation_psi) > MAX_TRUNCATION_PSI:
            raise ValueError(f'truncation_psi must lie in [-{MAX_TRUNCATION_PSI:g}, {MAX_TRUNCATION_PSI:g}], '
                             f'got {truncation_psi:g}')
        return truncation_psi

    def mapping_kwargs(self, truncation_psi=1, truncation_cutoff=None):
        """Keyword arguments of `mapping` for these truncation settings."""
        return dict(truncation_psi=truncation_psi, truncation_cutoff=truncation_cutoff)

    def synthesis_kwargs(self, noise_mode='const', truncation_psi=1, for_tangents=False):
        """Keyword arguments of `synthesis`.

        Args:
            noise_mode: 'const', 'random' or 'none' (families with noise inputs).
            truncation_psi: The truncation the codes were drawn with (BigGAN's
                batch norms depend on it).
            for_tangents: The call runs under `torch.func.jvp` / `vmap`: pick the
                variant whose tangents are cheapest (same numbers).
        """
        return dict(noise_mode=noise_mode)

    def class_index(self, spec):
        """Class index of a class given by the user (an index, or a name where the family has names).

        Raises:
            ValueError: unconditional model, or a class that is not one of this model's.
        """
        if not self.c_dim:
            raise ValueError(f'this {self.variant} model is unconditional: it takes no class')
        text = str(spec).strip()
        if not text.lstrip('-').isdigit():
            raise ValueError(f'{spec!r} is not a class index (0-{self.c_dim - 1})')
        index = int(text)
        if not 0 <= index < self.c_dim:
            raise ValueError(f'class {index} is out of range 0-{self.c_dim - 1}')
        return index

    def noise_buffers(self):
        """`{name: tensor}`: the constant noise inputs `noise_mode='const'` renders with (empty without noise)."""
        return {name: buffer for name, buffer in self.synthesis.named_buffers() if name.endswith('noise_const')}

    def set_noise_buffers(self, buffers):
        """Replace the constant noise inputs (e.g. those an image's projection optimised).

        Raises:
            ValueError: a name this model does not have, or a shape that differs.
        """
        own = self.noise_buffers()
        for name, value in buffers.items():
            if name not in own:
                raise ValueError(f'noise buffer {name!r} is not one of this model\'s ({len(own)} buffers)')
            if tuple(value.shape) != tuple(own[name].shape):
                raise ValueError(f'noise buffer {name} has shape {list(value.shape)}, the model\'s is '
                                 f'{list(own[name].shape)}')
        for name, value in buffers.items():
            own[name].copy_(torch.as_tensor(value, dtype=own[name].dtype))

    def class_name(self, index):
        """Human-readable name of a class index (the index itself where the family has no names)."""
        return str(int(index))

    # ------------------------------------------------------------------------
    # Transform of the output image.

    def set_transform(self, tx=0.0, ty=0.0, rotate=0.0):
        """Translate the output by `(tx, ty)` and rotate it by `rotate` degrees.

        Raises:
            ValueError: the family has no input transform (only the identity is accepted).
        """
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
        """The weights SeFa factorises for ws indices `layers` (validated by the caller).

        Returns:
            `[(name, weight)]`, each weight a float32 tensor `[latent_dim, out]`, where
            `latent_dim` is `w_dim` (`z_dim` where only the noise half of `w` is
            factorised, as for BigGAN; directions are then zero on the rest of `w`).
            An index feeding a convolution and a ToRGB layer gives the convolution's
            weight; an index feeding only a ToRGB layer gives that one (genforce's rule).
        """
        by_index = {}
        for index, name, module in self.style_layers():
            by_index.setdefault(index, []).append((name, module))
        out = []
        for index in layers:
            found = by_index[index]
            convs = [item for item in found if not item[0].endswith('torgb')]
            out += [(name, module.weight.detach().float().T) for name, module in (convs or found)]
        return out

    # ------------------------------------------------------------------------
    # Forward-mode differentiation (Jacobians w.r.t. w).

    def forward_mode_pass(self, ws, noise_mode='const'):
        """A hand-written forward-mode pass at `ws` `[1, num_ws, w_dim]`, or None.

        Returns:
            `push(ws_t) -> image tangents [K, C, H, W]`, where `ws_t` holds `num_ws`
            entries, each `[K, w_dim]` or None (that row does not move); the primal
            pass runs here, once. None where the family has none
            (`has_forward_mode` is False): generic code then uses `torch.func.jvp`.
        """
        return None

    def largest_feature_map(self):
        """Elements of the largest feature map of one image (sets the memory a tangent costs)."""
        return 128 * self.img_resolution ** 2

    def tangent_bytes(self):
        """Memory one tangent costs in a batched forward-mode pass, in bytes (float32)."""
        return 4 * self.tangent_copies * self.largest_feature_map()
