import csv
import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.color import rgb2lab
from torch.utils._python_dispatch import TorchDispatchMode

from course_utils import data
from course_utils.color import normalize_lab, rgb_to_lab
from course_utils.config import get_profile
from course_utils.data import (
    ColorizationDataset,
    SeedColorizationDataset,
    choose_paths,
    coco_sample_paths,
    course_split,
    decode_resized,
    find_images,
    load_rgb,
    load_split,
    make_dataloaders,
    sample_image_paths,
    save_split,
    split_name,
    split_paths,
)


@pytest.fixture(scope="session")
def bundled_folder(tmp_path_factory):
    """The bundled photos, written once for the whole test session."""
    home = tmp_path_factory.mktemp("bundled_home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("COURSE_DATA_DIR", str(home))
        sample_image_paths()
    return home / "bundled"


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    """A fresh data/ folder for each test (data_dir() follows COURSE_DATA_DIR)."""
    home = tmp_path / "data"
    monkeypatch.setenv("COURSE_DATA_DIR", str(home))
    return home


def gradient(h=24, w=32) -> np.ndarray:
    """A small colourful uint8 image: red rises left to right, green top to bottom."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // (w - 1), y * 255 // (h - 1), np.full_like(x, 90)], -1).astype(np.uint8)


def photo_folder(root, n=6, size=(32, 24)):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i in range(n):
        pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
        Image.fromarray(pixels).save(root / f"img_{i:03d}.png")
    return root


# --- COCO: never the network --------------------------------------------------------------------------

@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit noise when fastai is imported
def test_coco_offline_fails_fast_and_says_what_to_do(data_home, monkeypatch):
    monkeypatch.setattr(data, "_can_reach", lambda host, timeout=5.0: False)
    start = time.perf_counter()
    with pytest.raises(ConnectionError) as err:
        coco_sample_paths(n=10)
    assert time.perf_counter() - start < 30  # the fastai import is the slow part, not a download
    message = str(err.value)
    for hint in ("internet", "COURSE_PROFILE=quick", "sample_image_paths", "find_images"):
        assert hint in message
    assert not (data_home / "coco_sample").exists()


def test_connection_check_gives_up_after_its_timeout(monkeypatch):
    def hang(*args, **kwargs):  # a name lookup that hangs, as it can on a machine without internet
        time.sleep(3)
        raise OSError("timed out")

    monkeypatch.setattr(socket, "create_connection", hang)
    start = time.perf_counter()
    assert data._can_reach("example.org", timeout=0.3) is False
    assert time.perf_counter() - start < 2


def test_coco_selection_is_deterministic_and_needs_no_network(data_home, monkeypatch):
    folder = data_home / "coco_sample" / "train_sample"
    folder.mkdir(parents=True)
    for i in range(40):
        (folder / f"{i:012d}.jpg").write_bytes(b"")  # selection only looks at names
    monkeypatch.setattr(data, "_can_reach", lambda *a, **k: pytest.fail("the network was used"))
    first = coco_sample_paths(n=10, seed=1)
    assert len(first) == 10 and first == sorted(first) and len(set(first)) == 10
    assert all(p.parent == folder for p in first)
    assert coco_sample_paths(n=10, seed=1) == first
    assert coco_sample_paths(n=10, seed=2) != first
    assert len(coco_sample_paths(n=100, seed=1)) == 40  # asking for more than exist gives all


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_coco_download_goes_into_the_course_data_folder(data_home, monkeypatch):
    import fastai.data.external

    calls = []

    def fake_untar_data(url, **kwargs):
        calls.append((url, kwargs))
        (data_home / "coco_sample" / "train_sample").mkdir(parents=True)
        return data_home / "coco_sample"

    monkeypatch.setattr(data, "_can_reach", lambda *a, **k: True)
    monkeypatch.setattr(fastai.data.external, "untar_data", fake_untar_data)
    assert data.coco_sample_folder() == data_home / "coco_sample"
    (url, kwargs), = calls
    assert url.endswith("coco_sample.tgz")
    for key in ("base", "data", "archive"):
        assert str(kwargs[key]).startswith(str(data_home)), key  # never ~/.fastai
    data.coco_sample_folder()
    assert len(calls) == 1  # already there: no second download


def test_choice_depends_on_names_not_on_folder_or_order(tmp_path):
    names = [f"photo_{i}.jpg" for i in range(50)]
    here = [tmp_path / "machine_a" / n for n in names]
    there = [tmp_path / "elsewhere" / "machine_b" / n for n in reversed(names)]
    chosen_here = [p.name for p in choose_paths(here, 12, seed=3)]
    assert chosen_here == [p.name for p in choose_paths(there, 12, seed=3)]


# --- Bundled photos and any folder --------------------------------------------------------------------

def test_bundled_photos_are_written_once(data_home, bundled_folder):
    shutil.copytree(bundled_folder, data_home / "bundled")
    (data_home / "bundled" / "astronaut.png").unlink()  # one missing of each kind: written again
    (data_home / "bundled" / "kite.jpg").unlink()
    paths = sample_image_paths()
    own = sorted(data.PHOTO_DIR.glob("*.jpg"))
    assert len(own) >= 24
    packages = data.SKIMAGE_PHOTOS + data.SCIENCE_PHOTOS + data.SKLEARN_PHOTOS
    assert len(paths) == len(packages) + len(own) == len({p.name for p in paths})
    assert all(p.parent == data_home / "bundled" and p.suffix in (".png", ".jpg") for p in paths)
    assert (data_home / "bundled" / "kite.jpg").read_bytes() == (data.PHOTO_DIR / "kite.jpg").read_bytes()
    for p in paths:
        rgb = load_rgb(p)
        rgb.thumbnail((128, 128))
        chroma = np.hypot(*rgb2lab(np.asarray(rgb)).transpose(2, 0, 1)[1:])
        assert min(load_rgb(p).size) >= 256 and chroma.mean() > 2, p.name  # colour, not grey
    stamps = [p.stat().st_mtime_ns for p in paths]
    assert sample_image_paths() == paths
    assert [p.stat().st_mtime_ns for p in paths] == stamps  # not rewritten


def test_every_course_photo_is_credited_and_small():
    with open(data.PHOTO_DIR / "credits.csv", newline="", encoding="utf-8") as f:
        credits = {row["file"]: row for row in csv.DictReader(f)}
    assert sorted(credits) == sorted(p.name for p in data.PHOTO_DIR.glob("*.jpg"))
    free = ("GPL-2.0-or-later", "LGPL-3.0", "CC-BY-4.0", "CC-BY-SA-3.0", "CC-BY-SA-4.0", "CC0-1.0")
    for row in credits.values():
        assert row["title"] and row["author"] and row["source"].startswith("Debian package"), row
        assert row["licence"].startswith(free) and "shrunk" in row["changes"], row
    texts = {p.name for p in data.PHOTO_DIR.iterdir()}
    assert {"LICENSE.GPL-2", "LICENSE.GPL-3", "LICENSE.LGPL-3", "copyright.lomiri-wallpapers"} <= texts
    assert sum(p.stat().st_size for p in data.PHOTO_DIR.glob("*.jpg")) < 1.5e6


def test_find_images_skips_bad_files_with_one_warning(tmp_path):
    folder = photo_folder(tmp_path / "photos", n=2)
    (folder / "sub").mkdir()
    Image.fromarray(gradient()).save(folder / "sub" / "nested.jpg")
    good = folder / "sub" / "nested.jpg"
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "notes.txt").write_text("not an image")
    (folder / "garbage.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    (folder / "truncated.jpg").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / ".hidden.jpg").write_bytes(b"")  # hidden files are not looked at
    with pytest.warns(UserWarning) as caught:
        images = find_images(folder)
    assert [p.name for p in images] == ["img_000.png", "img_001.png", "nested.jpg"]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert "Skipped 4 of 7 files" in message
    assert any(name in message for name in ("empty.jpg", "garbage.png", "notes.txt", "truncated.jpg"))


def test_find_images_missing_or_empty_folder_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_such_folder"):
        find_images(tmp_path / "no_such_folder")
    (tmp_path / "empty_folder").mkdir()
    with pytest.raises(FileNotFoundError, match="empty_folder"):
        find_images(tmp_path / "empty_folder")


# --- Split and manifest -------------------------------------------------------------------------------

def test_split_is_deterministic_disjoint_and_stable_across_machines(tmp_path):
    names = [f"img_{i:03d}.jpg" for i in range(100)]
    paths = [tmp_path / "a" / n for n in names]
    train, val = split_paths(paths, 0.25, seed=42)
    assert len(val) == 25 and len(train) == 75
    assert set(train).isdisjoint(val) and set(train) | set(val) == set(paths)
    assert train == sorted(train) and val == sorted(val)
    assert split_paths(list(reversed(paths)), 0.25, seed=42) == (train, val)
    elsewhere = split_paths([tmp_path / "b" / "c" / n for n in names], 0.25, seed=42)
    assert [p.name for p in elsewhere[1]] == [p.name for p in val]  # another machine, another folder
    assert split_paths(paths, 0.25, seed=7)[1] != val


def test_split_rejects_bad_arguments(tmp_path):
    paths = [tmp_path / f"{i}.jpg" for i in range(5)]
    for fraction in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match="val_fraction"):
            split_paths(paths, fraction, seed=0)
    with pytest.raises(ValueError, match="at least 2"):
        split_paths(paths[:1], 0.5, seed=0)
    with pytest.raises(ValueError, match="twice"):
        split_paths(paths + paths[:1], 0.5, seed=0)
    train, val = split_paths(paths[:2], 0.01, seed=0)
    assert len(train) == len(val) == 1  # never an empty side


def test_manifest_round_trip_uses_relative_paths(data_home, tmp_path):
    inside = photo_folder(data_home / "mine", n=4)
    outside = photo_folder(tmp_path / "outside", n=2)
    train = sorted(inside.glob("*.png"))[:3]
    val = sorted(inside.glob("*.png"))[3:] + sorted(outside.glob("*.png"))
    manifest = save_split(train, val, "demo", seed=1)
    assert manifest == data_home / "splits" / "demo.json"
    record = json.loads(manifest.read_text())
    assert record["train"][0] == "mine/img_000.png" and record["seed"] == 1
    assert record["val"][-1] == (outside / "img_001.png").resolve().as_posix()
    assert load_split("demo") == ([p.resolve() for p in train], [p.resolve() for p in val])
    (inside / "img_000.png").unlink()
    with pytest.raises(FileNotFoundError, match="1 images named in demo.json are missing"):
        load_split(manifest)


def test_course_split_writes_then_reads_the_manifest(data_home, bundled_folder):
    shutil.copytree(bundled_folder, data_home / "bundled")
    profile = get_profile("quick")
    train, val = course_split(profile)
    natural = len(list((data_home / "bundled").glob("*"))) - len(data.SCIENCE_PHOTOS)
    assert len(val) == round(natural * profile.val_fraction)
    manifests = list((data_home / "splits").glob("*.json"))
    assert len(manifests) == 1 and "bundled" in manifests[0].name
    record = json.loads(manifests[0].read_text())
    record["train"], record["val"] = record["train"][1:], record["val"] + record["train"][:1]
    manifests[0].write_text(json.dumps(record))
    train2, val2 = course_split(profile)  # the manifest wins over a fresh split
    assert len(val2) == len(val) + 1 and train[0] in val2


def test_quick_split_validates_on_natural_photos_as_committed(data_home, bundled_folder):
    shutil.copytree(bundled_folder, data_home / "bundled")
    profile = get_profile("quick")
    train, val = course_split(profile)
    assert len(val) >= 6 and set(train).isdisjoint(val)
    assert not {p.stem for p in val} & set(data.SCIENCE_PHOTOS)  # no microscopy or astronomy
    photos = [p for p in train if p.parent.name == "bundled"]
    assert {p.stem for p in photos} >= set(data.SCIENCE_PHOTOS)
    crops = [p for p in train if p not in photos]
    natural = [p for p in photos if p.stem not in data.SCIENCE_PHOTOS]
    assert len(crops) == len(natural) * len(data.CROP_SCALES)
    assert {p.stem.split("_crop")[0] for p in crops} == {p.stem for p in natural}  # no crop of a val photo
    committed = json.loads((Path(__file__).parents[1] / "data" / "splits" / f"{split_name(profile)}.json")
                           .read_text(encoding="utf-8"))
    for side, paths in (("train", train), ("val", val)):
        assert committed[side] == [p.relative_to(data_home).as_posix() for p in paths]


def test_photo_crops_are_square_fixed_and_written_once(data_home, tmp_path):
    photo = tmp_path / "wide.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (60, 100, 3), dtype=np.uint8)).save(photo)
    crops = data.photo_crops([photo], scales=(1.0, 0.5, 0.5))
    assert [p.parent for p in crops] == [data_home / "bundled_crops"] * 3
    sizes = [Image.open(p).size for p in crops]
    assert sizes == [(60, 60), (30, 30), (30, 30)]
    pixels = [np.asarray(Image.open(p)) for p in crops]
    assert not np.array_equal(pixels[1], pixels[2])  # two crops at one scale: two places
    source = np.asarray(Image.open(photo))
    assert any(np.array_equal(source[:, x:x + 60], pixels[0]) for x in range(41))  # a crop, unchanged
    stamps = [p.stat().st_mtime_ns for p in crops]
    assert data.photo_crops([photo], scales=(1.0, 0.5, 0.5)) == crops
    assert [p.stat().st_mtime_ns for p in crops] == stamps  # not rewritten
    shutil.rmtree(data_home / "bundled_crops")
    again = data.photo_crops([photo], scales=(1.0, 0.5, 0.5))  # the same crops, made afresh
    assert all(np.array_equal(np.asarray(Image.open(p)), q) for p, q in zip(again, pixels, strict=True))


def test_course_split_rejects_an_unknown_dataset(data_home):
    with pytest.raises(ValueError, match="imagenet"):
        course_split(get_profile("quick", dataset="imagenet"))


# --- Decoding awkward files ---------------------------------------------------------------------------

def awkward_images(folder):
    """One file for each kind of input the dataset must cope with."""
    folder.mkdir(parents=True, exist_ok=True)
    rgb = gradient()
    Image.fromarray(rgb).convert("L").save(folder / "grey.png")
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    rgba[:, :8, 3] = 0  # a transparent strip on the left
    Image.fromarray(rgba, "RGBA").save(folder / "rgba.png")
    Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE).save(folder / "palette.png")
    Image.fromarray(rgb).convert("CMYK").save(folder / "cmyk.jpg")
    Image.fromarray(np.full((24, 32), 32768, np.uint16)).save(folder / "grey16.png")
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    Image.fromarray(rgb).save(folder / "rotated.jpg", exif=exif)
    Image.fromarray(rgb[:10, :12]).save(folder / "tiny.png")
    return sorted(folder.iterdir())


def test_load_rgb_copes_with_every_mode(tmp_path):
    files = {p.stem: p for p in awkward_images(tmp_path)}
    for path in files.values():
        img = load_rgb(path)
        assert img.mode == "RGB"
    assert load_rgb(files["rotated"]).size == (24, 32)  # width and height swapped by the EXIF tag
    rgba = np.asarray(load_rgb(files["rgba"]))
    assert (rgba[:, :8] == 255).all()  # transparent pixels become white, not black
    grey16 = np.asarray(load_rgb(files["grey16"]))
    assert abs(int(grey16.mean()) - 128) <= 1  # 16-bit half-scale is mid-grey, not clipped white


@pytest.mark.parametrize("split", ["train", "val"])
def test_dataset_items_have_the_contract_shapes_and_ranges(tmp_path, split):
    files = awkward_images(tmp_path)
    dataset = ColorizationDataset(files, split=split, size=16)
    assert len(dataset) == len(files)
    for item in dataset:
        assert item["L"].shape == (1, 16, 16) and item["ab"].shape == (2, 16, 16)
        assert item["L"].dtype == item["ab"].dtype == torch.float32
        for value in item.values():
            assert value.min() >= -1 and value.max() <= 1
    grey = dataset[[p.stem for p in files].index("grey")]
    assert grey["ab"].abs().max() < 0.01  # a grey image has no colour
    grey16 = dataset[[p.stem for p in files].index("grey16")]
    expected_L = rgb2lab(np.full((1, 1, 3), 128, np.uint8))[0, 0, 0] / 50 - 1
    assert abs(grey16["L"].mean().item() - expected_L) < 0.01


def test_unknown_split_is_a_clear_error():
    with pytest.raises(ValueError, match="'train' or 'val'.*'test'"):
        ColorizationDataset([], split="test")


def test_training_items_are_crops_of_the_jittered_image(tmp_path):
    path = tmp_path / "g.png"
    Image.fromarray(gradient(40, 50)).save(path)
    dataset = ColorizationDataset([path], split="train", size=32)
    full = torch.from_numpy(decode_resized(path, 36)).permute(2, 0, 1)  # round(32 * 286 / 256) = 36
    assert dataset.side == 36
    windows = {(t, x): full[:, t:t + 32, x:x + 32] for t in range(5) for x in range(5)}
    seen_offsets, seen_flips = set(), set()
    torch.manual_seed(0)
    for _ in range(40):
        crop = dataset.pixels(0)
        matches = [(key, flipped) for key, w in windows.items() for flipped in (False, True)
                   if torch.equal(crop, w.flip(-1) if flipped else w)]
        assert len(matches) == 1
        seen_offsets.add(matches[0][0])
        seen_flips.add(matches[0][1])
    assert len(seen_offsets) > 5 and seen_flips == {False, True}


def test_dataset_agrees_with_the_seeds_pipeline(tmp_path):
    files = sorted(photo_folder(tmp_path, n=3, size=(50, 40)).glob("*.png"))
    ours, seed = ColorizationDataset(files, "val", size=32), SeedColorizationDataset(files, "val", size=32)
    for a, b in zip(ours, seed, strict=True):
        for key in ("L", "ab"):
            torch.testing.assert_close(a[key], b[key], atol=1e-4, rtol=0)
    with pytest.raises(ValueError, match="mode"):
        SeedColorizationDataset(files, "test")


# --- The fast path ------------------------------------------------------------------------------------

def test_loaders_yield_the_contract_and_match_the_dataset(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=7, size=(40, 30)).glob("*.png"))
    train_loader, val_loader = make_dataloaders(paths[:5], paths[5:], size=16, batch_size=2, device="cpu")
    assert len(train_loader) == 3 and len(val_loader) == 1
    batches = list(train_loader)
    assert [b["L"].shape[0] for b in batches] == [2, 2, 1]
    for batch in batches:
        assert batch["L"].shape[1:] == (1, 16, 16) and batch["ab"].shape[1:] == (2, 16, 16)
        assert batch["L"].device.type == "cpu" and batch["L"].dtype == torch.float32
        assert batch["L"].abs().max() <= 1 and batch["ab"].abs().max() <= 1
    val_batch = next(iter(val_loader))
    reference = ColorizationDataset(paths[5:], "val", size=16)
    for i in range(2):
        torch.testing.assert_close(val_batch["L"][i], reference[i]["L"], atol=1e-5, rtol=0)
        torch.testing.assert_close(val_batch["ab"][i], reference[i]["ab"], atol=1e-5, rtol=0)


def test_the_pixel_cache_is_built_once_and_follows_the_files(data_home, monkeypatch):
    paths = sorted(photo_folder(data_home / "photos", n=3).glob("*.png"))
    first = data.cached_pixels(paths, 16)
    cached = np.load(first)
    assert cached.shape == (3, 3, 16, 16) and cached.dtype == np.uint8
    np.testing.assert_array_equal(cached[1], decode_resized(paths[1], 16).transpose(2, 0, 1))
    monkeypatch.setattr(data, "decode_resized", lambda *a: pytest.fail("decoded again"))
    assert data.cached_pixels(paths, 16) == first
    monkeypatch.undo()
    shutil.copy(paths[0], paths[1])  # a file changes: a new cache
    assert data.cached_pixels(paths, 16) != first


def test_loaders_work_with_worker_processes(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=4).glob("*.png"))
    train_loader, _ = make_dataloaders(paths[:3], paths[3:], size=16, batch_size=3, device="cpu",
                                       num_workers=1)
    assert next(iter(train_loader))["ab"].shape == (3, 2, 16, 16)


def test_loaders_need_images_on_both_sides(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=2).glob("*.png"))
    with pytest.raises(ValueError, match="val"):
        make_dataloaders(paths, [], size=16, batch_size=2, device="cpu")


def test_batched_conversion_in_chunks_equals_the_whole_batch():
    rgb = torch.randint(0, 256, (5, 3, 8, 8), dtype=torch.uint8)  # more than data.CPU_CHUNK images
    chunked = data.lab_batch(rgb)
    L, ab = normalize_lab(rgb_to_lab(rgb))
    torch.testing.assert_close(chunked["L"], L, atol=1e-6, rtol=0)
    torch.testing.assert_close(chunked["ab"], ab, atol=1e-6, rtol=0)


# --- Awkward names, links, interrupted caches, seekable passes ------------------------------------------

def test_names_that_are_not_utf8_work_everywhere(data_home, tmp_path):
    folder = photo_folder(tmp_path / "photos", n=3)
    odd = folder / os.fsdecode(b"caf\xe9 \n2.png")  # Latin-1 bytes and a newline in the name
    (folder / "img_000.png").rename(odd)
    found = find_images(folder)
    assert odd in found
    train, val = split_paths(found, 0.34, seed=0)
    assert odd in train + val
    assert load_split(save_split(train, val, "odd")) == (train, val)
    assert np.load(data.cached_pixels(found, 8)).shape == (3, 3, 8, 8)


def test_a_second_name_for_a_file_is_skipped_with_its_name(tmp_path):
    folder = photo_folder(tmp_path / "photos", n=3)
    (folder / "alias.png").symlink_to(folder / "img_001.png")
    with pytest.warns(UserWarning, match=r"1 second name.*alias.png is img_001.png"):
        found = find_images(folder)
    assert [p.name for p in found] == ["img_000.png", "img_001.png", "img_002.png"]
    with pytest.raises(ValueError, match="appears twice in the list of paths: img_001.png"):
        split_paths([found[0], found[1], found[1]], 0.5, seed=0)


def test_folders_named_like_images_and_special_files_are_not_images(tmp_path):
    folder = photo_folder(tmp_path / "photos", n=2)
    (folder / "x.jpg").mkdir()
    if hasattr(os, "mkfifo"):
        os.mkfifo(folder / "pipe.png")  # opening it would wait forever
    assert [p.name for p in find_images(folder)] == ["img_000.png", "img_001.png"]


@pytest.mark.parametrize("stop", [OSError("a disk error"), KeyboardInterrupt()])
def test_an_interrupted_cache_leaves_nothing_behind(data_home, monkeypatch, stop):
    paths = sorted(photo_folder(data_home / "photos", n=4).glob("*.png"))
    real = data.decode_resized

    def fails_on_the_third(path, side):
        if path == paths[2]:
            raise stop
        return real(path, side)

    monkeypatch.setattr(data, "decode_resized", fails_on_the_third)
    with pytest.raises(type(stop)):
        data.cached_pixels(paths, 8)
    assert list((data_home / "cache").iterdir()) == []


def test_the_sampler_seeks_and_shares_out_each_pass(data_home):
    dataset = range(11)
    order = [i for i, _ in data.SeekableSampler(dataset, seed=3)]
    assert sorted(order) == list(range(11))
    sampler = data.SeekableSampler(dataset, seed=3)
    sampler.set_epoch(0, start=4)
    assert [i for i, _ in sampler] == order[4:] and len(sampler) == 7
    sampler.set_epoch(1)
    assert [i for i, _ in sampler] != order  # a new shuffle every pass
    shares = [[i for i, _ in data.SeekableSampler(dataset, seed=3, num_replicas=2, rank=r)] for r in (0, 1)]
    assert len(shares[0]) == len(shares[1]) == 6  # padded to equal shares, as DistributedSampler does
    assert set(shares[0]) | set(shares[1]) == set(range(11))


def test_training_crops_depend_on_the_seed_only(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=2, size=(40, 40)).glob("*.png"))
    dataset = data.CachedPixels(data.cached_pixels(paths, 20), 16, "train")
    torch.manual_seed(0)
    first = dataset[(1, 12345)]
    torch.manual_seed(1)
    assert torch.equal(first, dataset[(1, 12345)])
    assert any(not torch.equal(first, dataset[(1, seed)]) for seed in range(5))


def test_a_batch_is_cropped_on_its_device_exactly_as_one_image_at_a_time(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=4, size=(40, 40)).glob("*.png"))
    dataset = data.CachedPixels(data.cached_pixels(paths, 20), 16, "train")
    keys = [(i % 4, 1000 + i) for i in range(12)]  # enough seeds for flipped and unflipped crops
    batch = dataset.__getitems__(keys)
    assert batch["pixels"].shape == (12, 3, 20, 20) and {0, 1} <= set(batch["boxes"][:, 2].tolist())
    one_by_one = torch.stack([dataset[key] for key in keys])
    assert torch.equal(data.crop_flip_batch(batch["pixels"], batch["boxes"], 16), one_by_one)
    assert torch.equal(data._gathered_crops(batch["pixels"], batch["boxes"], 16), one_by_one)  # a GPU's way


def test_a_cache_kept_on_the_device_gives_the_same_batches(data_home):
    paths = sorted(photo_folder(data_home / "photos", n=5).glob("*.png"))
    loaders = [make_dataloaders(paths[:4], paths[4:], size=16, batch_size=3, device="cpu", seed=7,
                                resident=resident) for resident in (False, True)]
    assert loaders[1][0].dataset.resident is not None and loaders[0][0].dataset.resident is None
    for a, b in zip(loaders[0][0], loaders[1][0], strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("L", "ab"))
    assert not data.fits_on_device(loaders[0][0].dataset.file, torch.device("cpu"))


class DeviceWork(TorchDispatchMode):
    """Counts the operations that make tensors on the training device (not counting views, which launch
    no kernel), and the copies that go there."""

    def __init__(self, device: str):
        super().__init__()
        self.device, self.kernels, self.copies_in = device, 0, 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        first = out[0] if isinstance(out, (tuple, list)) and out else out
        if torch.is_tensor(first) and first.device.type == self.device and not func.is_view:
            self.kernels += 1
            self.copies_in += func is torch.ops.aten._to_copy.default and args[0].device.type != self.device
        return out


def test_a_batch_costs_the_device_the_same_few_operations_whatever_its_size(data_home):
    """The GPU path (followed here on PyTorch's 'meta' device: shapes, no numbers), with the cache kept
    on the device: one copy from the host per batch, and no operation per image. A 'meta' tensor has no
    values, so any read of one on the host (which would make the host wait for a GPU) raises here."""
    paths = sorted(photo_folder(data_home / "photos", n=33, size=(40, 40)).glob("*.png"))
    work = {}
    for batch_size in (4, 16):
        train, _ = make_dataloaders(paths[:32], paths[32:], size=16, batch_size=batch_size, device="meta",
                                    resident=True)
        batches = iter(train)
        next(batches)  # the first batch also makes the constants
        with DeviceWork("meta") as counted:
            batch = next(batches)
        assert batch["ab"].shape == (batch_size, 2, 16, 16)
        work[batch_size] = counted.kernels, counted.copies_in
    assert work[4] == work[16] and work[16][1] == 1, work
    assert work[16][0] <= 21, work  # 34 before the crop's index and the Lab scaling were made cheaper


def test_a_damaged_split_manifest_is_named(tmp_path, monkeypatch):
    from course_utils.errors import CourseError

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    photos = [tmp_path / "a.png", tmp_path / "b.png"]
    manifest = save_split(photos[:1], photos[1:], "mine")
    manifest.write_text(manifest.read_text().replace('"train"', '<<<<<<< HEAD\n"train"'))  # a merge conflict
    with pytest.raises(CourseError, match=r"The split manifest .*mine\.json is damaged \(JSONDecodeError"):
        load_split("mine")
