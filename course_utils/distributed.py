"""Several processes, one model: what torchrun tells each process, and the collective steps training needs.

``torchrun --nproc_per_node=N -m course_utils train ...`` starts N copies of the program and gives each
the variables ``RANK``, ``LOCAL_RANK`` and ``WORLD_SIZE``. Every process joins one process group
(``nccl`` between CUDA GPUs, ``gloo`` on CPUs), trains on its own share of the data, and
``DistributedDataParallel`` averages the gradients. A single process is a world of size 1, where
every method here does nothing.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import torch
import torch.distributed as dist

from .errors import DISK_FULL_ERRNOS, CourseError, DeviceError, DiskFullError, PeerFailedError


@dataclass(frozen=True)
class Distributed:
    """This process's place in the run: its rank among ``world_size`` processes, and its device."""

    rank: int = 0
    local_rank: int = 0  # rank among the processes of this machine (selects the GPU)
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def active(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 alone writes files and prints."""
        return self.rank == 0

    def mean(self, values: torch.Tensor) -> torch.Tensor:
        """The average of ``values`` over every process (the same result on each)."""
        if not self.active:
            return values
        values = values.detach().to(self.device, torch.float32).clone()
        dist.all_reduce(values)
        return values / self.world_size

    def max(self, value: int) -> int:
        """The largest ``value`` any process holds: e.g. "did any process get a stop signal?"."""
        if not self.active:
            return value
        t = torch.tensor([value], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t.item())

    def gather(self, obj) -> list:
        """Every process's ``obj``, in rank order (on each process)."""
        if not self.active:
            return [obj]
        out = [None] * self.world_size
        dist.all_gather_object(out, obj)
        return out

    def share(self, obj):
        """Rank 0's ``obj``, on every process (e.g. the list of photos only rank 0 looked for)."""
        if not self.active:
            return obj
        box = [obj]
        dist.broadcast_object_list(box, src=0)
        return box[0]

    @contextlib.contextmanager
    def all_or_none(self):
        """Run a block on every process; if it fails on one, it fails on all, so that none waits forever.

        In a single process an error passes through unchanged. With several, every process raises
        :class:`PeerFailedError` with the failing processes' messages (rank 0 shows them once) and the
        first one's exit status; a process whose error is a bug raises that error itself, for its log.
        The block must not itself wait for the other processes.
        """
        error = None
        try:
            yield
        except Exception as err:
            if not self.active:
                raise
            error = err
        if not self.active:
            return
        expected = isinstance(error, (CourseError, OSError, ValueError))
        reports = self.gather(None if error is None else (str(error), _exit_code(error), expected))
        failed = [(rank, report) for rank, report in enumerate(reports) if report is not None]
        if not failed:
            return
        if error is not None and not expected:
            raise error
        by_message: dict[str, list[int]] = {}
        for rank, (message, _, _) in failed:
            by_message.setdefault(message, []).append(rank)
        summary = " | ".join(f"{message} [{'processes' if len(ranks) > 1 else 'process'} "
                             f"{', '.join(map(str, ranks))}]" for message, ranks in by_message.items())
        peer_error = PeerFailedError(summary)
        peer_error.exit_code = failed[0][1][1]
        raise peer_error


def _exit_code(error: Exception) -> int:
    if isinstance(error, CourseError):
        return error.exit_code
    if isinstance(error, OSError) and error.errno in DISK_FULL_ERRNOS:
        return DiskFullError.exit_code
    return CourseError.exit_code if isinstance(error, (OSError, ValueError)) else 5


def start(device: torch.device) -> Distributed:
    """Join the process group that torchrun set up, or return a world of one when there is none.

    On CUDA each process takes the GPU of its local rank and talks through ``nccl``; on the CPU
    processes talk through ``gloo``.
    """
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return Distributed(device=device)
    rank = int(os.environ["RANK"])
    local_rank = int(os.environ.get("LOCAL_RANK", rank))
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise DeviceError(f"Process {rank} needs GPU {local_rank}, but this machine has "
                              f"{torch.cuda.device_count()}: start fewer processes per node.")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    elif device.type != "cpu":
        raise DeviceError(f"Distributed training runs on CUDA GPUs or on CPUs, not on {device.type}.")
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Distributed(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def stop() -> None:
    """Leave the process group (if this process joined one)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
