"""Reader (and writer) of HuggingFace `pytorch-pretrained-BigGAN` checkpoints: `config.json` + `pytorch_model.bin`.

The reader takes the folder or either file (the other must sit next to it).
The state dict is the one of the official `BigGAN` module. Spectral-normalised
layers store `weight_orig`, `weight_u` and `weight_v`; in eval mode the official
module uses `weight_orig / (u . weight_orig v)`, which is computed here once, in
the same way, and stored as our plain `weight`.
"""

import math
import os

import torch

from utils.fileio import atomic_path, load_json, save_json

from ..biggan import BigGANConfig
from . import names
from .common import Checkpoint, CheckpointError
from .names import Rule
from .source import Source

FORMAT = 'HuggingFace BigGAN'
WEIGHTS_NAME = 'pytorch_model.bin'
CONFIG_NAME = 'config.json'


def is_hf_biggan_state(keys):
    """Whether state-dict keys are those of the official HuggingFace `BigGAN` module."""
    keys = set(keys)
    return 'embeddings.weight' in keys and 'generator.gen_z.weight_orig' in keys


def _companion(path, name, other):
    """The file of the pair next to `path`: `name`, or `path`'s name with `other` replaced by `name`."""
    folder, base = os.path.split(path)
    candidates = [os.path.join(folder, base.replace(other, name))] if other in base else []
    candidates.append(os.path.join(folder, name))
    for candidate in candidates:
        if candidate != path and os.path.isfile(candidate):
            return candidate
    raise CheckpointError(f'{path}: HuggingFace BigGAN needs {name} next to it; not found')


def _locate(source):
    """(config.json path, pytorch_model.bin path) of a `Source`: a folder or either file."""
    path = source.path
    if source.is_dir:
        config_path = os.path.join(path, CONFIG_NAME)
        weights_path = os.path.join(path, WEIGHTS_NAME)
        for needed in (config_path, weights_path):
            if not os.path.isfile(needed):
                raise CheckpointError(f'{path}: a HuggingFace BigGAN folder needs {os.path.basename(needed)}; '
                                      'not found')
        return config_path, weights_path
    if source.is_torch_file:
        return _companion(path, CONFIG_NAME, WEIGHTS_NAME), path
    return path, _companion(path, WEIGHTS_NAME, CONFIG_NAME)


def claims(source):
    """A folder with `config.json` or `pytorch_model.bin`, a JSON file, or a HuggingFace BigGAN state dict."""
    if source.is_dir:
        return any(os.path.isfile(os.path.join(source.path, name)) for name in (CONFIG_NAME, WEIGHTS_NAME))
    if source.is_json:
        return True
    state = source.state_dict()
    return state is not None and is_hf_biggan_state(state)


def read(source, hints):
    """`Checkpoint` of the pair; `config.json` tells everything, so `hints` are not needed."""
    config_path, weights_path = _locate(source)
    config = read_config(config_path)
    weights = source if weights_path == source.path else Source(weights_path)
    if not weights.is_torch_file:
        raise CheckpointError(f'{weights_path}: not a torch file')
    state = weights.torch_object()
    if not isinstance(state, dict):
        raise CheckpointError(f'{weights_path}: holds a {type(state).__name__}, not a state dict')
    if not is_hf_biggan_state(state.keys()):
        raise CheckpointError(f'{weights_path}: not a HuggingFace BigGAN state dict '
                              f'(no embeddings.weight / generator.gen_z.weight_orig)')
    return Checkpoint('biggan', config, convert_hf_biggan_state(state, config, where=weights_path), FORMAT)


def read_config(path):
    """BigGANConfig from an official `config.json`."""
    try:
        values = load_json(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f'{path}: not a readable JSON config ({error})') from None
    if not isinstance(values, dict):
        raise CheckpointError(f'{path}: the config is a {type(values).__name__}, not an object')
    try:
        return BigGANConfig.from_dict(values)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f'{path}: {error}') from None


