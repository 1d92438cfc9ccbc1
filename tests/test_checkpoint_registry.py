"""The checkpoint registry: readers and their claims, the strict name mapper, settings, model identity."""

import json
import pickle
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from conftest import ROOT, golden_case, load_pt

import models
import synthesis
from models import checkpoints, zoo
from models.checkpoints import (
    READERS,
    CheckpointError,
    SettingMismatch,
    SettingNeeded,
    Source,
    find_reader,
    names,
    read_checkpoint,
)
from models.checkpoints import stylegan3_names as sg3
from models.checkpoints.names import Rule, ignore
from tests.clitools import assert_one_line_error, invoke
from tests.layouts import stylegan2_to_tf
from tests.pickles import write_nvlabs_pickle, write_tf_pickle
from utils.fileio import sha256_of

SG2_BUFFERS = ('w_avg', 'noise_const', 'resample_filter')
SG3_BUFFERS = ('w_avg', 'filter', 'magnitude_ema', 'transform', 'freqs', 'phases')
TF_KWARGS = dict(num_channels=3, resolution=32, label_size=0, fmap_base=256, fmap_max=32, latent_size=64,
                 dlatent_size=64)


# ----------------------------------------------------------------------------
# One file of each format, each claimed by exactly one reader.

def _nvlabs_pickle(case, path, buffers):
    folder = golden_case(case)
    meta = json.loads((folder / 'meta.json').read_text())
    return write_nvlabs_pickle(path, load_pt(folder / 'state_dict.pt'), meta['init_kwargs'], buffer_names=buffers)


@pytest.fixture(scope='module')
def format_files(tmp_path_factory):
    """`{name: (path, reader module, family, format)}`, built from the golden cases."""
    tmp = tmp_path_factory.mktemp('formats')
    sg2 = load_pt(golden_case('nvlabs_sg2_uncond_r32') / 'state_dict.pt')
    sefa = golden_case('sefa_stylegan2_r32')
    hf = golden_case('biggan_deep_r32') / 'hf'
    return {
        'nvlabs_pickle_sg2': (_nvlabs_pickle('nvlabs_sg2_uncond_r32', tmp / 'sg2.pkl', SG2_BUFFERS),
                              checkpoints.nvlabs_pickle, 'stylegan2', 'NVlabs pickle'),
        'nvlabs_pickle_sg3': (_nvlabs_pickle('nvlabs_sg3r_r32', tmp / 'sg3.pkl', SG3_BUFFERS),
                              checkpoints.nvlabs_pickle, 'stylegan3', 'NVlabs pickle'),
        'tensorflow_tuple': (write_tf_pickle(tmp / 'tf.pkl', stylegan2_to_tf(sg2, 32, TF_KWARGS)),
                             checkpoints.tensorflow_pickle, 'stylegan2', 'NVlabs TensorFlow pickle'),
        'tensorflow_dict': (write_tf_pickle(tmp / 'tf_dict.pkl', stylegan2_to_tf(sg2, 32, TF_KWARGS), form='dict'),
                            checkpoints.tensorflow_pickle, 'stylegan2', 'NVlabs TensorFlow pickle'),
        'rosinality': (golden_case('rosinality_sg2_r32') / 'rosinality_ckpt.pt',
                       checkpoints.rosinality, 'stylegan2', 'rosinality .pt'),
        'hammer_sg2': (golden_case('hammer_sg2_r32') / 'hammer_checkpoint.pth',
                       checkpoints.hammer, 'stylegan2', 'Hammer .pth'),
        'hammer_sg3': (golden_case('hammer_sg3t_r32') / 'hammer_checkpoint.pth',
                       checkpoints.hammer, 'stylegan3', 'Hammer .pth'),
        'genforce': (sefa / 'checkpoints' / 'sefa_stylegan2_r32.pth', checkpoints.hammer, 'stylegan2', 'genforce .pth'),
        'genforce_state_dict': (sefa / 'state_dict.pt', checkpoints.hammer, 'stylegan2', 'genforce .pth'),
        'nvlabs_state_dict': (golden_case('nvlabs_sg2_uncond_r32') / 'state_dict.pt',
                              checkpoints.nvlabs_state_dict, 'stylegan2', 'NVlabs state dict'),
        'huggingface_folder': (hf, checkpoints.huggingface, 'biggan', 'HuggingFace BigGAN'),
        'huggingface_config': (hf / 'config.json', checkpoints.huggingface, 'biggan', 'HuggingFace BigGAN'),
        'huggingface_weights': (hf / 'pytorch_model.bin', checkpoints.huggingface, 'biggan', 'HuggingFace BigGAN'),
        'toolkit_export': (ROOT / 'models' / 'builtin' / 'faces64.pt', checkpoints.toolkit, 'stylegan2',
                           'toolkit export'),
    }


