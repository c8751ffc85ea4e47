"""Reading checkpoints: every damaged, foreign or dangerous file gets a message in the course's words."""

import collections

import pytest
import torch

from course_utils.checkpoint import read_checkpoint, save_checkpoint
from course_utils.colorize import load_generator
from course_utils.errors import CheckpointError
from course_utils.train import Pix2Pix, Pix2PixConfig

TINY = Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)


@pytest.fixture
def good(tmp_path):
    torch.manual_seed(0)
    return Pix2Pix(TINY).save(tmp_path / "good.pt")


def damaged(tmp_path, good, **changes):
    state = torch.load(good, weights_only=True)
    for key, value in changes.items():
        if "." in key:
            outer, inner = key.split(".", 1)
            state[outer][inner] = value
        else:
            state[key] = value
    return save_checkpoint(state, tmp_path / "damaged.pt")


class Evil:
    def __reduce__(self):
        return (print, ("this would run",))


@pytest.mark.parametrize("make, message", [
    (lambda p: p.write_bytes(b""), "is empty"),
    (lambda p: p.write_text("# README\nnot a checkpoint"), "not a PyTorch file"),
    (lambda p: p.write_bytes(p.with_name("good.pt").read_bytes()[:5000]), "truncated or damaged"),
    (lambda p: torch.save({"config": {}, "G": Evil(), "step": 0}, p), "Python objects other than tensors"),
    (lambda p: torch.save({"x": collections.Counter()}, p), "not a course checkpoint"),
    (lambda p: torch.save(torch.nn.Linear(2, 2).state_dict(), p), "not a course checkpoint"),
    (lambda p: torch.save([1, 2, 3], p), "it holds list"),
])
def test_foreign_and_broken_files(tmp_path, good, make, message):
    path = tmp_path / "other.pt"
    make(path)
    with pytest.raises(CheckpointError, match=message) as err:
        read_checkpoint(path)
    assert "weights_only" not in str(err.value)  # never torch's advice to load it unsafely


def test_a_folder_or_nothing(tmp_path):
    with pytest.raises(CheckpointError, match="is a folder"):
        read_checkpoint(tmp_path)
    with pytest.raises(CheckpointError, match="No checkpoint at"):
        read_checkpoint(tmp_path / "missing.pt")


@pytest.mark.parametrize("changes, message", [
    ({"config.ngf": "16"}, r"ngf='16' \(must be a whole number >= 1\)"),
    ({"config.image_size": 0}, r"image_size=0"),
    ({"config.image_size": 48}, r"not a multiple of 2\*\*num_downs = 32"),
    ({"config.dropout": 1.5}, r"dropout=1.5"),
    ({"config.gan_mode": "wgan"}, r"gan_mode='wgan'"),
    ({"config.colour": 1}, r"Unknown settings.*colour"),
    ({"config": "ngf=16"}, r"'config' is a str, not a dict"),
    ({"G": "weights"}, r"'G' is not a dict of tensors"),
    ({"step": "ten"}, r"'step' is 'ten'"),
    ({"step": -1}, r"'step' is -1"),
])
def test_damaged_course_checkpoints(tmp_path, good, changes, message):
    path = damaged(tmp_path, good, **changes)
    with pytest.raises(CheckpointError, match=message):
        load_generator(path)
    with pytest.raises(CheckpointError, match=message):
        Pix2Pix.from_checkpoint(path)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(tmp_path, good, value):
    weight = torch.load(good, weights_only=True)["G"]["down.1.1.weight"].clone()
    weight[0, 0, 0, 0] = value
    path = damaged(tmp_path, good, **{"G.down.1.1.weight": weight})
    with pytest.raises(CheckpointError, match=r"NaN or infinite weights .* down.1.1.weight"):
        load_generator(path)


def test_a_checkpoint_that_cannot_continue_a_run(tmp_path, good):
    path = damaged(tmp_path, good, opt_G="adam")
    assert load_generator(path)[1] == TINY  # colorizing needs only G
    with pytest.raises(CheckpointError, match="cannot continue a run"):
        Pix2Pix(TINY).resume(path)


def test_format_1_checkpoints_still_load(tmp_path, good):
    state = torch.load(good, weights_only=True)
    state.update(format=1, rng=state["rng"][0])
    for key in ("world_size", "data"):
        del state[key]
    trainer = Pix2Pix(TINY).resume(save_checkpoint(state, tmp_path / "old.pt"))
    assert (trainer.step, trainer.epoch, trainer.batch_in_pass) == (0, 0, 0)
