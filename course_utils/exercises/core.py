"""The machinery behind the exercises: the registry, ``check``, ``solution`` and the checkers' helpers.

A checker receives the learner's answer and raises :class:`Wrong` (with a message that says what was
expected and which case failed) or :class:`NotAnswered`; returning normally means the answer is right.
Checkers compute what they expect with ``course_utils`` and PyTorch, not from stored numbers.
"""

from __future__ import annotations

import math
import numbers
import os
import random
import re
import textwrap
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

SOLUTIONS_ENV = "COURSE_SOLUTIONS"  # set (to anything but 0): a check that does not pass raises
MARKER = "# YOUR TURN: "  # the first line of every exercise cell, followed by the exercise's id
CHECK_CALL = re.compile(r"""\bcheck\(\s*["']([^"']*)["']""")  # check("06.xavier_bound", ...) -> the id


class Wrong(Exception):
    """The answer is not right. The message says why; ``hint``, if given, replaces the exercise's hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class NotAnswered(Exception):
    """The answer is still the cell's placeholder: ``...``, ``None`` or ``raise NotImplementedError``."""


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
        return f'check("{self.id}", {self.name})'

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


def get(exercise_id: str) -> Exercise:
    """The registered exercise, or a KeyError that lists the notebook's exercises."""
    if exercise_id in EXERCISES:
        return EXERCISES[exercise_id]
    same = [i for i in EXERCISES if i[:2] == str(exercise_id)[:2]]
    listed = f"; notebook {same[0][:2]} has {', '.join(same)}" if same else ""
    raise KeyError(f"No exercise {exercise_id!r}{listed}.")


def check(exercise_id: str, answer) -> bool:
    """Check an answer: print a short verdict (never the solution) and return True when it is right."""
    ex = get(exercise_id)
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
    ex = get(exercise_id)
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


# --- Helpers for checkers ----------------------------------------------------------------------------

def _one_line(err: BaseException) -> str:
    text = (str(err).strip().splitlines() or [""])[0]
    text = text if len(text) <= 160 else text[:157] + "..."
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def show(x) -> str:
    """A short description of a value, for verdicts: tensors by shape, long values cut."""
    if isinstance(x, torch.Tensor):
        return f"tensor{list(x.shape)}" if x.dim() else f"tensor({x.item():.4g})"
    if isinstance(x, (list, tuple)) and len(x) > 6:
        return f"[{len(x)} items]"
    text = repr(x)
    return text if len(text) <= 60 else text[:57] + "..."


def _kind(x) -> str:
    return f"a function ({getattr(x, '__name__', '?')})" if callable(x) else f"{type(x).__name__} {show(x)}"


def call(function, *args, **kwargs):
    """Run the learner's ``function(*args, **kwargs)``; return ``(result, case)``, ``case`` naming the call.

    Tensor arguments are copied (the learner may change them in place). ``NotImplementedError`` means
    not answered yet; any other error becomes a one-line verdict.
    """
    if not callable(function):
        raise Wrong(f"Expected a function, got {_kind(function)}.",
                    hint="Pass the function itself, without calling it: check(id, my_function).")
    name = getattr(function, "__name__", "<lambda>")
    shown = [show(a) for a in args] + [f"{k}={show(v)}" for k, v in kwargs.items()]
    case = f"{name if name != '<lambda>' else 'your function'}({', '.join(shown)})"
    args = tuple(a.clone() if isinstance(a, torch.Tensor) else a for a in args)
    try:
        result = function(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered from None
    except Exception as err:
        raise Wrong(f"{case} raised {_one_line(err)}") from None
    if result is Ellipsis:
        raise NotAnswered
    if result is None:
        raise Wrong(f"{case} returned None.", hint="Did you forget `return`?")
    return result, case


def _got(case: str, text: str) -> str:
    return f"{case}: got {text}" if case else f"Got {text}"


def describe(expected: float, whole: bool = False) -> str:
    """The kind of a number, not the number: sign and order of magnitude."""
    if expected == 0:
        return "0"
    sign = "positive" if expected > 0 else "negative"
    order = math.floor(math.log10(abs(expected)))
    return f"a {sign} {'whole number' if whole else 'number'} of order 1e{order}"


def miss(value: float, expected: float) -> str:
    """``; expected <kind>, and yours <how far off>.``, in words that do not give the answer away."""
    text = f"; expected {describe(expected, whole=isinstance(expected, numbers.Integral))}"
    if value == 0 or expected == 0:
        return text + "."
    if (value > 0) != (expected > 0):
        return text + ", and yours has the wrong sign."
    ratio = value / expected
    word = "large" if ratio > 1 else "small"
    spread = max(ratio, 1 / ratio)
    if spread > 10:
        return text + f", and yours is too {word} by more than a factor of 10."
    return text + (f", and yours is too {word}." if spread > 1.1 else f", and yours is slightly too {word}.")


def as_number(x, case: str = "") -> float:
    """A real number from a float, an int, a NumPy scalar or a one-element tensor; else Wrong."""
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise Wrong(_got(case, f"a tensor of shape {tuple(x.shape)}; expected a single number."),
                        hint="Reduce it to one number, e.g. with .mean(), or return a float.")
        x = x.item()
    if x is Ellipsis:
        raise NotAnswered
    if isinstance(x, (bool, np.bool_)) or not isinstance(x, numbers.Real):
        raise Wrong(_got(case, f"{_kind(x)}; expected a number."))
    return float(x)


def expect_number(got, expected: float, case: str = "", rtol: float = 1e-6, atol: float = 1e-12) -> None:
    value = as_number(got, case)
    if math.isclose(value, expected, rel_tol=rtol, abs_tol=atol):
        return
    if not math.isfinite(value):
        raise Wrong(_got(case, f"{value}; expected a finite number."))
    raise Wrong(_got(case, f"{value:.4g}{miss(value, expected)}"))


def expect_int(got, expected: int, case: str = "") -> None:
    if isinstance(got, torch.Tensor) and got.numel() == 1:
        got = got.item()
    if got is Ellipsis:
        raise NotAnswered
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Integral):
        raise Wrong(_got(case, f"{_kind(got)}; expected a whole number (an int)."),
                    hint="Sizes and counts are whole numbers: // divides and rounds down." if isinstance(
                        got, numbers.Real) else None)
    if got != expected:
        raise Wrong(_got(case, f"{got}{miss(got, expected)}"))