def test_readers_in_order_with_one_interface():
    assert [reader.__name__.rsplit('.', 1)[1] for reader in READERS] == [
        'nvlabs_pickle', 'tensorflow_pickle', 'rosinality', 'hammer', 'nvlabs_state_dict', 'huggingface', 'toolkit']
    assert [reader.FORMAT for reader in READERS] == [
        'NVlabs pickle', 'NVlabs TensorFlow pickle', 'rosinality .pt', 'Hammer / genforce .pth',
        'NVlabs state dict', 'HuggingFace BigGAN', 'toolkit export']
    for reader in READERS:
        assert callable(reader.claims) and callable(reader.read)


def test_each_file_is_claimed_by_exactly_its_reader(format_files):
    for name, (path, reader, family, fmt) in format_files.items():
        source = Source(path)
        claimed = [r.FORMAT for r in READERS if r.claims(source)]
        assert claimed == [reader.FORMAT], name
        assert find_reader(source) is reader
        checkpoint = read_checkpoint(path)
        assert (checkpoint.family, checkpoint.format) == (family, fmt), name


def test_claims_come_from_content_not_names(format_files, tmp_path):
    """A pickle named .pt, a torch file named .pkl: the content decides."""
    pickle_path, _, _, _ = format_files['nvlabs_pickle_sg2']
    torch_path, _, _, _ = format_files['rosinality']
    shutil.copy(pickle_path, tmp_path / 'model.pt')
    shutil.copy(torch_path, tmp_path / 'model.pkl')
    assert find_reader(Source(tmp_path / 'model.pt')) is checkpoints.nvlabs_pickle
    assert find_reader(Source(tmp_path / 'model.pkl')) is checkpoints.rosinality


def test_a_source_loads_its_file_once(format_files, monkeypatch):
    path = format_files['hammer_sg2'][0]
    loads = []
    real = torch.load
    monkeypatch.setattr(torch, 'load', lambda *args, **kwargs: loads.append(args[0]) or real(*args, **kwargs))
    read_checkpoint(path)
    assert loads == [str(path)]


def test_loading_draws_no_weights_and_copies_none():
    """The model is built without random initialisation, off the meta device (whose ops import torch._dynamo,
    seconds), and the file's tensors become its parameters."""
    path = golden_case('nvlabs_sg2_uncond_r32') / 'state_dict.pt'
    code = f'import sys, models; models.load_generator({str(path)!r}); print("torch._dynamo" in sys.modules)'
    run = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert run.stdout.strip() == 'False'
    checkpoint = read_checkpoint(path)
    G = checkpoints.generator_from_checkpoint(checkpoint)
    assert all(G.state_dict()[key].data_ptr() == value.data_ptr() for key, value in checkpoint.state_dict.items())
    assert torch.equal(G.synthesis.b8.conv0.resample_filter, models.build_generator(
        'stylegan2', checkpoint.config).synthesis.b8.conv0.resample_filter)


