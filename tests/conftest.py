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
if torch.cuda.is_available():
    # Several tests compare two runs bit for bit (a rebuilt model, a resumed job). cuDNN's transposed
    # convolutions (the FIR upsampling) may otherwise pick algorithms that sum in a varying order.
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
if DEVICE != 'cpu':
    # The golden tolerances (1e-4) are for float32 arithmetic: cuDNN convolutions default to TF32 on
    # Ampere and later GPUs (about 1e-3 relative), so full float32 is asked for here.
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cuda.matmul.allow_tf32 = False
GOLDEN = SHARED / 'golden'
PUBLISHED = SHARED / 'published'


def golden_case(name):
    """Path of a golden case folder; skips the test, saying what it checks, when the folder is absent."""
    path = GOLDEN / name
    if not path.is_dir():
        pytest.skip(f'fidelity against the official implementations\' outputs: golden case {name} is not under '
                    f'{GOLDEN} (the folder beside the repository, or $GANSEMANTICS_SHARED/golden)')
    return path



def load_pt(path, device='cpu'):
    """A tensor file (or a dict of tensors), its tensors put on `device`."""
    return torch.load(path, map_location=device, weights_only=True)


def _cpu_float64(x):
    if isinstance(x, torch.Tensor):
        return x.detach().to(device='cpu', dtype=torch.float64)
    return torch.as_tensor(x, dtype=torch.float64)


def max_abs_diff(a, b):
    """Largest |a - b|, in float64 on the CPU: either side may be a tensor on any device or a numpy array."""
    a, b = _cpu_float64(a), _cpu_float64(b)
    assert a.shape == b.shape, f'shape {tuple(a.shape)} != {tuple(b.shape)}'
    return (a - b).abs().max().item()


@pytest.fixture(autouse=True)
def _single_threaded_determinism():
    torch.manual_seed(0)
    yield
