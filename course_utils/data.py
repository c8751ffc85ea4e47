"""Where the images come from, how they are split, and how they reach the networks.

Sources: fastai's COCO sample (full profile), the colour photos that installed packages ship (quick
profile, offline), or any folder of photos. The train/validation split is deterministic and saved
as a manifest in ``data/splits/``. Two ways to feed the networks, giving the same tensors:
:class:`ColorizationDataset` (one image at a time: easy to read) and :func:`make_dataloaders` (the fast
path: every image is decoded once into a cache of resized pixels; the Lab conversion then runs on
whole batches, on the training device).
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import json
import math
import os
import socket
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlparse

import numpy as np
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from .color import rgb_to_network_lab
from .errors import CourseError
from .files import atomic_file, shown, temporary_beside
from .paths import data_dir, scratch_dir

PHOTO_DIR = Path(__file__).with_name("photos")  # the course's own photos; credits.csv says whose
SKIMAGE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "stereo_motorcycle")
SCIENCE_PHOTOS = ("hubble_deep_field", "retina", "immunohistochemistry")  # never validation photos
SKLEARN_PHOTOS = ("china.jpg", "flower.jpg")
CROP_SCALES = (0.8, 0.6, 0.4)  # extra square views of each offline training photo: share of its short side
JITTER_SCALE = 286 / 256  # the paper's jitter: resize to 286x286, then a random 256x256 crop
SPLITS = ("train", "val")


# --- Sources -----------------------------------------------------------------------------------------

def _bytes(text: str) -> bytes:
    """A file name as bytes, also when it is not valid UTF-8 (Python keeps such bytes as surrogates)."""
    return text.encode("utf-8", "surrogateescape")


def _hash_rank(names: Sequence[str], salt: str) -> list[int]:
    """Indices of ``names`` in an order that looks random but depends only on the names and the salt."""
    keys = [hashlib.sha256(_bytes(f"{salt}:{name}")).hexdigest() for name in names]
    return sorted(range(len(names)), key=keys.__getitem__)


def _relative_names(paths: Sequence[Path]) -> list[str]:
    """The paths relative to their common folder: the part that is the same on every machine.

    Links are not followed: a name is what the folder shows.
    """
    absolute = [Path(os.path.abspath(p)) for p in paths]
    if len(absolute) == 1:
        return [absolute[0].name]
    common = Path(os.path.commonpath(absolute))
    return [p.relative_to(common).as_posix() for p in absolute]


def choose_paths(paths: Sequence[Path], n: int, seed: int) -> list[Path]:
    """``n`` of ``paths`` chosen at random but reproducibly (same files and seed, same choice), sorted."""
    paths = sorted(Path(p) for p in paths)
    if n >= len(paths):
        return paths
    order = _hash_rank(_relative_names(paths), f"choose-{seed}")
    return sorted(paths[i] for i in order[:n])


def _can_reach(host: str, port: int = 443, timeout: float = 5.0) -> bool:
    """Can we open a connection to ``host`` within ``timeout`` seconds (name lookup included)?"""
    reached = []

    def attempt():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            reached.append(True)
        except OSError:
            pass

    thread = threading.Thread(target=attempt, daemon=True)  # a hung DNS lookup cannot hold us up
    thread.start()
    thread.join(timeout)
    return bool(reached)


def coco_sample_folder(timeout: float = 5.0) -> Path:
    """fastai's COCO sample, unpacked into ``coco_sample`` of the scratch folder (usually ``data/``).

    The 3.2 GB archive is downloaded once into ``data/downloads`` and kept: when the unpacked folder is
    missing (a fresh Colab runtime whose data folder is on Google Drive), it is only unpacked again.
    """
    folder = scratch_dir() / "coco_sample"
    if (folder / "train_sample").is_dir():
        return folder
    from fastai.data.external import URLs, untar_data  # a heavy import, only needed for the download

    archives = data_dir() / "downloads"
    host = urlparse(URLs.COCO_SAMPLE).hostname
    if not (archives / Path(urlparse(URLs.COCO_SAMPLE).path).name).is_file() and not _can_reach(
            host, timeout=timeout):
        raise ConnectionError(
            f"Cannot download the COCO sample: {host} cannot be reached, and the download needs internet.\n"
            "Instead, use the course's offline photos (the quick profile: "
            "COURSE_PROFILE=quick, or course_utils.data.sample_image_paths()), or your own photos: "
            "course_utils.data.find_images('path/to/your/folder')."
        )
    return untar_data(URLs.COCO_SAMPLE, base=str(data_dir()), data=str(scratch_dir()), archive=str(archives))


def coco_sample_paths(n: int = 20_000, seed: int = 42, timeout: float = 5.0) -> list[Path]:
    """``n`` JPEGs of the COCO sample, a sorted and reproducible random choice (downloads if needed)."""
    return choose_paths(sorted((coco_sample_folder(timeout) / "train_sample").glob("*.jpg")), n, seed)


def _package_photos():
    """(name, loader) for every colour photograph that scikit-image and scikit-learn install."""
    from skimage import data as skdata
    from sklearn.datasets import load_sample_image

    for name in SKIMAGE_PHOTOS + SCIENCE_PHOTOS:
        load = getattr(skdata, name)
        if name == "stereo_motorcycle":  # a stereo pair and its disparity map: keep the left photo
            yield name, (lambda load=load: load()[0])
        else:
            yield name, load
    for name in SKLEARN_PHOTOS:
        yield Path(name).stem, (lambda name=name: load_sample_image(name))


def _write_once(path: Path, write) -> Path:
    """``write(file)`` into ``path`` unless it exists; the file appears whole or not at all."""
    if not path.is_file():
        with atomic_file(path) as f:
            write(f)
    return path


def sample_image_paths() -> list[Path]:
    """The quick profile's offline photos as files under ``data/bundled``, sorted.

    The course's own photos (``course_utils/photos``, copied) and those scikit-image and scikit-learn
    install (written as PNGs). Each file is written once.
    """
    folder = data_dir() / "bundled"
    folder.mkdir(parents=True, exist_ok=True)
    paths = [_write_once(folder / f"{name}.png", lambda f, load=load: Image.fromarray(load()).save(f, "PNG"))
             for name, load in _package_photos()]
    paths += [_write_once(folder / src.name, lambda f, src=src: f.write(src.read_bytes()))
              for src in sorted(PHOTO_DIR.glob("*.jpg"))]
    return sorted(paths)


def photo_crops(photos: Sequence[Path], scales: Sequence[float] = CROP_SCALES, folder=None) -> list[Path]:
    """Square crops of each photo, one per scale (a share of its short side), written once as PNGs.

    Each crop's place depends only on the photo's name, its scale and its rank in ``scales``, so the
    same photos always give the same crops. ``folder`` defaults to ``bundled_crops`` in the scratch
    folder (usually ``data/``).
    """
    folder = Path(folder) if folder else scratch_dir() / "bundled_crops"
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for photo in photos:
        img = None
        for i, scale in enumerate(scales):
            path = folder / f"{Path(photo).stem}_crop{i}_{round(scale * 100)}.png"
            if not path.is_file():
                img = load_rgb(photo) if img is None else img
                side = round(min(img.size) * scale)
                digest = hashlib.sha256(path.name.encode()).digest()
                left = int.from_bytes(digest[:4], "big") % (img.width - side + 1)
                top = int.from_bytes(digest[4:8], "big") % (img.height - side + 1)
                crop = img.crop((left, top, left + side, top + side))
                _write_once(path, lambda f, crop=crop: crop.save(f, "PNG"))
            out.append(path)
    return out


def offline_split(paths: Sequence[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """:func:`split_paths` for the offline photos: validation on natural photographs only.

    Microscopy and astronomy stay on the training side, and the square crops of each natural training
    photo (:func:`photo_crops`) join it: never a crop of a validation photo.
    """
    science = [p for p in paths if Path(p).stem in SCIENCE_PHOTOS]
    train, val = split_paths([p for p in paths if p not in science], val_fraction, seed)
    return sorted(train + science + photo_crops(train)), val


def _problem(path: Path) -> str | None:
    """Why ``path`` is not a readable image, or None when it is (the whole file is decoded)."""
    try:
        if path.stat().st_size == 0:
            return "empty file (0 bytes)"
        with Image.open(path) as img:
            img.draft("RGB", (64, 64))  # JPEG: decode at reduced scale, still reading every byte
            img.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as err:
        return f"{type(err).__name__}: {err}"
    return None


def _distinct(files: list[Path], folder: Path) -> list[Path]:
    """``files`` without second names (links) for a file already listed, with one warning naming one."""
    seen, aliases = {}, []
    for f in sorted(files, key=lambda f: (f.is_symlink(), f)):  # a file's own name before its links
        real = f.resolve()
        if real in seen:
            aliases.append((f, seen[real]))
        else:
            seen[real] = f
    if aliases:
        alias, first = aliases[0]
        warnings.warn(f"Skipped {len(aliases)} second name(s) for files already listed in {shown(folder)}, "
                      f"e.g. {shown(alias.relative_to(folder))} is {shown(first.relative_to(folder))} "
                      "(a link)", stacklevel=3)
    return sorted(seen.values())


def find_images(folder, exclude: Sequence[Path] = ()) -> list[Path]:
    """Every readable image under ``folder`` (recursively), sorted.

    Files that are not readable images (corrupt, truncated, empty, not images at all) are skipped
    with one warning that says how many and names an example; so are second names (links) of a file
    already listed. Hidden files, folders (even one named ``x.jpg``) and special files are ignored,
    and so is everything under the folders in ``exclude`` (e.g. a run folder inside ``folder``).
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Image folder not found: {shown(folder.absolute())} (is the path right?)")
    left_out = [Path(e).expanduser().resolve() for e in exclude]
    files = sorted(p for p in folder.rglob("*")
                   if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)
                   and not any(p.resolve().is_relative_to(e) for e in left_out))
    files = _distinct(files, folder)
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        problems = list(pool.map(_problem, files))
    bad = [(f, why) for f, why in zip(files, problems, strict=True) if why]
    if bad:
        example, why = bad[0]
        warnings.warn(f"Skipped {len(bad)} of {len(files)} files in {shown(folder)} that are not readable "
                      f"images, e.g. {shown(example.relative_to(folder))} ({why})", stacklevel=2)
    images = [f for f, why in zip(files, problems, strict=True) if not why]
    if not images:
        raise FileNotFoundError(f"No readable images in {shown(folder.absolute())} ({len(files)} files "
                                "looked at). Put some .jpg or .png photos there.")
    return images


