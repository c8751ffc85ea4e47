"""The compact export: G alone in half precision, a fraction of the checkpoint, the same colours."""

import hashlib

import numpy as np
import pytest
import torch

from course_utils.__main__ import main
from course_utils.checkpoint import read_checkpoint
from course_utils.colorize import colorize_image, load_generator, read_image
from course_utils.config import get_profile
from course_utils.data import sample_image_paths
from course_utils.errors import CheckpointError
from course_utils.export import export_generator
from course_utils.train import Pix2Pix, Pix2PixConfig
from course_utils.weights import file_sha256


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A quick-profile checkpoint after a few steps (BatchNorm statistics and Adam's state are real)."""
    torch.manual_seed(0)
    trainer = Pix2Pix(Pix2PixConfig.from_profile(get_profile("quick")))
    batch = {"L": torch.rand(4, 1, 64, 64) * 2 - 1, "ab": torch.rand(4, 2, 64, 64) * 0.4 - 0.2}
    for _ in range(3):
        trainer.train_step(batch)
    return trainer.save(tmp_path_factory.mktemp("run") / "checkpoint.pt")


def test_export_is_small_and_colours_every_pixel_of_the_course_photos_alike(checkpoint, tmp_path):
    out = export_generator(checkpoint, tmp_path / "generator.pt")
    assert out.stat().st_size <= 0.30 * checkpoint.stat().st_size
    state = read_checkpoint(out)
    assert {"D", "opt_G", "history"}.isdisjoint(state)
    assert all(v.dtype == torch.float16 for v in state["G"].values() if v.is_floating_point())
    full, config = load_generator(checkpoint)
    small, small_config = load_generator(out)
    assert small_config == config and next(small.parameters()).dtype == torch.float32
    worst = 0
    for path in sample_image_paths():
        image = read_image(path)
        a = np.asarray(colorize_image(full, image, config.image_size), dtype=int)
        b = np.asarray(colorize_image(small, image, config.image_size), dtype=int)
        worst = max(worst, np.abs(a - b).max())
    assert worst <= 3, f"a pixel moved by {worst}/255"


def test_the_command_prints_the_hash_and_the_lines_to_publish(checkpoint, tmp_path, capsys):
    out = tmp_path / "generator.pt"
    assert main(["export", str(checkpoint), str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"SHA-256 {file_sha256(out)}" in printed and f'weights_sha256 = "{file_sha256(out)}"' in printed
    assert "[tool.course]" in printed and "weights_url = " in printed
    assert main(["export", str(out), str(tmp_path / "again.pt")]) == 2  # already an export
    assert "already an exported generator" in capsys.readouterr().err
    with pytest.raises(CheckpointError, match="replace the checkpoint itself"):
        export_generator(checkpoint, checkpoint)


def test_train_builds_the_resnet_unet_from_the_cached_imagenet_weights_and_resume_refuses_an_export(
        tmp_path, monkeypatch, capsys):
    from helpers import TRAIN, training_photos
    from torchvision.models import resnet18

    from course_utils import imagenet
    from course_utils.weights import cache_path

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    torch.manual_seed(0)
    encoder = resnet18().state_dict()
    stand_in = tmp_path / "resnet18.pth"
    torch.save(encoder, stand_in)
    monkeypatch.setattr(imagenet, "RESNET18_SHA256", hashlib.sha256(stand_in.read_bytes()).hexdigest())
    cached = cache_path(imagenet.RESNET18_URL, imagenet.RESNET18_SHA256)  # filled: no network needed
    cached.parent.mkdir(parents=True)
    stand_in.replace(cached)
    photos, run = training_photos(tmp_path / "photos"), tmp_path / "run"
    args = [*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1", "--generator", "resnet18_unet"]
    assert main(args) == 0, capsys.readouterr().err
    state = read_checkpoint(run / "checkpoint.pt")
    assert state["config"]["generator"] == "resnet18_unet"
    moved = (state["G"]["layers.0.4.0.conv1.weight"] - encoder["layer1.0.conv1.weight"]).abs().max()
    assert moved < 0.01  # one Adam step from ImageNet's (here: the cached) weights, not N(0, 0.02)
    assert main([*args, "--resume", "--steps", "2"]) == 0  # an ordinary checkpoint: it continues
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2
    export_generator(run / "checkpoint.pt", tmp_path / "g.pt")
    (tmp_path / "g.pt").replace(run / "checkpoint.pt")
    assert main([*args, "--resume", "--steps", "3"]) == 2
    assert "holds a generator alone" in capsys.readouterr().err
