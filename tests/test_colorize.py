"""Colorizing: strips equal the whole image, awkward inputs are skipped or named, outputs are atomic."""

import os

import numpy as np
import pytest
import torch
from PIL import Image, PngImagePlugin
from torch.nn import functional as F

from course_utils import colorize as col
from course_utils.color import normalize_lab, normalized_to_rgb, rgb_to_lab
from course_utils.errors import ImageReadError
from course_utils.train import Pix2Pix, Pix2PixConfig


@pytest.fixture(scope="module")
def generator():
    torch.manual_seed(0)
    trainer = Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8))
    for p in trainer.G.parameters():  # colours far from gray, so that errors would show
        p.data.mul_(3)
    return trainer.G.eval()


def photo(width=75, height=50, seed=0) -> Image.Image:
    return Image.fromarray(np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8))


@pytest.mark.parametrize("n_out, n_in", [(100, 32), (37, 32), (256, 64), (20, 32), (1, 4)])
def test_upsampling_matrix_is_bilinear_interpolation(n_out, n_in):
    image = torch.randn(2, n_in, n_in)
    ours = col.upsampling_matrix(n_out, n_in) @ image @ col.upsampling_matrix(n_out + 3, n_in).T
    torch_ = F.interpolate(image[None], size=(n_out, n_out + 3), mode="bilinear", align_corners=False)[0]
    torch.testing.assert_close(ours, torch_, atol=1e-4, rtol=0)


def test_strips_give_the_same_picture_as_the_whole_image(generator):
    image = photo()
    whole = np.asarray(col.colorize_image(generator, image, 32, strip_pixels=10**9))
    strips = np.asarray(col.colorize_image(generator, image, 32, strip_pixels=75 * 7))  # 8 strips
    np.testing.assert_array_equal(whole, strips)
    # and the same as upsampling ab over the whole photo at once, the direct way
    rgb = torch.from_numpy(np.array(image)).permute(2, 0, 1)[None]
    L = normalize_lab(rgb_to_lab(rgb))[0]
    small = torch.from_numpy(np.array(image.resize((32, 32), Image.BICUBIC))).permute(2, 0, 1)[None]
    with torch.no_grad():
        ab = generator(normalize_lab(rgb_to_lab(small))[0])
    direct = normalized_to_rgb(L, F.interpolate(ab, size=L.shape[-2:], mode="bilinear"))[0]
    direct = (direct.permute(1, 2, 0).numpy() * 255).round()
    assert np.abs(direct - whole).max() <= 1  # rounding to 8 bits
    assert whole.std(axis=2).mean() > 5  # colours, not gray


def test_decompression_bombs_and_folders_are_unreadable_images(tmp_path, png_bomb):
    with pytest.raises(ImageReadError, match="decompression bomb"):
        col.read_image(png_bomb(tmp_path / "bomb.png"))
    (tmp_path / "x.jpg").mkdir()
    with pytest.raises(ImageReadError, match="a folder, not an image"):
        col.read_image(tmp_path / "x.jpg")


def test_inputs_are_expanded_skipping_what_is_not_a_photo(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("a.jpg", "b.png", "._a.jpg", "user_color.png"):
        photo().save(photos / name)
    marked = PngImagePlugin.PngInfo()
    marked.add_text(col.MARK, '{"source": "a.jpg"}')
    photo().save(photos / "a_color.png", pnginfo=marked)  # a result the course wrote
    (photos / "x.jpg").mkdir()
    (photos / "notes.txt").write_text("not a photo")
    empty = tmp_path / "empty"
    empty.mkdir()
    inputs = [photos, photos / "a.jpg", empty, tmp_path / "missing.jpg"]
    if hasattr(os, "mkfifo"):
        os.mkfifo(photos / "pipe.png")
        inputs.append(photos / "pipe.png")
    files, problems = col.expand_inputs(inputs, out_dir=photos)
    assert [f.name for f in files] == ["a.jpg", "b.png", "user_color.png"]  # once each; not hidden, pipe,
    # the course's own result; a user's photo named like a result is a photo
    text = "\n".join(problems)
    assert "x.jpg: a folder, not an image" in text
    assert f"{empty}: no images" in text
    assert "missing.jpg: no such file or folder" in text
    if hasattr(os, "mkfifo"):
        assert "pipe.png: not a regular file" in text
    files, _ = col.expand_inputs([photos], out_dir=tmp_path / "elsewhere")
    assert "a_color.png" in [f.name for f in files]  # outside --out it is an ordinary photo


def test_outputs_are_atomic_skipped_when_done_and_redone_on_request(tmp_path, generator, monkeypatch):
    files = [tmp_path / "a.png", tmp_path / "b.png"]
    for i, f in enumerate(files):
        photo(seed=i).save(f)
    out = tmp_path / "out"
    out.mkdir()
    outputs = col.output_paths(files, out)

    real_save = Image.Image.save

    def interrupted_save(self, fp, *args, **kwargs):
        fp.write(b"\x89PNG half a picture")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        list(col.colorize_photos(generator, 32, files, outputs))
    assert list(out.iterdir()) == []  # no half-written NAME_color.png, no temporary
    monkeypatch.setattr(Image.Image, "save", real_save)

    statuses = [o.status for o in col.colorize_photos(generator, 32, files, outputs)]
    assert statuses == ["written", "written"] and all(col.is_complete_png(o) for o in outputs)
    outputs[1].write_bytes(outputs[1].read_bytes()[:-20])  # cut short (a copy that did not finish)
    assert [o.status for o in col.colorize_photos(generator, 32, files, outputs)] == ["skipped", "written"]
    assert [o.status for o in col.colorize_photos(generator, 32, files, outputs)] == ["skipped", "skipped"]
    redo = col.colorize_photos(generator, 32, files, outputs, overwrite=True)
    assert [o.status for o in redo] == ["written", "written"]


def test_one_bad_photo_never_costs_the_others(tmp_path, generator, png_bomb):
    files = [png_bomb(tmp_path / "bomb.png"), tmp_path / "ok.png"]
    photo().save(files[1])
    outcomes = list(col.colorize_photos(generator, 32, files, col.output_paths(files, tmp_path / "out")))
    assert [o.status for o in outcomes] == ["failed", "written"]
    assert "bomb.png" in outcomes[0].message


# ------------------------------------------------------------------------ trust boundaries (issue 19)
def test_the_library_takes_paths_and_says_what_it_needs(tmp_path):
    from course_utils.errors import DeviceError

    torch.manual_seed(0)
    checkpoint = Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)).save(tmp_path / "ck.pt")
    photos = tmp_path / "photos"
    photos.mkdir()
    photo().save(photos / "a.png")
    done, problems = col.colorize_files(checkpoint, str(photos), tmp_path / "out")  # one folder, as a str
    assert [p.name for p in done] == ["a_color.png"] and problems == []
    G, _ = col.load_generator(checkpoint)
    assert col.colorize_image(G, str(photos / "a.png")).size == (75, 50)  # a path; its size from G
    with pytest.raises(TypeError, match="needs image_size"):
        col.colorize_image(Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)).G, photo())
    for make in (lambda: col.load_generator(checkpoint, device="banana"), lambda: Pix2Pix(device="banana")):
        with pytest.raises(DeviceError, match="Unknown device"):
            make()
