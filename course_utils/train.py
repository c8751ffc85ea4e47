"""Pix2Pix training (Isola et al. 2017): losses, optimisers, mixed precision, checkpoints.

The paper's recipe: Adam (lr 2e-4, betas (0.5, 0.999)), weights drawn from N(0, 0.02), the vanilla
GAN loss plus 100 x L1 for G, D's loss halved, D frozen while G learns. On a CUDA GPU the step runs in
bf16 (fp16 with a gradient scaler where bf16 is missing) and ``channels_last``; on the CPU in fp32.
"""

from __future__ import annotations

import contextlib
import csv
import os
import random
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .init import init_weights
from .models import PatchDiscriminator, UNetGenerator

LOSS_NAMES = ("loss_D", "loss_D_real", "loss_D_fake", "loss_G", "loss_G_GAN", "loss_G_L1")
# Settings that change the networks' weights: a checkpoint only fits a model that agrees on all of them.
ARCHITECTURE = ("num_downs", "ngf", "ndf", "n_layers")


class NonFiniteLossError(RuntimeError):
    """A loss became NaN or infinite; the step that produced it was not applied."""


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, or belongs to a different architecture."""


@dataclass(frozen=True)
class Pix2PixConfig:
    """Everything needed to rebuild the networks and the optimisers; stored in every checkpoint."""

    image_size: int = 256
    num_downs: int = 8
    ngf: int = 64
    ndf: int = 64
    n_layers: int = 3
    dropout: float = 0.5
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    lambda_l1: float = 100.0
    gan_mode: str = "vanilla"  # "vanilla" (BCE on logits, the paper) or "lsgan" (least squares)

    @classmethod
    def from_profile(cls, profile, **overrides) -> Pix2PixConfig:
        """The paper's settings at a course profile's size and widths."""
        sizes = {k: getattr(profile, k) for k in ("image_size", "num_downs", "ngf", "ndf")}
        return cls(**{**sizes, **overrides})

    @classmethod
    def from_dict(cls, values: dict) -> Pix2PixConfig:
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise CheckpointError(f"Unknown settings in the checkpoint's config: {sorted(unknown)}")
        return cls(**values)

    def build_generator(self) -> UNetGenerator:
        return UNetGenerator(in_channels=1, out_channels=2, num_downs=self.num_downs, ngf=self.ngf,
                             dropout=self.dropout)

    def build_discriminator(self) -> PatchDiscriminator:
        return PatchDiscriminator(in_channels=3, ndf=self.ndf, n_layers=self.n_layers)


@dataclass(frozen=True)
class Precision:
    """How a step runs: the autocast dtype (None: plain fp32), a gradient scaler, the memory layout."""

    device_type: str
    dtype: torch.dtype | None
    use_scaler: bool
    channels_last: bool

    def autocast(self):
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)


def choose_precision(device, amp: bool = True) -> Precision:
    """bf16 on a CUDA GPU that supports it, else fp16 with a scaler; fp32 on the CPU (and MPS)."""
    device = torch.device(device)
    if device.type != "cuda":
        return Precision(device.type, None, use_scaler=False, channels_last=False)
    if not amp:
        return Precision("cuda", None, use_scaler=False, channels_last=True)
    if torch.cuda.is_bf16_supported():
        return Precision("cuda", torch.bfloat16, use_scaler=False, channels_last=True)
    return Precision("cuda", torch.float16, use_scaler=True, channels_last=True)


class GANLoss(nn.Module):
    """The adversarial loss against an all-real or all-fake target for every patch D judges."""

    def __init__(self, mode: str = "vanilla"):
        super().__init__()
        losses = {"vanilla": nn.BCEWithLogitsLoss(), "lsgan": nn.MSELoss()}
        if mode not in losses:
            raise ValueError(f"gan_mode must be one of {sorted(losses)}, got {mode!r}")
        self.loss = losses[mode]

    def forward(self, logits: torch.Tensor, real: bool) -> torch.Tensor:
        target = torch.ones_like(logits) if real else torch.zeros_like(logits)
        return self.loss(logits.float(), target.float())


def set_requires_grad(module: nn.Module, flag: bool) -> None:
    for p in module.parameters():
        p.requires_grad_(flag)


class LossMeter:
    """Average of a stream of values since the last reset."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += value * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else float("nan")