def expect_ints(got, expected: tuple[int, ...], case: str = "", labels: tuple[str, ...] = ()) -> None:
    """A sequence of whole numbers (tuple, list or torch.Size), compared one by one."""
    if not isinstance(got, (tuple, list, torch.Size)):
        raise Wrong(_got(case, f"{_kind(got)}; expected a tuple of {len(expected)} whole numbers"
                               f"{' (' + ', '.join(labels) + ')' if labels else ''}."))
    if len(got) != len(expected):
        raise Wrong(_got(case, f"{len(got)} numbers; expected {len(expected)}"
                               f"{' (' + ', '.join(labels) + ')' if labels else ''}."))
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        label = labels[i] if labels else f"number {i + 1}"
        expect_int(g, e, f"{case}, {label}" if case else label)


def expect_bool(got, expected: bool, case: str = "") -> None:
    if not isinstance(got, (bool, np.bool_)):
        raise Wrong(_got(case, f"{_kind(got)}; expected True or False."))
    if bool(got) != expected:
        raise Wrong(_got(case, f"{bool(got)}; expected {expected} in this case."))


def expect_tensor(got, expected: torch.Tensor, case: str = "", atol: float = 1e-5) -> None:
    """A float tensor of the expected shape whose values agree within ``atol``."""
    shape = tuple(expected.shape)
    if not isinstance(got, torch.Tensor):
        raise Wrong(_got(case, f"{_kind(got)}; expected a tensor of shape {shape}."))
    if tuple(got.shape) != shape:
        raise Wrong(_got(case, f"a tensor of shape {tuple(got.shape)}; expected shape {shape}."))
    if not got.is_floating_point():
        raise Wrong(_got(case, f"a {got.dtype} tensor; expected floating-point values."))
    got = got.detach().double().cpu()
    if not torch.isfinite(got).all():
        raise Wrong(_got(case, "a tensor holding NaN or infinity."))
    expected = expected.detach().double().cpu()
    error = (got - expected).abs().max().item()
    if error > atol:
        raise Wrong(_got(case, f"the right shape, but values off by up to {error:.3g}: yours span "
                               f"[{got.min():.3g}, {got.max():.3g}], expected [{expected.min():.3g}, "
                               f"{expected.max():.3g}]."))


def expect_choice(got, expected: str, options: dict[str, str]) -> None:
    """One of ``options`` (case and spaces ignored); a wrong option gets its own explanation."""
    key = got.strip().lower() if isinstance(got, str) else got
    if key not in options:
        raise Wrong(f"Got {show(got)}; expected one of {', '.join(map(repr, options))}.")
    if key != expected:
        raise Wrong(f"{key!r} is not it: {options[key]}")
