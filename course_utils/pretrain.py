"""L1 pre-training: teach G the colours with the L1 loss alone, then fine-tune it as a GAN (notebook 09).

The recipe of Shariatnia's colorization tutorial (part 2): a generator pre-trained on L1 (Adam, lr 1e-4)
starts the GAN from sensible colours, so D's first lessons are about what is still wrong, not about
noise. The fine-tuning is the course's ordinary trainer (``Pix2Pix``), whose G starts from the
pre-trained weights.

    G = new_generator(config)                   # the paper's init, or ImageNet's encoder
    pretrain_l1(G, train_loader, steps=150)
    trainer = fine_tuner(config, G, device)     # then trainer.fit(train_loader, steps=150)
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import nn
from torch.nn import functional as F

from .init import init_weights
from .train import Pix2Pix, Pix2PixConfig

__all__ = ["fine_tuner", "new_generator", "pretrain_l1"]

PRETRAIN_LR = 1e-4  # the tutorial's


def new_generator(config: Pix2PixConfig, encoder_state: dict | None = None) -> nn.Module:
    """A generator as a fresh run starts it: the paper's N(0, 0.02) for the U-Net; for the ResNet-18
    U-Net, ``encoder_state`` (ImageNet weights, or None: random) and fastai's decoder init."""
    G = config.build_generator(encoder_state)
    if config.generator == "unet":
        init_weights(G, scheme="normal", gain=0.02)
    return G


def pretrain_l1(G: nn.Module, data: Iterable[dict], steps: int, lr: float = PRETRAIN_LR,
                device="cpu") -> list[float]:
    """``steps`` Adam steps on the L1 loss alone, pass after pass over ``data``; the loss of each step."""
    G.to(device).train()
    optimizer = torch.optim.Adam(G.parameters(), lr=lr)  # the tutorial: Adam with its default betas
    losses, epoch = [], 0
    while len(losses) < steps:
        if hasattr(data, "set_epoch"):
            data.set_epoch(epoch)
        for batch in data:
            loss = F.l1_loss(G(batch["L"].to(device)), batch["ab"].to(device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
            if len(losses) == steps:
                break
        if not losses:
            raise ValueError("The training data gave no batch: nothing to pre-train on.")
        epoch += 1
    return losses


def fine_tuner(config: Pix2PixConfig, G: nn.Module, device="cpu", **kwargs) -> Pix2Pix:
    """The course's trainer (a fresh D, both optimisers new) whose G starts from ``G``'s weights."""
    trainer = Pix2Pix(config, device=device, **kwargs)
    trainer.G.load_state_dict(G.state_dict())
    return trainer
