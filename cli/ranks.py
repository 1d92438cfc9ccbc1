"""Several processes on one job, through torch.distributed: `torchrun` (and Slurm through it) starts them.

A script started by `torchrun --nproc_per_node=N script.py ...` finds `RANK`,
`WORLD_SIZE`, `LOCAL_RANK` and the rendezvous address in its environment;
`Ranks.from_environment()` joins the process group (the gloo backend: only
small facts cross processes, the data goes through the job's files) and gives
each process its place. Started with plain `python`, the same object describes
one process and every collective is a no-op.
"""

import hashlib
import json
import os

import click
import torch
import torch.distributed as dist

__all__ = ['Ranks']


class Ranks:
    """This process's place among the processes of one job."""

    def __init__(self, rank=0, world=1, local_rank=0):
        self.rank = rank                # This process, 0..world-1.
        self.world = world              # Number of processes.
        self.local_rank = local_rank    # This process on its machine (its GPU).

    @classmethod
    def from_environment(cls):
        """The ranks `torchrun` set up (joining the process group), or one process."""
        world = int(os.environ.get('WORLD_SIZE', '1') or 1)
        if world <= 1:
            return cls()
        if not dist.is_initialized():
            dist.init_process_group('gloo')
        return cls(dist.get_rank(), dist.get_world_size(), int(os.environ.get('LOCAL_RANK', '0') or 0))

    @property
    def is_main(self):
        return self.rank == 0

    @property
    def distributed(self):
        return self.world > 1

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
        if not self.distributed:
            return [value]
        values = [None] * self.world
        dist.all_gather_object(values, value)
        return values

    def check_same(self, settings):
        """Every process must run with the same settings; a one-line error names the first that differs."""
        digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()
        found = self.gather((digest, settings))
        for rank, (other, theirs) in enumerate(found):
            if other != found[0][0]:
                changed = [key for key in sorted(set(theirs) | set(found[0][1]))
                           if theirs.get(key) != found[0][1].get(key)]
                raise click.ClickException(f'process {rank} of {self.world} was started with other options than '
                                           f'process 0 ({", ".join(changed[:4])}): start every process with the '
                                           f'same command')

    def close(self):
        if self.distributed and dist.is_initialized():
            dist.destroy_process_group()
