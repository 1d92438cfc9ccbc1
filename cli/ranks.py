"""Several processes on one job, through torch.distributed: `torchrun` (and Slurm through it) starts them.

`Ranks.from_environment()` joins the process group `torchrun` describes (gloo: only small facts cross processes, the
data goes through the job's files) and gives each process its place; under plain `python` it describes one process and
every collective is a no-op.
"""

import os

import click
import torch
import torch.distributed as dist


class Ranks:
    """This process's place among the processes of one job."""

    def __init__(self, rank=0, world=1, local_rank=0):
        self.rank = rank                # This process, 0..world-1.
        self.world = world              # Number of processes.
        self.local_rank = local_rank    # This process on its machine (its GPU).
        self.is_main, self.distributed = rank == 0, world > 1

    @classmethod
    def from_environment(cls):
        """The ranks `torchrun` set up (joining the process group), or one process."""
        if int(os.environ.get('WORLD_SIZE') or 1) <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group('gloo')
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get('LOCAL_RANK') or 0))

    def device(self, asked=None):
        """This process's device: `asked`, else its own GPU (`cuda:LOCAL_RANK`) where there are GPUs, else the CPU."""
        if asked is not None or not self.distributed:
            return asked
        return f'cuda:{self.local_rank % torch.cuda.device_count()}' if torch.cuda.is_available() else 'cpu'

    def barrier(self):
        if self.distributed:
            dist.barrier()

    def gather(self, value):
        """`value` of every process, in rank order (`[value]` in one process)."""
        values = [value] * self.world
        if self.distributed:
            dist.all_gather_object(values, value)
        return values

    def check_same(self, settings):
        """Every process must run with the same settings; a one-line error names those that differ."""
        settings = {key: str(value) for key, value in settings.items()}
        for rank, theirs in enumerate(self.gather(settings)):
            changed = sorted(key for key in set(theirs) | set(settings) if theirs.get(key) != settings.get(key))
            if changed:
                raise click.ClickException(f'process {max(rank, self.rank)} of {self.world} was started with other '
                                           f'options than process {min(rank, self.rank)} ({", ".join(changed[:4])}): '
                                           'start every process with the same command')