def _expected_modules(config):
    """Official prefix -> (our prefix, kind, weight shape) for every module that holds tensors.

    Kinds: 'sn' (spectral-normalised, with bias), 'sn_nobias', 'plain', 'bn_cond'
    (running stats only; its linears are listed separately), 'bn', 'attn_gamma'.
    """
    ch = config.channel_width
    w_dim = 2 * config.z_dim
    out = {
        'embeddings': ('mapping.embed', 'plain', (config.z_dim, config.num_classes)),
        'generator.gen_z': ('synthesis.fc', 'sn', (4 * 4 * 16 * ch, w_dim)),
    }
    position = config.attention_layer_position
    for i, (_up, cin, cout) in enumerate(config.layers):
        cin, cout = ch * cin, ch * cout
        mid = cin // 4
        if i == position:
            src = f'generator.layers.{i}'
            c = cin
            out[src] = ('synthesis.attn', 'attn_gamma', (1,))
            out[f'{src}.snconv1x1_theta'] = ('synthesis.attn.theta', 'sn_nobias', (c // 8, c, 1, 1))
            out[f'{src}.snconv1x1_phi'] = ('synthesis.attn.phi', 'sn_nobias', (c // 8, c, 1, 1))
            out[f'{src}.snconv1x1_g'] = ('synthesis.attn.g', 'sn_nobias', (c // 2, c, 1, 1))
            out[f'{src}.snconv1x1_o_conv'] = ('synthesis.attn.o', 'sn_nobias', (c, c // 2, 1, 1))
        src = f'generator.layers.{i + (i >= position)}'
        dst = f'synthesis.blocks.{i}'
        widths = [cin, mid, mid, mid]
        convs = [(mid, cin, 1, 1), (mid, mid, 3, 3), (mid, mid, 3, 3), (cout, mid, 1, 1)]
        for k in range(4):
            out[f'{src}.bn_{k}'] = (f'{dst}.bn{k}', 'bn_cond', (widths[k],))
            out[f'{src}.bn_{k}.scale'] = (f'{dst}.bn{k}.scale', 'sn_nobias', (widths[k], w_dim))
            out[f'{src}.bn_{k}.offset'] = (f'{dst}.bn{k}.offset', 'sn_nobias', (widths[k], w_dim))
            out[f'{src}.conv_{k}'] = (f'{dst}.conv{k}', 'sn', convs[k])
    out['generator.bn'] = ('synthesis.out_bn', 'bn', (ch,))
    out['generator.conv_to_rgb'] = ('synthesis.to_rgb', 'sn', (ch, ch, 3, 3))
    return out


def _copied_tensors(src, dst, kind, shape, n_stats):
    """`(official key, our key, shape)` of a module's tensors that both layouts store as they are."""
    if kind == 'plain':
        return [(f'{src}.weight', f'{dst}.weight', shape)]
    if kind == 'sn':
        return [(f'{src}.bias', f'{dst}.bias', shape[:1])]
    if kind == 'attn_gamma':
        return [(f'{src}.gamma', f'{dst}.gamma', shape)]
    copied = []
    if kind in ('bn', 'bn_cond'):
        copied += [(f'{src}.{name}', f'{dst}.{name}', (n_stats,) + shape) for name in ('running_means', 'running_vars')]
    if kind == 'bn':
        copied += [(f'{src}.{name}', f'{dst}.{name}', shape) for name in ('weight', 'bias')]
    return copied


def hf_biggan_rules(config):
    """Table of the official state dict for `config`; spectral-normalised layers keep `weight_u` / `weight_v`."""
    rules = []
    for src, (dst, kind, shape) in _expected_modules(config).items():
        if kind in ('sn', 'sn_nobias'):
            rules += [Rule(f'{src}.weight_orig', f'{dst}.weight', shape=shape),
                      Rule(f'{src}.weight_u', f'{dst}.weight_u', shape=shape[:1]),
                      Rule(f'{src}.weight_v', f'{dst}.weight_v', shape=(math.prod(shape[1:]),))]
        rules += [Rule(official, mine, shape=tensor_shape)
                  for official, mine, tensor_shape in _copied_tensors(src, dst, kind, shape, config.n_stats)]
    return rules


def convert_hf_biggan_state(state, config, where='checkpoint'):
    """Official HuggingFace BigGAN state dict -> our state dict (spectral norm folded in).

    Raises:
        CheckpointError: a missing, unexpected or misshapen tensor, named with `where`.
    """
    ours = names.convert(state, hf_biggan_rules(config), where)
    for src, (dst, kind, shape) in _expected_modules(config).items():
        if kind in ('sn', 'sn_nobias'):
            u, v = ours.pop(f'{dst}.weight_u'), ours.pop(f'{dst}.weight_v')
            weight = ours[f'{dst}.weight']
            sigma = torch.dot(u, torch.mv(weight.reshape(shape[0], -1), v))
            if not torch.isfinite(sigma) or sigma == 0:
                raise CheckpointError(f'{where}: {src} has a zero or non-finite spectral norm estimate')
            ours[f'{dst}.weight'] = weight / sigma
    return ours


def export_hf_biggan_state(state, config, seed=0):
    """Our state dict -> the official HuggingFace BigGAN state dict (inverse of `convert_hf_biggan_state`).

    Spectral-normalised layers get `weight_orig` equal to our weight and a
    vector pair `(u, v)` with `u . (weight_orig v) = 1`, so that the official
    module's eval-time weight `weight_orig / (u . weight_orig v)` is ours.

    Raises:
        ValueError: a missing or misshapen tensor, or an all-zero spectral-normalised weight.
    """
    gen = torch.Generator().manual_seed(seed)

    def get(key, shape):
        if key not in state:
            raise ValueError(f'state dict has no {key}')
        value = state[key].detach().to('cpu', torch.float32)
        if tuple(value.shape) != tuple(shape):
            raise ValueError(f'{key} has shape {list(value.shape)}, expected {list(shape)}')
        return value.clone()

    out = {}
    for src, (dst, kind, shape) in _expected_modules(config).items():
        if kind in ('sn', 'sn_nobias'):
            weight = get(f'{dst}.weight', shape)
            matrix = weight.reshape(shape[0], -1).double()
            v = torch.randn(matrix.shape[1], generator=gen, dtype=torch.float64)
            v = v / v.norm()
            image = matrix @ v
            if image.norm() == 0:
                raise ValueError(f'{dst}.weight is all zero; it has no spectral normalisation to store')
            out[f'{src}.weight_orig'] = weight
            out[f'{src}.weight_u'] = (image / image.dot(image)).float()  # u . (W v) = 1
            out[f'{src}.weight_v'] = v.float()
        for official, mine, tensor_shape in _copied_tensors(src, dst, kind, shape, config.n_stats):
            out[official] = get(mine, tensor_shape)
    return out


def write_hf_biggan(generator, folder):
    """Save a `BigGANGenerator` as an official HuggingFace folder: `config.json` + `pytorch_model.bin`.

    The folder loads back through `models.load_generator` and into the official
    `BigGAN.from_pretrained`. Both files are written atomically.
    """
    config = generator.config
    state = export_hf_biggan_state(generator.state_dict(), config)
    os.makedirs(folder, exist_ok=True)
    with atomic_path(os.path.join(folder, WEIGHTS_NAME)) as tmp:
        torch.save(state, tmp)
    save_json(os.path.join(folder, CONFIG_NAME), config.to_dict())
