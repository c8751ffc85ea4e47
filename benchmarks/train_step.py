"""How fast does the course train, against the seed's way, measured in one run and printed as ratios.

(a) compute only: the course's training step (D step + G step; bf16/fp16 and channels_last on a GPU,
    optionally torch.compile) against a plain fp32 loop of the same networks, on synthetic batches
    already on the device.
(b) end to end, from a folder of 640x480 JPEGs: the course's data pipeline (decode once into a pixel
    cache, Lab on the device) + trainer, against the seed's pipeline (its dataset class, per-image
    scikit-image Lab) + the plain loop, with 0 and with 2 workers; and the course's end-to-end rate as
    a share of its compute-only rate (1.0 = the data never makes the device wait), both measured in the
    same interleaved rounds; and the host's time to hand out one batch (the part that adds to a step
    that is limited by how fast the host launches its kernels).

Each run writes its figures to ``benchmarks/results/<device>-<date>.json`` (one entry per setting,
appended), from which the README's speed table is filled.

    python benchmarks/train_step.py                       # GPU: 256x256, batch 16 (the seed's)
    python benchmarks/train_step.py --batch 64 --compile  # GPU: the large-batch, compiled setting
    python benchmarks/train_step.py --size 64 --batch 4   # what a CPU run uses by default
"""

from __future__ import annotations

import argparse
import datetime
import itertools
import json
import math
import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader

from course_utils.data import SeedColorizationDataset, make_dataloaders
from course_utils.device import pick_device
from course_utils.init import init_weights
from course_utils.train import Pix2Pix, Pix2PixConfig


def parse_args(device: torch.device) -> argparse.Namespace:
    gpu = device.type == "cuda"
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=256 if gpu else 64, help="image side")
    parser.add_argument("--batch", type=int, default=16 if gpu else 4)
    parser.add_argument("--ngf", type=int, default=64 if gpu else 16, help="width of G and D")
    parser.add_argument("--steps", type=int, default=40 if gpu else 8, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=10 if gpu else 2)
    parser.add_argument("--images", type=int, default=320 if gpu else 48, help="JPEGs in the test folder")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; the best is reported")
    parser.add_argument("--seed-steps", type=int, default=10 if gpu else 4,
                        help="timed steps for the slow seed pipeline (one round)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the course's networks")
    parser.add_argument("--resident", choices=("auto", "on", "off"), default="auto",
                        help="keep the pixel cache in GPU memory (auto: when it fits)")
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results",
                        help="folder of the results files (<device>-<date>.json)")
    return parser.parse_args()


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def images_per_second(step, batches, steps: int, warmup: int, batch_size: int, device) -> float:
    """Run ``warmup`` untimed steps, then time ``steps`` steps (each fetching its batch)."""
    for _ in range(warmup):
        step(next(batches))
    synchronize(device)
    start = time.perf_counter()
    for _ in range(steps):
        step(next(batches))
    synchronize(device)
    return steps * batch_size / (time.perf_counter() - start)


def rates_by_round(contenders: dict, rounds: int, **measure) -> dict[str, list[float]]:
    """Images/s of each (step, batches) pair in each of ``rounds`` interleaved rounds, so that a busy or
    warming machine slows every contender alike."""
    rates = {name: [] for name in contenders}
    for _ in range(rounds):
        for name, (step, batches) in contenders.items():
            rates[name].append(images_per_second(step, batches, **measure))
    return rates


def host_seconds_per_batch(batches, n: int, device) -> float:
    """The host's time to hand out one batch, its device work only queued (the device's own time is not
    counted: on a GPU it overlaps the host's)."""
    next(batches)
    synchronize(device)
    start = time.perf_counter()
    for _ in range(n):
        next(batches)
    seconds = (time.perf_counter() - start) / n
    synchronize(device)
    return seconds