@pytest.mark.parametrize('content, looks_like', [
    (b'hello, not a checkpoint at all', 'neither a torch file, a network pickle, a JSON config nor a folder'),
    ('list', 'a torch file of a list'),
    ('tensors', "a torch file of a dict with keys ['a.weight']"),
    ('keys', "a torch file of a dict with keys ['discriminator', 'step']"),
    ('pickle_dict', "a pickle of a dict with keys ['D', 'G']"),
    ('pickle_tuple', 'a pickle of a tuple'),
    ('folder', "a folder holding ['notes.txt']"),
])
def test_unclaimed_files_say_what_they_look_like(tmp_path, content, looks_like):
    path = tmp_path / 'model.bin'
    if content == 'list':
        torch.save([torch.zeros(1)], path)
    elif content == 'tensors':
        torch.save({'a.weight': torch.zeros(1)}, path)
    elif content == 'keys':
        torch.save({'discriminator': {'x': torch.zeros(1)}, 'step': 3}, path)
    elif content == 'pickle_dict':
        path.write_bytes(pickle.dumps({'G': None, 'D': None}, protocol=4))
    elif content == 'pickle_tuple':
        path.write_bytes(pickle.dumps((1, 2), protocol=4))
    elif content == 'folder':
        path.mkdir()
        (path / 'notes.txt').write_text('hello')
    else:
        path.write_bytes(content)
    assert not any(reader.claims(Source(path)) for reader in READERS)
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f'{path}: not a checkpoint this toolkit reads: {looks_like}')
    assert '\n' not in message and 'Hammer / genforce .pth' in message


def test_a_git_lfs_pointer_says_so(tmp_path):
    """A clone without `git lfs pull` holds small text pointers in place of the weights."""
    path = tmp_path / 'lfs.pt'
    path.write_text('version https://git-lfs.github.com/spec/v1\noid sha256:' + '0' * 64 + '\nsize 123456\n')
    with pytest.raises(CheckpointError) as info:
        read_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f'{path}: ') and 'git lfs pull' in message and '\n' not in message
    result = invoke(synthesis, [path, '--save_dir', tmp_path / 'out'])
    assert_one_line_error(result, 'lfs.pt', 'git lfs pull')
    assert not (tmp_path / 'out').exists()


def test_a_toolkit_export_loads_as_its_builtin(tmp_path):
    """A file written by `demo.train` is read by every script: the shipped faces64.pt, copied elsewhere."""
    path = tmp_path / 'my_faces.pt'
    shutil.copy(ROOT / 'models' / 'builtin' / 'faces64.pt', path)
    generator, builtin = models.load_generator(path), models.load_generator('builtin:faces64')
    assert generator.checkpoint_format == 'toolkit export' and generator.model_name.startswith('my_faces-')
    assert generator.checkpoint_sha256 == builtin.checkpoint_sha256
    z = torch.randn(2, generator.z_dim, generator=torch.Generator().manual_seed(0))
    assert torch.equal(generator(z), builtin(z))
    assert read_checkpoint(path).extra['meta']['kimg'] > 0


@pytest.mark.parametrize('edit, fragment', [
    (lambda obj: obj.update(family='gan'), "'gan'"),
    (lambda obj: obj.update(config=[64]), 'config'),
    (lambda obj: obj['config'].update(img_resolution=48), 'img_resolution'),
    (lambda obj: obj['config'].update(colour=True), "'colour'"),
    (lambda obj: obj.update(state_dict={'a': 'b'}), 'tensor a'),
    (lambda obj: obj['state_dict'].pop('synthesis.b4.const'), 'missing tensor synthesis.b4.const'),
    (lambda obj: obj['state_dict'].update(extra=torch.zeros(1)), 'unexpected tensor extra'),
    (lambda obj: obj['state_dict']['synthesis.b4.const'].view(-1)[7].fill_(float('nan')),
     'synthesis.b4.const holds NaN or infinite values'),
    (lambda obj: obj['config'].update(w_dim=64), 'affine.weight has shape [128, 128], expected [128, 64]'),
])
def test_a_damaged_toolkit_export_gives_one_line(tmp_path, edit, fragment):
    obj = torch.load(ROOT / 'models' / 'builtin' / 'faces64.pt', map_location='cpu', weights_only=True)
    edit(obj)
    path = tmp_path / 'faces.pt'
    torch.save(obj, path)
    with pytest.raises(CheckpointError) as info:
        models.load_generator(path)
    message = str(info.value)
    assert message.startswith(f'{path}: ') and fragment in message and '\n' not in message, message


