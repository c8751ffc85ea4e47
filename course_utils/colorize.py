"""Colorize photos of any size and mode at their original resolution with a trained generator.

The network sees an ``image_size`` square version of the photo; its ab (the colour) is upsampled to
the photo's size and combined with the photo's own full-resolution L (the detail), so the result is as
sharp as the input. Colour varies slowly across an image, which is why the upsampling costs little.
Large photos are converted in horizontal strips, so memory stays near 8 bytes per pixel (the photo and
its result) however large the photo is; Pillow refuses images over ``Image.MAX_IMAGE_PIXELS`` x 2
(about 179 megapixels) as possible decompression bombs, and so does the course.

Every result carries a mark in its PNG metadata: which photo (path and SHA-256) and which checkpoint
(SHA-256) it came from. Only a file with the course's mark for the same photo is ever replaced, and
a result is skipped as done only when photo and checkpoint are the same.
"""

from __future__ import annotations

import itertools
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, PngImagePlugin

from .checkpoint import load_module, read_checkpoint
from .color import normalize_lab, normalized_to_rgb, rgb_to_lab
from .data import load_rgb
from .device import pick_device
from .errors import DISK_FULL_ERRNOS, CheckpointError, ImageReadError
from .files import atomic_file, remove_stale_temporaries, shown
from .train import Pix2PixConfig
from .weights import file_sha256, resolve_checkpoint

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
OUTPUT_SUFFIX = "_color.png"
STRIP_PIXELS = 2**21  # pixels converted at a time (about 2 megapixels: ~200 MB of temporaries)
_PNG_END = b"\x00\x00\x00\x00IEND\xaeB`\x82"  # the last 12 bytes of every complete PNG file
MARK = "course_utils"  # the PNG text chunk that marks a result: {"source", "photo", "model"}
NAME_BYTES, FOLDER_BYTES = 150, 60  # of a photo's and its folder's name in a result's (255 bytes at most)

__all__ = ["ImageReadError", "colorize_files", "colorize_image", "colorize_photos", "load_generator",
           "read_image"]


def load_generator(checkpoint: str | Path, device="cpu", sha256: str | None = None
                   ) -> tuple[torch.nn.Module, Pix2PixConfig]:
    """The generator stored in a checkpoint (rebuilt from its config: either architecture), in eval mode.

    ``checkpoint`` is a training checkpoint or an export (``course_utils.export``: half-precision
    weights, turned back into float32 here); a file, or an http(s) URL with its ``sha256``: downloaded
    once, checked, then read like a file (``course_utils.weights``).
    """
    device = device if isinstance(device, torch.device) else pick_device(str(device))
    path = resolve_checkpoint(checkpoint, sha256)
    state = read_checkpoint(path)
    try:
        config = Pix2PixConfig.from_dict(state["config"])
        generator = config.build_generator()
        load_module(generator, state["G"], "generator")  # copying into float32 weights converts float16
    except CheckpointError as err:
        raise CheckpointError(f"{shown(path)}: {err}") from None
    generator.image_size = config.image_size  # what colorize_image needs to know
    generator.checkpoint_sha256 = file_sha256(path)  # results name the model they came from
    return generator.float().to(device).eval(), config