# --- The split and its manifest ----------------------------------------------------------------------

def split_paths(paths: Sequence[Path], val_fraction: float, seed: int) -> tuple[list[Path], list[Path]]:
    """Split into (train, val), both sorted; the same files and seed give the same split everywhere.

    Each file's place is decided by a hash of its name (relative to the common folder) and the seed:
    no clock, no machine-dependent order.
    """
    paths = [Path(p) for p in paths]
    if not 0 < val_fraction < 1:
        raise ValueError(f"val_fraction must be between 0 and 1 (exclusive), got {val_fraction}")
    if len(paths) < 2:
        raise ValueError(f"Need at least 2 images to split into training and validation, got {len(paths)}")
    names = _relative_names(paths)
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise ValueError(f"The same file appears twice in the list of paths: {shown(twice)}")
    n_val = min(len(paths) - 1, max(1, round(len(paths) * val_fraction)))
    val_index = set(_hash_rank(names, f"split-{seed}")[:n_val])
    val = sorted(p for i, p in enumerate(paths) if i in val_index)
    train = sorted(p for i, p in enumerate(paths) if i not in val_index)
    return train, val


def splits_dir() -> Path:
    path = data_dir() / "splits"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _roots() -> list[Path]:
    """The folders a manifest's relative paths start from: data, then scratch (the same unless on Drive)."""
    return list(dict.fromkeys((data_dir(), scratch_dir())))


