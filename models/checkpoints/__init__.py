"""Checkpoint readers: any supported file -> `Checkpoint(family, config, state_dict)`.

The format is detected from the content, never from the file name:

| content | format |
| --- | --- |
| pickle whose `G_ema` is an NVlabs persistent object | NVlabs PyTorch pickle |
| pickle of `dnnlib.tflib.network.Network` objects (`(G, D, Gs)` or a dict) | NVlabs TensorFlow pickle |
| torch file with `{'g_ema', 'latent_avg'}` | rosinality `.pt` |
| torch file with `generator_smooth` / `generator` (maybe under `models`) | Hammer / genforce `.pth` |
| torch file holding an NVlabs-named state dict | NVlabs state dict |

`torch.load` is always called with `weights_only=True`, and pickles go through
`safe_pickle`, so reading a checkpoint never runs code from it.
"""

import os
import zipfile

import torch

from . import stylegan2_names as sg2
from .common import Checkpoint, CheckpointError, check_tensors
from .safe_pickle import PersistentObject, UnsafePickleError, is_pickle, load_pickle

__all__ = ['Checkpoint', 'CheckpointError', 'read_checkpoint']

_TORCH_LEGACY_MAGIC = b'\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19'


def read_checkpoint(path, **overrides):
    """Read a checkpoint file into `Checkpoint(family, config, state_dict, format)`.

    Args:
        path: File (or, for HuggingFace BigGAN, folder) to read.
        **overrides: Settings from the command line (`img_resolution`, `w_dim`,
            `channel_base`, `cfg`, ...); they must agree with what the file holds.

    Raises:
        CheckpointError: one line naming the file and what is wrong.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise CheckpointError(f'{path}: no such file')
    if os.path.isdir(path):
        return _read_directory(path, overrides)
    with open(path, 'rb') as file:
        head = file.read(64)
    if not head:
        raise CheckpointError(f'{path}: the file is empty')
    if zipfile.is_zipfile(path) or head.startswith(_TORCH_LEGACY_MAGIC):
        return _read_torch_file(path, overrides)
    if is_pickle(head):
        return _read_pickle(path, overrides)
    if head.lstrip().startswith(b'{'):  # a HuggingFace config.json next to its weights
        from . import extra_formats
        return extra_formats.read_biggan(path, overrides)
    raise CheckpointError(f'{path}: not a checkpoint (neither a torch file nor a network pickle)')


def _read_torch_file(path, overrides):
    try:
        obj = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch raises many types for bad files
        message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if 'weights_only' in str(error) or 'Unsupported global' in str(error):
            raise CheckpointError(f'{path}: refused to load: it holds objects that are not tensors '
                                  f'({message[:200]})') from None
        raise CheckpointError(f'{path}: cannot be read as a torch file, it may be truncated ({message[:200]})') from None
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path}: holds a {type(obj).__name__}, not a dict of weights')
    return from_torch_object(obj, path, overrides)


def from_torch_object(obj, path, overrides):
    """Dispatch a loaded torch object on its keys."""
    if 'g_ema' in obj:
        state = _state_dict(obj['g_ema'], path, 'g_ema')
        if not sg2.is_rosinality_state(state):
            raise CheckpointError(f'{path}: g_ema is not a rosinality StyleGAN2 generator')
        _check_family(overrides.get('family'), 'stylegan2', path)
        ours = sg2.convert_rosinality_state(state, obj.get('latent_avg'), where=path)
        config = sg2.config_from_state(ours, path, **_sg2_overrides(overrides))
        return Checkpoint('stylegan2', config, ours, 'rosinality .pt')
    models = obj.get('models', obj)
    if isinstance(models, dict) and ('generator_smooth' in models or 'generator' in models):
        which = 'generator_smooth' if 'generator_smooth' in models else 'generator'
        state = _state_dict(models[which], path, which)
        kwargs = (obj.get('model_kwargs_init') or {}).get(which) if isinstance(obj.get('model_kwargs_init'), dict) else None
        return _from_hammer_state(state, kwargs, path, which, overrides)
    if all(isinstance(v, torch.Tensor) for v in obj.values()):
        return _from_plain_state(obj, path, overrides)
    raise CheckpointError(f'{path}: unrecognised checkpoint layout (top-level keys: {sorted(obj)[:8]})')


def _state_dict(obj, path, name):
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f'{path}: {name} is not a state dict')
    check_tensors(obj, f'{path} [{name}]')
    return dict(obj)


def _sg2_overrides(overrides):
    names = ('img_resolution', 'w_dim', 'z_dim', 'channel_base')
    return {k: overrides.get(k) for k in names if overrides.get(k) is not None}


def _from_hammer_state(state, model_kwargs, path, which, overrides):
    where = f'{path} [{which}]'
    family = overrides.get('family')
    if sg2.is_hammer_stylegan2_state(state) and 'w_avg' in state:
        _check_family(family, 'stylegan2', path)
        ours = sg2.convert_hammer_state(state, where)
        config = sg2.config_from_state(ours, where, **_sg2_overrides(overrides))
        return Checkpoint('stylegan2', config, ours, 'Hammer .pth', {'which': which})
    from . import extra_formats
    found = extra_formats.from_hammer_like_state(state, model_kwargs, where, overrides)
    if found is None:
        raise CheckpointError(f'{where}: not a generator this toolkit knows (first keys: {list(state)[:4]})')
    _check_family(family, found.family, path)
    found.extra.setdefault('which', which)
    return found


def _from_plain_state(state, path, overrides):
    check_tensors(state, path)
    if sg2.is_nvlabs_stylegan2_state(state):
        _check_family(overrides.get('family'), 'stylegan2', path)
        ours = sg2.convert_nvlabs_state(state, path)
        config = sg2.config_from_state(ours, path, **_sg2_overrides(overrides))
        return Checkpoint('stylegan2', config, ours, 'NVlabs state dict')
    from . import extra_formats
    found = extra_formats.from_plain_state(state, path, overrides)
    if found is None:
        raise CheckpointError(f'{path}: a state dict of no generator this toolkit knows (first keys: {list(state)[:4]})')
    _check_family(overrides.get('family'), found.family, path)
    return found


def _read_pickle(path, overrides):
    try:
        obj = load_pickle(path)
    except UnsafePickleError as error:
        raise CheckpointError(f'{path}: refused to load: {error}') from None
    except Exception as error:  # truncated or corrupt pickles raise many types
        raise CheckpointError(f'{path}: cannot be read as a network pickle, it may be truncated '
                              f'({type(error).__name__}: {str(error)[:120]})') from None
    if isinstance(obj, tuple):  # TensorFlow-era pickles hold (G, D, Gs)
        from . import tensorflow
        found = tensorflow.read_tf_network(obj, obj, path, overrides)
        if found is None:
            raise CheckpointError(f'{path}: the pickle holds a tuple, not the (G, D, Gs) networks of a '
                                  'TensorFlow pickle')
        return found
    if not isinstance(obj, dict):
        raise CheckpointError(f'{path}: the pickle holds a {type(obj).__name__}, not a dict with G_ema')
    network = obj.get('G_ema', obj.get('Gs'))
    if network is None:
        raise CheckpointError(f'{path}: the pickle has no G_ema network (keys: {sorted(map(str, obj))[:8]})')
    if isinstance(network, PersistentObject):
        return _from_persistent(network, path, overrides)
    from . import extra_formats
    found = extra_formats.from_pickled_network(network, obj, path, overrides)
    if found is None:
        raise CheckpointError(f'{path}: G_ema is a {type(network).__name__}, not an NVlabs network')
    return found


def flatten_persistent(obj, where, prefix=''):
    """State dict (parameters and persistent buffers) of a pickled NVlabs module tree."""
    state = obj.state if isinstance(obj, PersistentObject) else getattr(obj, 'state', None)
    if not isinstance(state, dict):
        raise CheckpointError(f'{where}: module {prefix or "G_ema"} has no readable state')
    out = {}
    skip = set(state.get('_non_persistent_buffers_set', ()) or ())
    for group in ('_parameters', '_buffers'):
        for name, value in (state.get(group) or {}).items():
            if value is None or (group == '_buffers' and name in skip):
                continue
            if not isinstance(value, torch.Tensor):
                raise CheckpointError(f'{where}: {prefix}{name} is a {type(value).__name__}, not a tensor')
            out[prefix + name] = value.detach().to(torch.float32) if value.is_floating_point() else value
    for name, child in (state.get('_modules') or {}).items():
        if child is not None:
            out.update(flatten_persistent(child, where, f'{prefix}{name}.'))
    return out


def init_kwargs_of(obj):
    """Constructor kwargs that NVlabs' persistence recorded (positional ones mapped by name)."""
    state = obj.state
    kwargs = dict(state.get('_init_kwargs') or {})
    args = tuple(state.get('_init_args') or ())
    for name, value in zip(('z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels', 'mapping_kwargs'), args):
        kwargs.setdefault(name, value)
    return kwargs


