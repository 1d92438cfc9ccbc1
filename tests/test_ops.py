"""Shared ops: the fast FIR resampling against NVlabs' reference steps."""

import random

import pytest
import torch

from models import ops


def _random_case(rng):
    separable = rng.random() < 0.5
    taps_x, taps_y = rng.randint(1, 8), rng.randint(1, 8)
    factor = rng.choice([1, 2, 3, 4])
    up = rng.random() < 0.5
    return dict(
        f=torch.randn(taps_x) if separable else torch.randn(taps_y, taps_x),
        up=factor if up else 1,
        down=1 if up else factor,
        padding=[rng.randint(-2, 5) for _ in range(4)],
        gain=rng.choice([1, 2.0, 4]),
    ), torch.randn(2, rng.choice([1, 3, 4]), rng.randint(3, 9), rng.randint(3, 9))


def test_upfirdn2d_equals_reference_steps():
    """Zero insertion, padding or cropping, filtering and slicing, done step by step, give the same
    numbers as the transposed and strided convolutions, for any factor, pads and filter."""
    rng = random.Random(0)
    torch.manual_seed(0)
    checked = 0
    while checked < 300:
        kwargs, x = _random_case(rng)
        try:
            ref = ops.upfirdn2d_reference(x, **kwargs)
        except RuntimeError:  # the pads crop away the whole image
            continue
        if min(ref.shape) == 0:
            continue
        out = ops.upfirdn2d(x, **kwargs)
        assert out.shape == ref.shape, kwargs
        assert (out - ref).abs().max() <= 1e-5 * ref.abs().max(), kwargs
        checked += 1


@pytest.mark.parametrize('up,down', [(2, 1), (1, 2), (4, 1)])
def test_upfirdn2d_under_jvp_and_vmap(up, down):
    """Channels-last is skipped inside vmap; the derivative is the reference's."""
    f = ops.setup_filter([1, 3, 3, 1])
    x = torch.randn(1, 4, 6, 6)
    tangents = torch.randn(3, 1, 4, 6, 6)

    def push(fn):
        return torch.func.vmap(lambda t: torch.func.jvp(lambda v: fn(v, f, up=up, down=down, padding=1),
                                                        (x,), (t,))[1])(tangents)

    ours, ref = push(ops.upfirdn2d), push(ops.upfirdn2d_reference)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() <= 1e-5 * ref.abs().max()