def _portable(path: Path, roots: list[Path]) -> str:
    """The path relative to the data or scratch folder when it lies there (same everywhere), else absolute."""
    path = Path(path).resolve()
    root = next((r.resolve() for r in roots if path.is_relative_to(r.resolve())), None)
    return path.relative_to(root).as_posix() if root else path.as_posix()


def _locator(roots: list[Path]):
    """Maps a manifest's path to this machine: under the first root whose top-level folder holds it."""
    chosen = {}

    def locate(name: str) -> Path:
        top = name.split("/", 1)[0]
        if top not in chosen:
            chosen[top] = next((r for r in roots if (r / top).exists()), roots[0])
        return chosen[top] / name

    return locate


def save_split(train: Sequence[Path], val: Sequence[Path], name: str, **info) -> Path:
    """Write the split as ``data/splits/<name>.json`` (paths relative to ``data/`` where possible)."""
    roots = _roots()
    record = {"name": name, **info, "paths_relative_to": "data/",
              "train": [_portable(p, roots) for p in train], "val": [_portable(p, roots) for p in val]}
    path = splits_dir() / f"{name}.json"
    with atomic_file(path, "w") as f:
        f.write(json.dumps(record, indent=1) + "\n")
    return path


def load_split(name_or_path) -> tuple[list[Path], list[Path]]:
    """Read a manifest written by :func:`save_split` back as (train, val) paths on this machine."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = splits_dir() / f"{name_or_path}.json"
    if not path.is_file():
        raise FileNotFoundError(f"No split manifest at {path}")
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
        locate = _locator(_roots())
        train, val = ([locate(p) for p in record[key]] for key in SPLITS)
    except (ValueError, KeyError, TypeError, AttributeError) as err:  # JSONDecodeError is a ValueError
        raise CourseError(f"The split manifest {shown(path)} is damaged ({type(err).__name__}: "
                          f"{str(err).splitlines()[0] if str(err) else err!r}): delete it to split afresh, "
                          "or restore it (a merge conflict?).") from None
    missing = [p for p in train + val if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} images named in {path.name} are missing, e.g. {missing[0]}. "
                                "Re-create them (notebook 02) or delete the manifest to split afresh.")
    return train, val


def split_name(profile) -> str:
    """The manifest's name for a profile: everything that decides the split is in it."""
    return f"{profile.dataset}_n{profile.n_images}_val{profile.val_fraction:g}_seed{profile.seed}"


