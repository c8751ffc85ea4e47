"""Colorize photos of any size and mode at their original resolution with a trained generator.

The network sees an ``image_size`` square version of the photo; its ab (the colour) is upsampled to
the photo's size and combined with the photo's own full-resolution L (the detail), so the result is as
sharp as the input. Colour varies slowly across an image, which is why the upsampling costs little.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.nn import functional as F

from .color import normalize_lab, normalized_to_rgb, rgb_to_lab
from .data import load_rgb
from .train import Pix2PixConfig, load_module, read_checkpoint

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")


class ImageReadError(ValueError):
    """A file that is not an image Pillow can read."""


def load_generator(checkpoint: str | Path, device="cpu") -> tuple[torch.nn.Module, Pix2PixConfig]:
    """The generator stored in a training checkpoint (rebuilt from its config), in eval mode."""
    state = read_checkpoint(checkpoint)
    config = Pix2PixConfig.from_dict(state["config"])
    generator = config.build_generator()
    load_module(generator, state["G"], "generator")
    return generator.to(device).eval(), config


def read_image(path: str | Path) -> Image.Image:
    """Any image file as upright 8-bit RGB (grey, palette, 16-bit, transparency: see ``data.load_rgb``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such image file: {path}")
    try:
        return load_rgb(path)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"Cannot read {path} as an image ({err}).") from err


@torch.no_grad()
def colorize_image(generator: torch.nn.Module, image: Image.Image, image_size: int) -> Image.Image:
    """An RGB version of ``image`` (same size) whose colours come from ``generator``."""
    device = next(generator.parameters()).device
    rgb = torch.from_numpy(np.array(image.convert("RGB"))).permute(2, 0, 1)[None].to(device)
    L_full, _ = normalize_lab(rgb_to_lab(rgb))
    small = image.convert("RGB").resize((image_size, image_size), Image.BICUBIC)
    small_rgb = torch.from_numpy(np.array(small)).permute(2, 0, 1)[None].to(device)
    L_small, _ = normalize_lab(rgb_to_lab(small_rgb))
    ab = generator(L_small).float()
    ab_full = F.interpolate(ab, size=L_full.shape[-2:], mode="bilinear", align_corners=False)
    out = normalized_to_rgb(L_full, ab_full)[0]
    return Image.fromarray((out.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8))


def expand_inputs(inputs) -> list[Path]:
    """Files as given, folders as the images inside them (sorted); a missing path is an error."""
    files = []
    for item in map(Path, inputs):
        if item.is_dir():
            found = sorted(p for p in item.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"No images ({', '.join(IMAGE_SUFFIXES)}) in the folder {item}")
            files += found
        elif item.exists():
            files.append(item)
        else:
            raise FileNotFoundError(f"No such file or folder: {item}")
    return files


def output_paths(files: list[Path], out_dir: Path) -> list[Path]:
    """``NAME_color.png`` in ``out_dir`` for each input (numbered on clashes); never an input's path."""
    taken, outputs = set(), []
    inputs = {f.resolve() for f in files}
    for f in files:
        candidate, n = out_dir / f"{f.stem}_color.png", 2
        while candidate.resolve() in taken:
            candidate, n = out_dir / f"{f.stem}_{n}_color.png", n + 1
        if candidate.resolve() in inputs:
            raise ValueError(f"Writing {candidate} would overwrite an input photo; "
                             "choose another --out folder.")
        taken.add(candidate.resolve())
        outputs.append(candidate)
    return outputs


def colorize_files(checkpoint: str | Path, inputs, out_dir: str | Path,
                   device="cpu") -> tuple[list[Path], list[str]]:
    """Colorize every input into ``out_dir``; returns (files written, error messages for skipped files)."""
    files = expand_inputs(inputs)
    out_dir = Path(out_dir)
    outputs = output_paths(files, out_dir)
    generator, config = load_generator(checkpoint, device)
    out_dir.mkdir(parents=True, exist_ok=True)
    written, errors = [], []
    for src, dst in zip(files, outputs, strict=True):
        try:
            image = read_image(src)
        except (ImageReadError, FileNotFoundError) as err:
            errors.append(str(err))
            continue
        colorize_image(generator, image, config.image_size).save(dst)
        written.append(dst)
    return written, errors
