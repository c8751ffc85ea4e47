"""Run by tests/test_distributed.py under torchrun: each process trains on its half of every batch and
saves the weights it holds after one step and after four."""

import sys
from pathlib import Path

import torch

from course_utils import distributed
from course_utils.train import Pix2Pix, Pix2PixConfig

TINY = Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)


def batch(seed: int, n: int = 8, size: int = 32) -> dict:
    """Photo-like pairs: ab is a smooth function of L."""
    g = torch.Generator().manual_seed(seed)
    L = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size, size, generator=g) * 2 - 1, 5, 1, 2)
    return {"L": L, "ab": torch.cat([0.5 * L, -0.3 * L.flip(-1)], dim=1)}


def half(b: dict, rank: int) -> dict:
    return {k: v.chunk(2)[rank] for k, v in b.items()}


def weights(trainer: Pix2Pix) -> dict:
    return {net: {k: v.clone() for k, v in getattr(trainer, net).named_parameters()} for net in ("G", "D")}


if __name__ == "__main__":
    out = Path(sys.argv[1])
    dist = distributed.start(torch.device("cpu"))
    torch.manual_seed(0)
    trainer = Pix2Pix(TINY, dist=dist)
    torch.manual_seed(100 + dist.rank)  # each process its own dropout noise
    for step in range(4):
        trainer.train_step(half(batch(step), dist.rank))
        if step in (0, 3):
            torch.save(weights(trainer), out / f"step{step + 1}_rank{dist.rank}.pt")
    distributed.stop()