# ----------------------------------------------------------------------------
# The name mapper.

RULES = [
    *[Rule(f'mapping.dense{i}.{p}', f'mapping.fc{i}.{p}') for i in range(2) for p in ('weight', 'bias')],
    Rule('early.const', 'synthesis.const', lambda value: value[0], (1, None, 4, 4)),
    ignore('early.filter', (4,), lambda value: None if torch.equal(value, torch.ones(4)) else 'is not all ones'),
    ignore(r'.*\.kernel'),
    Rule('lod', 'synthesis.lod', optional=True),
]


def _state():
    return {'mapping.dense0.weight': torch.ones(3, 2), 'mapping.dense0.bias': torch.zeros(3),
            'mapping.dense1.weight': torch.ones(3, 3, dtype=torch.float64), 'mapping.dense1.bias': torch.zeros(3),
            'early.const': torch.arange(32.).reshape(1, 2, 4, 4), 'early.filter': torch.ones(4),
            'synthesis.b8.kernel': torch.zeros(2, 2)}


EXPECTED = {'mapping.fc0.weight': (3, 2), 'mapping.fc0.bias': (3,), 'mapping.fc1.weight': (3, 3),
            'mapping.fc1.bias': (3,), 'synthesis.const': (2, 4, 4)}


def test_mapper_renames_transforms_and_ignores():
    ours = names.convert(_state(), RULES, 'model.pth', expected=EXPECTED)
    assert {key: tuple(value.shape) for key, value in ours.items()} == EXPECTED
    assert ours['mapping.fc1.weight'].dtype == torch.float32  # floating values are read as float32
    assert torch.equal(ours['synthesis.const'], torch.arange(32.).reshape(2, 4, 4))
    assert 'lod' not in ours  # optional, absent


@pytest.mark.parametrize('edit, message', [
    (lambda s: s.update({'extra.weight': torch.zeros(1)}), 'model.pth: unexpected tensor extra.weight'),
    (lambda s: s.pop('early.const'), 'model.pth: missing tensor early.const'),
    (lambda s: s.update({'early.const': torch.zeros(2, 2, 4, 4)}),
     'model.pth: tensor early.const has shape [2, 2, 4, 4], expected [1, ?, 4, 4]'),
    (lambda s: s.update({'early.filter': torch.zeros(4)}), 'model.pth: tensor early.filter is not all ones'),
    (lambda s: s.update({'early.filter': torch.ones(5)}), 'model.pth: tensor early.filter has shape [5], expected [4]'),
    (lambda s: s['mapping.dense0.bias'].__setitem__(1, float('nan')),
     'model.pth: tensor mapping.dense0.bias holds NaN or infinite values'),
    (lambda s: s.update({'mapping.dense0.bias': [0.0, 0.0, 0.0]}),
     'model.pth: tensor mapping.dense0.bias is a list, not a tensor'),
    (lambda s: s.update({'mapping.dense2.weight': torch.ones(3, 3)}),
     'model.pth: unexpected tensor mapping.dense2.weight'),
    (lambda s: s.update({'lod': torch.zeros([])}),  # the table knows it, the model has no such tensor
     'model.pth: unexpected tensor lod (for synthesis.lod)'),
    (lambda s: s.update({'mapping.dense1.bias': torch.zeros(4)}),  # shapes checked against the model
     'model.pth: tensor mapping.dense1.bias has shape [4], expected [3] (for mapping.fc1.bias)'),
    (lambda s: s.update({'early.const': torch.zeros(1, 3, 4, 4)}),
     'model.pth: tensor early.const has shape [1, 3, 4, 4], which gives synthesis.const shape [3, 4, 4], '
     'expected [2, 4, 4]'),
    (lambda s: s.pop('mapping.dense1.bias'), 'model.pth: missing tensor mapping.dense1.bias'),
])
def test_mapper_names_the_source_key(edit, message):
    state = _state()
    edit(state)
    with pytest.raises(CheckpointError) as info:
        names.convert(state, RULES, 'model.pth', expected=EXPECTED)
    assert str(info.value) == message


