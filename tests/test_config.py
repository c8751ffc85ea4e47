import pytest
import torch

from course_utils import config
from course_utils.config import PROFILES, get_profile, resolve_profile_name


@pytest.mark.parametrize("name", ["quick", "full"])
def test_explicit_profile_names(monkeypatch, name):
    monkeypatch.setenv("COURSE_PROFILE", name)
    assert get_profile().name == name
    assert get_profile(name).name == name


def test_default_is_auto(monkeypatch):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    expected = "full" if torch.cuda.is_available() else "quick"
    assert get_profile().name == expected


@pytest.mark.parametrize("gpu, expected", [(True, "full"), (False, "quick")])
def test_auto_follows_the_gpu(monkeypatch, gpu, expected):
    monkeypatch.setattr(config.torch.cuda, "is_available", lambda: gpu)
    assert resolve_profile_name("auto") == expected
    monkeypatch.setenv("COURSE_PROFILE", " AUTO ")
    assert get_profile().name == expected


def test_unknown_value_names_the_allowed_ones(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "fast")
    with pytest.raises(ValueError) as err:
        get_profile()
    message = str(err.value)
    assert "'fast'" in message
    for allowed in ("quick", "full", "auto"):
        assert allowed in message


def test_full_profile_is_the_papers_setting():
    full = PROFILES["full"]
    assert (full.image_size, full.ngf, full.ndf, full.num_downs) == (256, 64, 64, 8)
    assert full.dataset == "coco"


@pytest.mark.parametrize("profile", PROFILES.values(), ids=PROFILES.keys())
def test_unet_depth_fits_the_image_size(profile):
    assert profile.image_size % 2**profile.num_downs == 0


def test_overrides_and_unknown_fields():
    assert get_profile("quick", train_steps=7).train_steps == 7
    with pytest.raises(TypeError, match="no field"):
        get_profile("quick", learning_rate=1.0)


def test_seed_everything_repeats_random_draws():
    config.seed_everything(3)
    first = torch.rand(4)
    config.seed_everything(3)
    assert torch.equal(first, torch.rand(4))


def test_summary_names_the_data():
    profile = get_profile("quick")
    assert profile.summary().endswith("data=bundled")
    assert profile.summary("photos/").endswith("data=photos/")
    assert profile.checkpoint_every < profile.train_steps  # a quick run writes checkpoints on the way


def test_an_empty_profile_variable_means_auto(monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "")
    assert get_profile().name == ("full" if torch.cuda.is_available() else "quick")


@pytest.mark.parametrize("overrides", [{"train_steps": -5, "batch_size": 0}, {"train_steps": 2.5},
                                       {"val_fraction": 1.0}, {"image_size": True}])
def test_impossible_overrides_are_refused(overrides):
    with pytest.raises(ValueError, match="Invalid profile setting"):
        get_profile("quick", **overrides)
