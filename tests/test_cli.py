"""The command line end to end: colorize odd photos at their own size, train and resume a tiny run."""

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils.__main__ import main
from course_utils.train import Pix2Pix, Pix2PixConfig, read_checkpoint


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)).save(tmp_path / "ck.pt")


def photo_folder(folder, n_rgb=1):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_rgb):
        Image.fromarray(rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)).save(folder / f"rgb{i}.jpg")
    Image.fromarray(rng.integers(0, 255, (29, 41), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (45, 33, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not really a JPEG")
    return folder


def test_colorize_folder_with_odd_photos(tmp_path, checkpoint, capsys):
    photos = photo_folder(tmp_path / "photos")
    code = main(["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "out")])
    assert code == 1  # the corrupt file failed, the others were written
    assert "corrupt.jpg" in capsys.readouterr().err
    for name in ("rgb0.jpg", "gray.png", "alpha.png"):
        result = tmp_path / "out" / f"{name.split('.')[0]}_color.png"
        with Image.open(photos / name) as src, Image.open(result) as out:
            assert out.size == src.size and out.mode == "RGB"
    assert not (tmp_path / "out" / "corrupt_color.png").exists()


def test_colorize_errors(tmp_path, checkpoint, capsys):
    photos = photo_folder(tmp_path / "photos")
    out = str(tmp_path / "out")
    assert main(["colorize", "--checkpoint", str(tmp_path / "nope.pt"), str(photos), "--out", out]) == 2
    assert "No checkpoint" in capsys.readouterr().err
    missing = str(tmp_path / "missing.jpg")
    assert main(["colorize", "--checkpoint", str(checkpoint), missing, "--out", out]) == 2
    assert "no such file" in capsys.readouterr().err
    # an output would land on an input: refuse before writing anything
    (photos / "rgb0_color.png").write_bytes((photos / "gray.png").read_bytes())
    before = (photos / "rgb0_color.png").read_bytes()
    inputs = [str(photos / "rgb0.jpg"), str(photos / "rgb0_color.png")]
    assert main(["colorize", "--checkpoint", str(checkpoint), *inputs, "--out", str(photos)]) == 2
    assert "overwrite an input" in capsys.readouterr().err
    assert (photos / "rgb0_color.png").read_bytes() == before


def test_train_then_resume(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    photos = photo_folder(tmp_path / "photos", n_rgb=4)
    run = tmp_path / "run"
    args = ["train", "--data", str(photos), "--out", str(run), "--profile", "quick", "--sample-every", "1"]
    assert main([*args, "--steps", "2"]) == 0
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000001.png", "step_000002.png"]
    assert "gray baseline" in capsys.readouterr().out
    assert main([*args, "--steps", "3"]) == 2  # the run exists: --resume or another folder
    assert "--resume" in capsys.readouterr().err
    assert main([*args, "--steps", "3", "--resume"]) == 0
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 3
    assert len((run / "losses.csv").read_text().splitlines()) == 4  # header + 3 steps
