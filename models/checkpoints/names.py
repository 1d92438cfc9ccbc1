r"""Official tensor names -> ours: one table of rules per layout, applied strictly.

In the manner of NVlabs' `legacy.py`, a conversion table is a list of
`Rule(source, target, transform, shape)`:

- `source` is an exact key, or a regular expression matching whole keys
  (a source holding any regex syntax besides `.` is a pattern), for example
  `Rule(r'mapping\.dense(\d+)\.(weight|bias)', r'mapping.fc\1.\2')`;
- `target` is our key, a template whose `\1`, `\2`, ... are the source's
  groups; `target=None` ignores the source key (our modules rebuild it, like
  resampling filters, or never use it, like the ToRGB layers of lower
  resolutions), and the rule's `check` may still require its value;
- `transform` turns the source value into our layout (transpose, flip, +1);
- `shape` is the expected source shape (None entries are free).

`convert` applies a table strictly: a source key no rule matches is
unexpected, an exact key of a rule that is not `optional` must be there, every
shape and every value is checked (no NaN or infinite values), and with
`expected` (our keys and shapes, e.g. `model_shapes` of the config) the result
must be exactly the model's tensors. Every error is one line naming the file
and the source key.
"""

import re
from dataclasses import dataclass, field
from typing import Callable

import torch

from .common import CheckpointError

__all__ = ['Rule', 'Converted', 'ignore', 'equals', 'apply', 'check_shapes', 'convert', 'count_indices', 'model_shapes']

_REGEX_SYNTAX = re.compile(r'[\\()\[\]{}*+?|^$]')


@dataclass(frozen=True)
class Rule:
    """One line of a conversion table."""

    source: str                  # Exact source key, or a regex matching whole keys.
    target: str = None           # Our key (a template: \1, \2 ... are the source's groups); None = ignored.
    transform: Callable = None   # Source value (float32) -> our value.
    shape: tuple = None          # Expected source shape, None entries free; None = any shape.
    check: Callable = None       # Ignored keys: value -> what is wrong with it (text), or None.
    optional: bool = False       # An exact source key that may be absent.

    @property
    def is_pattern(self):
        return bool(_REGEX_SYNTAX.search(self.source))


def ignore(source, shape=None, check=None, optional=False):
    """A rule for a source key (or pattern) that our modules do not load."""
    return Rule(source, None, shape=shape, check=check, optional=optional)


def equals(expected, atol=1e-6):
    """Check of an ignored value: it must be `expected` (our modules assume it)."""
    def check(value):
        if not torch.allclose(value, expected, atol=atol):
            return f'is not the value this architecture assumes ({value.flatten()[:4].tolist()}...)'
        return None
    return check


@dataclass
class Converted:
    """Result of `apply`: our tensors and, for messages, where each came from."""

    state: dict                                   # Our key -> tensor.
    origin: dict = field(default_factory=dict)    # Our key -> source key.
    shapes: dict = field(default_factory=dict)    # Source key -> source shape.
    rules: list = field(default_factory=list)     # The table, to name the source of a missing key.


def _shape_text(shape):
    return '[' + ', '.join('?' if size is None else str(size) for size in shape) + ']'


def _fits(shape, expected):
    return len(shape) == len(expected) and all(e is None or e == s for s, e in zip(shape, expected))


def apply(state, rules, where, label='tensor'):
    """Apply a conversion table; returns `Converted`.

    Args:
        state: Source tensors by source key.
        rules: The table (exact rules are looked up first, then patterns in order).
        where: The file (and the network in it), for messages.
        label: What a source entry is called in messages ('tensor', 'TensorFlow variable').

    Raises:
        CheckpointError: an unexpected, missing or misshapen source key, a value
            that is not a finite tensor, an ignored value that fails its check, or
            two source keys giving the same key of ours.
    """
    exact = {rule.source: rule for rule in rules if not rule.is_pattern}
    patterns = [(re.compile(rule.source), rule) for rule in rules if rule.is_pattern]
    out = Converted({}, rules=list(rules))
    for key, value in state.items():
        rule, match = exact.get(key), None
        if rule is None:
            for regex, candidate in patterns:
                match = regex.fullmatch(key)
                if match:
                    rule = candidate
                    break
        if rule is None:
            raise CheckpointError(f'{where}: unexpected {label} {key}')
        value = _checked_value(value, rule, key, where, label)
        out.shapes[key] = tuple(value.shape)
        if rule.target is None:
            problem = rule.check(value) if rule.check is not None else None
            if problem:
                raise CheckpointError(f'{where}: {label} {key} {problem}')
            continue
        target = match.expand(rule.target) if match else rule.target
        if target in out.state:
            raise CheckpointError(f'{where}: {label}s {out.origin[target]} and {key} both give {target}')
        out.state[target] = rule.transform(value) if rule.transform is not None else value
        out.origin[target] = key
    missing = [rule.source for rule in exact.values() if not rule.optional and rule.source not in state]
    if missing:
        raise CheckpointError(f'{where}: missing {label} {missing[0]}'
                              + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))
    return out


