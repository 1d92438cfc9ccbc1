"""Checkpoint loading never runs code from the file."""

import importlib
import io
import os
import pickle
import subprocess
import sys
import zipfile

import pytest
import torch

from models import CheckpointError, SettingMismatch, load_generator
from models.checkpoints import read_checkpoint
from models.checkpoints.safe_pickle import UnsafePickleError, load_pickle
from tests.conftest import ROOT, golden_case, load_pt
from tests.pickles import fake_nvlabs_modules, module_tree

MARKER_ENV = 'GANSEMANTICS_PWNED_MARKER'


class _RunsCommand:
    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return (self.func, self.args)


def _hostile_payloads(marker):
    command = f'touch {marker}'
    return {
        'os_system': _RunsCommand(os.system, command),
        'eval': _RunsCommand(eval, f"__import__('os').system({command!r})"),
        'exec': _RunsCommand(exec, f"__import__('os').system({command!r})"),
        'subprocess': _RunsCommand(subprocess.call, ['touch', str(marker)]),
        'import_module': _RunsCommand(importlib.import_module, 'os'),
    }


@pytest.mark.parametrize('name', ['os_system', 'eval', 'exec', 'subprocess', 'import_module'])
def test_hostile_top_level_payload_is_refused(name, tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / f'{name}.pkl'
    path.write_bytes(pickle.dumps({'G_ema': _hostile_payloads(marker)[name]}))
    with pytest.raises(CheckpointError, match='refused to load'):
        read_checkpoint(path)
    assert not marker.exists()


def test_payload_nested_inside_g_ema_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    tree = module_tree({'mapping.fc0.weight': torch.zeros(2, 2)})
    tree.meta['state']['_modules']['mapping'].meta['state']['evil'] = _RunsCommand(os.system, f'touch {marker}')
    path = tmp_path / 'nested.pkl'
    with fake_nvlabs_modules():
        path.write_bytes(pickle.dumps({'G_ema': tree}))
    with pytest.raises(CheckpointError, match='posix.system|os.system|nt.system'):
        read_checkpoint(path)
    assert not marker.exists()


def test_module_src_is_never_executed(tmp_path):
    """A persistence `module_src` that would run code is kept as inert text."""
    marker = tmp_path / 'pwned'
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    import json
    meta = json.loads((case_dir / 'meta.json').read_text())
    src = f"import os\nos.system('touch {marker}')\nclass Generator: pass\n"
    tree = module_tree(load_pt(case_dir / 'state_dict.pt'), init_kwargs=meta['init_kwargs'], module_src=src,
                       buffer_names=('w_avg', 'noise_const', 'resample_filter'))
    path = tmp_path / 'src.pkl'
    with fake_nvlabs_modules():
        path.write_bytes(pickle.dumps({'G_ema': tree}))
    G = load_generator(path)
    assert G.family == 'stylegan2'
    assert not marker.exists()
    assert 'torch_utils' not in sys.modules and 'torch_utils.persistence' not in sys.modules


def test_torch_zip_with_payload_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'generator_smooth': {'w': torch.zeros(1)}, 'x': _RunsCommand(os.system, f'touch {marker}')}, path)
    assert zipfile.is_zipfile(path)
    with pytest.raises(CheckpointError, match='refused to load'):
        read_checkpoint(path)
    assert not marker.exists()


def test_pickle_inside_zip_archive_data_pkl_is_refused(tmp_path):
    """A torch zip archive whose data.pkl was replaced by a hostile pickle."""
    marker = tmp_path / 'pwned'
    good = tmp_path / 'good.pt'
    torch.save({'g_ema': {}}, good)
    evil = tmp_path / 'evil.pt'
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(evil, 'w') as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith('data.pkl'):
                data = pickle.dumps(_RunsCommand(os.system, f'touch {marker}'), protocol=2)
            dst.writestr(item, data)
    with pytest.raises(CheckpointError):
        read_checkpoint(evil)
    assert not marker.exists()


