"""Jacobians over several processes (torchrun, gloo on CPU): the same bits as one process, resumable across counts."""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from models import build_generator
from semantics import regions
from semantics.jobs import GRAM_BLOCK, JacobianJob

pytestmark = pytest.mark.slow  # seconds to minutes each: `./run tests -m "not slow"` leaves them out

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = str(ROOT / 'compute_jacobian.py')


@pytest.fixture(scope='module')
def model(tmp_path_factory):
    path = tmp_path_factory.mktemp('dist') / 'g.pt'
    torch.manual_seed(0)
    G = build_generator('stylegan2', z_dim=8, w_dim=8, img_resolution=16, channel_base=64, channel_max=4,
                        mapping_layers=2)
    torch.save(G.state_dict(), path)
    return path


def environment():
    """One thread per process in every run, so that one process and two compute the same bits."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT), GANSEMANTICS_OFFLINE='1')
    for name in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'):
        env.pop(name, None)
    return env


def compute_jacobian(args, processes, cwd, check=True):
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}'] \
        if processes > 1 else [sys.executable]
    result = subprocess.run(launcher + [SCRIPT, *map(str, args)], cwd=cwd, env=environment(), capture_output=True,
                            text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result


def kill_tree(pid):
    """SIGKILL a process and every process below it (torchrun starts its workers in sessions of their own)."""
    children = {}
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open(f'/proc/{entry}/stat') as file:
                    parent = int(file.read().rsplit(')', 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry))
    stack, found = [pid], []
    while stack:
        current = stack.pop()
        found.append(current)
        stack += children.get(current, [])
    for current in found:
        try:
            os.kill(current, signal.SIGKILL)
        except ProcessLookupError:
            pass


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize('region', [None, 'eyes'])
def test_two_processes_equal_one(model, tmp_path, region):
    """Jacobian rows, and the Gram sums (summed in fixed blocks, in order), are the same bits."""
    nums = 5 if region is None else GRAM_BLOCK + 3  # two Gram blocks, one for each process
    args = [model, '--nums', nums, '--chunk_size', 8, '--no_save_jpg'] + (['--region', region] if region else [])
    two = compute_jacobian(args + ['--save_dir', 'two'], 2, tmp_path)
    one = compute_jacobian(args + ['--save_dir', 'one'], 1, tmp_path)
    assert '2 processes' in two.stdout and 'processes' not in one.stdout
    assert two.stdout.count('Loaded stylegan2') == 1 and two.stdout.count('Next:') == 1  # process 0 speaks
    name = 'jacobians_w.npy' if region is None else f'grams_{region}.npz'
    a, b = np.load(tmp_path / 'two' / name), np.load(tmp_path / 'one' / name)
    if region is None:
        assert a.shape == (nums, 3, 16, 16, 1, 8) and np.array_equal(a, b)
    else:
        assert int(a['num_samples']) == nums
        assert all(np.array_equal(a[key], b[key]) for key in a.files)


def test_a_process_without_samples_says_why(model, tmp_path):
    """Fewer samples than a Gram block: process 1 has none to compute, and says why instead of showing an empty bar."""
    result = compute_jacobian([model, '--nums', 3, '--region', 'eyes', '--chunk_size', 8, '--no_save_jpg',
                               '--save_dir', 'out'], 2, tmp_path)
    said = [line for line in result.stdout.splitlines() if line.startswith('Process 1 has no samples')]
    assert len(said) == 1 and f'blocks of {GRAM_BLOCK} samples' in said[0] and '3 samples make 1 block' in said[0]


def job_of(model_path, folder, nums, region):

    from models import load_generator
    G = load_generator(model_path)
    w = G.mapping(torch.from_numpy(np.random.RandomState(4).randn(nums, 8).astype(np.float32)))[:, 0]
    mask = None if region is None else (region, regions.region_mask('ffhq', region, 16))
    return JacobianJob(G, w.numpy(), folder, region=mask, chunk_size=8, settings={'test': 1})


def finished_job(model_path, folder, nums, region):
    """A job run to the end in one process: the result every other way of running it must give."""
    job = job_of(model_path, folder, nums, region)
    job.prepare()
    job.run()
    job.finish()
    return job


@pytest.mark.parametrize('region', [None, 'eyes'])
def test_an_interrupted_share_resumes_with_another_process_count(model, tmp_path, region):
    """Process 1 of 2 dies after one sample; one process finishes the job: the result of an uninterrupted run."""
    nums = 6 if region is None else 2 * GRAM_BLOCK + 2
    reference = finished_job(model, tmp_path / 'reference', nums, region)
    job = job_of(model, tmp_path / 'job', nums, region)
    job.prepare()
    job.run(job.share(0, 2))

    def die(_index):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        job.run(job.share(1, 2), on_sample=die)
    done = job.done()
    assert len(done) == len(job.share(0, 2)) + 1
    again = job_of(model, tmp_path / 'job', nums, region)  # a new process, the same command
    assert again.done() == done and again.prepare() == len(done)
    computed = []
    again.run(on_sample=computed.append)
    assert computed == [i for i in range(nums) if i not in done]
    path = again.finish()
    expected = reference.path
    if region is None:
        assert np.array_equal(np.load(path), np.load(expected))
    else:
        a, b = np.load(path), np.load(expected)
        assert all(np.array_equal(a[key], b[key]) for key in a.files)
    assert sorted(os.listdir(tmp_path / 'job')) == sorted(os.listdir(tmp_path / 'reference'))


@pytest.mark.parametrize('region', [None, 'eyes'])
def test_damaged_partial_files_are_computed_again_not_resumed(model, tmp_path, region):
    """Partial files cut short (a full disk, a bad copy) are not read as samples: the run starts over."""
    nums = 3 if region is None else GRAM_BLOCK + 2
    reference = finished_job(model, tmp_path / 'reference', nums, region)
    job = job_of(model, tmp_path / 'job', nums, region)
    job.prepare()
    job.run(list(range(nums - 1)))
    if region is None:
        damaged = job.partial_path
    else:
        damaged = os.path.join(job.partial_path, sorted(os.listdir(job.partial_path))[0])
    with open(damaged, 'r+b') as file:
        file.truncate(1000)
    again = job_of(model, tmp_path / 'job', nums, region)
    assert again.prepare() == 0 and again.discarded
    assert again.run() == nums
    a, b = np.load(again.finish()), np.load(reference.path)
    assert all(np.array_equal(a[key], b[key]) for key in a.files) if region else np.array_equal(a, b)


def test_killed_torchrun_resumes_with_one_process(tmp_path):
    """torchrun with two processes is killed mid-run; `python compute_jacobian.py` (one process) finishes it."""
    torch.manual_seed(1)
    G = build_generator('stylegan2', z_dim=32, w_dim=32, img_resolution=64, channel_base=512, channel_max=16,
                        mapping_layers=2)  # slow enough (about 0.3 s a sample) to be stopped half way
    model = tmp_path / 'slower.pt'
    torch.save(G.state_dict(), model)
    args = [model, '--nums', 24, '--chunk_size', 4, '--no_save_jpg', '--save_dir', 'out']
    launcher = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2']
    process = subprocess.Popen(launcher + [SCRIPT, *map(str, args)], cwd=tmp_path, env=environment(),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    done_dirs = []
    deadline = time.time() + 120
    while time.time() < deadline and process.poll() is None:
        done_dirs = list(tmp_path.glob('out/*/*/.jacobians_w.done'))
        if done_dirs and len(os.listdir(done_dirs[0])) >= 2:
            break
        time.sleep(0.05)
    kill_tree(process.pid)
    process.wait()
    assert done_dirs, 'the two processes finished no sample before the deadline'
    finished = sorted(int(name) for name in os.listdir(done_dirs[0]))
    assert 2 <= len(finished) < 24
    resumed = compute_jacobian(args, 1, tmp_path)
    assert f'Resuming: {len(finished)} of 24 samples are already done' in resumed.stdout, resumed.stdout
    compute_jacobian([model, '--nums', 24, '--chunk_size', 4, '--no_save_jpg', '--save_dir', 'clean'], 1, tmp_path)
    assert np.array_equal(np.load(tmp_path / 'out' / 'jacobians_w.npy'),
                          np.load(tmp_path / 'clean' / 'jacobians_w.npy'))


def test_processes_started_with_other_options_stop(model, tmp_path):
    """Two processes of one job with other --nums: each stops with one line naming what differs."""
    port = free_port()
    processes = []
    for rank, nums in ((0, 3), (1, 4)):
        env = dict(environment(), RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
                   MASTER_PORT=str(port))
        processes.append(subprocess.Popen([sys.executable, SCRIPT, str(model), '--nums', str(nums), '--save_dir',
                                           'out', '--no_save_jpg'], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                          stderr=subprocess.STDOUT, text=True))
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    for process, output in zip(processes, outputs):
        assert process.returncode != 0 and 'Traceback' not in output, output
        errors = [line for line in output.splitlines() if line.startswith('Error:')]
        assert len(errors) == 1 and 'process 1 of 2 was started with other options than process 0' in errors[0]
    assert not (tmp_path / 'out').exists()
