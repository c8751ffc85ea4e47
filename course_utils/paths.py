"""Where the course keeps its files, wherever the code runs (a clone, a pip install, Colab, Google Drive).

Two folders. :func:`data_dir` holds what must last: downloads, split manifests, training runs.
:func:`scratch_dir` holds what can be rebuilt from them (the unpacked COCO sample, pixel caches); it is
the same folder unless Google Drive is in use, where unpacking 20,000 photos would be slow.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

from .errors import FolderError

DATA_ENV = "COURSE_DATA_DIR"
SCRATCH_ENV = "COURSE_SCRATCH_DIR"
PROJECT_NAME = "course-utils"  # [project] name in the course's pyproject.toml
USER_FOLDER = "pix2pix-course"
COLAB_DATA = Path("/content/data")  # on Colab: the runtime's own disk, gone with the runtime
DRIVE_MOUNT = Path("/content/drive")


def is_course_clone(folder: Path) -> bool:
    """Does ``folder`` hold a checkout of this course (its pyproject.toml and its notebooks)?"""
    pyproject = folder / "pyproject.toml"
    if not (pyproject.is_file() and (folder / "notebooks").is_dir()):
        return False
    text = pyproject.read_text(encoding="utf-8", errors="replace")
    return re.search(rf'^name\s*=\s*"{PROJECT_NAME}"', text, re.M) is not None


def repo_root() -> Path | None:
    """The course checkout: the one we are working in (current folder or a parent), else the one this
    package is installed from in editable mode, else ``None``."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents, Path(__file__).resolve().parent.parent):
        if is_course_clone(folder):
            return folder
    return None


def user_data_dir() -> Path:
    """The data folder when no course checkout is in sight (e.g. after ``pip install``): per user."""
    from .device import in_colab

    if in_colab():
        return COLAB_DATA
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / USER_FOLDER


def _made(path: Path) -> Path:
    if path.exists() and not path.is_dir():
        raise FolderError(f"{path} is a file, not a folder: the course keeps its data in a folder there "
                          f"(set {DATA_ENV} to another place, or move the file).")
    path.mkdir(parents=True, exist_ok=True)
    return path


def data_dir() -> Path:
    """``$COURSE_DATA_DIR``, else the course checkout's ``data/``, else :func:`user_data_dir`."""
    if os.environ.get(DATA_ENV):
        return _made(Path(os.environ[DATA_ENV]).expanduser())
    root = repo_root()
    return _made(root / "data" if root else user_data_dir())


def scratch_dir() -> Path:
    """``$COURSE_SCRATCH_DIR``, else :func:`data_dir`: where rebuildable bulk (unpacked data, caches) goes."""
    if os.environ.get(SCRATCH_ENV):
        return _made(Path(os.environ[SCRATCH_ENV]).expanduser())
    return data_dir()


def runs_dir() -> Path:
    """Training runs (checkpoints, loss logs, sample grids) live here."""
    return _made(data_dir() / "runs")


def use_google_drive(folder: str = USER_FOLDER) -> Path:
    """On Colab: mount Google Drive (it asks for permission) and keep the course's data there.

    Downloads, split manifests, checkpoints and runs then go to ``MyDrive/<folder>/data``, where every
    notebook and tomorrow's runtime find them; the unpacked photos and pixel caches stay on the
    runtime's fast local disk (``/content/data``) and are rebuilt from Drive when missing.
    Returns the new data folder.
    """
    try:
        from google.colab import drive
    except ImportError:
        raise RuntimeError("Google Drive can only be mounted on Colab. Elsewhere, point the "
                           f"{DATA_ENV} environment variable to any folder instead.") from None
    if not (DRIVE_MOUNT / "MyDrive").is_dir():
        drive.mount(str(DRIVE_MOUNT))
    os.environ[DATA_ENV] = str(DRIVE_MOUNT / "MyDrive" / folder / "data")
    os.environ[SCRATCH_ENV] = str(COLAB_DATA)  # environment variables: a subprocess finds them too
    return data_dir()
