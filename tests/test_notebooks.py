"""The conventions every notebook follows (README, "Notebook conventions"), checked on the committed files."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXPECTED = [
    "01_gpu_check", "02_coco_sample_dataset", "03_lab_preprocessing", "04_generator_unet",
    "05_discriminator_patchgan", "06_weight_init_theory", "07_training_pix2pix", "08_colorize_your_photos",
    "09_doing_better_with_less",
]


def cells(path):
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell):
    return "".join(cell["source"])


def test_the_series_is_complete_and_listed_in_the_readme():
    assert [p.stem for p in NOTEBOOKS] == EXPECTED
    readme = (ROOT / "README.md").read_text()
    for name in EXPECTED:
        assert f"notebooks/{name}.ipynb" in readme


def test_badges_guards_and_published_weights_match_pyproject():
    """`tools/repo_links.py --check`: badges, Colab guards and course_utils/published.py (make repo-links)."""
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "repo_links.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_shape(path):
    all_cells = cells(path)
    first, last = all_cells[0], all_cells[-1]
    assert first["cell_type"] == "markdown"
    assert re.match(rf"# {path.name[:2]} · \S", source(first)), "title '# NN · ...' first"
    assert "What you will learn" in source(first)
    setup = next(c for c in all_cells if c["cell_type"] == "code")
    assert "find_spec(\"course_utils\")" in source(setup) and "setup(" in source(setup)
    assert sum("setup(" in source(c) for c in all_cells if c["cell_type"] == "code") == 1
    assert last["cell_type"] == "markdown" and "Recap" in source(last)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_outputs_are_a_clean_run(path):
    assert path.stat().st_size < 2_000_000
    code = [c for c in cells(path) if c["cell_type"] == "code"]
    assert all(c["execution_count"] for c in code), "every code cell was executed"
    counts = [c["execution_count"] for c in code]
    assert counts == sorted(counts), "cells were run top to bottom"
    for c in code:
        expected_error = "NBVAL_RAISES_EXCEPTION" in source(c)
        has_error = any(o["output_type"] == "error" for o in c["outputs"])
        assert has_error == expected_error, source(c)[:80]
        if expected_error:
            assert "raises-exception" in c["metadata"].get("tags", [])


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_figures_were_drawn(path):
    """A figure saved as its text stub alone ('<Figure size ...>') means the kernel drew nothing,
    e.g. because MPLBACKEND=Agg reached it: the reader would see no picture."""
    for c in cells(path):
        for out in c.get("outputs", []):
            data = out.get("data", {})
            if "".join(data.get("text/plain", "")).startswith("<Figure size"):
                assert "image/png" in data, f"{path.name}: a figure without its picture"
