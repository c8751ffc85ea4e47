"""The course's two profiles, in one place, and the one-line notebook set-up.

``quick`` runs every notebook on 2 CPU cores in about a minute, on the offline photos (the course's
own and those scikit-image and scikit-learn ship: ``data.sample_image_paths``).
``full`` uses the paper's settings (Isola et al. 2017): 256x256 images, ngf = ndf = 64, the COCO
sample. ``COURSE_PROFILE`` = ``quick`` | ``full`` | ``auto`` chooses; ``auto`` (the default) picks
``full`` when a CUDA GPU is present, else ``quick``.
"""

from __future__ import annotations

import os
import random
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

PROFILE_ENV = "COURSE_PROFILE"
PROFILE_CHOICES = ("quick", "full", "auto")


@dataclass(frozen=True)
class Profile:
    """Every setting that differs between a quick CPU run and the paper's run."""

    name: str
    image_size: int  # side of the square images the networks see
    num_downs: int  # U-Net depth; image_size must be divisible by 2**num_downs
    ngf: int  # generator width (filters in its first layer)
    ndf: int  # discriminator width
    batch_size: int
    train_steps: int  # optimiser steps of a training run
    dataset: str  # "bundled" (the offline photos, shipped with the packages) or "coco"
    n_images: int  # images drawn from the dataset before the split
    val_fraction: float
    checkpoint_every: int  # steps between checkpoints (and sample grids) of a command-line run
    seed: int = 42

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self, data: str | None = None) -> str:
        """One line; ``data`` names the photos when they are not the profile's dataset (``--data``)."""
        return (
            f"profile {self.name}: {self.image_size}x{self.image_size} px, ngf={self.ngf}, "
            f"ndf={self.ndf}, batch {self.batch_size}, {self.train_steps} steps, "
            f"data={data or self.dataset}"
        )


PROFILES = {
    "quick": Profile(
        name="quick",
        image_size=64,
        num_downs=6,
        ngf=16,
        ndf=16,
        batch_size=8,
        train_steps=300,
        dataset="bundled",
        n_images=1_000,  # more than there are offline photos: all 44 are used (8 natural ones validate)
        val_fraction=0.2,
        checkpoint_every=50,
    ),
    "full": Profile(
        name="full",
        image_size=256,
        num_downs=8,
        ngf=64,
        ndf=64,
        batch_size=16,
        train_steps=20_000,
        dataset="coco",
        n_images=20_000,  # as in the seed course: 15,000 train / 5,000 validation
        val_fraction=0.25,
        checkpoint_every=1_000,
    ),
}


def resolve_profile_name(value: str | None = None) -> str:
    """Turn ``quick`` / ``full`` / ``auto`` (default: the ``COURSE_PROFILE`` variable) into a name."""
    raw = value if value is not None else os.environ.get(PROFILE_ENV, "")
    name = raw.strip().lower() or "auto"  # an empty value, like an empty COURSE_DEVICE, means the default
    if name not in PROFILE_CHOICES:
        raise ValueError(
            f"Unknown course profile {raw!r} (from {PROFILE_ENV} or the argument). "
            f"Allowed values: {', '.join(PROFILE_CHOICES)}."
        )
    if name == "auto":
        name = "full" if torch.cuda.is_available() else "quick"
    return name


def get_profile(name: str | None = None, **overrides) -> Profile:
    """The active profile; keyword arguments override single fields (``get_profile(train_steps=50)``)."""
    profile = PROFILES[resolve_profile_name(name)]
    unknown = set(overrides) - set(profile.as_dict())
    if unknown:
        raise TypeError(f"Profile has no field(s) {sorted(unknown)}; fields: {list(profile.as_dict())}")
    bad = [f"{k}={v!r}" for k, v in overrides.items() if not _valid_setting(k, v)]
    if bad:
        raise ValueError(f"Invalid profile setting(s) {', '.join(bad)}: sizes, counts and steps are whole "
                         "numbers >= 1, val_fraction lies between 0 and 1.")
    return replace(profile, **overrides)


def _valid_setting(key: str, value) -> bool:
    if key in ("name", "dataset"):
        return isinstance(value, str)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if key == "val_fraction":
        return 0 < value < 1
    return isinstance(value, int) and value >= (0 if key == "seed" else 1)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and every GPU) so a run can be repeated."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def setup(profile: str | None = None, seed: int | None = None, verbose: bool = True, drive: bool = False):
    """What every notebook does once: choose the profile, seed everything, pick the device.

    ``drive=True`` (Colab only) first moves the course's data folder to Google Drive, so downloads and
    trained models outlive the runtime (see ``paths.use_google_drive``). Returns ``(profile, device)``.
    """
    from .device import pick_device
    from .paths import use_google_drive
    from .viz import use_course_style

    if drive:
        print(f"course data on Google Drive: {use_google_drive()}")
    prof = get_profile(profile)
    seed_everything(prof.seed if seed is None else seed)
    device = pick_device()
    use_course_style()
    if verbose:
        print(f"{prof.summary()} | seed {prof.seed if seed is None else seed} | device {device}")
    return prof, device
