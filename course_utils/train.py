"""Pix2Pix training (Isola et al. 2017): losses, optimisers, mixed precision, checkpoints, several processes.

The paper's recipe: Adam (lr 2e-4, betas (0.5, 0.999)), weights drawn from N(0, 0.02), the vanilla
GAN loss plus 100 x L1 for G, D's loss halved, D frozen while G learns. On a CUDA GPU the step runs in
bf16 where the GPU computes it natively (fp16 with a gradient scaler on older GPUs such as the T4) and
``channels_last``; on the CPU in fp32. Under torchrun, ``DistributedDataParallel`` averages the
gradients of every process (``course_utils.distributed``).
"""

from __future__ import annotations

import contextlib
import csv
import inspect
import math
import warnings
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.parallel import DistributedDataParallel

from .checkpoint import FORMAT, load_module, read_checkpoint, rng_state, save_checkpoint, set_rng_state
from .device import native_bf16, pick_device
from .distributed import Distributed
from .errors import (
    DISK_FULL_ERRNOS,
    CheckpointError,
    DeviceError,
    DiskFullError,
    NonFiniteLossError,
)
from .files import atomic_file, shown
from .init import init_weights
from .loop import LOSS_NAMES, LossMeter, TrainingLoop
from .models import PatchDiscriminator, UNetGenerator, resnet18_unet

__all__ = ["CheckpointError", "GANLoss", "NonFiniteLossError", "Pix2Pix", "Pix2PixConfig", "Precision",
           "choose_precision", "read_checkpoint", "write_loss_log"]

# Settings that change the networks' weights: a checkpoint only fits a model that agrees on all of them.
ARCHITECTURE = ("generator", "num_downs", "ngf", "ndf", "n_layers")
GENERATORS = ("unet", "resnet18_unet")  # the paper's U-Net; a ResNet-18 encoder's (notebook 09)
GAN_MODES = ("vanilla", "lsgan")
# 4x the paper's 256 px, 8 levels and widths of 64, 3 layers: no course network is larger, and a file
# asking for more would make the course allocate memory until it dies (a bound checked before building).
LIMITS = {"image_size": 1024, "num_downs": 10, "ngf": 256, "ndf": 256, "n_layers": 6}


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
    generator: str = "unet"  # one of GENERATORS; checkpoints written before it existed hold a "unet"

    def __post_init__(self):
        problems = _config_problems(self)
        if problems:
            raise ValueError("Invalid Pix2PixConfig: " + "; ".join(problems))

    @classmethod
    def from_profile(cls, profile, **overrides) -> Pix2PixConfig:
        """The paper's settings at a course profile's size and widths."""
        sizes = {k: getattr(profile, k) for k in ("image_size", "num_downs", "ngf", "ndf")}
        return cls(**{**sizes, **overrides})

    @classmethod
    def from_dict(cls, values) -> Pix2PixConfig:
        """The config a checkpoint stores; anything not a valid config is a :class:`CheckpointError`."""
        if not isinstance(values, dict):
            raise CheckpointError(f"The checkpoint's config is a {type(values).__name__}, not a dict.")
        unknown = set(values) - {f.name for f in fields(cls)}
        if unknown:
            raise CheckpointError(f"Unknown settings in the checkpoint's config: {sorted(unknown)}")
        try:
            return cls(**values)
        except ValueError as err:
            raise CheckpointError(f"The checkpoint's config is damaged: {err}") from None

    def build_generator(self, encoder_state: dict | None = None) -> nn.Module:
        """G as configured; ``encoder_state``: ImageNet weights for the ResNet-18 U-Net's encoder."""
        if self.generator == "resnet18_unet":
            return resnet18_unet(self.image_size, encoder_state)
        return UNetGenerator(in_channels=1, out_channels=2, num_downs=self.num_downs, ngf=self.ngf,
                             dropout=self.dropout)

    def build_discriminator(self) -> PatchDiscriminator:
        return PatchDiscriminator(in_channels=3, ndf=self.ndf, n_layers=self.n_layers)