def course_split(profile) -> tuple[list[Path], list[Path]]:
    """(train, val) for a profile: its dataset, split once and then always read back from the manifest."""
    if profile.dataset == "bundled":
        paths = choose_paths(sample_image_paths(), profile.n_images, profile.seed)
    elif profile.dataset == "coco":
        paths = coco_sample_paths(profile.n_images, profile.seed)
    else:
        raise ValueError(f"Unknown dataset {profile.dataset!r}; expected 'bundled' or 'coco'")
    split = offline_split if profile.dataset == "bundled" else split_paths  # offline: writes the crops too
    train, val = split(paths, profile.val_fraction, profile.seed)
    name = split_name(profile)
    if (splits_dir() / f"{name}.json").is_file():
        return load_split(name)
    save_split(train, val, name, dataset=profile.dataset, seed=profile.seed,
               val_fraction=profile.val_fraction)
    return train, val


# --- Pixels ------------------------------------------------------------------------------------------

def _to_rgb(img: Image.Image) -> Image.Image:
    """8-bit RGB from any PIL mode: 16-bit and float greys rescaled, transparency composited on white."""
    if img.mode.startswith("I") or img.mode == "F":  # 16/32-bit integer or float grey
        values = np.asarray(img, dtype=np.float64)
        top = 65535.0 if img.mode.startswith("I;16") or values.max() > 255 else (
            1.0 if values.max() <= 1 else 255.0)
        img = Image.fromarray(np.clip(values / top * 255 + 0.5, 0, 255).astype(np.uint8))
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in img.info:
        img = Image.alpha_composite(Image.new("RGBA", img.size, "white"), img.convert("RGBA"))
    return img.convert("RGB")


