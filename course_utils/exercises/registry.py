"""The registry of exercises and what a notebook calls: :func:`check` and :func:`solution`, the
:class:`Exercise` record, the ``@exercise`` decorator that fills ``EXERCISES``, and the markers of a cell."""

from __future__ import annotations

import os
import random
import re
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from .checking import NotAnswered, Wrong, _one_line

SOLUTIONS_ENV = "COURSE_SOLUTIONS"  # set (to anything but 0): a check that does not pass raises
MARKER = "# YOUR TURN: "  # the first line of every exercise cell, followed by the exercise's id
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([^"']*)["']""")  # check("06.xavier_bound", ...) -> the id


class ExerciseFailed(AssertionError):
    """A check did not pass while ``COURSE_SOLUTIONS`` was set (e.g. by ``make solutions``)."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: what to do, the learner's starting point, the reference and typical wrong answers."""

    id: str  # "NN.short_name", NN the notebook
    task: str  # one or two sentences: what to do
    name: str  # the function or value the cell defines and passes to check()
    stub: str  # the learner's starting point (source)
    solution: str  # the reference solution (source), defining `name`
    wrong: tuple[str, ...]  # typical wrong answers (source), each defining `name`
    checker: Callable[[object], None]
    hint: str  # shown with a wrong answer unless the checker gives a sharper one

    @property
    def notebook(self) -> str:
        return self.id[:2]

    @property
    def kind(self) -> str:
        """``code``: a function the checker calls on its own cases; ``value``: a number, a choice, ..."""
        return "code" if f"def {self.name}(" in self.solution else "value"

    @property
    def check_line(self) -> str:
        """The cell's last line; the semicolon keeps Jupyter from echoing check's True/False under the
        verdict it prints."""
        return f'check("{self.id}", {self.name});'

    def cell(self, solved: bool = False) -> str:
        """The notebook cell: the learner's stub or, ``solved``, the reference solution, then the check."""
        task = textwrap.fill(self.task, 100, initial_indent="# ", subsequent_indent="# ",
                             break_on_hyphens=False)
        gap = "\n\n\n" if self.kind == "code" else "\n\n"  # two blank lines after a function (PEP 8)
        return f"{MARKER}{self.id}\n{task}\n{self.solution if solved else self.stub}{gap}{self.check_line}\n"


EXERCISES: dict[str, Exercise] = {}


def exercise(exercise_id: str, *, task: str, name: str, stub: str, solution: str, wrong: tuple[str, ...],
             hint: str):
    """Decorator: register the decorated function as the checker of a new exercise."""

    def register(checker):
        if exercise_id in EXERCISES:
            raise ValueError(f"Exercise {exercise_id!r} is registered twice.")
        EXERCISES[exercise_id] = Exercise(exercise_id, task, name, _source(stub), _source(solution),
                                          tuple(_source(w) for w in wrong), checker, hint)
        return checker

    return register


def _source(text: str) -> str:
    return textwrap.dedent(text).strip()


def _lookup(exercise_id: str) -> Exercise:
    """The registered exercise, or a KeyError that lists the notebook's exercises."""
    if exercise_id in EXERCISES:
        return EXERCISES[exercise_id]
    same = [i for i in EXERCISES if i[:2] == str(exercise_id)[:2]]
    listed = f"; notebook {same[0][:2]} has {', '.join(same)}" if same else ""
    raise KeyError(f"No exercise {exercise_id!r}{listed}.")


def check(exercise_id: str, answer) -> bool:
    """Check an answer: print a short verdict (never the solution) and return True when it is right."""
    ex = _lookup(exercise_id)
    try:
        if answer is None or answer is Ellipsis:
            raise NotAnswered
        with _random_state_kept():
            ex.checker(answer)
    except NotAnswered:
        passed = False
        verdict = (f"○ {ex.id}: not answered yet. Replace the `...` or the `raise NotImplementedError` "
                   f"with your answer, then run the cell again. Stuck? solution(\"{ex.id}\") shows one.")
    except Wrong as wrong:
        passed, verdict = False, f"✗ {ex.id}: not yet. {wrong}\n  Hint: {wrong.hint or ex.hint}"
    except Exception as err:  # an answer no checker foresaw: still one line, never a traceback
        passed = False
        verdict = f"✗ {ex.id}: your answer could not be checked ({_one_line(err)}).\n  Hint: {ex.hint}"
    else:
        passed, verdict = True, f"✓ {ex.id}: correct."
    print(verdict)
    if not passed and os.environ.get(SOLUTIONS_ENV, "0") not in ("", "0"):
        raise ExerciseFailed(verdict)
    return passed


def solution(exercise_id: str) -> None:
    """Print the reference solution of an exercise (try first: a wrong answer gets a hint)."""
    ex = _lookup(exercise_id)
    print(f"{ex.id}: {ex.task}\nReference solution:\n\n{ex.solution}")


@contextmanager
def _random_state_kept():
    """Checkers draw random numbers; the notebook's own random sequence must not notice."""
    python, numpy_state, torch_state = random.getstate(), np.random.get_state(), torch.get_rng_state()
    try:
        yield
    finally:
        random.setstate(python)
        np.random.set_state(numpy_state)
        torch.set_rng_state(torch_state)
