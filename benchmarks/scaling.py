"""Training throughput with 1 and with N processes on this machine, at the same global batch.

    python benchmarks/scaling.py [--processes 2] [--batch 16] [--profile quick]

Runs ``python -m course_utils train`` on synthetic photos, once with one process and a batch of
``--batch``, once with ``--nproc-per-node N`` and ``--batch / N`` per process. Each is timed for a short
and a long run; the difference removes the start-up (imports, caching, process group), so the rate is
that of training steps alone. Prints images/s for both and their ratio.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

SHORT, LONG = 5, 105  # steps


def seconds(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "course_utils", *args], check=True, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16, help="global batch (images per step, all processes)")
    parser.add_argument("--profile", default="quick")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photos = folder / "photos"
        photos.mkdir()
        rng = np.random.default_rng(0)
        for i in range(80):
            Image.fromarray(rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)).save(photos / f"{i:03d}.png")
        env = {**os.environ, "COURSE_DATA_DIR": str(folder / "data")}
        rates = {}
        for processes in (1, args.processes):
            per_process = args.batch // processes
            common = ["train", "--data", str(photos), "--profile", args.profile, "--batch-size",
                      str(per_process), "--nproc-per-node", str(processes), "--checkpoint-every", "100000",
                      "--sample-every", "100000"]
            short = seconds([*common, "--out", str(folder / f"short{processes}"), "--steps", str(SHORT)], env)
            long = seconds([*common, "--out", str(folder / f"long{processes}"), "--steps", str(LONG)], env)
            rates[processes] = (LONG - SHORT) * per_process * processes / (long - short)
            print(f"{processes} process(es) x batch {per_process}: {rates[processes]:.1f} images/s "
                  f"({(long - short) / (LONG - SHORT) * 1000:.0f} ms a step)", flush=True)
    print(f"{args.processes} processes / 1 process: {rates[args.processes] / rates[1]:.2f}x "
          f"on {os.cpu_count()} CPU cores, profile {args.profile}")


if __name__ == "__main__":
    main()
