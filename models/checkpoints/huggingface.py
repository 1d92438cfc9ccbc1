"""Reader (and writer) of HuggingFace `pytorch-pretrained-BigGAN` checkpoints: `config.json` + `pytorch_model.bin`.

The reader takes the folder or either file; spectral normalisation is folded into our plain `weight` as the official
eval-mode code computes it, `weight_orig / (u . weight_orig v)`.
"""

import math
import os

import torch

from utils.fileio import atomic_path, load_json, save_json

from . import names
from .common import Checkpoint, CheckpointError
from .names import Rule
from .source import Source

FORMAT = 'HuggingFace BigGAN'
WEIGHTS_NAME = 'pytorch_model.bin'
CONFIG_NAME = 'config.json'


def is_hf_biggan_state(keys):
    """Whether state-dict keys are those of the official HuggingFace `BigGAN` module."""
    return {'embeddings.weight', 'generator.gen_z.weight_orig'} <= set(keys)


def _locate(source):
    """(config.json path, pytorch_model.bin path) of a `Source`: a folder or either file."""
    if source.is_dir:
        pair = {name: os.path.join(source.path, name) for name in (CONFIG_NAME, WEIGHTS_NAME)}
    else:  # the companion named like the file (`x_config.json` next to `x_pytorch_model.bin`), else the plain name
        mine, other = (WEIGHTS_NAME, CONFIG_NAME) if source.is_torch_file else (CONFIG_NAME, WEIGHTS_NAME)
        folder, base = os.path.split(source.path)
        candidates = [os.path.join(folder, name) for name in (base.replace(mine, other), other) if name != base]
        pair = {mine: source.path, other: next((path for path in candidates if os.path.isfile(path)), candidates[-1])}
    missing = next((name for name, path in pair.items() if not os.path.isfile(path)), None)
    if missing:
        raise CheckpointError(f'{source.path}: a HuggingFace BigGAN needs {missing} next to it; not found')
    return pair[CONFIG_NAME], pair[WEIGHTS_NAME]


def claims(source):
    """A folder with `config.json` or `pytorch_model.bin`, a JSON file, or a HuggingFace BigGAN state dict."""
    if source.is_dir:
        return any(os.path.isfile(os.path.join(source.path, name)) for name in (CONFIG_NAME, WEIGHTS_NAME))
    state = source.state_dict()
    return source.is_json or (state is not None and is_hf_biggan_state(state))


def read(source, hints):
    """`Checkpoint` of the pair; `config.json` tells everything, so `hints` are not needed."""
    config_path, weights_path = _locate(source)
    config = read_config(config_path)
    state = (source if weights_path == source.path else Source(weights_path)).state_dict()
    if state is None or not is_hf_biggan_state(state):
        raise CheckpointError(f'{weights_path}: not a HuggingFace BigGAN state dict '
                              f'(no embeddings.weight / generator.gen_z.weight_orig)')
    return Checkpoint('biggan', config, convert_hf_biggan_state(state, config, where=weights_path), FORMAT)


def read_config(path):
    """`BigGANConfig` of an official `config.json`, checked: its layers must chain and make a working model."""
    try:
        values = load_json(path)
    except (OSError, ValueError) as error:
        raise CheckpointError(f'{path}: not a readable JSON config ({error})') from None
    if not isinstance(values, dict):
        raise CheckpointError(f'{path}: the config is a {type(values).__name__}, not an object')
    config = names.make_config('biggan', path, **values)
    layers, ch, position = config.layers, config.channel_width, config.attention_layer_position
    attention = layers[position][1] * ch if position < len(layers) else 8  # channels at the self-attention
    checks = [
        (layers and layers[0][1] == 16 and layers[-1][2] == 1, 'layers must run from 16 to 1 channel units'),
        (all(a[2] == b[1] for a, b in zip(layers, layers[1:])), 'each layer must take what the one before gives'),
        (all(cout in (cin, cin / 2) and cin * ch >= 4 for _, cin, cout in layers),
         'each layer must keep or halve its channel units, and have at least 4 channels'),
        (config.output_dim == 4 * 2 ** sum(up for up, _, _ in layers),
         f'output_dim {config.output_dim} is not the resolution the layers up-sample 4x4 to'),
        (ch >= 3 and attention >= 8 and config.n_stats >= 2,
         'channel_width must give 3 output channels and 8 at the self-attention, and n_stats be >= 2'),
    ]
    problem = next((text for ok, text in checks if not ok), None)
    if problem:
        raise CheckpointError(f'{path}: {problem}')
    return config