class Pix2Pix:
    """A generator G (L -> ab), a PatchGAN discriminator D, their optimisers and the training loop.

    ``history`` holds one dict of losses per step; ``meters`` the running averages since the last
    progress-bar update.
    """

    def __init__(self, config: Pix2PixConfig | None = None, device="cpu", amp: bool = True,
                 compile: bool = False):
        self.config = config or Pix2PixConfig()
        self.device = torch.device(device)
        self.precision = choose_precision(self.device, amp)
        memory_format = torch.channels_last if self.precision.channels_last else torch.preserve_format
        self.G = self.config.build_generator()
        self.D = self.config.build_discriminator()
        for net in (self.G, self.D):
            init_weights(net, scheme="normal", gain=0.02)
            net.to(self.device, memory_format=memory_format)
        # torch.compile wraps the modules; checkpoints keep using the unwrapped ones.
        self._G = torch.compile(self.G) if compile else self.G
        self._D = torch.compile(self.D) if compile else self.D
        betas = (self.config.beta1, self.config.beta2)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=self.config.lr, betas=betas)
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=self.config.lr, betas=betas)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.use_scaler)
        self.gan_loss = GANLoss(self.config.gan_mode)
        self.step = 0
        self.history: list[dict] = []
        self.meters = {name: LossMeter() for name in LOSS_NAMES}

    # ---------------------------------------------------------------- one step
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float()
        return x.contiguous(memory_format=torch.channels_last) if self.precision.channels_last else x

    def _check_finite(self, values: dict, applied: str) -> None:
        bad = {k: v for k, v in values.items() if not np.isfinite(v)}
        if bad:
            raise NonFiniteLossError(
                f"Training stopped at step {self.step + 1}: {bad} is not a finite number. {applied} "
                "Usual causes: a learning rate that is too high, or broken input (check the batch for "
                "NaN). Resume from the last checkpoint, perhaps with a lower learning rate."
            )

    def train_step(self, batch: dict) -> dict:
        """One D step then one G step on a batch {"L": [B,1,H,W], "ab": [B,2,H,W]}; returns the losses."""
        L, ab = self._prepare(batch["L"]), self._prepare(batch["ab"])
        self.G.train()
        self.D.train()
        with self.precision.autocast():
            fake_ab = self._G(L)

        # D learns to tell real pairs (L, ab) from generated ones (L, G(L)).
        set_requires_grad(self.D, True)
        self.opt_D.zero_grad(set_to_none=True)
        with self.precision.autocast():
            d_real = self.gan_loss(self._D(torch.cat([L, ab], 1)), real=True)
            d_fake = self.gan_loss(self._D(torch.cat([L, fake_ab.detach()], 1)), real=False)
            loss_D = 0.5 * (d_real + d_fake)  # halved, as in the paper: D learns slower than G
        values = dict(zip(LOSS_NAMES[:3], torch.stack([loss_D, d_real, d_fake]).tolist(), strict=True))
        self._check_finite(values, "No weights were changed by this step.")
        self.scaler.scale(loss_D).backward()
        self.scaler.step(self.opt_D)

        # G learns to fool the (now frozen) D and to stay close to the real colours (L1).
        set_requires_grad(self.D, False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.precision.autocast():
            g_gan = self.gan_loss(self._D(torch.cat([L, fake_ab], 1)), real=True)
        g_l1 = F.l1_loss(fake_ab.float(), ab)
        loss_G = g_gan + self.config.lambda_l1 * g_l1
        g_values = dict(zip(LOSS_NAMES[3:], torch.stack([loss_G, g_gan, g_l1]).tolist(), strict=True))
        self._check_finite(g_values, "D's update of this step was applied, G's was not.")
        self.scaler.scale(loss_G).backward()
        self.scaler.step(self.opt_G)
        self.scaler.update()
        set_requires_grad(self.D, True)

        self.step += 1
        values.update(g_values)
        self.history.append({"step": self.step, **values})
        for name, value in values.items():
            self.meters[name].update(value, L.shape[0])
        return values

    @torch.no_grad()
    def predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        """G's ab for a batch of L (eval mode: dropout off, BatchNorm's running statistics)."""
        was_training = self.G.training
        self.G.eval()
        with self.precision.autocast():
            ab = self.G(self._prepare(L))
        self.G.train(was_training)
        return ab.float()

    # ------------------------------------------------------------ the loop
    def fit(self, data: Iterable[dict], steps: int, *, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, on_step: Callable[[Pix2Pix], None] | None = None,
            progress: bool = True, log_every: int = 10) -> list[dict]:
        """Train until ``self.step == steps`` (a total, so a resumed run stops where a fresh one would).

        ``data`` is iterated again and again (a DataLoader: epoch after epoch). With ``checkpoint``, a
        checkpoint is written every ``checkpoint_every`` steps, at the end, and when the run is
        interrupted (Ctrl-C / the notebook's stop button: the current step finishes first).
        ``on_step(trainer)`` runs after every step (live plots, sample grids).
        """
        if self.step >= steps:
            return self.history
        bar = _progress_bar(total=steps, initial=self.step, enabled=progress)
        images, tick = 0, time.perf_counter()
        try:
            with _deferred_interrupt() as interrupted:
                while self.step < steps:
                    n_batches = 0
                    for batch in data:
                        n_batches += 1
                        self.train_step(batch)
                        images += batch["L"].shape[0]
                        bar.update(1)
                        if self.step % log_every == 0 or self.step == steps:
                            rate = images / max(time.perf_counter() - tick, 1e-9)
                            bar.set_postfix(self.postfix(rate), refresh=False)
                            images, tick = 0, time.perf_counter()
                        if on_step is not None:
                            on_step(self)
                        if checkpoint and checkpoint_every and self.step % checkpoint_every == 0:
                            self.save(checkpoint)
                        if interrupted():
                            raise KeyboardInterrupt
                        if self.step >= steps:
                            break
                    if n_batches == 0:
                        raise ValueError("The training data gave no batch (empty, or an iterator that "
                                         "has run out): nothing to train on.")
        except KeyboardInterrupt:
            if checkpoint:
                self.save(checkpoint)
                bar.write(f"Interrupted at step {self.step}: checkpoint saved to {checkpoint}")
            raise
        finally:
            bar.close()
        if checkpoint:
            self.save(checkpoint)
        return self.history

    def postfix(self, images_per_s: float) -> dict:
        """The running losses (then reset) and the speed, for the progress bar."""
        out = {"D": f"{self.meters['loss_D'].avg:.3f}", "G_GAN": f"{self.meters['loss_G_GAN'].avg:.3f}",
               "L1": f"{self.meters['loss_G_L1'].avg:.4f}", "img/s": f"{images_per_s:.1f}"}
        for meter in self.meters.values():
            meter.reset()
        return out

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        return {
            "format": 1,
            "step": self.step,
            "config": asdict(self.config),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": rng_state(),
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        check_architecture(Pix2PixConfig.from_dict(state["config"]), self.config)
        load_module(self.G, state["G"], "generator")
        load_module(self.D, state["D"], "discriminator")
        self.opt_G.load_state_dict(state["opt_G"])
        self.opt_D.load_state_dict(state["opt_D"])
        if state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        self.step = int(state["step"])
        self.history = list(state["history"])
        set_rng_state(state["rng"])

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint atomically: a crash mid-write never leaves a broken file behind."""
        return save_atomic(self.state_dict(), path)

    def resume(self, path: str | Path) -> Pix2Pix:
        self.load_state_dict(read_checkpoint(path))
        return self

    @classmethod
    def from_checkpoint(cls, path: str | Path, device="cpu", **kwargs) -> Pix2Pix:
        """Rebuild the trainer a checkpoint came from (its config) and restore its state."""
        state = read_checkpoint(path)
        trainer = cls(Pix2PixConfig.from_dict(state["config"]), device=device, **kwargs)
        trainer.load_state_dict(state)
        return trainer


# -------------------------------------------------------------- helpers
def save_atomic(obj, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(obj, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def read_checkpoint(path: str | Path) -> dict:
    """Load a checkpoint safely (``weights_only=True``: tensors and plain containers, no code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {path}. Train a model first (notebook 07 or "
                              "`python -m course_utils train`), or check the path.")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise CheckpointError(f"{path} is not a readable course checkpoint (a truncated or foreign file?): "
                              f"{type(err).__name__}: {err}") from err
    missing = {"config", "G", "step"} - set(state) if isinstance(state, dict) else {"config"}
    if missing:
        raise CheckpointError(f"{path} is not a course checkpoint (missing {sorted(missing)}).")
    return state


def check_architecture(saved: Pix2PixConfig, current: Pix2PixConfig) -> None:
    diff = [f"{k}: checkpoint {getattr(saved, k)} vs model {getattr(current, k)}"
            for k in ARCHITECTURE if getattr(saved, k) != getattr(current, k)]
    if diff:
        raise CheckpointError("The checkpoint is from a different architecture: " + "; ".join(diff))


def load_module(module: nn.Module, state: dict, name: str) -> None:
    """``load_state_dict`` with an error that names the layers that do not match."""
    own = module.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(f"The checkpoint's {name} does not match this architecture: {shown}")
    module.load_state_dict(state)


def rng_state() -> dict:
    """Every random generator a step uses, in types that ``weights_only`` loading accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])


def write_loss_log(history: list[dict], path: str | Path) -> Path:
    """The losses of every step as CSV (step, loss_D, ...), written atomically."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["step", *LOSS_NAMES])
        writer.writeheader()
        writer.writerows(history)
    os.replace(tmp, path)
    return path


@contextlib.contextmanager
def _deferred_interrupt():
    """Let the running step finish when Ctrl-C arrives, so a checkpoint never holds half a step.

    Yields a function telling whether an interrupt is pending. A second Ctrl-C stops at once.
    Outside the main thread (where signals cannot be caught) interrupts arrive as usual.
    """
    pending = []

    def handler(signum, frame):
        if pending:
            raise KeyboardInterrupt
        pending.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread
        yield lambda: False
        return
    try:
        yield lambda: bool(pending)
    finally:
        signal.signal(signal.SIGINT, previous)


def _progress_bar(total: int, initial: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc="training")
