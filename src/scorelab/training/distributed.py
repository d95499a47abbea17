"""Data-parallel training under ``torchrun`` (gloo on CPU, NCCL on GPU).

Each step's global batch is cut into ``micro_batches`` chunks, each with its own noise stream
derived from (seed, step, chunk); a process handles the chunks ``rank, rank + W, ...`` and the
gradients are summed over processes with one all-reduce. The result therefore does not depend
on the number of processes W (any W dividing ``micro_batches``): a torchrun run equals a
single-process run with the same global batch and ``micro_batches``, up to floating-point
summation order, and a run can resume with another number of processes.

Gradients are all-reduced explicitly (one flat buffer per step) rather than through the
``DistributedDataParallel`` wrapper, whose hooks do not compose with the ``torch.func``
transforms that an energy model's score uses; the communication is the same.

A lost process (killed, or its host gone) ends the others: torchrun stops the survivors when a
worker dies, and a collective that waits longer than ``SCORELAB_DIST_TIMEOUT`` seconds (default
600; gloo and NCCL both honour it) raises instead of hanging. Rank 0's checkpoints are atomic, so
the run resumes from the last one, with any number of processes.
"""
import datetime
import hashlib
import os

import torch
import torch.distributed as dist


def stream_generator(seed: int, step: int, stream: int, device) -> torch.Generator:
    """A generator for one (seed, step, stream): independent of which process asks for it."""
    digest = hashlib.blake2b(repr((seed, step, stream)).encode(), digest_size=8).digest()
    g = torch.Generator(device=device)
    g.manual_seed(int.from_bytes(digest, "little") & (2**63 - 1))
    return g


class Topology:
    """Rank and world size; a single process unless launched by torchrun."""

    def __init__(self, device: torch.device):
        self.device = device
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.active = self.world > 1
        if self.active and not dist.is_initialized():
            backend = "nccl" if device.type == "cuda" else "gloo"
            timeout = datetime.timedelta(seconds=float(os.environ.get("SCORELAB_DIST_TIMEOUT", 600)))
            dist.init_process_group(backend=backend, timeout=timeout)
        if self.active and device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def chunks(self, n_chunks: int) -> range:
        return range(self.rank, n_chunks, self.world)

    def sum_gradients(self, params) -> None:
        if not self.active:
            return
        params = [p for p in params if p.grad is not None]
        flat = torch.cat([p.grad.reshape(-1) for p in params])
        dist.all_reduce(flat)
        offset = 0
        for p in params:
            n = p.grad.numel()
            p.grad.copy_(flat[offset:offset + n].view_as(p.grad))
            offset += n

    def sum_scalar(self, value: float) -> float:
        if not self.active:
            return value
        t = torch.tensor([value], dtype=torch.float64, device=self.device)
        dist.all_reduce(t)
        return float(t)

    def max_int(self, value: int) -> int:
        """The largest of every process's ``value`` (to agree on a flag)."""
        if not self.active:
            return int(value)
        t = torch.tensor([int(value)], dtype=torch.int64, device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        return int(t)

    def barrier(self) -> None:
        if self.active:
            dist.barrier()
