"""Execute the course's notebooks headless, in order, and report how long each took.

    python tools/run_notebooks.py --out build notebooks/*.ipynb   # executed copies + HTML in build/
    python tools/run_notebooks.py --inplace notebooks/*.ipynb     # refresh the committed outputs
    python tools/run_notebooks.py --solutions --out build/solutions notebooks/*.ipynb

Stops at the first failing cell, naming the notebook and the cell. ``--solutions`` replaces every
exercise cell's stub by the exercise's reference solution (course_utils.exercises) and sets
COURSE_SOLUTIONS=1, so that a check that does not pass fails the run; it never writes in place.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbconvert import HTMLExporter
from traitlets.config import Config

from course_utils.exercises import CHECK_CALL, EXERCISES, MARKER, SOLUTIONS_ENV
from course_utils.loop import PROGRESS_ENV


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


def fill_solutions(nb) -> list[str]:
    """Put each exercise's reference solution into its cell, in place; return the exercises' ids.

    An exercise cell's first line is ``# YOUR TURN: <id>`` and it calls ``check("<id>", <name>)`` as the
    exercise defines it. A ``check(...)`` call anywhere else is an error: that exercise would stay unsolved.
    """
    filled = []
    for index, cell in enumerate(c for c in nb.cells if c.cell_type == "code"):
        first, calls = (cell.source.splitlines() or [""])[0], CHECK_CALL.findall(cell.source)
        where = f"code cell {index + 1} ({first!r})"
        if not first.startswith(MARKER):
            if calls:
                raise ValueError(f"{where} calls check({calls[0]!r}, ...) but does not start with "
                                 f"'{MARKER}{calls[0]}'.")
            continue
        exercise_id = first[len(MARKER):].strip()
        if exercise_id not in EXERCISES:
            raise ValueError(f"{where}: no exercise {exercise_id!r} in course_utils.exercises.")
        exercise = EXERCISES[exercise_id]
        if calls != [exercise_id] or exercise.check_line not in cell.source:
            raise ValueError(f"{where} must end with {exercise.check_line} and check nothing else.")
        cell.source = exercise.cell(solved=True)
        filled.append(exercise_id)
    return filled


def execute(nb, folder: Path, timeout: int) -> None:
    """Run every cell in a fresh kernel started in ``folder``."""
    # IPC sockets: the kernel talks to us through local files, not an unencrypted TCP port. They need
    # an absolute path, as the kernel runs in the notebook's folder and we do not.
    with tempfile.TemporaryDirectory(prefix="course-kernel-") as sockets:
        ipc = Config({"KernelManager": {"transport": "ipc", "ip": str(Path(sockets) / "kernel")}})
        NotebookClient(nb, timeout=timeout, kernel_name="python3", config=ipc,
                       resources={"metadata": {"path": str(folder)}}).execute()


def run(path: Path, out_dir: Path | None, timeout: int, solutions: bool = False) -> float:
    nb = nbformat.read(path, as_version=4)
    if solutions:
        try:
            filled = fill_solutions(nb)
        except ValueError as err:
            raise SystemExit(f"{path}: {err}") from None
        print(f"  {len(filled)} exercise(s) with their reference solutions: {', '.join(filled) or '-'}",
              flush=True)
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
    parser.add_argument("--solutions", action="store_true",
                        help="fill every exercise cell with its reference solution; fail if a check fails")
    args = parser.parse_args()
    if args.solutions:
        if args.inplace:
            parser.error("--solutions writes into --out, never over the committed notebooks")
        os.environ[SOLUTIONS_ENV] = "1"  # the kernels inherit it: a failing check raises
    os.environ[PROGRESS_ENV] = "text"  # no widget to save: the outputs keep each bar's final state
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    times = []
    for path in args.notebooks:
        print(f"running {path} ...", flush=True)
        times.append((path.name, run(path, args.out, args.timeout, args.solutions)))
        print(f"  done in {times[-1][1]:.1f} s", flush=True)
    print("\nNotebook" + " " * 32 + "seconds")
    for name, seconds in times:
        print(f"{name:<40}{seconds:>7.1f}")
    print(f"{'total':<40}{sum(s for _, s in times):>7.1f}")
    if args.out:
        print(f"\nExecuted notebooks and HTML renderings are in {args.out.resolve()}/")


if __name__ == "__main__":
    main()