def _config_problems(c: Pix2PixConfig) -> list[str]:
    def whole(v, low, high=math.inf):
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

    def real(v, low, high=math.inf, low_open=False):
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
        return ok and (v > low if low_open else v >= low) and v < high

    rules = {
        **{k: (whole(getattr(c, k), low, LIMITS[k]),
               f"at most {LIMITS[k]}" if whole(getattr(c, k), low) else f"a whole number >= {low}")
           for k, low in (("image_size", 1), ("num_downs", 2), ("ngf", 1), ("ndf", 1), ("n_layers", 1))},
        "dropout": (real(c.dropout, 0, 1), "a number in [0, 1)"),
        "lr": (real(c.lr, 0, low_open=True), "a number > 0"),
        "beta1": (real(c.beta1, 0, 1), "a number in [0, 1)"),
        "beta2": (real(c.beta2, 0, 1), "a number in [0, 1)"),
        "lambda_l1": (real(c.lambda_l1, 0), "a number >= 0"),
        "gan_mode": (c.gan_mode in GAN_MODES, f"one of {', '.join(GAN_MODES)}"),
        "generator": (c.generator in GENERATORS, f"one of {', '.join(GENERATORS)}"),
    }
    problems = [f"{name}={getattr(c, name)!r} (must be {rule})"
                for name, (ok, rule) in rules.items() if not ok]
    if any(whole(getattr(c, name), LIMITS[name] + 1) for name in LIMITS):
        problems.append("no course network is larger (4x the paper's size and widths at most), and a larger "
                        "one would exhaust the memory")
    if not problems and c.generator == "resnet18_unet" and c.image_size % 32:
        problems.append(f"image_size={c.image_size} is not a multiple of 32 (the ResNet-18 U-Net's)")
    if not problems and c.generator == "unet" and c.image_size % 2**c.num_downs:
        problems.append(f"image_size={c.image_size} is not a multiple of 2**num_downs = {2**c.num_downs}")
    return problems


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
    """bf16 on a GPU that computes it natively, else fp16 with a gradient scaler; fp32 on the CPU and MPS."""
    device = torch.device(device)
    if device.type != "cuda":
        return Precision(device.type, None, use_scaler=False, channels_last=False)
    if not amp:
        return Precision("cuda", None, use_scaler=False, channels_last=True)
    if native_bf16(device):
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


