"""Execute the course's notebooks headless, in order, and report how long each took.

    python tools/run_notebooks.py --out build notebooks/*.ipynb   # executed copies + HTML in build/
    python tools/run_notebooks.py --inplace notebooks/*.ipynb     # refresh the committed outputs

Stops at the first failing cell, naming the notebook and the cell.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from traitlets.config import Config


def failing_cell(nb) -> tuple[int, str]:
    """Index (1-based, code cells only) and first line of the cell holding an error output."""
    code_cells = [c for c in nb.cells if c.cell_type == "code"]
    for i, cell in enumerate(code_cells, 1):
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            return i, (cell.source.splitlines() or [""])[0]
    return -1, ""


def clean_metadata(nb) -> None:
    """Drop per-run noise (timings, widget state) so re-running gives small diffs."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        cell.metadata.pop("execution", None)


def execute(nb, folder: Path, timeout: int) -> None:
    """Run every cell in a fresh kernel started in ``folder``."""
    # IPC sockets: the kernel talks to us through local files, not an unencrypted TCP port. They need
    # an absolute path, as the kernel runs in the notebook's folder and we do not.
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        NotebookClient(nb, timeout=timeout, kernel_name="python3", config=ipc,
                       resources={"metadata": {"path": str(folder)}}).execute()


def run(path: Path, out_dir: Path | None, timeout: int) -> float:
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    try:
        execute(nb, path.parent, timeout)
    except CellExecutionError as err:
        index, first_line = failing_cell(nb)
        print(f"\nFAILED: {path} code cell {index} ({first_line!r})\n{err}", file=sys.stderr)
        if out_dir is not None:  # keep the partial run for inspection
            nbformat.write(nb, out_dir / path.name)
        raise SystemExit(1) from None
    seconds = time.perf_counter() - start
    clean_metadata(nb)
    if out_dir is None:
        nbformat.write(nb, path)
    else:
        nbformat.write(nb, out_dir / path.name)
        html, _ = HTMLExporter().from_notebook_node(nb)
        (out_dir / path.with_suffix(".html").name).write_text(html, encoding="utf-8")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("notebooks", nargs="+", type=Path)
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--out", type=Path, help="folder for executed copies and HTML")
    where.add_argument("--inplace", action="store_true", help="overwrite the notebooks with their outputs")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    args = parser.parse_args()
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    times = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        times.append((path.name, run(path, args.out, args.timeout)))
        print(f"  done in {times[-1][1]:.1f} s", flush=True)
    print("\nNotebook" + " " * 32 + "seconds")
    for name, seconds in times:
        print(f"{name:<40}{seconds:>7.1f}")
    print(f"{'total':<40}{sum(s for _, s in times):>7.1f}")
    if args.out:
        print(f"\nExecuted notebooks and HTML renderings are in {args.out.resolve()}/")


if __name__ == "__main__":
    main()
