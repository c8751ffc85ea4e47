"""Build the course website into build/site/ from the committed notebooks, without running them.

    python tools/build_site.py [--out build/site]

``index.html`` lists every ``notebooks/NN_*.ipynb`` (what it teaches, from the README's table or else the
notebook's title cell, and its exercise count, from ``course_utils.exercises``); each notebook becomes
``NN_name.html`` (nbconvert's lab template extended by ``tools/site/``) with previous / next / index
links, an Open-in-Colab link and its sections. The setup cell is folded and the ``# NBVAL_`` lines are
hidden on the page (the notebooks are not changed). Nothing is loaded from the internet: MathJax comes
from the jupyter-server-mathjax package and is copied beside the pages, so the site works offline.
"""

from __future__ import annotations

import argparse
import copy
import html
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import jupyter_server_mathjax
import nbformat
from nbconvert import HTMLExporter

from course_utils.exercises import EXERCISES, MARKER

sys.path.insert(0, str(Path(__file__).resolve().parent))
from repo_links import course_settings, expected_badge, setup_cell  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
ASSETS = Path(__file__).resolve().parent / "site"
MATHJAX = Path(jupyter_server_mathjax.__file__).parent / "static"
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
README_ROW = re.compile(r"^\| \d\d \| \[`(\w+)`\]\(notebooks/\S+\) \| (.+?) \| \d+ \|$", re.M)
H2 = re.compile(r'<h2 id="([^"]+)">(.*?)<a class="anchor-link"', re.S)


def title_and_learn(nb, readme: dict[str, str], stem: str) -> tuple[str, str]:
    """The title cell's heading, and what the notebook teaches: its README row, else its first bullet."""
    text = nb.cells[0].source
    title = re.search(r"^# (.+)$", text, re.M).group(1).strip()
    if stem in readme:
        return title, readme[stem]
    bullet = re.search(r"What you will learn\**\s*\n- (.+?)(?:\n- |\n\n|\Z)", text, re.S)
    return title, " ".join(bullet.group(1).split()) if bullet else ""


def page_notebook(nb):
    """A copy of the notebook as the page shows it: setup cell marked for folding, NBVAL lines hidden,
    exercise cells marked, the Colab badge's image served locally, links to notebooks made page links."""
    nb = copy.deepcopy(nb)
    setup_cell(nb)["metadata"]["course_site"] = "setup"
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = re.sub(r"^# NBVAL_\w+\n", "", cell.source, flags=re.M)
            for output in cell.outputs:  # a traceback quotes the cell's lines
                if output.output_type == "error":
                    output.traceback = [re.sub(r"^.*# NBVAL_\w+.*\n", "", line, flags=re.M)
                                        for line in output.traceback]
            if cell.source.startswith(MARKER):
                cell.metadata.setdefault("tags", []).append("course-exercise")
        elif cell.cell_type == "markdown":
            cell.source = re.sub(r"\]\((\d\d_\w+)\.ipynb", r"](\1.html",
                                 cell.source.replace(BADGE_IMAGE, "colab-badge.svg"))
    return nb


def with_sections(page: str) -> str:
    """Put the list of the page's sections (its level-2 headings) under the navigation bar."""
    items = "".join(f'<li><a href="#{anchor}">{label.strip()}</a></li>' for anchor, label in H2.findall(page))
    return page.replace("<!-- course sections -->",
                        f'<nav class="course-sections">Sections<ul>{items}</ul></nav>', 1)


def index_page(title: str, entries: list[dict]) -> str:
    rows = "".join(
        f'<tr><td>{e["number"]}</td><td><a href="{e["page"]}">{html.escape(e["title"])}</a></td>'
        f'<td>{html.escape(e["learn"])}</td><td>{e["exercises"]}</td></tr>' for e in entries)
    repo = f"https://github.com/{course_settings()['repository']}"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title><link rel="stylesheet" href="site.css"></head>
<body style="font-family: sans-serif"><main>
<h1>{title}</h1>
<p>Turn grayscale photos into colour ones with a conditional GAN (Isola et al., 2017,
<a href="https://arxiv.org/abs/1611.07004"><em>Image-to-Image Translation with Conditional Adversarial
Networks</em></a>), built up one idea per notebook. Each page shows a notebook with the outputs of a
quick-profile CPU run; open it in Colab (a GPU runtime) or run it locally (see the
<a href="{repo}">repository</a>'s README).</p>
<table class="course-toc"><thead><tr><th>#</th><th>notebook</th><th>what you learn</th><th>exercises</th></tr>
</thead><tbody>{rows}</tbody></table>
</main></body></html>
"""


def build(out: Path) -> list[Path]:
    paths = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    readme_text = (ROOT / "README.md").read_text(encoding="utf-8")
    readme = dict(README_ROW.findall(readme_text))
    counts = Counter(e.notebook for e in EXERCISES.values())
    notebooks = [nbformat.read(p, as_version=4) for p in paths]
    entries = []
    for path, nb in zip(paths, notebooks, strict=True):
        title, learn = title_and_learn(nb, readme, path.stem)
        entries.append({"number": path.name[:2], "title": title, "learn": learn, "page": f"{path.stem}.html",
                        "exercises": counts.get(path.name[:2], 0), "colab": expected_badge(path.name)})
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(MATHJAX, out / "mathjax")
    for asset in ("site.css", "colab-badge.svg"):
        shutil.copy(ASSETS / asset, out / asset)
    exporter = HTMLExporter(template_name="site", extra_template_basedirs=[str(ASSETS.parent)])
    written = [out / "index.html"]
    written[0].write_text(index_page(readme_text.split("\n", 1)[0].lstrip("# "), entries), encoding="utf-8")
    for i, (nb, entry) in enumerate(zip(notebooks, entries, strict=True)):
        course = {"colab": entry["colab"], "previous": entries[i - 1] if i else None,
                  "next": entries[i + 1] if i + 1 < len(entries) else None}
        resources = {"course": course, "metadata": {"name": entry["title"]}}
        page, _ = exporter.from_notebook_node(page_notebook(nb), resources=resources)
        written.append(out / entry["page"])
        written[-1].write_text(with_sections(page), encoding="utf-8")
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "site", help="default: build/site")
    args = parser.parse_args()
    start = time.perf_counter()
    written = build(args.out)
    print(f"{len(written)} pages in {args.out} ({time.perf_counter() - start:.1f} s): "
          f"open {args.out / 'index.html'}")


if __name__ == "__main__":
    main()