def load_rgb(path, draft_size: int | None = None) -> Image.Image:
    """Open any image as upright 8-bit RGB (EXIF rotation applied; grey, palette, CMYK, 16-bit, alpha).

    ``draft_size``: let a JPEG decode at a reduced scale that stays at least this big (much faster).
    An RGB photo is not copied on the way (a 100-megapixel photo is 400 MB in memory).
    """
    with Image.open(path) as img:
        if draft_size:
            img.draft("RGB", (draft_size, draft_size))
        img.load()
        ImageOps.exif_transpose(img, in_place=True)
        return img if img.mode == "RGB" and "transparency" not in img.info else _to_rgb(img)


def decode_resized(path, side: int) -> np.ndarray:
    """The image as a [side, side, 3] uint8 array: bicubic resize, as torchvision's Resize does on PIL."""
    return np.array(load_rgb(path, draft_size=side).resize((side, side), Image.Resampling.BICUBIC))


def load_side(size: int, split: str) -> int:
    """The side images are resized to before cropping: 286/256 of ``size`` when training, else ``size``."""
    _check_split(split)
    return round(size * JITTER_SCALE) if split == "train" else size


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be 'train' or 'val', got {split!r}")


def crop_box(height: int, width: int, size: int, generator: torch.Generator | None = None
             ) -> tuple[int, int, bool]:
    """The paper's jitter as numbers: a random ``size`` x ``size`` crop's top and left, and a coin flip
    for mirroring. ``generator``: where the random numbers come from (default: torch's global one)."""
    top = torch.randint(0, height - size + 1, (), generator=generator).item()
    left = torch.randint(0, width - size + 1, (), generator=generator).item()
    return top, left, torch.rand((), generator=generator).item() < 0.5


def random_crop_flip(pixels: torch.Tensor, size: int, generator: torch.Generator | None = None
                     ) -> torch.Tensor:
    """The paper's jitter on a [3, H, W] image: a random ``size`` x ``size`` crop, mirrored half the time."""
    top, left, flip = crop_box(*pixels.shape[-2:], size, generator)
    crop = pixels[..., top:top + size, left:left + size]
    return crop.flip(-1) if flip else crop