def _expected_modules(config):
    """Official prefix -> (our prefix, kind, weight shape) for every module that holds tensors; kinds 'sn'
    (spectral-normalised), 'sn_nobias', 'plain', 'bn_cond' (running stats only), 'bn', 'attn_gamma'."""
    ch, w_dim, position = config.channel_width, 2 * config.z_dim, config.attention_layer_position
    out = {'embeddings': ('mapping.embed', 'plain', (config.z_dim, config.num_classes)),
           'generator.gen_z': ('synthesis.fc', 'sn', (4 * 4 * 16 * ch, w_dim))}
    for i, (_up, cin, cout) in enumerate(config.layers):
        cin, cout = ch * cin, ch * cout
        mid = cin // 4
        if i == position:
            src, c = f'generator.layers.{i}', cin
            out[src] = ('synthesis.attn', 'attn_gamma', (1,))
            for name, ours, shape in (('theta', 'theta', (c // 8, c)), ('phi', 'phi', (c // 8, c)),
                                      ('g', 'g', (c // 2, c)), ('o_conv', 'o', (c, c // 2))):
                out[f'{src}.snconv1x1_{name}'] = (f'synthesis.attn.{ours}', 'sn_nobias', (*shape, 1, 1))
        src, dst = f'generator.layers.{i + (i >= position)}', f'synthesis.blocks.{i}'
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
    copied = {'plain': [('weight', shape)], 'sn': [('bias', shape[:1])], 'attn_gamma': [('gamma', shape)],
              'bn_cond': [('running_means', (n_stats, *shape)), ('running_vars', (n_stats, *shape))],
              'bn': [('running_means', (n_stats, *shape)), ('running_vars', (n_stats, *shape)),
                     ('weight', shape), ('bias', shape)]}.get(kind, [])
    return [(f'{src}.{name}', f'{dst}.{name}', tensor_shape) for name, tensor_shape in copied]


def convert_hf_biggan_state(state, config, where='checkpoint'):
    """Official HuggingFace BigGAN state dict -> our state dict (spectral norm folded in)."""
    rules, modules = [], _expected_modules(config)
    for src, (dst, kind, shape) in modules.items():
        if kind in ('sn', 'sn_nobias'):
            rules += [Rule(f'{src}.weight_orig', f'{dst}.weight', shape=shape),
                      Rule(f'{src}.weight_u', f'{dst}.weight_u', shape=shape[:1]),
                      Rule(f'{src}.weight_v', f'{dst}.weight_v', shape=(math.prod(shape[1:]),))]
        rules += [Rule(official, mine, shape=tensor_shape)
                  for official, mine, tensor_shape in _copied_tensors(src, dst, kind, shape, config.n_stats)]
    ours = names.convert(state, rules, where)
    for src, (dst, kind, shape) in modules.items():
        if kind in ('sn', 'sn_nobias'):
            u, v, weight = ours.pop(f'{dst}.weight_u'), ours.pop(f'{dst}.weight_v'), ours[f'{dst}.weight']
            sigma = torch.dot(u, torch.mv(weight.reshape(shape[0], -1), v))
            if not torch.isfinite(sigma) or sigma == 0:
                raise CheckpointError(f'{where}: {src} has a zero or non-finite spectral norm estimate')
            ours[f'{dst}.weight'] = weight / sigma
    return ours


def write_hf_biggan(generator, folder, seed=0):
    """Save a `BigGANGenerator` as an official HuggingFace folder; spectral-normalised layers get `weight_orig` equal
    to our weight and `(u, v)` with `u . (weight_orig v) = 1`, so that the official eval-time weight is ours."""
    config, state = generator.config, generator.state_dict()
    gen = torch.Generator().manual_seed(seed)
    out = {}
    for src, (dst, kind, shape) in _expected_modules(config).items():
        if kind in ('sn', 'sn_nobias'):
            weight = state[f'{dst}.weight'].detach().to('cpu', torch.float32).clone()
            v = torch.randn(math.prod(shape[1:]), generator=gen, dtype=torch.float64)
            image = weight.reshape(shape[0], -1).double() @ (v / v.norm())
            assert image.norm() > 0, f'{dst}.weight is all zero: it has no spectral normalisation to store'
            out[f'{src}.weight_orig'] = weight
            out[f'{src}.weight_u'] = (image / image.dot(image)).float()  # u . (W v) = 1
            out[f'{src}.weight_v'] = (v / v.norm()).float()
        for official, mine, _ in _copied_tensors(src, dst, kind, shape, config.n_stats):
            out[official] = state[mine].detach().to('cpu', torch.float32).clone()
    os.makedirs(folder, exist_ok=True)
    with atomic_path(os.path.join(folder, WEIGHTS_NAME)) as tmp:
        torch.save(out, tmp)
    save_json(os.path.join(folder, CONFIG_NAME), config.to_dict())