class Pix2Pix(TrainingLoop):
    """A generator G (L -> ab), a PatchGAN discriminator D, their optimisers and the training loop.

    ``history`` holds one dict of losses per step (read from the device when asked for); ``meters``
    the running averages since the last progress-bar update. ``epoch`` and ``batch_in_pass`` say where
    in the data the next step starts, so that a resumed run continues with the very batch an
    uninterrupted one would have used.
    With ``dist`` (a :class:`~course_utils.distributed.Distributed` of several processes) every process
    holds a replica, trains on its share of the data, and DDP averages the gradients.
    """

    def __init__(self, config: Pix2PixConfig | None = None, device="cpu", amp: bool = True,
                 compile: bool = False, dist: Distributed | None = None, sync_bn: bool = False):
        self.config = config or Pix2PixConfig()
        self.device = pick_device(device) if isinstance(device, str) else torch.device(device)
        self.dist = dist or Distributed(device=self.device)
        self.precision = choose_precision(self.device, amp)
        memory_format = torch.channels_last if self.precision.channels_last else torch.preserve_format
        self.G = self.config.build_generator()
        self.D = self.config.build_discriminator()
        for net in (self.G, self.D):
            init_weights(net, scheme="normal", gain=0.02)
        if sync_bn:
            check_sync_bn(self.device)
            self.G, self.D = (nn.SyncBatchNorm.convert_sync_batchnorm(n) for n in (self.G, self.D))
        for net in (self.G, self.D):
            net.to(self.device, memory_format=memory_format)
        # The networks a step runs: DDP wrappers under torchrun, compiled with torch.compile if asked.
        # G's adversarial loss goes through D unwrapped: D is frozen then, and DDP must not wait for its
        # gradients. Checkpoints always hold the plain modules.
        self._G, self._D = self.G, self.D
        if self.dist.active:
            ids = [self.device.index] if self.device.type == "cuda" else None
            # D runs twice before its backward pass: syncing its buffers at the second run would
            # overwrite BatchNorm statistics that the first one saved for backward. D only ever runs in
            # training mode, where BatchNorm normalises with the batch's own statistics, so its running
            # statistics are never used and need no sync (newer torch calls the switch forward_sync_buffers).
            newer = "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters
            no_sync = {"forward_sync_buffers" if newer else "broadcast_buffers": False}
            self._G = DistributedDataParallel(self.G, device_ids=ids)
            self._D = DistributedDataParallel(self.D, device_ids=ids, **no_sync)
        self._D_unwrapped = self.D if self.dist.active else self._D
        if compile:
            self._G, self._D, self._D_unwrapped = map(torch.compile, (self._G, self._D, self._D_unwrapped))
        # Fused Adam: one kernel for all parameters, and it skips a step on the device (found_inf).
        adam = {"lr": self.config.lr, "betas": (self.config.beta1, self.config.beta2), "fused": True}
        self.opt_G = torch.optim.Adam(self.G.parameters(), **adam)
        self.opt_D = torch.optim.Adam(self.D.parameters(), **adam)
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.precision.use_scaler)
        self.gan_loss = GANLoss(self.config.gan_mode)
        self.step = 0
        self.epoch, self.batch_in_pass = 0, 0
        self.data_batch_size: int | None = None  # the batch size the data position counts in
        self.saved_step: int | None = None  # the step the checkpoint on disk holds (None: none yet)
        self._history: list[dict] = []
        self._unread: list[torch.Tensor] = []  # each step's losses, on the device until read
        self._unread_sizes: list[int] = []
        self._halted = torch.zeros((), dtype=torch.bool, device=self.device)  # a non-finite loss was seen
        self.meters = {name: LossMeter() for name in LOSS_NAMES}

    # ---------------------------------------------------------------- one step
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        x = x.to(self.device, non_blocking=True).float()
        return x.contiguous(memory_format=torch.channels_last) if self.precision.channels_last else x

    def _update(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer) -> None:
        """Backward and optimiser step, skipped on the device while ``self._halted`` is set (no host read).

        Fused Adam skips a step whose ``found_inf`` is 1, as it does for GradScaler; with a scaler,
        NaN gradients make the scaler itself skip the step (as for an fp16 overflow).
        """
        if self.scaler.is_enabled():
            self.scaler.scale(loss * torch.where(self._halted, torch.nan, 1.0)).backward()
            self.scaler.step(optimizer)
            return
        loss.backward()
        optimizer.found_inf = self._halted.float()
        optimizer.step()
        del optimizer.found_inf

    def train_step(self, batch: dict) -> dict[str, torch.Tensor]:
        """One D step then one G step on a batch {"L": [B,1,H,W], "ab": [B,2,H,W]} (notebook 07, section 3).

        Returns the losses as tensors on the device: nothing here waits for the device. A non-finite
        loss halts learning on the device: that step's update (and every later one) changes no weight,
        and the next read of the losses (``history``; ``fit`` reads every ``log_every`` steps) raises
        :class:`NonFiniteLossError`.
        """
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
        self._halt_unless_finite(loss_D, d_real, d_fake)
        self._update(loss_D, self.opt_D)

        # G learns to fool the (now frozen) D and to stay close to the real colours (L1).
        set_requires_grad(self.D, False)
        self.opt_G.zero_grad(set_to_none=True)
        with self.precision.autocast():
            g_gan = self.gan_loss(self._D_unwrapped(torch.cat([L, fake_ab], 1)), real=True)
        g_l1 = F.l1_loss(fake_ab.float(), ab)
        loss_G = g_gan + self.config.lambda_l1 * g_l1
        self._halt_unless_finite(loss_G, g_gan, g_l1)
        self._update(loss_G, self.opt_G)
        self.scaler.update()
        set_requires_grad(self.D, True)

        self.step += 1
        losses = self.dist.mean(torch.stack([loss_D, d_real, d_fake, loss_G, g_gan, g_l1]).detach().float())
        self._unread.append(losses)
        self._unread_sizes.append(L.shape[0])
        return dict(zip(LOSS_NAMES, losses.unbind(), strict=True))

    def _halt_unless_finite(self, *losses: torch.Tensor) -> None:
        """Set the device-side halt flag if any loss (averaged over every process) is not finite."""
        values = self.dist.mean(torch.stack([x.detach().float() for x in losses]))
        self._halted = self._halted | ~torch.isfinite(values).all()

    @torch.no_grad()
    def predict_ab(self, L: torch.Tensor) -> torch.Tensor:
        """G's ab for a batch of L (eval mode: dropout off, BatchNorm's running statistics)."""
        was_training = self.G.training
        self.G.eval()
        with self.precision.autocast():
            ab = self.G(self._prepare(L))
        self.G.train(was_training)
        return ab.float()

    # ---------------------------------------------------------- checkpoints
    def state_dict(self) -> dict:
        """Everything a run needs to continue exactly (under torchrun: every process's random state)."""
        return {
            "format": FORMAT,
            "step": self.step,
            "world_size": self.dist.world_size,
            "config": asdict(self.config),
            "G": self.G.state_dict(),
            "D": self.D.state_dict(),
            "opt_G": self.opt_G.state_dict(),
            "opt_D": self.opt_D.state_dict(),
            "scaler": self.scaler.state_dict(),
            "rng": self.dist.gather(rng_state()),
            "data": {"epoch": self.epoch, "batch": self.batch_in_pass, "batch_size": self.data_batch_size},
            "history": self.history,
        }

    def load_state_dict(self, state: dict) -> None:
        check_architecture(Pix2PixConfig.from_dict(state["config"]), self.config)
        load_module(self.G, state["G"], "generator")
        load_module(self.D, state["D"], "discriminator")
        try:
            self.opt_G.load_state_dict(state["opt_G"])
            self.opt_D.load_state_dict(state["opt_D"])
            if state.get("scaler"):
                self.scaler.load_state_dict(state["scaler"])
            rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]  # format 1: one dict
            history, step = list(state["history"]), int(state["step"])
        except (AttributeError, KeyError, TypeError, ValueError) as err:
            raise CheckpointError(f"The checkpoint cannot continue a run (its optimiser or training state is "
                                  f"missing or damaged: {type(err).__name__} {err}).") from None
        position = state.get("data", {})
        same_world = len(rngs) == self.dist.world_size
        if not same_world:
            warnings.warn(f"The checkpoint was written by {len(rngs)} process(es), this run has "
                          f"{self.dist.world_size}: it continues from the start of the next pass, and will "
                          "not repeat an uninterrupted run exactly.", stacklevel=2)
        self.step, self._history, self.saved_step = step, history, step
        self.epoch = int(position.get("epoch", 0)) + (0 if same_world else 1)
        self.batch_in_pass = int(position.get("batch", 0)) if same_world else 0
        self.data_batch_size = position.get("batch_size")
        set_rng_state(rngs[self.dist.rank % len(rngs)])

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint atomically (rank 0 only; every process must call it)."""
        state = self.state_dict()
        with self.dist.all_or_none():
            if self.dist.is_main:
                try:
                    save_checkpoint(state, path)
                except OSError as err:
                    if err.errno not in DISK_FULL_ERRNOS:
                        raise
                    raise DiskFullError(f"No space left on the device to save step {self.step}: "
                                        f"{self._on_disk(path)}. Free some space, then resume.") from None
        self.saved_step = self.step
        return Path(path)

    def _on_disk(self, path) -> str:
        """What the checkpoint file holds now, for messages."""
        if self.saved_step is None:
            return f"{shown(path)} was not written yet"
        return f"{shown(path)} holds step {self.saved_step}"

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
def check_sync_bn(device) -> None:
    """SyncBatchNorm runs on CUDA GPUs only: anything else is a :class:`DeviceError` that says so."""
    if torch.device(device).type != "cuda":
        raise DeviceError("--sync-bn needs CUDA GPUs: SyncBatchNorm cannot run on the CPU. Leave it out "
                          "(each process then normalises with its own batch).")


def check_architecture(saved: Pix2PixConfig, current: Pix2PixConfig) -> None:
    diff = [f"{k}: checkpoint {getattr(saved, k)} vs model {getattr(current, k)}"
            for k in ARCHITECTURE if getattr(saved, k) != getattr(current, k)]
    if diff:
        raise CheckpointError("The checkpoint is from a different architecture: " + "; ".join(diff))


def write_loss_log(history: list[dict], path: str | Path) -> Path:
    """The losses of every step as CSV (step, loss_D, ...), written atomically."""
    path = Path(path)
    with atomic_file(path, "w") as f:
        writer = csv.DictWriter(f, fieldnames=["step", *LOSS_NAMES])
        writer.writeheader()
        writer.writerows(history)
    return path
