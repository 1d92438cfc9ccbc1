"""Official tensor names -> ours: one table of `Rule`s per layout, as in NVlabs' `legacy.py`, applied strictly:
the first unmatched, missing, misshapen or non-finite tensor is an error naming the file and the key."""

import itertools
import re
from dataclasses import dataclass
from typing import Callable

import torch

from ..registry import build_skeleton, family_classes
from .common import CheckpointError

_REGEX_SYNTAX = re.compile(r'[\\()\[\]{}*+?|^$]')


@dataclass(frozen=True)
class Rule:
    """One line of a conversion table."""

    source: str                  # Source key; a regex matching whole keys only when `target` is None.
    target: str = None           # Our key; None = ignored.
    transform: Callable = None   # Source value (float32) -> our value.
    shape: tuple = None          # Expected source shape, None entries free; None = any shape.
    check: Callable = None       # Ignored keys: value -> what is wrong with it (text), or None.
    optional: bool = False       # An exact source key that may be absent.


def ignore(source, shape=None, check=None, optional=False):
    """A rule for a source key (or pattern) that our modules do not load."""
    return Rule(source, None, shape=shape, check=check, optional=optional)


def equals(expected):
    """Check of an ignored value: it must be `expected` (our modules assume it)."""
    def check(value):
        wrong = not torch.allclose(value, expected, atol=1e-6)
        return f'is not the value this architecture assumes ({value.flatten()[:4].tolist()}...)' if wrong else None
    return check


# Transforms shared by several layouts.
first = lambda value: value[0]           # [1, ...] -> [...]
noise_map = lambda value: value[0, 0]    # a noise input [1, 1, H, W] -> [H, W]
plus_one = lambda value: value + 1       # a style bias the source's code adds 1 to at run time (ours starts at 1)


def convert(state, rules, where, expected=None, label='tensor'):
    """Our state dict from `state` by the table `rules`; with `expected` (`{our key: shape}`) exactly those tensors."""
    ours, problem = _apply(state, rules, expected, label)
    if problem:
        raise CheckpointError(f'{where}: {problem}')
    return ours


def _apply(state, rules, expected, label):
    """`(our state dict, None)`, or `(None, the first problem)`."""
    exact = {rule.source: rule for rule in rules if not _REGEX_SYNTAX.search(rule.source)}
    patterns = [rule for rule in rules if rule.source not in exact]
    ours, origin = {}, {}
    for key, value in state.items():
        rule = exact.get(key) or next((r for r in patterns if re.fullmatch(r.source, key)), None)
        name = f'{label} {key}'
        if rule is None:
            return None, f'unexpected {name}'
        if not isinstance(value, torch.Tensor):
            return None, f'{name} is a {type(value).__name__}, not a tensor'
        if rule.shape is not None and not (value.ndim == len(rule.shape) and all(
                want is None or want == size for size, want in zip(value.shape, rule.shape))):
            shape = ', '.join('?' if size is None else str(size) for size in rule.shape)
            return None, f'{name} has shape {list(value.shape)}, expected [{shape}]'
        value = value.float() if value.is_floating_point() else value
        if rule.target is None:
            problem = rule.check(value) if rule.check else None
            if problem:
                return None, f'{name} {problem}'
            continue
        if not value.is_floating_point():  # would be read as rounded weights
            dtype = str(value.dtype).removeprefix('torch.')
            return None, f'{name} holds {dtype} values, expected floating-point weights'
        if not value.sum().isfinite() and not value.isfinite().all():  # a finite sum proves it, ten times faster
            return None, f'{name} holds NaN or infinite values'
        target = rule.target
        try:
            converted = rule.transform(value) if rule.transform else value
        except (RuntimeError, IndexError):  # a shape the transform cannot take
            return None, f'{name} has shape {list(value.shape)}, which does not fit {target}'
        for_target = f' (for {target})' if target != key else ''
        if target in ours:
            return None, f'{label}s {origin[target]} and {key} both give {target}'
        if expected is not None and target not in expected:
            return None, f'unexpected {name}{for_target}'
        if expected is not None and tuple(converted.shape) != tuple(expected[target]):
            gives = f', which gives {target} shape {list(converted.shape)}' if converted.shape != value.shape else ''
            return None, (f'{name} has shape {list(value.shape)}{gives}, expected {list(expected[target])}'
                          f'{"" if gives else for_target}')
        ours[target], origin[target] = converted, key
    absent = [rule for rule in exact.values() if not rule.optional and rule.source not in state]
    accounted = set(ours) | {rule.target for rule in absent}
    missing = [rule.source for rule in absent]
    missing += [f'for {target}' for target in expected or () if target not in accounted]
    if missing:
        return None, f'missing {label} {missing[0]}' + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else '')
    return ours, None


def convert_and_infer(state, rules, where, family, infer, label='tensor', **settings):
    """`(config, our state dict)`: renamed by `rules`, the config inferred, converted again against its model."""
    config = infer(convert(state, rules, where, label=label), where, **settings)
    return config, convert(state, rules, where, model_shapes(family, config), label)


def shape_of(state, key, where, ndim):
    """The shape of `state[key]`, which must exist and have `ndim` dimensions."""
    if key not in state:
        raise CheckpointError(f'{where}: missing tensor {key}')
    shape = tuple(state[key].shape)
    if len(shape) != ndim:
        raise CheckpointError(f'{where}: tensor {key} has shape {list(shape)}, expected {ndim} dimensions')
    return shape


def count_indices(keys, pattern, start=0):
    """Number of consecutive indices i = start, start + 1, ... with `pattern.format(i)` in `keys`."""
    return next(count for count in itertools.count() if pattern.format(start + count) not in keys)


def model_shapes(family, config):
    """`{our key: shape}` of the generator of `config`."""
    return {key: tuple(value.shape) for key, value in build_skeleton(family, config).state_dict().items()}


def own_rules(family, config):
    """Table of a state dict already in our names: every tensor of the model, with its shape."""
    return [Rule(key, key, shape=shape) for key, shape in model_shapes(family, config).items()]


def make_config(family, where, **values):
    """The config of `family` from values read from a file, checked by building its generator."""
    try:
        config = family_classes(family)[1](**values)
        build_skeleton(family, config)
    except (TypeError, ValueError, RuntimeError) as error:  # whatever the family's modules say of bad settings
        raise CheckpointError(f'{where}: no {family} generator builds from these settings '
                              f'({" ".join(str(error).split())[:160]})') from None
    return config
