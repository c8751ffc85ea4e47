"""Images per second delivering normalised L/ab training batches: the seed's pipeline against the course's.

    python benchmarks/data_pipeline.py                 # 200 JPEGs, 256x256 batches of 16, 0 workers
    python benchmarks/data_pipeline.py --images 2000 --workers 2 --threads 2

Builds a temporary folder of 640x480 JPEGs (COCO's typical size) from the bundled photos, then, in
one process and with the same number of DataLoader workers, times
  (a) the seed's pipeline: per image PIL decode, torchvision Resize (bicubic), flip, scikit-image rgb2lab;
  (b) the course's pipeline: make_dataloaders (each JPEG decoded once into a pixel cache, then per batch
      a random crop and flip, and the Lab conversion batched in torch on the device).
(b) pays its decoding once; the report shows that cost, the first epoch with it, and the later epochs.
Each rate is the best of its epochs, so a burst of load from other programs does not decide the ratio.
torch runs on 1 thread by default, like the seed's scikit-image conversion, so the comparison is per
core: the speed-up comes from doing less work, not from using more cores. (On a busy machine extra
torch threads can even slow things down, as every parallel step waits for the slowest core.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

from course_utils.data import SeedColorizationDataset, load_rgb, make_dataloaders, sample_image_paths
from course_utils.device import pick_device


def make_jpegs(folder: Path, n: int, seed: int = 0) -> list[Path]:
    """``n`` 640x480 JPEGs: random 4:3 windows of the bundled photos, like a folder of COCO images."""
    rng = np.random.default_rng(seed)
    photos = [load_rgb(p) for p in sample_image_paths() if p.suffix == ".png"]  # the large package photos
    paths = []
    for i in range(n):
        photo = photos[i % len(photos)]
        w = int(rng.uniform(0.5, 1.0) * min(photo.width, photo.height * 4 / 3))
        h = w * 3 // 4
        left, top = int(rng.integers(0, photo.width - w + 1)), int(rng.integers(0, photo.height - h + 1))
        window = photo.crop((left, top, left + w, top + h)).resize((640, 480), Image.Resampling.BICUBIC)
        paths.append(folder / f"{i:06d}.jpg")
        window.save(paths[-1], quality=90)
    return paths


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def time_epochs(loader, epochs: int, device: torch.device) -> list[float]:
    """Seconds per full pass over ``loader``, touching every batch's tensors."""
    times = []
    for _ in range(epochs):
        sync(device)
        start = time.perf_counter()
        for batch in loader:
            batch["L"].sum() + batch["ab"].sum()  # noqa: B018 (make sure the work is done)
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=200, help="number of 640x480 JPEGs (default 200)")
    parser.add_argument("--size", type=int, default=256, help="side of the training images (default 256)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--workers", type=int, default=0, help="DataLoader workers, for both (default 0)")
    parser.add_argument("--epochs", type=int, default=2, help="timed epochs of each pipeline (default 2)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1, see above)")
    parser.add_argument("--device", default=None, help="where the course converts to Lab (default: best)")
    args = parser.parse_args()
    device = torch.device(args.device) if args.device else pick_device()
    torch.set_num_threads(args.threads)
    n = args.images
    print(f"device {device} | DataLoader workers {args.workers} (both pipelines) | "
          f"torch threads {torch.get_num_threads()} | CPU cores {os.cpu_count()}")

    with tempfile.TemporaryDirectory() as tmp:
        # The pixel cache goes to the temporary folder too, so every run starts cold.
        os.environ["COURSE_DATA_DIR"] = str(Path(tmp) / "data")
        start = time.perf_counter()
        paths = make_jpegs(Path(tmp), n)
        print(f"made {n} JPEGs of 640x480 in {time.perf_counter() - start:.1f} s; batches of "
              f"{args.batch_size} at {args.size}x{args.size}\n")

        seed_dataset = SeedColorizationDataset(paths, "train", args.size)
        seed_loader = DataLoader(seed_dataset, batch_size=args.batch_size, shuffle=True,
                                 num_workers=args.workers, pin_memory=device.type == "cuda")
        seed_s = min(time_epochs(seed_loader, args.epochs, torch.device("cpu")))

        start = time.perf_counter()
        train_loader, _ = make_dataloaders(paths, paths[:1], args.size, args.batch_size, device=device,
                                           num_workers=args.workers)
        cache_s = time.perf_counter() - start
        epochs_s = time_epochs(train_loader, args.epochs + 1, device)

    seed_rate, warm_rate = n / seed_s, n / min(epochs_s[1:])
    cold_rate = n / (cache_s + epochs_s[0])
    rows = [
        ("(a) seed: PIL + Resize + rgb2lab per image", seed_rate),
        ("(b) course, first epoch incl. building the cache", cold_rate),
        ("(b) course, later epochs", warm_rate),
    ]
    for label, rate in rows:
        print(f"{label:<52}{rate:>9.1f} images/s")
    print(f"\n(building the cache: {cache_s:.1f} s for {n} images, once per dataset and size)")
    print(f"speed-up, later epochs: {warm_rate / seed_rate:.1f}x   first epoch: {cold_rate / seed_rate:.1f}x")


if __name__ == "__main__":
    main()
