"""Write what pyproject.toml's [tool.course] sets into the notebooks and the package.

- every notebook's Open-in-Colab badge (repository and ref);
- every notebook's Colab guard, the start of its setup cell, which installs ``course_utils`` pinned to
  that repository and ref, and only on Colab (a failure stops the cell with one message for the learner);
- every notebook's metadata asks Colab for a GPU runtime (``accelerator``, and the GPU type);
- ``course_utils/published.py``: the URL and SHA-256 of the published checkpoint (a pip-installed
  package has no pyproject.toml to read them from).

``--check`` changes nothing and exits with status 1 when anything disagrees.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PUBLISHED = ROOT / "course_utils" / "published.py"
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"]+")
KEYS = ("repository", "ref", "weights_url", "weights_sha256")
COLAB_GPU = "T4"  # the GPU of Colab's free tier: the runtime a badge opens

GUARD = '''\
# Setup. On Colab, the first run installs the course package, pinned to these notebooks' version;
# elsewhere `make lab` has installed it. (`make repo-links` writes this block from pyproject.toml.)
import importlib.util
import subprocess
import sys

COURSE_REPO = "https://github.com/{repository}"
COURSE_REF = "{ref}"  # a branch or a tag: the one the Open-in-Colab badge opens
USE_DRIVE = False  # on Colab, True keeps downloads and trained models on your Google Drive (see README)


class CourseSetupError(Exception):
    def _render_traceback_(self):  # Jupyter shows this message alone, no traceback; "Run all" stops here
        return [str(self)]


if importlib.util.find_spec("course_utils") is None:
    try:
        import google.colab  # noqa: F401  (only Colab has it)
    except ImportError:
        raise CourseSetupError("course_utils is not installed for this kernel: run `make lab` in the course "
                               "folder, or choose the kernel of the course's .venv.") from None
    print(f"Installing course_utils from {{COURSE_REPO}} ({{COURSE_REF}}) ...")
    pip = [sys.executable, "-m", "pip", "install", "-q", f"git+{{COURSE_REPO}}@{{COURSE_REF}}"]
    installed = subprocess.run(pip, capture_output=True, text=True)  # pip's and git's output: not shown
    if installed.returncode != 0:
        said = [line.strip() for line in installed.stderr.splitlines()
                if line.lstrip().startswith(("fatal:", "ERROR:"))]  # git's or pip's reason, when it gives one
        raise CourseSetupError(
            f"Could not install the course package from {{COURSE_REPO}} ({{COURSE_REF}})."
            + (f" It said: {{said[0].rstrip('.')}}." if said else "") + " Check the runtime's connection, "
            "then run this cell again; if it fails again, Runtime > Disconnect and delete runtime, Run all.")
    importlib.invalidate_caches()
'''
# the guard is the setup cell's start, up to its last line
GUARD_SPAN = re.compile(r"\A.*?^" + re.escape(GUARD.splitlines()[-1]) + r"\n", re.S | re.M)

PUBLISHED_TEXT = '''\
"""The course's published checkpoint: written by `make repo-links` from pyproject.toml [tool.course].

Edit pyproject.toml, not this file; an empty URL means that no checkpoint is published yet.
"""

WEIGHTS_URL = "{weights_url}"
WEIGHTS_SHA256 = "{weights_sha256}"
'''


def course_settings() -> dict[str, str]:
    """The ``[tool.course]`` table (read by pattern: works on Python 3.10, which has no tomllib)."""
    table = (ROOT / "pyproject.toml").read_text().split("[tool.course]", 1)[1].split("\n[", 1)[0]
    values = {}
    for key in KEYS:
        found = re.search(rf'^{key}\s*=\s*"([^"]*)"', table, re.M)
        if found is None:
            raise SystemExit(f"pyproject.toml: [tool.course] has no {key} = \"...\"")
        values[key] = found.group(1)
    return values


def expected_badge(name: str) -> str:
    s = course_settings()
    return f"https://colab.research.google.com/github/{s['repository']}/blob/{s['ref']}/notebooks/{name}"


def expected_guard() -> str:
    return GUARD.format(**course_settings())


def expected_published() -> str:
    return PUBLISHED_TEXT.format(**course_settings())


def setup_cell(notebook: dict) -> dict:
    return next(c for c in notebook["cells"] if c["cell_type"] == "code")


def asks_for_gpu(notebook: dict) -> bool:
    meta = notebook["metadata"]
    return meta.get("accelerator") == "GPU" and meta.get("colab", {}).get("gpuType") == COLAB_GPU


def fix(path: Path) -> bool:
    """Rewrite the badge, guard and Colab metadata of one notebook; True when something changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    badge, guard = expected_badge(path.name), expected_guard()
    setup = setup_cell(notebook)
    changed = not asks_for_gpu(notebook)
    notebook["metadata"]["accelerator"] = "GPU"
    notebook["metadata"].setdefault("colab", {})["gpuType"] = COLAB_GPU
    for cell in notebook["cells"]:
        old = "".join(cell["source"])
        new = BADGE.sub(badge, old)
        if cell is setup:
            if not GUARD_SPAN.match(new):
                raise SystemExit(f"{path.name}: its setup cell does not start with the Colab guard; "
                                 "paste the guard from tools/repo_links.py there first.")
            new = GUARD_SPAN.sub(lambda _: guard, new, count=1)
        if new != old:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def problems(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"])
    badge = expected_badge(path.name)
    found = []
    if badge not in text:
        found.append(f"{path.name}: no Open-in-Colab badge pointing to {badge}")
    if BADGE.sub("", text).count("colab.research.google.com/github/"):
        found.append(f"{path.name}: a Colab link to another place")
    if not "".join(setup_cell(notebook)["source"]).startswith(expected_guard()):
        found.append(f"{path.name}: its setup cell does not start with the current Colab guard")
    if not asks_for_gpu(notebook):
        found.append(f"{path.name}: its metadata does not ask Colab for a {COLAB_GPU} GPU")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="report mismatches, change nothing")
    args = parser.parse_args()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.check:
        found = [p for nb in notebooks for p in problems(nb)]
        if PUBLISHED.read_text(encoding="utf-8") != expected_published():
            found.append(f"{PUBLISHED.relative_to(ROOT)} disagrees with pyproject.toml [tool.course]")
        settings = course_settings()
        print("\n".join(found) or f"{len(notebooks)} notebooks point to {settings['repository']} "
              f"at {settings['ref']}; published weights: {settings['weights_url'] or 'none yet'}")
        sys.exit(1 if found else 0)
    for nb in notebooks:
        if fix(nb):
            print(f"updated {nb.name}")
    if PUBLISHED.read_text(encoding="utf-8") != expected_published():
        PUBLISHED.write_text(expected_published(), encoding="utf-8")
        print(f"updated {PUBLISHED.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
