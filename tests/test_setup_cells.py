"""Every notebook's setup cell, executed as Colab and as a laptop kernel run it, with pip intercepted."""

import importlib.util
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
sys.path.insert(0, str(ROOT / "tools"))
import repo_links  # noqa: E402  (tools/ is not a package)
from repo_links import course_settings  # noqa: E402


def setup_source(path: Path) -> str:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "".join(next(c for c in cells if c["cell_type"] == "code")["source"])


@pytest.fixture(scope="module")
def data_home(tmp_path_factory):
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def kernel(monkeypatch, data_home):
    """Runs a setup cell; ``colab`` and ``installed`` say where it runs; pip calls are recorded."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(data_home))
    monkeypatch.setenv("COURSE_PROFILE", "quick")
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    calls = []

    def run(path, *, colab: bool, installed: bool, pip_status: int = 0) -> dict:
        def fake_run(args, *rest, **kwargs):
            calls.append(list(args))
            return subprocess.CompletedProcess(args, pip_status)

        monkeypatch.setattr(subprocess, "run", fake_run)
        if colab:
            if "google" not in sys.modules:
                monkeypatch.setitem(sys.modules, "google", types.ModuleType("google"))
            monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
        else:
            monkeypatch.setitem(sys.modules, "google.colab", None)  # `import google.colab` fails
        if not installed:
            real = importlib.util.find_spec
            monkeypatch.setattr(importlib.util, "find_spec",
                                lambda name, *a: None if name == "course_utils" else real(name, *a))
        namespace = {"__name__": "__main__"}
        exec(compile(setup_source(path), path.name, "exec"), namespace)
        return namespace

    run.calls = calls
    return run


def pinned_url() -> str:
    settings = course_settings()
    return f"git+https://github.com/{settings['repository']}@{settings['ref']}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_on_colab_the_package_is_installed_pinned_to_the_badges_ref(path, kernel):
    namespace = kernel(path, colab=True, installed=False)
    assert kernel.calls == [[sys.executable, "-m", "pip", "install", "-q", pinned_url()]]
    assert namespace["P"].name == "quick" and namespace["USE_DRIVE"] is False


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_a_failed_install_is_a_short_message_naming_the_repository(path, kernel):
    with pytest.raises(SystemExit) as stop:
        kernel(path, colab=True, installed=False, pip_status=1)
    message = str(stop.value)
    assert len(kernel.calls) == 1
    assert f"https://github.com/{course_settings()['repository']}" in message
    assert "internet" in message and "make repo-links" in message and len(message) < 300


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outside_colab_a_missing_package_installs_nothing_and_says_make_lab(path, kernel):
    with pytest.raises(SystemExit, match=r"make lab.*\.venv"):
        kernel(path, colab=False, installed=False)
    assert kernel.calls == []


@pytest.mark.parametrize("colab", [False, True], ids=["laptop", "colab"])
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_an_installed_package_is_used_as_it_is(path, colab, kernel):
    namespace = kernel(path, colab=colab, installed=True)
    assert kernel.calls == []
    assert str(namespace["device"]) == "cpu"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_drive_switch_reaches_setup(path):
    assert setup_source(path).count("setup(drive=USE_DRIVE)") == 1


def test_repo_links_writes_a_forks_repository_and_tag_into_badge_and_guard(tmp_path, monkeypatch):
    fork = {"repository": "someone/fork", "ref": "v2.0", "weights_url": "", "weights_sha256": ""}
    monkeypatch.setattr(repo_links, "course_settings", lambda: fork)
    copy = tmp_path / NOTEBOOKS[0].name
    shutil.copy(NOTEBOOKS[0], copy)
    assert repo_links.problems(copy)  # the committed notebook names the course, not the fork
    assert repo_links.fix(copy)
    source = setup_source(copy)
    assert 'COURSE_REPO = "https://github.com/someone/fork"' in source and 'COURSE_REF = "v2.0"' in source
    badge = f"colab.research.google.com/github/someone/fork/blob/v2.0/notebooks/{copy.name}"
    assert badge in copy.read_text()
    assert repo_links.problems(copy) == [] and not repo_links.fix(copy)  # done once, then nothing to do