def read_image(path: str | Path) -> Image.Image:
    """Any image file as upright 8-bit RGB (grey, palette, 16-bit, transparency: see ``data.load_rgb``)."""
    path = _regular(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # large photos go in strips
            return load_rgb(path)
    except Image.DecompressionBombError as err:
        raise ImageReadError(f"Cannot read {shown(path)}: {err} (refused, as Pillow does).") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageReadError(f"Cannot read {shown(path)} as an image ({err}).") from None


def _regular(path) -> Path:
    path = Path(path)
    if path.is_dir():
        raise ImageReadError(f"{shown(path)}: a folder, not an image.")
    if not path.is_file():
        raise ImageReadError(f"{shown(path)}: no such file (or not a regular file).")
    return path


def upsampling_matrix(n_out: int, n_in: int) -> torch.Tensor:
    """[n_out, n_in] weights of bilinear upsampling along one axis (``F.interpolate``, align_corners=False).

    Upsampling a [n_in, n_in] image to [H, W] is then ``rows @ image @ cols.T``, and any band of rows of
    the result can be computed alone.
    """
    src = ((torch.arange(n_out, dtype=torch.float64) + 0.5) * (n_in / n_out) - 0.5).clamp(min=0)
    low = src.floor().long().clamp(max=n_in - 1)
    high = (low + 1).clamp(max=n_in - 1)
    weight = src - low
    matrix = torch.zeros(n_out, n_in, dtype=torch.float64)
    rows = torch.arange(n_out)
    matrix[rows, low] += 1 - weight
    matrix[rows, high] += weight
    return matrix.float()


def _lab_input(rgb: np.ndarray, device) -> torch.Tensor:
    """Network-scaled L, [1, 1, H, W], of an [H, W, 3] uint8 array."""
    return normalize_lab(rgb_to_lab(torch.from_numpy(rgb).permute(2, 0, 1)[None].to(device)))[0]


@torch.no_grad()
def colorize_image(generator: torch.nn.Module, image: Image.Image | str | Path, image_size: int | None = None,
                   strip_pixels: int = STRIP_PIXELS) -> Image.Image:
    """An RGB version of ``image`` (a PIL image or a file's path; same size) coloured by ``generator``.

    ``image_size`` defaults to the size a generator from :func:`load_generator` was trained at.
    """
    if isinstance(image, (str, Path)):
        image = read_image(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"colorize_image needs a PIL image or a file's path, not a {type(image).__name__}.")
    image_size = image_size or getattr(generator, "image_size", None)
    if not image_size:
        raise TypeError("colorize_image needs image_size, the size the generator was trained at (a "
                        "generator from load_generator knows it).")
    device = next(generator.parameters()).device
    image = image.convert("RGB") if image.mode != "RGB" else image
    small = np.array(image.resize((image_size, image_size), Image.BICUBIC))  # writable, for torch
    ab = generator(_lab_input(small, device)).float()[0]  # [2, image_size, image_size]
    width, height = image.size
    rows = upsampling_matrix(height, image_size).to(device)
    cols_t = upsampling_matrix(width, image_size).to(device).T
    out = Image.new("RGB", image.size)
    step = max(1, strip_pixels // width)
    for top in range(0, height, step):
        bottom = min(height, top + step)
        L = _lab_input(np.array(image.crop((0, top, width, bottom))), device)
        ab_strip = rows[top:bottom] @ ab @ cols_t  # [2, strip height, width]
        rgb = normalized_to_rgb(L, ab_strip[None])[0]
        pixels = (rgb.permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        out.paste(Image.fromarray(pixels), (0, top))
    return out


def expand_inputs(inputs, out_dir: Path | None = None) -> tuple[list[Path], list[str]]:
    """(image files, problems): files as given, folders as the images in them (sorted, each file once).

    In a folder, hidden files, special files and sub-folders are skipped, as ``find_images`` does;
    a sub-folder named like an image, or a folder that cannot be read, is reported. In the output
    folder, the course's earlier results (marked) are not inputs. A missing path or a folder without
    images is a problem, not an error: the other inputs still count.
    """
    files, problems, seen = [], [], set()
    out_dir = Path(out_dir).resolve() if out_dir is not None else None

    def add(path: Path) -> None:
        real = path.resolve()
        if real not in seen:
            seen.add(real)
            files.append(path)

    for item in map(Path, [inputs] if isinstance(inputs, (str, Path)) else inputs):
        if item.is_dir():
            found = 0
            try:
                entries = sorted(item.iterdir())
            except OSError as err:
                problems.append(f"{shown(item)}: cannot be read ({err.strerror or err}).")
                continue
            for p in entries:
                if p.name.startswith(".") or p.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                if p.is_dir():
                    problems.append(f"{shown(p)}: a folder, not an image.")
                elif p.is_file() and not (item.resolve() == out_dir and course_mark(p) is not None):
                    add(p)
                    found += 1
            if not found:
                problems.append(f"{shown(item)}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder.")
        elif item.is_file():
            add(item)
        elif item.exists():
            problems.append(f"{shown(item)}: not a regular file (a device, pipe or socket).")
        else:
            problems.append(f"{shown(item)}: no such file or folder.")
    return files, problems


def _fit(name: str, limit: int) -> str:
    """``name`` cut to ``limit`` bytes (whole characters), so that a result's name stays legal."""
    while len(os.fsencode(name)) > limit:
        name = name[:-1]
    return name


def _names(photo: Path) -> Iterator[str]:
    """A result's possible names: ``NAME_color.png``, then ``NAME_from_FOLDER_color.png``, numbered."""
    stem, folder = _fit(photo.stem, NAME_BYTES), _fit(photo.resolve().parent.name or "root", FOLDER_BYTES)
    yield f"{stem}{OUTPUT_SUFFIX}"
    yield f"{stem}_from_{folder}{OUTPUT_SUFFIX}"
    for n in itertools.count(2):
        yield f"{stem}_from_{folder}_{n}{OUTPUT_SUFFIX}"


def course_mark(path: Path) -> dict | None:
    """The mark of a result the course wrote (a regular PNG file), else None: someone else's file."""
    try:
        if not Path(path).is_file() or Path(path).is_symlink():
            return None
        with Image.open(path) as img:
            mark = json.loads(img.info.get(MARK, "null")) if img.format == "PNG" else None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return mark if isinstance(mark, dict) else None


def _source(photo: Path) -> str:
    return str(photo.resolve())


def output_paths(files: list[Path], out_dir: Path) -> list[Path]:
    """A result's path in ``out_dir`` for each input: ``NAME_color.png`` unless another photo's result,
    an input, or a file the course did not write is there; then ``NAME_from_FOLDER_color.png``."""
    out_dir, taken, outputs = Path(out_dir), set(), []
    inputs = {f.resolve() for f in files}
    for f in files:
        for name in _names(f):
            candidate = out_dir / name
            key = candidate.resolve()
            if key in taken or key in inputs:
                continue
            if os.path.lexists(candidate) and (course_mark(candidate) or {}).get("source") != _source(f):
                continue  # a user's file, a folder, or the result of another photo: never replaced
            taken.add(key)
            outputs.append(candidate)
            break
    return outputs


def is_complete_png(path: Path) -> bool:
    """Is ``path`` a whole PNG file (it ends with the IEND chunk), not one cut short?"""
    try:
        with open(path, "rb") as f:
            f.seek(-len(_PNG_END), 2)
            return f.read() == _PNG_END
    except OSError:
        return False


@dataclass(frozen=True)
class Outcome:
    """What happened to one input: ``status`` is "written", "skipped" (already done) or "failed"."""

    source: Path
    output: Path | None
    status: str
    message: str = ""


def colorize_photos(generator: torch.nn.Module, image_size: int, files: list[Path], outputs: list[Path],
                    overwrite: bool = False) -> Iterator[Outcome]:
    """Colorize ``files`` into ``outputs`` one by one, telling what happened to each as it happens.

    Each result is written atomically (Ctrl-C never leaves half a PNG; a killed run's temporaries are
    removed) and marked. An earlier result of the same photo by the same checkpoint is kept (skipped)
    unless ``overwrite``; a file the course did not write is never replaced. A photo that cannot be
    read or written fails alone; the rest go on (a full disk stops them all).
    """
    model = getattr(generator, "checkpoint_sha256", None)
    for src, dst in zip(files, outputs, strict=True):
        remove_stale_temporaries(dst)
        try:
            mark = {"source": _source(src), "photo": file_sha256(_regular(src)), "model": model}
            earlier = course_mark(dst) if os.path.lexists(dst) else {}
            if earlier is None or earlier.get("source", mark["source"]) != mark["source"]:
                raise ImageReadError(f"{shown(dst)} is not a result of {shown(src)} (a file the course did "
                                     "not write, or another photo's): left as it is.")
            if earlier == mark and not overwrite and is_complete_png(dst):
                yield Outcome(src, dst, "skipped", "already colorized (use --overwrite to redo it)")
                continue
            result = colorize_image(generator, read_image(src), image_size)
            info = PngImagePlugin.PngInfo()
            info.add_text(MARK, json.dumps(mark))
            dst.parent.mkdir(parents=True, exist_ok=True)
            with atomic_file(dst) as f:
                result.save(f, format="PNG", pnginfo=info)
        except ImageReadError as err:
            yield Outcome(src, None, "failed", str(err))
            continue
        except OSError as err:
            if err.errno in DISK_FULL_ERRNOS:
                raise
            yield Outcome(src, None, "failed", f"Cannot colorize {shown(src)} into {shown(dst)}: "
                          f"{err.strerror or err}.")
            continue
        notes = [f"from {shown(src)}"] if dst.name != f"{src.stem}{OUTPUT_SUFFIX}" else []
        notes += ["redone: the photo or the checkpoint changed"] if earlier and earlier != mark else []
        yield Outcome(src, dst, "written", "; ".join(notes))


def colorize_files(checkpoint: str | Path, inputs, out_dir: str | Path, device="cpu",
                   overwrite: bool = False, sha256: str | None = None) -> tuple[list[Path], list[str]]:
    """Colorize every input into ``out_dir``; returns (files written or already there, problems)."""
    out_dir = Path(out_dir)
    files, problems = expand_inputs(inputs, out_dir)  # a single path is one input, not a list of letters
    outputs = output_paths(files, out_dir)
    generator, config = load_generator(checkpoint, device, sha256)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = []
    for outcome in colorize_photos(generator, config.image_size, files, outputs, overwrite):
        if outcome.status == "failed":
            problems.append(outcome.message)
        else:
            done.append(outcome.output)
    return done, problems