def _from_persistent(network, path, overrides):
    where = f'{path} [G_ema]'
    state = flatten_persistent(network, where)
    check_tensors(state, where)
    kwargs = init_kwargs_of(network)
    if sg2.is_nvlabs_stylegan2_state(state):
        _check_family(overrides.get('family'), 'stylegan2', path)
        ours = sg2.convert_nvlabs_state(state, where)
        config = sg2.config_from_nvlabs_kwargs(kwargs, ours, where)
        config = sg2.apply_overrides(config, _sg2_overrides(overrides), where)
        return Checkpoint('stylegan2', config, ours, 'NVlabs pickle', {'class_name': network.class_name})
    from . import extra_formats
    found = extra_formats.from_nvlabs_persistent(network, state, kwargs, where, overrides)
    if found is None:
        raise CheckpointError(f'{where}: {network.class_name or "network"} is no generator this toolkit knows')
    _check_family(overrides.get('family'), found.family, path)
    return found


def _read_directory(path, overrides):
    from . import extra_formats
    found = extra_formats.from_directory(path, overrides)
    if found is None:
        raise CheckpointError(f'{path}: a folder, but not a HuggingFace BigGAN (config.json + pytorch_model.bin)')
    return found


def _check_family(wanted, found, path):
    if wanted is not None and wanted != found:
        flag = {'stylegan2': '--stylegan2', 'stylegan3': '--stylegan3'}.get(wanted, wanted)
        raise CheckpointError(f'{path}: {flag} was given, but the checkpoint holds a {found} generator')
