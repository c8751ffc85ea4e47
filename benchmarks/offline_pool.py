"""Which offline photos should the quick profile train on? Colour quality on unseen photos, per option.

Each option trains the quick profile's networks as notebook 07 does (``Pix2Pix`` on
``make_dataloaders``, CPU) and scores them with ``metrics.evaluate`` beside the gray baseline on the
same validation photos: the quick profile's split of the offline photos, natural photographs only.
Printed per option, as mean ± standard deviation over the seeds: validation ab MAE and CIEDE2000
(model, gray), the training photos' ab MAE (model, gray) and training steps per second, with the
1-minute load average while it ran (this machine's other work slows it down: compare steps/s only
at low load).

    python benchmarks/offline_pool.py                           # every option, seeds 0 1 2
    python benchmarks/offline_pool.py --options seed10 quick --seeds 0 1 --split-seed 1 --threads 1
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from course_utils.config import get_profile, seed_everything
from course_utils.data import (
    CROP_SCALES,
    SCIENCE_PHOTOS,
    course_split,
    make_dataloaders,
    photo_crops,
    split_paths,
)
from course_utils.metrics import evaluate
from course_utils.train import Pix2Pix, Pix2PixConfig


def options(profile, folder: Path) -> tuple[dict, list[Path]]:
    """name -> (training files, photos they come from, profile), and the validation photos of them all.

    "quick" is the quick profile as it ships: the offline photos and their square crops. "seed10" is
    its former data: 8 of the 10 photos scikit-image and scikit-learn ship. Validation photos seed10
    trained on (possible with another split seed) are left out of validation, for every option.
    """
    train, val = course_split(profile)
    photos = [p for p in train if p.parent.name == "bundled"]
    crops = [p for p in train if p not in photos]
    natural = [p for p in photos if p.stem not in SCIENCE_PHOTOS]
    seed10 = split_paths([p for p in photos + val if p.suffix == ".png"], 0.2, 42)[0]
    val = [p for p in val if p not in seed10]
    steps450 = replace(profile, train_steps=450)
    twice = photo_crops(natural, CROP_SCALES * 2, folder / "crops2")
    with_square = photo_crops(natural, (1.0, *CROP_SCALES), folder / "crops_square")
    return {
        "seed10": (seed10, seed10, profile),
        "seed10+crops": (seed10 + photo_crops([p for p in seed10 if p.stem not in SCIENCE_PHOTOS]), seed10,
                         profile),
        "pool": (photos, photos, profile),
        "natural": (natural, natural, profile),
        "natural 450 steps": (natural, natural, steps450),
        "natural batch 16": (natural, natural, replace(profile, batch_size=16)),
        "natural+crops": (natural + crops, natural, profile),
        "quick": (train, photos, profile),
        "quick 450 steps": (train, photos, steps450),
        "quick batch 16": (train, photos, replace(profile, batch_size=16)),
        "pool+2 crops/scale": (photos + twice, photos, profile),
        "pool+crops+square": (photos + with_square, photos, profile),
    }, val


def run(train_files, photos, val, profile, seed: int) -> dict:
    """Train once; the scores on the validation and the training photos, steps/s and the load."""
    seed_everything(seed)
    trainer = Pix2Pix(Pix2PixConfig.from_profile(profile), device="cpu")
    train_loader, val_loader = make_dataloaders(train_files, val, profile.image_size, profile.batch_size,
                                                device="cpu")
    seen = make_dataloaders(photos, photos, profile.image_size, profile.batch_size, device="cpu")[1]
    start = time.perf_counter()
    trainer.fit(train_loader, steps=profile.train_steps, progress=False)
    seconds = time.perf_counter() - start
    v, t = evaluate(trainer.predict_ab, val_loader), evaluate(trainer.predict_ab, seen)
    return {"val ab": (v.model["ab MAE"], v.gray["ab MAE"]),
            "val de": (v.model["CIEDE2000"], v.gray["CIEDE2000"]),
            "train ab": (t.model["ab MAE"], t.gray["ab MAE"]),
            "steps/s": profile.train_steps / seconds, "load": os.getloadavg()[0]}


def summary(runs: list[dict]) -> list[str]:
    def pair(key):
        model, gray = np.array([r[key][0] for r in runs]), runs[0][key][1]
        return f"{model.mean():5.2f} ± {model.std():4.2f} vs {gray:5.2f}"

    rate, load = np.array([r["steps/s"] for r in runs]), np.array([r["load"] for r in runs])
    return [pair("val ab"), pair("val de"), pair("train ab"), f"{rate.mean():5.1f}",
            f"{load.min():.1f}-{load.max():.1f}"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--options", nargs="*", help="option names (default: all)")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--split-seed", type=int, help="split the photos with this seed, not the profile's")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice). On a busy "
                        "machine 1 avoids threads waiting for each other (10x faster here); scores move "
                        "by float rounding only, less than between seeds")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["COURSE_DATA_DIR"] = tmp  # a private data/ folder: split, caches and crops
        profile = get_profile("quick")
        if args.split_seed is not None:
            profile = replace(profile, seed=args.split_seed)
        table, val = options(profile, Path(tmp))
        print(f"{profile.summary()}, split seed {profile.seed}, {torch.get_num_threads()} torch threads; "
              f"{len(val)} validation photos: {', '.join(p.stem for p in val)}")
        rows = []
        for name in args.options or table:
            files, photos, prof = table[name]
            runs = []
            for seed in args.seeds:
                runs.append(run(files, photos, val, prof, seed))
                r = runs[-1]
                print(f"  {name} seed {seed}: val ab {r['val ab'][0]:.2f} (gray {r['val ab'][1]:.2f}), "
                      f"val CIEDE2000 {r['val de'][0]:.2f} (gray {r['val de'][1]:.2f}), "
                      f"{r['steps/s']:.1f} steps/s, load {r['load']:.1f}", flush=True)
            rows.append([name, f"{len(files)} ({len(photos)})", f"{prof.train_steps}x{prof.batch_size}",
                         str(len(runs)), *summary(runs)])
    header = ["option", "train files (photos)", "steps x batch", "seeds", "val ab MAE: model vs gray",
              "val CIEDE2000: model vs gray", "train ab MAE: model vs gray", "steps/s", "load"]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))


if __name__ == "__main__":
    main()