def test_loading_needs_no_nvlabs_code(tmp_path):
    """In a fresh interpreter where importing NVlabs modules fails, a pickle still loads."""
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    import json

    from tests.pickles import write_nvlabs_pickle
    meta = json.loads((case_dir / 'meta.json').read_text())
    path = write_nvlabs_pickle(tmp_path / 'snap.pkl', load_pt(case_dir / 'state_dict.pt'), meta['init_kwargs'],
                               buffer_names=('w_avg', 'noise_const'))
    code = (
        'import sys, builtins\n'
        'real = builtins.__import__\n'
        'def guard(name, *a, **k):\n'
        '    if name.split(".")[0] in ("torch_utils", "dnnlib", "training", "legacy"):\n'
        '        raise ImportError("NVlabs code must not be imported: " + name)\n'
        '    return real(name, *a, **k)\n'
        'builtins.__import__ = guard\n'
        f'sys.path.insert(0, {str(ROOT)!r})\n'
        'from models import load_generator\n'
        f'G = load_generator({str(path)!r})\n'
        'print(G.family, G.img_resolution)\n'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ['stylegan2', '32']


def test_unknown_global_is_named_in_the_error(tmp_path):
    path = tmp_path / 'x.pkl'
    path.write_bytes(pickle.dumps({'G_ema': io.BytesIO(b'')}))
    with pytest.raises(UnsafePickleError, match='_io.BytesIO'):
        load_pickle(path)


@pytest.mark.parametrize('content,message', [
    (b'', 'empty'),
    (b'hello world, not a checkpoint', 'not a checkpoint'),
    (b'\x80\x04\x95', 'truncated'),
])
def test_bad_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / 'model.pkl'
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=message) as info:
        read_checkpoint(path)
    assert '\n' not in str(info.value) and str(path) in str(info.value)


def test_truncated_torch_file(tmp_path):
    case_dir = golden_case('hammer_sg2_r32')
    data = (case_dir / 'hammer_checkpoint.pth').read_bytes()
    path = tmp_path / 'cut.pth'
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value) and '\n' not in str(info.value)


def test_tensor_shape_mismatch_is_named(tmp_path):
    case_dir = golden_case('nvlabs_sg2_uncond_r32')
    state = load_pt(case_dir / 'state_dict.pt')
    state['synthesis.b8.conv1.affine.weight'] = torch.zeros(7, 64)
    path = tmp_path / 'bad.pt'
    torch.save(state, path)
    with pytest.raises(CheckpointError, match='synthesis.b8.conv1.affine.weight'):
        load_generator(path)


def test_missing_tensor_is_named(tmp_path):
    case_dir = golden_case('hammer_sg2_r32')
    obj = torch.load(case_dir / 'hammer_checkpoint.pth', weights_only=True)
    del obj['models']['generator_smooth']['synthesis.layer3.style.bias']
    path = tmp_path / 'bad.pth'
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match='layer3.style.bias|b16.conv0.affine.bias'):
        load_generator(path)


def test_nan_weights_are_refused(tmp_path):
    case_dir = golden_case('rosinality_sg2_r32')
    obj = torch.load(case_dir / 'rosinality_ckpt.pt', weights_only=True)
    obj['g_ema']['convs.0.conv.weight'][0, 0, 0, 0, 0] = float('nan')
    path = tmp_path / 'nan.pt'
    torch.save(obj, path)
    with pytest.raises(CheckpointError, match='NaN'):
        load_generator(path)


def test_wrong_family_is_an_error():
    case_dir = golden_case('hammer_sg2_r32')
    with pytest.raises(SettingMismatch, match='asked for a stylegan3 generator, but the checkpoint holds a stylegan2'):
        load_generator(case_dir / 'hammer_checkpoint.pth', family='stylegan3')


def test_contradicting_resolution_is_an_error():
    case_dir = golden_case('hammer_sg2_r32')
    with pytest.raises(SettingMismatch, match='img_resolution=1024 was asked for, but the checkpoint holds '
                                              'img_resolution=32'):
        load_generator(case_dir / 'hammer_checkpoint.pth', img_resolution=1024)
    G = load_generator(case_dir / 'hammer_checkpoint.pth', img_resolution=32, w_dim=32, channel_base=256)
    assert G.img_resolution == 32