class PlainLoop:
    """The seed-style step: fp32, default memory layout, no autocast, no scaler."""

    def __init__(self, config: Pix2PixConfig, device: torch.device):
        self.G, self.D = config.build_generator().to(device), config.build_discriminator().to(device)
        for net in (self.G, self.D):
            init_weights(net)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce, self.l1, self.device = nn.BCEWithLogitsLoss(), nn.L1Loss(), device

    def __call__(self, batch: dict) -> None:
        L, ab = batch["L"].to(self.device), batch["ab"].to(self.device)
        fake = self.G(L)
        self.opt_D.zero_grad()
        real_out, fake_out = self.D(torch.cat([L, ab], 1)), self.D(torch.cat([L, fake.detach()], 1))
        loss_D = 0.5 * (self.bce(real_out, torch.ones_like(real_out))
                        + self.bce(fake_out, torch.zeros_like(fake_out)))
        loss_D.backward()
        self.opt_D.step()
        for p in self.D.parameters():
            p.requires_grad_(False)
        self.opt_G.zero_grad()
        out = self.D(torch.cat([L, fake], 1))
        loss_G = self.bce(out, torch.ones_like(out)) + 100 * self.l1(fake, ab)
        loss_G.backward()
        self.opt_G.step()
        for p in self.D.parameters():
            p.requires_grad_(True)
        loss_D.item(), loss_G.item()  # the seed logs both every step


def write_jpegs(folder: Path, n: int) -> list[Path]:
    """``n`` distinct 640x480 JPEGs: random crops (and mirrors) of the bundled photos."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    sources = [skdata.astronaut(), skdata.chelsea(), skdata.coffee(), skdata.rocket(),
               load_sample_image("china.jpg"), load_sample_image("flower.jpg")]
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        img = Image.fromarray(sources[i % len(sources)])
        w, h = img.size
        cw, ch = int(w * rng.uniform(0.6, 1.0)), int(h * rng.uniform(0.6, 1.0))
        left, top = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
        img = img.crop((left, top, left + cw, top + ch)).resize((640, 480), Image.BICUBIC)
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        paths.append(folder / f"photo_{i:04d}.jpg")
        img.save(paths[-1], quality=90)
    return paths


def course_stepper(trainer: Pix2Pix, log_every: int = 10):
    """The trainer's step as ``fit`` runs it: the losses read from the device every ``log_every`` steps."""
    def step(batch):
        trainer.train_step(batch)
        if trainer.step % log_every == 0:
            trainer.history  # noqa: B018 (reading it waits for the device, as fit's progress bar does)
    return step


def first_step_seconds(step, batch, device) -> float:
    """The first step alone: with torch.compile, this is where the compiling happens."""
    start = time.perf_counter()
    step(batch)
    synchronize(device)
    return time.perf_counter() - start


def save_result(folder: Path, entry: dict) -> Path:
    """Append ``entry`` to ``folder/<device>-<date>.json``."""
    name = re.sub(r"[^a-z0-9]+", "-", entry["device_name"].lower()).strip("-")
    file = folder / f"{name}-{entry['date']}.json"
    folder.mkdir(parents=True, exist_ok=True)
    entries = json.loads(file.read_text()) if file.exists() else []
    file.write_text(json.dumps([*entries, entry], indent=1) + "\n")
    return file


