"""Write the course repository named in pyproject.toml into every notebook.

Each notebook carries an Open-in-Colab badge and a Colab install guard; both name the repository,
which is set once, in ``[tool.course]`` of pyproject.toml. ``--check`` only reports mismatches.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BADGE = re.compile(r"https://colab\.research\.google\.com/github/[^)\s\"]+")
GUARD = re.compile(r'COURSE_REPO = "[^"]*"')


def course_repository() -> tuple[str, str]:
    """``(owner/name, branch)`` from the ``[tool.course]`` table (read by pattern: works on Python 3.10)."""
    table = (ROOT / "pyproject.toml").read_text().split("[tool.course]", 1)[1].split("\n[", 1)[0]
    value = {k: re.search(rf'^{k}\s*=\s*"([^"]+)"', table, re.M).group(1) for k in ("repository", "branch")}
    return value["repository"], value["branch"]


def expected(name: str) -> tuple[str, str]:
    repo, branch = course_repository()
    badge = f"https://colab.research.google.com/github/{repo}/blob/{branch}/notebooks/{name}"
    return badge, f'COURSE_REPO = "https://github.com/{repo}"'


def sources(path: Path) -> str:
    """The notebook's cell sources as plain text (the file itself is JSON, with escaped quotes)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return "\n".join("".join(cell["source"]) for cell in cells)


def fix(path: Path) -> bool:
    """Rewrite the badge and guard of one notebook; True when something changed."""
    notebook = json.loads(path.read_text(encoding="utf-8"))
    badge, guard = expected(path.name)
    changed = False
    for cell in notebook["cells"]:
        old = "".join(cell["source"])
        new = GUARD.sub(guard, BADGE.sub(badge, old))
        if new != old:
            cell["source"] = new.splitlines(keepends=True)
            changed = True
    if changed:
        path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def problems(path: Path) -> list[str]:
    text = sources(path)
    badge, guard = expected(path.name)
    found = []
    if badge not in text:
        found.append(f"{path.name}: no Open-in-Colab badge pointing to {badge}")
    if guard not in text:
        found.append(f"{path.name}: no Colab guard line {guard}")
    if BADGE.sub("", text).count("colab.research.google.com/github/"):
        found.append(f"{path.name}: a Colab link to another place")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="report mismatches, change nothing")
    args = parser.parse_args()
    notebooks = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    if args.check:
        found = [p for nb in notebooks for p in problems(nb)]
        print("\n".join(found) or f"{len(notebooks)} notebooks point to {course_repository()[0]}")
        sys.exit(1 if found else 0)
    for nb in notebooks:
        if fix(nb):
            print(f"updated {nb.name}")


if __name__ == "__main__":
    main()