def _checked_value(value, rule, key, where, label):
    if not isinstance(value, torch.Tensor):
        raise CheckpointError(f'{where}: {label} {key} is a {type(value).__name__}, not a tensor')
    if rule.shape is not None and not _fits(tuple(value.shape), rule.shape):
        raise CheckpointError(f'{where}: {label} {key} has shape {list(value.shape)}, '
                              f'expected {_shape_text(rule.shape)}')
    if value.is_floating_point():
        value = value.to(torch.float32)
        if not torch.isfinite(value).all():
            raise CheckpointError(f'{where}: {label} {key} holds NaN or infinite values')
    return value


def check_shapes(converted, expected, where, label='tensor'):
    """The converted tensors must be exactly `expected` (our key -> shape).

    Raises:
        CheckpointError: naming the source key of a tensor the model lacks or
            that has the wrong shape, or of a tensor the model needs and the
            file lacks.
    """
    for target, value in converted.state.items():
        source = converted.origin[target]
        for_target = f' (for {target})' if source != target else ''
        if target not in expected:
            raise CheckpointError(f'{where}: unexpected {label} {source}{for_target}')
        if tuple(value.shape) != tuple(expected[target]):
            source_shape = list(converted.shapes[source])
            gives = f', which gives {target} shape {list(value.shape)}' if source_shape != list(value.shape) else ''
            raise CheckpointError(f'{where}: {label} {source} has shape {source_shape}{gives}, '
                                  f'expected {list(expected[target])}{for_target if not gives else ""}')
    missing = [target for target in expected if target not in converted.state]
    if missing:
        names = [_source_of(target, converted.rules) for target in missing]
        raise CheckpointError(f'{where}: missing {label} {names[0]}'
                              + (f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''))


def convert(state, rules, where, label='tensor', expected=None):
    """`apply` the table, then (with `expected`) `check_shapes`; returns our state dict."""
    converted = apply(state, rules, where, label)
    if expected is not None:
        check_shapes(converted, expected, where, label)
    return converted.state


def count_indices(keys, pattern, start=0):
    """Number of consecutive indices i = start, start + 1, ... with `pattern.format(i)` in `keys`."""
    count = 0
    while pattern.format(start + count) in keys:
        count += 1
    return count


def model_shapes(module_class, config):
    """`{key: shape}` of the state dict of `module_class(config)`, built on the meta device."""
    with torch.device('meta'):
        module = module_class(config)
    return {key: tuple(value.shape) for key, value in module.state_dict().items()}


# ----------------------------------------------------------------------------
# Naming the source key of a missing tensor of ours: run a rule backwards.

def _source_of(target, rules):
    """The source key that would give `target`, or `for <target>` when no rule tells."""
    for rule in rules:
        if rule.target is None:
            continue
        if not rule.is_pattern:
            if rule.target == target:
                return rule.source
            continue
        source = _invert(rule, target)
        if source is not None:
            return source
    return f'for {target}'


def _split_pattern(pattern):
    """A regex as `[literal text or ('group', index, regex)]`; None when it is not that simple."""
    parts, i, index = [], 0, 0
    while i < len(pattern):
        char = pattern[i]
        if char == '\\' and i + 1 < len(pattern) and not pattern[i + 1].isalnum():
            parts.append(pattern[i + 1])
            i += 2
        elif char == '(' and not pattern.startswith('(?', i):
            depth, j = 0, i
            while j < len(pattern):
                if pattern[j] == '\\':
                    j += 2
                    continue
                depth += {'(': 1, ')': -1}.get(pattern[j], 0)
                if depth == 0:
                    break
                j += 1
            index += 1
            parts.append(('group', index, pattern[i + 1:j]))
            i = j + 1
        elif char == '.' or not _REGEX_SYNTAX.match(char):
            parts.append(char)
            i += 1
        else:
            return None
    return parts


def _invert(rule, target):
    parts = _split_pattern(rule.source)
    if parts is None:
        return None
    groups = {part[1]: part[2] for part in parts if isinstance(part, tuple)}
    regex, seen = '', set()
    for piece in re.split(r'(\\\d+)', rule.target):
        if re.fullmatch(r'\\\d+', piece):
            n = int(piece[1:])
            if n not in groups:
                return None
            regex += f'(?P=g{n})' if n in seen else f'(?P<g{n}>{groups[n]})'
            seen.add(n)
        else:
            regex += re.escape(piece)
    match = re.fullmatch(regex, target)
    if match is None or seen != set(groups):
        return None
    return ''.join(match.group(f'g{part[1]}') if isinstance(part, tuple) else part for part in parts)
