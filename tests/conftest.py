"""Shared fixtures: the golden reference cases and small helpers."""

import os
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

SHARED = Path(os.environ.get('GANSEMANTICS_SHARED', ROOT.parent / 'shared'))
# Where the tests that take a device put their models: GANSEMANTICS_TEST_DEVICE=cuda runs them on the GPU.
DEVICE = os.environ.get('GANSEMANTICS_TEST_DEVICE', 'cpu')
if DEVICE != 'cpu' and not (DEVICE.startswith('cuda') and torch.cuda.is_available()):
    raise RuntimeError(f'GANSEMANTICS_TEST_DEVICE={DEVICE}: no such device here')
GOLDEN = SHARED / 'golden'
PUBLISHED = SHARED / 'published'


def golden_case(name):
    """Path of a golden case folder; skips the test when it is absent."""
    path = GOLDEN / name
    if not path.is_dir():
        pytest.skip(f'golden case {name} not found under {GOLDEN} (../shared is absent)')
    return path


def load_pt(path):
    return torch.load(path, map_location='cpu', weights_only=True)


def max_abs_diff(a, b):
    a = torch.as_tensor(a, dtype=torch.float64)
    b = torch.as_tensor(b, dtype=torch.float64)
    assert a.shape == b.shape, f'shape {tuple(a.shape)} != {tuple(b.shape)}'
    return (a - b).abs().max().item()


@pytest.fixture(autouse=True)
def _single_threaded_determinism():
    torch.manual_seed(0)
    yield
