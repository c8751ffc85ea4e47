"""Where the course keeps its files: the repository's ``data/`` folder, wherever the code runs."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV = "COURSE_DATA_DIR"


def repo_root() -> Path | None:
    """The course checkout this package was installed from (editable install), else ``None``."""
    root = Path(__file__).resolve().parent.parent
    return root if (root / "pyproject.toml").is_file() and (root / "notebooks").is_dir() else None


def data_dir() -> Path:
    """``$COURSE_DATA_DIR``, else the checkout's ``data/``, else ``./data`` (e.g. on Colab)."""
    if os.environ.get(DATA_ENV):
        path = Path(os.environ[DATA_ENV]).expanduser()
    else:
        root = repo_root()
        path = root / "data" if root else Path.cwd() / "data"
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_dir() -> Path:
    """Training runs (checkpoints, loss logs, sample grids) live here."""
    path = data_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path
