"""Every notebook's setup cell, executed as Colab and as a laptop kernel run it, with pip intercepted."""

import importlib.util
import json
import shutil
import subprocess
import sys
import types
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

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
            return subprocess.CompletedProcess(args, pip_status, "", "ERROR: no such ref\n" * pip_status)

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
def test_a_failed_install_is_a_short_message_for_the_learner(path, kernel):
    with pytest.raises(Exception, match="Could not install") as stop:
        kernel(path, colab=True, installed=False, pip_status=1)
    message = str(stop.value)
    assert len(kernel.calls) == 1
    assert f"https://github.com/{course_settings()['repository']}" in message
    assert "connection" in message and "run this cell again" in message and len(message) < 300
    assert "It said: ERROR: no such ref." in message and "pyproject" not in message
    assert stop.value._render_traceback_() == [message]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_outside_colab_a_missing_package_installs_nothing_and_says_make_lab(path, kernel):
    with pytest.raises(Exception, match=r"make lab.*\.venv") as stop:
        kernel(path, colab=False, installed=False)
    assert kernel.calls == [] and type(stop.value).__name__ == "CourseSetupError"


def test_in_jupyter_a_failed_install_shows_one_message_and_stops_run_all():
    """In a real kernel, as on Colab: pip's output is kept out of sight, its reason is quoted, the cell shows
    the course's message alone (no traceback, no "An exception has occurred") and the next cell never runs."""
    fake_colab = (
        "import importlib.util, subprocess, sys, types\n"
        "sys.modules.setdefault('google', types.ModuleType('google'))\n"
        "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'course_utils' else real(name, *a)\n"
        "pip_said = 'Collecting x\\n  Running command git clone\\n  fatal: unable to access the repo\\n'\n"
        "subprocess.run = lambda args, **kw: subprocess.CompletedProcess(args, 1, 'pip stdout', pip_said)\n")
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(fake_colab),
                                               nbformat.v4.new_code_cell(setup_source(NOTEBOOKS[0])),
                                               nbformat.v4.new_code_cell("print('after')")])
    with pytest.raises(CellExecutionError):
        NotebookClient(notebook, timeout=60, kernel_name="python3").execute()
    outputs = notebook.cells[1].outputs
    assert [o.output_type for o in outputs] == ["stream", "error"]
    assert outputs[0].text.startswith("Installing course_utils") and "pip stdout" not in outputs[0].text
    (message,) = outputs[1].traceback
    assert message.startswith("Could not install") and "fatal: unable to access the repo" in message
    assert notebook.cells[2].outputs == [] and notebook.cells[2].execution_count is None


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