def test_mapper_refuses_two_keys_onto_one_and_labels_entries():
    rules = [Rule('a.w', 'x.w'), Rule('b.w', 'x.w')]
    with pytest.raises(CheckpointError, match='f.pkl: TensorFlow variables a.w and b.w both give x.w'):
        names.convert({'a.w': torch.zeros(1), 'b.w': torch.zeros(1)}, rules, 'f.pkl', label='TensorFlow variable')
    with pytest.raises(CheckpointError, match=r'missing tensor a \(and 1 more\)'):
        names.convert({}, [Rule('a', 'x'), Rule('b', 'y')], 'f.pt')


# ----------------------------------------------------------------------------
# Settings asked for: SettingMismatch, SettingNeeded.

def test_setting_errors_carry_their_parts():
    error = SettingMismatch('m.pkl', 'w_dim', 64, 512)
    assert (error.path, error.setting, error.given, error.held) == ('m.pkl', 'w_dim', 64, 512)
    assert str(error) == 'm.pkl: w_dim=64 was asked for, but the checkpoint holds w_dim=512'
    assert isinstance(error, CheckpointError) and isinstance(error, ValueError)
    family = SettingMismatch('m.pkl', 'family', 'stylegan2', 'stylegan3')
    assert str(family) == 'm.pkl: asked for a stylegan2 generator, but the checkpoint holds a stylegan3 generator'
    no_cfg = SettingMismatch('m.pkl', 'cfg', 'T', None)
    assert str(no_cfg) == 'm.pkl: cfg=T was asked for, but the checkpoint has no cfg'
    needed = SettingNeeded('m.pth', 'img_resolution', [256, 512])
    assert (needed.path, needed.setting, needed.choices) == ('m.pth', 'img_resolution', [256, 512])
    assert str(needed) == 'm.pth: the file cannot tell img_resolution: [256, 512] all fit; give img_resolution'
    assert pickle.loads(pickle.dumps(error)).held == 512 and pickle.loads(pickle.dumps(needed)).choices == [256, 512]


def mismatch(path, **expected):
    with pytest.raises(SettingMismatch) as info:
        read_checkpoint(path, **expected)
    assert info.value.path == str(path) and '\n' not in str(info.value)
    return info.value.setting, info.value.given, info.value.held


def test_expected_settings_are_checked_in_one_place(format_files):
    path = format_files['hammer_sg2'][0]
    config = read_checkpoint(path).config
    assert (config.channel_base, config.channel_max) == (256, 64)
    assert mismatch(path, family='pggan') == ('family', 'pggan', 'stylegan2')
    assert mismatch(path, img_resolution=64) == ('img_resolution', 64, 32)
    assert mismatch(path, z_dim=512) == ('z_dim', 512, 32)
    assert mismatch(path, cfg='T') == ('cfg', 'T', None)
    assert mismatch(path, channel_base=512) == ('channel_base', 512, 256)
    assert mismatch(path, channel_max=32) == ('channel_max', 32, 64)
    assert mismatch(path, final_tanh=False) == ('final_tanh', False, None)
    # channel_base and channel_max agree when they give the same tensor shapes.
    same = read_checkpoint(path, family='stylegan2', img_resolution=32, w_dim=32, channel_base=257, channel_max=512)
    assert same.config == config
    with pytest.raises(AssertionError, match="unknown checkpoint setting in .'img_size'"):
        read_checkpoint(path, img_size=32)
    assert mismatch(path, cfg='X') == ('cfg', 'X', None)
    for name, (file, _, family, _) in format_files.items():
        assert read_checkpoint(file, family=family).family == family, name
    with pytest.raises(SettingMismatch, match='builtin:stylegan2-tiny: img_resolution=32 was asked for'):
        models.load_generator('builtin:stylegan2-tiny', img_resolution=32)


