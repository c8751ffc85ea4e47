"""Helpers the command-line tests share."""

import re
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from course_utils.checkpoint import read_checkpoint

TRAIN = ["train", "--profile", "quick", "--batch-size", "2", "--sample-every", "1000"]


def training_photos(folder, n=10):
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)).save(folder / f"p{i:02d}.png")
    return folder


PROGRESS_BAR = re.compile(r"^[\w .-]+:\s+\d+%\|")  # e.g. "training:  40%|####  | 4/10 [...]"


def one_line(text: str) -> str:
    """The whole of an error output, checked to be a single line without a traceback (progress bars,
    which also write to stderr, aside)."""
    lines = [line for line in text.splitlines() if line.strip() and not PROGRESS_BAR.match(line)]
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


def same_run(a: Path, b: Path) -> bool:
    """Two run folders hold the same training: checkpoints equal bit for bit, identical loss logs."""
    x, y = read_checkpoint(a / "checkpoint.pt"), read_checkpoint(b / "checkpoint.pt")
    weights = all(torch.equal(x[n][k], y[n][k]) for n in ("G", "D") for k in x[n])
    same_log = (a / "losses.csv").read_text() == (b / "losses.csv").read_text()
    return weights and same_log and x["history"] == y["history"] and x["step"] == y["step"]