def crop_flip_batch(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`random_crop_flip` for a whole batch in one gather, on the batch's device: [N, 3, H, W]
    pixels and [N, 3] boxes (top, left, flip, from :func:`crop_box`) -> [N, 3, size, size]. On a CPU,
    slicing image by image copies whole rows, which is faster than a gather that indexes every pixel."""
    if pixels.device.type == "cpu":
        crops = []
        for image, (top, left, flip) in zip(pixels, boxes.tolist(), strict=True):
            crop = image[:, top:top + size, left:left + size]
            crops.append(crop.flip(-1) if flip else crop)
        return torch.stack(crops)
    return _gathered_crops(pixels, boxes, size)


def _gathered_crops(pixels: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """:func:`crop_flip_batch` as one gather: one kernel on a GPU, whatever the batch size."""
    n, channels, steps = _crop_steps(len(pixels), pixels.shape[1], size, pixels.device)
    rows = boxes[:, :1] + steps[0]  # [N, size]
    cols = boxes[:, 1:2] + steps[boxes[:, 2]]  # a mirrored crop reads its columns right to left
    return pixels[n, channels, rows[:, None, :, None], cols[:, None, None, :]]


@functools.cache
def _crop_steps(n: int, channels: int, size: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """The parts of :func:`_gathered_crops`' index that are the same for every batch, made once:
    image and channel numbers, and the ``size`` offsets of a crop's rows or columns, forward and mirrored."""
    steps = torch.arange(size, device=device)
    images = torch.arange(n, device=device).view(n, 1, 1, 1)
    return images, torch.arange(channels, device=device).view(-1, 1, 1), torch.stack([steps, steps.flip(0)])


CPU_CHUNK = 2  # images converted at a time on a CPU: the temporaries stay in cache (2x faster, measured)


def lab_batch(rgb: torch.Tensor) -> dict[str, torch.Tensor]:
    """uint8 or [0, 1] RGB ([3, H, W] or [N, 3, H, W]) -> {"L": ..., "ab": ...} scaled to [-1, 1]."""
    if rgb.dim() == 4 and rgb.device.type == "cpu" and len(rgb) > CPU_CHUNK:
        parts = [lab_batch(chunk) for chunk in rgb.split(CPU_CHUNK)]
        return {key: torch.cat([part[key] for part in parts]) for key in ("L", "ab")}
    L, ab = rgb_to_network_lab(rgb)
    return {"L": L, "ab": ab}


class ColorizationDataset(Dataset):
    """One image at a time: read, resize (training: jitter and flip), convert to Lab, scale to [-1, 1].

    Items are ``{"L": [1, size, size], "ab": [2, size, size]}``, as in the seed course.
    """

    def __init__(self, paths: Sequence[Path], split: str = "train", size: int = 256):
        _check_split(split)
        self.paths, self.split, self.size = list(paths), split, size
        self.side = load_side(size, split)

    def __len__(self) -> int:
        return len(self.paths)

    def pixels(self, index: int) -> torch.Tensor:
        """The uint8 RGB [3, size, size] image the item is made from."""
        pixels = torch.from_numpy(decode_resized(self.paths[index], self.side)).permute(2, 0, 1)
        return random_crop_flip(pixels, self.size) if self.split == "train" else pixels

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        return lab_batch(self.pixels(index).contiguous())


# --- The fast path -----------------------------------------------------------------------------------

def _cache_file(paths: Sequence[Path], side: int) -> Path:
    """A name that changes whenever the list of files, a file, or the side changes."""
    digest = hashlib.sha256(str(side).encode())
    for p in paths:
        stat = Path(p).stat()
        digest.update(_bytes(f"{Path(p).resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n"))
    folder = scratch_dir() / "cache"
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"pixels_{len(paths)}x{side}px_{digest.hexdigest()[:16]}.npy"


def cached_pixels(paths: Sequence[Path], side: int) -> Path:
    """Decode and resize every image once into ``data/cache/*.npy`` ([N, 3, side, side] uint8); its path.

    Later calls with the same files reuse the file. Decoding runs on all CPU cores. The file is built
    under a temporary name and renamed when complete: an error, Ctrl-C or a kill leaves no partial cache
    (and two processes building the same cache at once do not disturb each other).
    """
    file = _cache_file(paths, side)
    if file.is_file():
        return file
    partial = temporary_beside(file)
    try:
        out = np.lib.format.open_memmap(partial, mode="w+", dtype=np.uint8, shape=(len(paths), 3, side, side))
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:  # PIL decodes outside the GIL
            for i, pixels in enumerate(pool.map(lambda p: decode_resized(p, side), paths)):
                out[i] = pixels.transpose(2, 0, 1)
        out.flush()
        del out
        os.replace(partial, file)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return file


class CachedPixels(Dataset):
    """uint8 [3, size, size] images read from a pixel cache (training: random crop and flip).

    An item is asked for by index, or by ``(index, seed)``: then its crop and flip come from that seed,
    so the same item is the same crop in every run, with or without worker processes. A loader asks for
    whole batches (``__getitems__``): the uncropped pixels and each image's crop box, so that the crop
    runs on the training device (:func:`crop_flip_batch`). With ``device``, the whole cache is copied
    there once, and a batch is gathered on the device: no pixel crosses from the host again.
    """

    def __init__(self, file: Path, size: int, split: str, device=None):
        _check_split(split)
        self.file, self.size, self.split = file, size, split
        self._array = None  # opened lazily, so each DataLoader worker maps the file itself
        self._length, _, _, self.side = np.load(file, mmap_mode="r").shape
        self.resident = None if device is None else torch.from_numpy(np.load(file)).to(device)

    def __len__(self) -> int:
        return self._length

    def _pixels(self, index) -> torch.Tensor:
        if self.resident is not None:
            return self.resident[index]
        if self._array is None:
            self._array = np.load(self.file, mmap_mode="r")
        if torch.is_tensor(index):  # a batch: one copy out of the mapped file
            return torch.from_numpy(np.take(self._array, index.numpy(), axis=0))
        return torch.from_numpy(np.array(self._array[index]))

    def __getitem__(self, key) -> torch.Tensor:
        index, seed = key if isinstance(key, tuple) else (key, None)
        pixels = self._pixels(index).cpu()
        if self.split == "val":
            return pixels
        generator = None if seed is None else torch.Generator().manual_seed(seed)
        return random_crop_flip(pixels, self.size, generator).contiguous()

    def __getitems__(self, keys: list) -> dict[str, torch.Tensor]:
        """A batch: {"pixels": [N, 3, side, side] uint8} and, for training, {"boxes": [N, 3]}.

        The image numbers and crop boxes travel as one small tensor, and to a GPU from pinned memory:
        a copy from ordinary memory can make the host wait for the GPU.
        """
        generator = torch.Generator()  # re-seeded for each image: cheaper than a new one each time
        plan = []
        for index, seed in (key if isinstance(key, tuple) else (key, None) for key in keys):
            if self.split == "train":
                chosen = None if seed is None else generator.manual_seed(seed)
                plan.append((index, *crop_box(self.side, self.side, self.size, chosen)))
            else:
                plan.append((index,))
        plan = torch.tensor(plan, pin_memory=self.resident is not None and self.resident.is_cuda)
        if self.resident is not None:
            plan = plan.to(self.resident.device, non_blocking=True)
        batch = {"pixels": self._pixels(plan[:, 0])}
        if self.split == "train":
            batch["boxes"] = plan[:, 1:]
        return batch


def _as_batch(batch):
    """The DataLoader's collate step: ``CachedPixels.__getitems__`` already made the batch."""
    return batch


def fits_on_device(file: Path, device: torch.device, share: float = 0.25) -> bool:
    """Whether a pixel cache takes at most ``share`` of the GPU memory that is free now."""
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return Path(file).stat().st_size <= share * free


class SeekableSampler(DistributedSampler):
    """Which training images come in which order: a new shuffle every pass, split among the processes.

    torch's :class:`DistributedSampler` (the order of pass ``e`` is a permutation seeded by
    ``seed + e``; process ``r`` of ``n`` takes every n-th index from position ``r``), plus two things
    exact resuming needs: ``set_epoch(e, start)`` starts a pass part-way, and each index comes with a
    seed for its crop and flip. A single process is a world of size 1.
    """

    def __init__(self, dataset: Dataset, seed: int = 0, num_replicas: int = 1, rank: int = 0):
        super().__init__(dataset, num_replicas=num_replicas, rank=rank, shuffle=True, seed=seed)
        self.start = 0

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        super().set_epoch(epoch)
        self.start = start

    def __iter__(self):
        for i in itertools.islice(super().__iter__(), self.start, None):
            yield i, (self.seed * 1_000_003 + self.epoch * 10_007 + i) % 2**63

    def __len__(self) -> int:
        return max(0, self.num_samples - self.start)


class LabLoader:
    """Wraps a loader of uint8 RGB batches; yields ``{"L", "ab"}`` on ``device``, converted there.

    A training loader can seek: ``set_epoch(e, start=b)`` makes the next pass the ``e``-th, from its
    ``b``-th batch (what the trainer does when it resumes a run).
    """

    def __init__(self, loader: DataLoader, device: torch.device):
        self.loader, self.device = loader, torch.device(device)

    @property
    def dataset(self) -> Dataset:
        return self.loader.dataset

    @property
    def batch_size(self) -> int:
        return self.loader.batch_size

    def __len__(self) -> int:
        """Batches in a whole pass."""
        sampler = self.loader.sampler
        n = sampler.num_samples if isinstance(sampler, SeekableSampler) else len(sampler)
        return math.ceil(n / self.loader.batch_size)

    def set_epoch(self, epoch: int, start: int = 0) -> None:
        if not isinstance(self.loader.sampler, SeekableSampler):
            raise TypeError("Only a training loader (shuffled, from make_dataloaders) can seek.")
        self.loader.sampler.set_epoch(epoch, start * self.loader.batch_size)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for batch in self.loader:
            rgb = batch["pixels"].to(self.device, non_blocking=True)
            if "boxes" in batch:
                rgb = crop_flip_batch(rgb, batch["boxes"].to(self.device, non_blocking=True),
                                      self.loader.dataset.size)
            yield lab_batch(rgb)


def make_dataloaders(train_paths: Sequence[Path], val_paths: Sequence[Path], size: int, batch_size: int,
                     device=None, num_workers: int | None = None, seed: int = 0, rank: int = 0,
                     world_size: int = 1, resident: bool | None = None) -> tuple[LabLoader, LabLoader]:
    """Train and validation loaders yielding ``{"L": [B, 1, size, size], "ab": [B, 2, size, size]}``.

    Every image is decoded once into a pixel cache; a batch travels as uint8 (pinned when the device is
    a GPU), and its crop, flip and Lab conversion run on ``device``. On a GPU the whole cache is kept in
    GPU memory when it takes at most a quarter of the free memory (``resident``: None decides so, True
    or False forces it); then no pixel crosses from the host during training. The training loader
    shuffles (a new order every pass, from ``seed``) and applies the paper's jitter; with ``world_size``
    processes, process ``rank`` gets its own share of every pass. Neither loader draws from torch's
    global random generator, so loading data never changes a training run's random numbers.
    ``num_workers`` defaults to 0: reading from the cache is so cheap that worker processes cost more
    than they save (benchmarks/data_pipeline.py); a resident cache needs none.
    """
    from .device import pick_device

    device = torch.device(device) if device is not None else pick_device()
    workers = 0 if num_workers is None else num_workers
    loaders = []
    for split, paths in zip(SPLITS, (train_paths, val_paths), strict=True):
        if not paths:
            raise ValueError(f"No {split} images given to make_dataloaders")
        file = cached_pixels(list(paths), load_side(size, split))
        on_device = fits_on_device(file, device) if resident is None else resident
        dataset = CachedPixels(file, size, split, device=device if on_device else None)
        sampler = SeekableSampler(dataset, seed, world_size, rank) if split == "train" else None
        loader = DataLoader(dataset, batch_size=batch_size, sampler=sampler, collate_fn=_as_batch,
                            num_workers=0 if on_device else workers,
                            pin_memory=device.type == "cuda" and not on_device,
                            persistent_workers=workers > 0 and not on_device, generator=torch.Generator())
        loaders.append(LabLoader(loader, device))
    return loaders[0], loaders[1]


# --- The seed's pipeline, kept as the slow reference -------------------------------------------------

class SeedColorizationDataset(Dataset):
    """The seed course's dataset, reproduced as the reference the fast path is checked and timed against.

    Per image: PIL, torchvision ``Resize`` (bicubic) and, when training, a horizontal flip (no crop
    jitter), then scikit-image's ``rgb2lab``. Two changes only: ``InterpolationMode.BICUBIC``, the
    spelling torchvision documents, replaces ``Image.BICUBIC`` (which gives the same pixels: Pillow 9.4
    and torchvision 0.15 withdrew their deprecations), and a bad mode raises ``ValueError``, not a bare
    ``Exception``.
    """

    def __init__(self, paths: Sequence[Path], mode: str = "train", size: int = 256):
        from torchvision import transforms
        from torchvision.transforms import InterpolationMode

        resize = transforms.Resize((size, size), InterpolationMode.BICUBIC)
        if mode == "train":
            self.transforms = transforms.Compose([resize, transforms.RandomHorizontalFlip()])
        elif mode == "val":
            self.transforms = resize
        else:
            raise ValueError(f"mode must be 'train' or 'val', got {mode!r}")
        self.paths, self.to_tensor = list(paths), transforms.ToTensor()

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        from skimage.color import rgb2lab

        img = Image.open(self.paths[index]).convert("RGB")
        img = np.array(self.transforms(img))
        img = self.to_tensor(rgb2lab(img).astype("float32"))
        return {"L": img[[0], ...] / 50.0 - 1.0, "ab": img[[1, 2], ...] / 110.0}

    def __len__(self) -> int:
        return len(self.paths)