def test_setting_needed_when_several_resolutions_fit(tmp_path, monkeypatch):
    """A Hammer StyleGAN3 without kwargs whose widths and filters fit several resolutions."""
    state = load_pt(golden_case('hammer_sg3t_r32') / 'hammer_checkpoint.pth')['models']['generator_smooth']
    torch.save({'generator_smooth': state}, tmp_path / 'no_kwargs.pth')
    assert read_checkpoint(tmp_path / 'no_kwargs.pth').config.img_resolution == 32
    # Make every resolution fit, as for a file whose widths and filters could not tell.
    monkeypatch.setattr(sg3, '_channel_formula', lambda config, channels, fixed: (128, 512))
    monkeypatch.setattr(sg3, '_filters_match', lambda state, config: True)
    with pytest.raises(SettingNeeded) as info:
        read_checkpoint(tmp_path / 'no_kwargs.pth')
    error = info.value
    assert (error.path, error.setting) == (str(tmp_path / 'no_kwargs.pth'), 'img_resolution')
    assert 32 in error.choices and len(error.choices) > 1
    checkpoint = read_checkpoint(tmp_path / 'no_kwargs.pth', img_resolution=32)
    assert (checkpoint.config.img_resolution, checkpoint.extra['cfg']) == (32, 'T')


# ----------------------------------------------------------------------------
# Model identity.

def test_model_name_and_sha256(tmp_path):
    case = golden_case('nvlabs_sg2_uncond_r32')
    (tmp_path / 'a').mkdir()
    (tmp_path / 'b').mkdir()
    shutil.copy(case / 'state_dict.pt', tmp_path / 'a' / 'model.pt')
    state = load_pt(case / 'state_dict.pt')
    state['mapping.w_avg'] = state['mapping.w_avg'] + 1
    torch.save(state, tmp_path / 'b' / 'model.pt')
    a = models.load_generator(tmp_path / 'a' / 'model.pt')
    b = models.load_generator(tmp_path / 'b' / 'model.pt')
    again = models.load_generator(str(tmp_path / 'a' / 'model.pt'))
    assert a.checkpoint_sha256 == sha256_of(tmp_path / 'a' / 'model.pt') != b.checkpoint_sha256
    assert re.fullmatch(r'model-[0-9a-f]{8}', a.model_name) and a.model_name == f'model-{a.checkpoint_sha256[:8]}'
    assert a.model_name != b.model_name and again.model_name == a.model_name
    assert (a.source, a.checkpoint_format) == (str(tmp_path / 'a' / 'model.pt'), 'NVlabs state dict')
    shutil.copy(case / 'state_dict.pt', tmp_path / 'my model (v2).pt')
    odd = models.load_generator(tmp_path / 'my model (v2).pt')
    assert odd.model_name == f'my_model__v2_-{a.checkpoint_sha256[:8]}'


def test_model_name_of_folders_and_builtins():
    hf = golden_case('biggan_deep_r32') / 'hf'
    G = models.load_generator(hf)
    assert G.checkpoint_sha256 == sha256_of(hf) and G.model_name == f'hf-{G.checkpoint_sha256[:8]}'
    tiny = models.load_generator('builtin:stylegan2-tiny')
    assert (tiny.model_name, tiny.checkpoint_sha256, tiny.source) == ('stylegan2-tiny', None, 'builtin:stylegan2-tiny')
    assert tiny.checkpoint_format == 'built-in random weights'


def test_unknown_model_names_and_missing_files():
    name = zoo.zoo_names()[0]
    with pytest.raises(ValueError, match=f"unknown model name '{name}x'; did you mean {name}"):
        models.load_generator(f'{name}x')
    with pytest.raises(CheckpointError, match=r'^missing/model\.pkl: no such file$'):
        models.load_generator('missing/model.pkl')


def test_no_command_line_flags_under_models():
    """`models` speaks the models' vocabulary; flag names belong to the command-line layer."""
    found = [f'{path.relative_to(ROOT)}:{number}: {line.strip()}'
             for path in sorted(Path(ROOT, 'models').rglob('*.py'))
             for number, line in enumerate(path.read_text().splitlines(), 1) if re.search(r'--[a-z]', line)]
    assert not found, found
