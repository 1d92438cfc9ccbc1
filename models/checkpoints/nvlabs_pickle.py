"""Reader of NVlabs PyTorch network pickles (stylegan2-ada-pytorch, stylegan3): StyleGAN2 and StyleGAN3.

`safe_pickle` reads `G_ema` as a `PersistentObject` tree; the state dict is collected from it, the config comes from the
recorded constructor kwargs, and the tables of `stylegan2_names` / `stylegan3_names` convert it.
"""

from . import stylegan2_names as sg2
from . import stylegan3_names as sg3
from .common import Checkpoint, CheckpointError
from .safe_pickle import PersistentObject

FORMAT = 'NVlabs pickle'


def _network(obj):
    """The pickled generator (`G_ema`, else `Gs`) of an unpickled dict, or None."""
    return obj.get('G_ema', obj.get('Gs')) if isinstance(obj, dict) else None


def claims(source):
    """A pickle of a dict whose `G_ema` is an NVlabs persistent object."""
    return source.is_pickle and isinstance(_network(source.pickle_object()), PersistentObject)


def read(source, hints):
    """`Checkpoint` of `G_ema`; the pickle records the whole config, so `hints` are not needed."""
    network = _network(source.pickle_object())
    where = f'{source.path} [G_ema]'
    state, kwargs = flatten_persistent(network), init_kwargs_of(network)
    if sg2.is_nvlabs_state(state):
        config = sg2.config_from_nvlabs_kwargs(kwargs, state, where)
        return Checkpoint('stylegan2', config, sg2.convert_nvlabs_state(state, config, where), FORMAT)
    if sg3.is_nvlabs_stylegan3_state(state):
        config = sg3.config_from_nvlabs_kwargs(kwargs, where)
        return Checkpoint('stylegan3', config, sg3.convert_nvlabs_state(state, config, where), FORMAT,
                          {'cfg': sg3.cfg_of(config)})
    raise CheckpointError(f'{where}: {network.class_name or "network"} is no generator this toolkit knows')


def flatten_persistent(obj, prefix=''):
    """State dict (parameters and persistent buffers) of a pickled NVlabs module tree; the reader checks it."""
    state = getattr(obj, 'state', None)
    state = state if isinstance(state, dict) else {}
    skip = set(state.get('_non_persistent_buffers_set') or ())
    out = {prefix + name: value for group in ('_parameters', '_buffers')
           for name, value in (state.get(group) or {}).items()
           if value is not None and not (group == '_buffers' and name in skip)}
    for name, child in (state.get('_modules') or {}).items():
        out.update(flatten_persistent(child, f'{prefix}{name}.'))
    return out


def init_kwargs_of(obj):
    """Constructor kwargs that NVlabs' persistence recorded (positional ones mapped by name)."""
    kwargs = dict(obj.state.get('_init_kwargs') or {})
    args = tuple(obj.state.get('_init_args') or ())
    for name, value in zip(('z_dim', 'c_dim', 'w_dim', 'img_resolution', 'img_channels', 'mapping_kwargs'), args):
        kwargs.setdefault(name, value)
    return kwargs
