"""Where files go: a clone, a pip install run from anywhere, Colab, and Google Drive."""

import json
import os
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

from course_utils import config, data, paths

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def no_env(monkeypatch):
    """Neither folder variable set, and whatever a test sets is undone afterwards."""
    for name in (paths.DATA_ENV, paths.SCRATCH_ENV):
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def fake_clone(folder: Path, name: str = "course-utils") -> Path:
    (folder / "notebooks" / "sub").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "1"\n')
    return folder


def test_the_environment_variable_wins(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "mine"))
    monkeypatch.chdir(fake_clone(tmp_path / "clone"))
    assert paths.data_dir() == tmp_path / "mine" and paths.data_dir().is_dir()
    assert paths.scratch_dir() == paths.data_dir()
    assert paths.runs_dir() == tmp_path / "mine" / "runs"


def test_a_pip_installed_copy_finds_the_clone_it_runs_in_and_a_user_folder_elsewhere(tmp_path):
    """Not editable: the package is a copy in a site folder, as `pip install .` leaves it."""
    site = tmp_path / "site"
    shutil.copytree(ROOT / "course_utils", site / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    clone = fake_clone(tmp_path / "clone")
    stranger = fake_clone(tmp_path / "other_project", name="something-else")
    places = [clone, clone / "notebooks", clone / "notebooks" / "sub", stranger / "notebooks", tmp_path]
    script = ("import os, sys\nfrom course_utils.paths import data_dir\n"
              "for place in sys.argv[1:]:\n    os.chdir(place)\n    print(data_dir())\n")
    unset = (paths.DATA_ENV, paths.SCRATCH_ENV, "COLAB_RELEASE_TAG")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(PYTHONPATH=str(site), XDG_DATA_HOME=str(tmp_path / "xdg"))
    result = subprocess.run([sys.executable, "-c", script, *map(str, places)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    user = tmp_path / "xdg" / paths.USER_FOLDER
    assert result.stdout.split() == [str(clone / "data")] * 3 + [str(user)] * 2
    assert not (clone / "notebooks" / "data").exists() and not (stranger / "notebooks" / "data").exists()


def test_an_editable_install_uses_its_checkout_from_anywhere(tmp_path, monkeypatch, no_env):
    if Path(paths.__file__).resolve().parent.parent != ROOT:
        pytest.skip("course_utils is not imported from this checkout (not an editable install)")
    monkeypatch.chdir(tmp_path)
    assert paths.data_dir() == ROOT / "data"  # this package lives in a course checkout


def test_user_folder_on_colab_is_the_runtimes_disk(monkeypatch):
    import course_utils.device

    monkeypatch.setattr(course_utils.device, "in_colab", lambda: True)
    assert paths.user_data_dir() == Path("/content/data")


@pytest.fixture
def fake_drive(tmp_path, monkeypatch, no_env):
    """google.colab.drive stubbed: mounting creates MyDrive under a temporary mount point."""
    mounts = []

    def mount(where):
        mounts.append(where)
        (Path(where) / "MyDrive").mkdir(parents=True)

    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mount)
    if "google" not in sys.modules:
        monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
    monkeypatch.setitem(sys.modules, "google.colab", colab)
    monkeypatch.setattr(paths, "DRIVE_MOUNT", tmp_path / "drive")
    monkeypatch.setattr(paths, "COLAB_DATA", tmp_path / "local")
    return mounts


def test_google_drive_holds_the_data_and_local_disk_the_bulk(tmp_path, fake_drive, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    config.setup(drive=True, verbose=False)
    drive_data = tmp_path / "drive" / "MyDrive" / paths.USER_FOLDER / "data"
    assert fake_drive == [str(tmp_path / "drive")]
    assert paths.data_dir() == drive_data and paths.runs_dir() == drive_data / "runs"
    assert paths.scratch_dir() == tmp_path / "local"
    assert os.environ[paths.DATA_ENV] == str(drive_data)  # a subprocess (the command line) finds it too
    paths.use_google_drive()
    assert len(fake_drive) == 1  # already mounted: not again


def test_google_drive_off_colab_says_what_to_do_instead(monkeypatch, no_env):
    monkeypatch.setitem(sys.modules, "google.colab", None)  # not importable
    with pytest.raises(RuntimeError, match=paths.DATA_ENV):
        paths.use_google_drive()
    assert paths.DATA_ENV not in os.environ


@pytest.mark.filterwarnings("ignore::FutureWarning")  # torch.jit noise when fastai is imported
def test_a_kept_archive_is_unpacked_again_without_the_network(tmp_path, monkeypatch):
    """A fresh Colab runtime with Drive: the archive is on Drive, the unpacked photos are gone."""
    import fastai.data.external

    drive, local = tmp_path / "drive_data", tmp_path / "local"
    monkeypatch.setenv(paths.DATA_ENV, str(drive))
    monkeypatch.setenv(paths.SCRATCH_ENV, str(local))
    (drive / "downloads").mkdir(parents=True)
    (drive / "downloads" / "coco_sample.tgz").write_bytes(b"archive")
    calls = []

    def fake_untar_data(url, **kwargs):
        calls.append(kwargs)
        (local / "coco_sample" / "train_sample").mkdir(parents=True)
        return local / "coco_sample"

    monkeypatch.setattr(data, "_can_reach", lambda *a, **k: pytest.fail("the network was checked"))
    monkeypatch.setattr(fastai.data.external, "untar_data", fake_untar_data)
    assert data.coco_sample_folder() == local / "coco_sample"
    assert calls == [{"base": str(drive), "data": str(local), "archive": str(drive / "downloads")}]


def test_manifests_on_drive_name_photos_relative_to_either_folder(tmp_path, monkeypatch):
    drive, local = tmp_path / "drive_data", tmp_path / "local"
    monkeypatch.setenv(paths.DATA_ENV, str(drive))
    monkeypatch.setenv(paths.SCRATCH_ENV, str(local))
    photos = []
    for root, folder in ((local, "coco_sample/train_sample"), (drive, "bundled")):
        (root / folder).mkdir(parents=True)
        for i in range(3):
            photos.append(root / folder / f"{i}.jpg")
            photos[-1].write_bytes(b"")
    manifest = data.save_split(photos[:4], photos[4:], "mixed")
    record = json.loads(manifest.read_text())
    assert manifest.parent == drive / "splits"
    assert record["train"][:3] == [f"coco_sample/train_sample/{i}.jpg" for i in range(3)]
    assert record["val"] == ["bundled/1.jpg", "bundled/2.jpg"]
    assert data.load_split("mixed") == (photos[:4], photos[4:])


def test_pixel_caches_go_to_the_scratch_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "drive_data"))
    monkeypatch.setenv(paths.SCRATCH_ENV, str(tmp_path / "local"))
    photo = tmp_path / "a.png"
    photo.write_bytes(b"")
    assert data._cache_file([photo], 16).parent == tmp_path / "local" / "cache"


def test_a_data_folder_that_is_a_file_is_said_in_one_line(tmp_path, monkeypatch):
    from course_utils.errors import FolderError

    (tmp_path / "data").write_text("a file")
    monkeypatch.setenv(paths.DATA_ENV, str(tmp_path / "data"))
    with pytest.raises(FolderError, match="data is a file, not a folder"):
        paths.data_dir()