def main() -> None:
    device = pick_device()
    args = parse_args(device)
    num_downs = int(math.log2(args.size))
    config = Pix2PixConfig(image_size=args.size, num_downs=num_downs, ngf=args.ngf, ndf=args.ngf)
    measure = dict(steps=args.steps, warmup=args.warmup, batch_size=args.batch, device=device)
    torch.manual_seed(0)
    device_name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"device {device} ({device_name}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} CPU threads")
    print(f"{args.size}x{args.size} px, batch {args.batch}, num_downs {num_downs}, ngf=ndf={args.ngf}, "
          f"{args.steps} timed steps after {args.warmup} warm-up steps, best of {args.rounds} rounds")
    if device.type != "cuda":
        print("NOTE: no GPU here, so this is a reduced CPU run (the issue's setting is 256x256, batch 16, "
              "ngf 64 on a GPU); on a CPU both loops run the same fp32 code, so (a) should be about 1.")

    course = Pix2Pix(config, device=device, compile=args.compile)
    step = course_stepper(course)
    plain = PlainLoop(config, device)
    print(f"course precision: {course.precision}" + (" + torch.compile" if args.compile else ""))

    L = torch.rand(args.batch, 1, args.size, args.size, device=device) * 2 - 1
    synthetic = itertools.repeat({"L": L, "ab": torch.randn(args.batch, 2, args.size, args.size,
                                                             device=device).mul(0.2).clamp(-1, 1)})
    first_s = {"course": first_step_seconds(step, next(synthetic), device),
               "plain": first_step_seconds(plain, next(synthetic), device)}
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COURSE_DATA_DIR"] = str(Path(tmp) / "data")  # the pixel cache goes here, then away
        paths = write_jpegs(Path(tmp), args.images)
        start = time.perf_counter()
        resident = {"auto": None, "on": True, "off": False}[args.resident]
        train_loader, _ = make_dataloaders(paths, paths[:1], args.size, args.batch, device=device,
                                           resident=resident)
        cache_s = time.perf_counter() - start
        kept = train_loader.dataset.resident is not None

        def course_batches():
            while True:
                yield from train_loader

        # (a) compute only: the same synthetic batch, already on the device; and the course end to end,
        # measured in the same rounds
        by_round = rates_by_round({"plain": (plain, synthetic), "course": (step, synthetic),
                                   "course_e2e": (step, course_batches())}, args.rounds, **measure)
        data_host_s = host_seconds_per_batch(course_batches(), args.steps, device)
        seed_rates = {}
        for workers in (0, 2):
            loader = DataLoader(SeedColorizationDataset(paths, "train", args.size), batch_size=args.batch,
                                shuffle=True, num_workers=workers, persistent_workers=workers > 0)

            def seed_batches(loader=loader):
                while True:
                    yield from loader

            seed_rates[workers] = images_per_second(plain, seed_batches(), steps=args.seed_steps, warmup=2,
                                                    batch_size=args.batch, device=device)

    plain_compute, course_compute, course_e2e = (max(by_round[k]) for k in ("plain", "course", "course_e2e"))
    print("\n(a) compute only (images/s)")
    print(f"  plain fp32 loop          {plain_compute:9.1f}   first step {first_s['plain']:.2f} s")
    print(f"  course training step     {course_compute:9.1f}   ratio {course_compute / plain_compute:.2f}x, "
          f"first step {first_s['course']:.2f} s")
    print(f"\n(b) end to end from {args.images} JPEGs of 640x480 (images/s)")
    print(f"  seed pipeline, 0 workers + plain loop   {seed_rates[0]:9.1f}")
    print(f"  seed pipeline, 2 workers + plain loop   {seed_rates[2]:9.1f}")
    print(f"  course pipeline + trainer               {course_e2e:9.1f}   ratio "
          f"{course_e2e / seed_rates[0]:.2f}x vs 0 workers, {course_e2e / seed_rates[2]:.2f}x vs 2 workers")
    fraction = course_e2e / course_compute
    by_round_fraction = [e2e / compute for e2e, compute in zip(by_round["course_e2e"], by_round["course"],
                                                              strict=True)]
    where = "in GPU memory" if kept else "on the host"
    print(f"  course end to end / course compute only {fraction:9.2f}   (best of each; round by round "
          f"{', '.join(f'{f:.3f}' for f in by_round_fraction)})")
    print(f"  the course's data path: {data_host_s * 1e6:.0f} us of host time per batch; pixel cache "
          f"{where}, built once beforehand in {cache_s:.2f} s, not timed")
    entry = {
        "date": datetime.date.today().isoformat(), "device_name": device_name, "device": str(device),
        "torch": torch.__version__, "size": args.size, "batch": args.batch, "ngf": args.ngf,
        "compile": args.compile, "precision": str(course.precision.dtype or "float32"),
        "cache_in_device_memory": kept, "timed_steps": args.steps, "rounds": args.rounds,
        "compute_only_images_per_s": {"plain_fp32_loop": round(plain_compute, 1),
                                      "course": round(course_compute, 1)},
        "end_to_end_images_per_s": {"seed_0_workers": round(seed_rates[0], 1),
                                    "seed_2_workers": round(seed_rates[2], 1),
                                    "course": round(course_e2e, 1)},
        "end_to_end_fraction_of_compute": round(fraction, 3),
        "end_to_end_fraction_by_round": [round(f, 3) for f in by_round_fraction],
        "data_host_us_per_batch": round(data_host_s * 1e6),
        "first_step_s": {k: round(v, 2) for k, v in first_s.items()},
    }
    print(f"\nresults appended to {save_result(args.out, entry)}")


if __name__ == "__main__":
    main()
