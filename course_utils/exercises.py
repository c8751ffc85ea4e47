"""Exercises a learner can check alone: 'your turn' cells with automatic feedback and solutions.

Each exercise is a code cell of its notebook. Its first line names it, its last line checks it::

    # YOUR TURN: 06.xavier_bound
    # Write the bound a of Xavier's uniform distribution U(-a, a) for a layer with these fans and gain.
    def xavier_bound(fan_in, fan_out, gain=1.0):
        raise NotImplementedError("your code here")


    check("06.xavier_bound", xavier_bound)

``check(id, answer)`` prints a short verdict (what was expected, which case failed, a hint; never the
solution) and returns True or False. A code answer is a function that the checker calls on cases of its
own; a value answer is a number, a tuple or a choice. ``solution(id)`` prints the reference solution.
With ``COURSE_SOLUTIONS=1`` a check that does not pass raises :class:`ExerciseFailed`: ``make
solutions`` runs every notebook with the reference solutions filled in and fails on the first wrong one.

The registry ``EXERCISES`` is filled by the ``@exercise`` decorators below, notebook by notebook. A
checker raises :class:`Wrong` (saying what was expected and which case failed) or :class:`NotAnswered`;
returning normally means the answer is right. Checkers compute what they expect with ``course_utils``
and PyTorch, not from stored numbers.
"""

from __future__ import annotations

import contextlib
import functools
import io
import math
import numbers
import os
import random
import re
import tempfile
import textwrap
import time
import warnings
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.nn import functional as F

from .color import denormalize_lab, lab_to_rgb, normalize_lab, normalized_to_rgb, rgb_to_lab
from .colorize import colorize_image, output_paths
from .config import get_profile
from .data import find_images
from .init import fan_in_and_out, init_weights, layer_stats
from .models import PatchDiscriminator, UNetGenerator, count_parameters, receptive_field
from .train import GANLoss, Pix2Pix, Pix2PixConfig

__all__ = ["CHECK_CALL", "EXERCISES", "MARKER", "SOLUTIONS_ENV", "Exercise", "ExerciseFailed", "check",
           "solution"]

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


# --- Helpers for checkers -----------------------------------------------------------------------------------

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


def _describe(expected: float, whole: bool = False) -> str:
    """The kind of a number, not the number: sign and order of magnitude."""
    if expected == 0:
        return "0"
    sign = "positive" if expected > 0 else "negative"
    order = math.floor(math.log10(abs(expected)))
    return f"a {sign} {'whole number' if whole else 'number'} of order 1e{order}"


def _miss(value: float, expected: float) -> str:
    """``; expected <kind>, and yours <how far off>.``, in words that do not give the answer away."""
    text = f"; expected {_describe(expected, whole=isinstance(expected, numbers.Integral))}"
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
    raise Wrong(_got(case, f"{value:.4g}{_miss(value, expected)}"))


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
        raise Wrong(_got(case, f"{got}{_miss(got, expected)}"))


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


# --- Notebook 01: judging a program by its exit status, and memory arithmetic -------------------------------

# (exit status, what nvidia-smi printed, did it succeed): the last one is a healthy GPU whose process
# list happens to contain the word "failed".
SMI_RUNS = [
    (0, "| NVIDIA-SMI 550.54.15  Driver Version: 550.54.15  CUDA Version: 12.4 |", True),
    (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", False),
    (127, "/bin/bash: line 1: nvidia-smi: command not found", False),
    (0, "|  0  N/A  N/A  4242  C  python retry_failed_jobs.py  1024MiB |", True),
]


@exercise(
    "01.exit_status",
    task="Judge nvidia-smi as section 1 recommends: return True when it succeeded. "
         "`returncode` is its exit status, `output` the text it printed.",
    name="gpu_ok",
    stub="""
        def gpu_ok(returncode, output):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def gpu_ok(returncode, output):
            return returncode == 0  # 0 is success, whatever the text says
    """,
    wrong=(
        """
        def gpu_ok(returncode, output):
            return "failed" not in output  # the seed's idea, spelt correctly
        """,
        """
        def gpu_ok(returncode, output):
            return bool(returncode)
        """,
    ),
    hint="Every program ends with a number, its exit status: 0 for success, anything else for failure. "
         "The words it prints can mislead.",
)
def _smi_exit_status(answer):
    for returncode, output, succeeded in SMI_RUNS:
        got, case = call(answer, returncode, output)
        expect_bool(got, succeeded, case)


@functools.cache
def _optimiser_bytes_per_parameter(dtype: torch.dtype) -> int:
    """Bytes that weights, gradients and Adam's state take per parameter, measured after one Adam step."""
    layer = nn.Linear(8, 8, bias=False).to(dtype)
    optimiser = torch.optim.Adam(layer.parameters(), foreach=False)
    layer(torch.ones(1, 8, dtype=dtype)).sum().backward()
    optimiser.step()
    weight = layer.weight
    tensors = [weight, weight.grad] + [t for t in optimiser.state[weight].values() if t.dim()]  # not `step`
    return sum(t.numel() * t.element_size() for t in tensors) // weight.numel()


@exercise(
    "01.training_state_gb",
    task="Write the memory, in GB (1e9 bytes), that weights, gradients and Adam's two moments take for "
         "`n_params` parameters stored with `bytes_per_number` bytes each (4 for float32).",
    name="training_state_gb",
    stub="""
        def training_state_gb(n_params, bytes_per_number=4):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def training_state_gb(n_params, bytes_per_number=4):
            numbers_per_parameter = 4  # the weight, its gradient, Adam's two moments
            return n_params * numbers_per_parameter * bytes_per_number / 1e9
    """,
    wrong=(
        """
        def training_state_gb(n_params, bytes_per_number=4):
            return n_params * bytes_per_number / 1e9  # the weights alone
        """,
        """
        def training_state_gb(n_params, bytes_per_number=4):
            return n_params * 3 * bytes_per_number / 1e9
        """,
        """
        def training_state_gb(n_params, bytes_per_number=4):
            return n_params * 4 * bytes_per_number / 2**30
        """,
    ),
    hint="Count the numbers kept per parameter (the table of section 3), times the bytes per number.",
)
def _training_state_gb(answer):
    for n_params, dtype in [(57_175_491, torch.float32), (54_409_858, torch.bfloat16), (1000, torch.float32)]:
        size = torch.empty(0, dtype=dtype).element_size()
        got, case = call(answer, n_params, size)
        value, expected = as_number(got, case), n_params * _optimiser_bytes_per_parameter(dtype) / 1e9
        if math.isclose(value, expected * 1e9 / 2**30, rel_tol=1e-6):
            raise Wrong(f"{case}: that is in GiB (2**30 bytes).", hint="The course counts GB = 1e9 bytes.")
        expect_number(value, expected, case)


@functools.cache
def _activation_bytes(batch_size: int, image_size: int) -> int:
    """Bytes of every layer output of the full profile's G and D, one forward pass (meta device: free)."""
    full, sizes = get_profile("full"), []
    with torch.device("meta"):
        G, D = UNetGenerator(num_downs=full.num_downs, ngf=full.ngf), PatchDiscriminator(ndf=full.ndf)
        for m in [*G.modules(), *D.modules()]:
            if not list(m.children()):
                m.register_forward_hook(lambda m, i, out: sizes.append(out.numel() * out.element_size()))
        L = torch.empty(batch_size, 1, image_size, image_size)
        D(torch.cat([L, G(L)], dim=1))
    return sum(sizes)


@exercise(
    "01.activation_ratio",
    task="How many times more activation memory does one forward pass of a batch of 64 images at "
         "512x512 need than a batch of 16 at 256x256 (the full profile's G and D, as above)?",
    name="ratio",
    stub="""
        ratio = ...  # a number
    """,
    solution="""
        # Activations grow with the batch (x4) and with the number of pixels (x2 x 2).
        ratio = (64 / 16) * (512 / 256) ** 2
    """,
    wrong=(
        """
        ratio = 64 / 16
        """,
        """
        ratio = (64 / 16) * (512 / 256)
        """,
    ),
    hint="Every layer's output holds batch x channels x height x width numbers. "
         "What happens to height x width when the side doubles?",
)
def _activation_ratio(answer):
    expected = _activation_bytes(64, 512) / _activation_bytes(16, 256)
    expect_number(answer, expected, rtol=0.03)  # D's borders: not exactly the ideal ratio


# --- Notebook 02: a folder with surprises, and a split that stays put ---------------------------------------

def _surprise_folder(root: Path) -> None:
    """Section 5's folder again, but the shopping list is named like a photo."""
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 220, 320)[None, :, None] + rng.integers(0, 30, (240, 320, 3))
    pixels = ramp.astype(np.uint8)
    (root / "holiday").mkdir(parents=True)
    Image.fromarray(pixels).save(root / "holiday" / "first.jpg")
    Image.fromarray(pixels.transpose(1, 0, 2).copy()).save(root / "second.png")
    (root / "shopping_list.jpg").write_text("milk, eggs")
    good = (root / "holiday" / "first.jpg").read_bytes()
    (root / "holiday" / "cut_short.jpg").write_bytes(good[: len(good) // 2])
    (root / "empty.jpg").write_bytes(b"")


@exercise(
    "02.kept_files",
    task="Rename shopping_list.txt to shopping_list.jpg in the folder above. How many of its 5 files "
         "would find_images keep now?",
    name="kept",
    stub="""
        kept = ...  # a whole number
    """,
    solution="""
        # find_images decodes every file: a text file named .jpg is still not an image.
        kept = 2
    """,
    wrong=(
        """
        kept = 3
        """,
        """
        kept = 5
        """,
    ),
    hint="find_images opens and decodes every file. Does a file's name change what is inside it?",
)
def _kept_files(answer):
    with tempfile.TemporaryDirectory() as folder, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # find_images warns about the files it skips
        _surprise_folder(Path(folder))
        expected = len(find_images(folder))
    if answer == expected + 1:
        raise Wrong(f"Got {answer}.", hint="A name ending in .jpg does not make a file an image: "
                                          "find_images looks at the content.")
    expect_int(answer, expected)


@functools.cache
def _clock_split_leak(val_fraction: float, n: int = 20_000) -> float:
    """Two unrelated random splits: the share of the second's validation set that the first trained on."""
    rng = np.random.default_rng(0)
    n_val = round(n * val_fraction)
    first, second = rng.permutation(n), rng.permutation(n)
    trained_first = np.zeros(n, dtype=bool)
    trained_first[first[n_val:]] = True
    return float(trained_first[second[:n_val]].mean())


@exercise(
    "02.leak_fraction",
    task="The seed's clock-seeded split, run twice: on average, what fraction of the second run's "
         "validation images did the first run train on? Write it for any validation fraction.",
    name="expected_leak",
    stub="""
        def expected_leak(val_fraction):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def expected_leak(val_fraction):
            # The two splits are unrelated, so each validation image of the second run was a
            # training image of the first run with the first run's training share.
            return 1 - val_fraction
    """,
    wrong=(
        """
        def expected_leak(val_fraction):
            return val_fraction
        """,
        """
        def expected_leak(val_fraction):
            return 0.5
        """,
    ),
    hint="Take one validation image of the second run. The first run's split knew nothing about the "
         "second: what is the chance that it put this image in its training set?",
)
def _leak_fraction(answer):
    for fraction in (0.25, 0.2, 0.5, 0.1):
        got, case = call(answer, fraction)
        expect_number(got, _clock_split_leak(fraction), case, rtol=0, atol=0.02)


NAMES = [f"{i:012d}.jpg" for i in range(200)]


def _split(answer, names, fraction, seed):
    result, case = call(answer, names, fraction, seed)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{case}: got {show(result)}; expected a pair (train, val) of lists of names.")
    train, val = result
    if isinstance(train, str) or isinstance(val, str):
        raise Wrong(f"{case}: got a string where a list of names was expected.")
    return list(train), list(val), case


@exercise(
    "02.deterministic_split",
    task="Write a split of file names into (train, val) that is the same on every run and every machine: "
         "it may depend on the names, `val_fraction` and `seed` only, not on the clock or the list's order.",
    name="my_split",
    stub="""
        def my_split(names, val_fraction, seed):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import random


        def my_split(names, val_fraction, seed):
            order = sorted(names)  # the same order however the names were listed
            random.Random(seed).shuffle(order)  # a private generator: no clock, no shared state
            n_val = round(len(order) * val_fraction)
            return sorted(order[n_val:]), sorted(order[:n_val])
    """,
    wrong=(
        """
        import time

        import numpy as np


        def my_split(names, val_fraction, seed):
            rng = np.random.default_rng(int(time.time()))  # the seed's clock
            order = rng.permutation(sorted(names)).tolist()
            n_val = round(len(order) * val_fraction)
            return order[n_val:], order[:n_val]
        """,
        """
        import random


        def my_split(names, val_fraction, seed):
            order = list(names)
            random.Random(seed).shuffle(order)
            n_val = round(len(order) * val_fraction)
            return order[n_val:], order[:n_val]
        """,
        """
        def my_split(names, val_fraction, seed):
            order = sorted(names)
            n_val = round(len(order) * val_fraction)
            return order[n_val:], order[:n_val]
        """,
    ),
    hint="Sort the names first, then shuffle with a generator of your own seeded by `seed` "
         "(random.Random(seed)), or rank the names by a hash of name and seed as split_paths does.",
)
def _deterministic_split(answer):
    shuffled = [NAMES[i] for i in np.random.default_rng(1).permutation(len(NAMES))]
    for fraction in (0.2, 0.25):
        train, val, case = _split(answer, shuffled, fraction, 42)
        if set(train) & set(val):
            raise Wrong(f"{case}: {len(set(train) & set(val))} names are in both parts.")
        if sorted(train + val) != sorted(NAMES):
            raise Wrong(f"{case}: train and val together should hold each of the {len(NAMES)} names once.")
        if abs(len(val) - fraction * len(NAMES)) > 1:
            raise Wrong(f"{case}: {len(val)} of {len(NAMES)} names are for validation; "
                        f"expected a share of {fraction}.")
    _, val, case = _split(answer, shuffled, 0.2, 42)
    reference = set(val)
    if set(_split(answer, shuffled, 0.2, 42)[1]) != reference:
        raise Wrong(f"Two calls of {case} gave different splits.",
                    hint="Unseeded randomness changes on every call: give your generator the seed.")
    if set(_split(answer, shuffled[::-1], 0.2, 42)[1]) != reference:
        raise Wrong("The same names listed in another order gave another split.",
                    hint="The operating system lists files in no fixed order: sort the names first.")
    later = time.time() + 3600
    with (mock.patch("time.time", return_value=later),
          mock.patch("time.time_ns", return_value=round(later * 1e9))):
        moved = set(_split(answer, shuffled, 0.2, 42)[1])
    if moved != reference:
        raise Wrong("With the clock moved on by an hour, your function gave another split.",
                    hint="That is the seed's bug: do not use the time.")
    if set(_split(answer, shuffled, 0.2, 43)[1]) == reference:
        raise Wrong("Seeds 42 and 43 gave the same validation set: the split does not depend on the seed.",
                    hint="A split should look random, and the seed should choose which random split.")


# --- Notebook 03: what a and b mean, and the networks' scaling of L and ab ----------------------------------

AXES = {
    "red": "red is the positive end of the a axis (green - red).",
    "green": "green is the negative end of the a axis (green - red).",
    "blue": "blue is the negative end of the b axis (blue - yellow).",
    "yellow": "yellow is the positive end of the b axis (blue - yellow).",
}


@exercise(
    "03.colour_cast",
    task="Keep a photo's L and set a = +60, b = 0 for every pixel. Which colour cast does the photo get: "
         '"red", "green", "blue" or "yellow"?',
    name="cast",
    stub="""
        cast = ...  # "red", "green", "blue" or "yellow"
    """,
    solution="""
        # a > 0 is the red end of the green-red axis; b = 0 adds neither blue nor yellow.
        cast = "red"
    """,
    wrong=(
        """
        cast = "green"
        """,
        """
        cast = "yellow"
        """,
    ),
    hint="Look at the colour bars of section 1: which colour is each end of the a axis?",
)
def _colour_cast(answer):
    rgb = lab_to_rgb(torch.tensor([50.0, 60.0, 0.0]).view(3, 1, 1)).flatten()
    expect_choice(answer, ("red", "green", "blue")[int(rgb.argmax())], AXES)


def _random_lab(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    """Lab values over the whole box: L in [0, 100], a and b in [-100, 100]."""
    unit = torch.rand(shape, generator=torch.Generator().manual_seed(seed))
    scale, offset = torch.tensor([100.0, 200, 200]).view(3, 1, 1), torch.tensor([0.0, 100, 100]).view(3, 1, 1)
    return unit * scale - offset


def _pair(result, case: str) -> tuple:
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{case}: got {show(result)}; expected a pair (L, ab) of tensors.")
    return result


SLICING = ("Index the channel axis from the end (lab[..., :1, :, :]), so that the same code works with "
           "and without a batch axis, and keep it (:1 rather than 0).")


@exercise(
    "03.normalize_lab",
    task="Write the networks' scaling: from Lab, shape [3, H, W] or [N, 3, H, W], return (L, ab) scaled "
         "to about [-1, 1] as the seed does, each keeping its channel axis: [1, H, W] and [2, H, W] "
         "(with N in front for a batch).",
    name="to_network",
    stub="""
        def to_network(lab):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def to_network(lab):
            L = lab[..., :1, :, :] / 50.0 - 1.0  # [0, 100] -> [-1, 1]
            ab = lab[..., 1:, :, :] / 110.0  # about [-108, 98] -> inside [-1, 1]
            return L, ab
    """,
    wrong=(
        """
        def to_network(lab):
            return lab[..., 0, :, :] / 50.0 - 1.0, lab[..., 1:, :, :] / 110.0
        """,
        """
        def to_network(lab):
            return lab[..., :1, :, :] / 100.0, lab[..., 1:, :, :] / 110.0
        """,
        """
        def to_network(lab):
            return lab[:1] / 50.0 - 1.0, lab[1:] / 110.0
        """,
    ),
    hint="L / 50 - 1 and ab / 110 (section 2). " + SLICING,
)
def _normalize_lab(answer):
    for lab in (_random_lab((3, 5, 5), 0), _random_lab((2, 3, 4, 4), 1)):
        result, case = call(answer, lab)
        L, ab = _pair(result, case)
        expected_L, expected_ab = normalize_lab(lab)
        expect_tensor(L, expected_L, f"{case}, L")
        expect_tensor(ab, expected_ab, f"{case}, ab")


@exercise(
    "03.denormalize_lab",
    task="Write the inverse: from the network's L [.., 1, H, W] and ab [.., 2, H, W], with or without a "
         "batch axis, return Lab [.., 3, H, W] with L in [0, 100].",
    name="from_network",
    stub="""
        def from_network(L, ab):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch


        def from_network(L, ab):
            return torch.cat([(L + 1.0) * 50.0, ab * 110.0], dim=-3)  # dim=-3: the channel axis
    """,
    wrong=(
        """
        import torch


        def from_network(L, ab):
            return torch.cat([L * 50.0 + 1.0, ab * 110.0], dim=-3)
        """,
        """
        import torch


        def from_network(L, ab):
            return torch.cat([(L + 1.0) * 50.0, ab * 110.0])
        """,
    ),
    hint="Undo the two steps of L / 50 - 1 in reverse order, and join the channels along the channel "
         "axis, counted from the end (dim=-3), so that a batch axis does not get in the way.",
)
def _denormalize_lab(answer):
    for lab in (_random_lab((3, 5, 5), 2), _random_lab((2, 3, 4, 4), 3)):
        L, ab = normalize_lab(lab)
        got, case = call(answer, L, ab)
        expect_tensor(got, denormalize_lab(L, ab), case, atol=1e-4)


# --- Notebook 04: convolution arithmetic, the U-Net's shapes, dropout and parameters ------------------------

@exercise(
    "04.conv_out_side",
    task="Write the side of a convolution's output for an input of side `side` (square images).",
    name="conv_out_side",
    stub="""
        def conv_out_side(side, kernel, stride, padding):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def conv_out_side(side, kernel, stride, padding):
            return (side + 2 * padding - kernel) // stride + 1  # // : no half pixels
    """,
    wrong=(
        """
        def conv_out_side(side, kernel, stride, padding):
            return side // stride
        """,
        """
        def conv_out_side(side, kernel, stride, padding):
            return (side + 2 * padding - kernel) / stride + 1
        """,
        """
        def conv_out_side(side, kernel, stride, padding):
            return (side - kernel) // stride + 1
        """,
    ),
    hint="The formula is in section 1: (in + 2 * padding - kernel) / stride + 1, rounded down.",
)
def _conv_out_side(answer):
    for side, kernel, stride, padding in [(128, 4, 2, 1), (31, 4, 1, 1), (70, 3, 1, 1), (8, 3, 2, 0)]:
        got, case = call(answer, side, kernel, stride, padding)
        with torch.device("meta"):
            conv = nn.Conv2d(1, 1, kernel, stride, padding)
            expected = conv(torch.empty(1, 1, side, side)).shape[-1]
        expect_int(got, expected, case)


def _bottleneck(image_size: int, num_downs: int, ngf: int) -> tuple[int, ...]:
    """(channels, height, width) after the U-Net's encoder, on the meta device."""
    with torch.device("meta"):
        x = torch.empty(1, 1, image_size, image_size)
        for block in UNetGenerator(num_downs=num_downs, ngf=ngf).down:
            x = block(x)
    return tuple(x.shape[1:])


@exercise(
    "04.bottleneck_shape",
    task="Write the shape (channels, height, width) of the innermost encoder output (the bottleneck) of "
         "UNetGenerator(num_downs=num_downs, ngf=ngf) for a square input of side `image_size`. The "
         "encoder's widths double from ngf and stop growing at 8 x ngf (512 for ngf = 64).",
    name="bottleneck_shape",
    stub="""
        def bottleneck_shape(image_size, num_downs, ngf):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def bottleneck_shape(image_size, num_downs, ngf):
            channels = ngf * min(2 ** (num_downs - 1), 8)  # 64, 128, 256, 512, 512, ...
            side = image_size // 2**num_downs  # every encoder layer halves the side
            return channels, side, side
    """,
    wrong=(
        """
        def bottleneck_shape(image_size, num_downs, ngf):
            side = image_size // 2**num_downs
            return ngf * 2 ** (num_downs - 1), side, side
        """,
        """
        def bottleneck_shape(image_size, num_downs, ngf):
            return 512, 1, 1
        """,
        """
        def bottleneck_shape(image_size, num_downs, ngf):
            side = image_size // 2 ** (num_downs - 1)
            return ngf * min(2 ** (num_downs - 1), 8), side, side
        """,
    ),
    hint="Follow the shape table of section 3: how many times is the side halved, and where do the "
         "channels stop doubling?",
)
def _bottleneck_shape(answer):
    for image_size, num_downs, ngf in [(256, 8, 64), (64, 6, 16), (512, 8, 64), (128, 4, 32)]:
        got, case = call(answer, image_size, num_downs, ngf)
        expected = _bottleneck(image_size, num_downs, ngf)
        expect_ints(got, expected, case, labels=("channels", "height", "width"))


def _dropout_blocks() -> list[int]:
    with torch.device("meta"):
        generator = UNetGenerator()
    return [j for j, block in enumerate(generator.up) if any(isinstance(m, nn.Dropout) for m in block)]


@exercise(
    "04.dropout_blocks",
    task="UNetGenerator().up[j] is decoder layer d(j+1) (up[7] is the output layer). List the indices j "
         "of the blocks that hold a Dropout, as in the paper.",
    name="dropout_blocks",
    stub="""
        dropout_blocks = ...  # a list of indices j, e.g. [5, 6]
    """,
    solution="""
        # The paper's CD512 layers: the three innermost decoder layers, d1, d2 and d3.
        dropout_blocks = [0, 1, 2]
    """,
    wrong=(
        """
        dropout_blocks = [1, 2, 3, 4, 5, 6]
        """,
        """
        dropout_blocks = [1, 2, 3]
        """,
    ),
    hint="The paper marks its decoder CD512-CD512-CD512-C512-C256-C128-C64: where are the CD layers?",
)
def _dropout(answer):
    if not isinstance(answer, (list, tuple, set)) or not all(isinstance(j, int) for j in answer):
        raise Wrong(f"Got {show(answer)}; expected a list of whole numbers, e.g. [5, 6].")
    expected = _dropout_blocks()
    chosen = sorted(set(answer))
    if chosen == [1, 2, 3, 4, 5, 6]:
        raise Wrong("That is the seed's choice: dropout on d2 ... d7.")
    if chosen == [j + 1 for j in expected]:
        raise Wrong("That is the PyTorch port's choice (d2 ... d4), one block off the paper's.")
    if chosen != expected:
        raise Wrong(f"Got {chosen}: {len(set(chosen) - set(expected))} of these blocks have no dropout "
                    f"in the paper, and {len(set(expected) - set(chosen))} with dropout are missing.")


@exercise(
    "04.output_layer_params",
    task="Write the number of parameters of the U-Net's output layer (UNetGenerator(...).up[-1]) for a "
         "generator of width `ngf` with `out_channels` output channels.",
    name="output_layer_params",
    stub="""
        def output_layer_params(ngf, out_channels):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def output_layer_params(ngf, out_channels):
            c_in = 2 * ngf  # d7 and the e1 skip, concatenated
            return c_in * out_channels * 4 * 4 + out_channels  # 4x4 weights, plus a bias (no BatchNorm)
    """,
    wrong=(
        """
        def output_layer_params(ngf, out_channels):
            return ngf * out_channels * 4 * 4 + out_channels
        """,
        """
        def output_layer_params(ngf, out_channels):
            return 2 * ngf * out_channels * 4 * 4
        """,
    ),
    hint="How many channels does the output layer read (think of the skip from e1), how large is its "
         "kernel, and does it have biases (section 1: no bias only before a BatchNorm)?",
)
def _output_layer_params(answer):
    for ngf, out_channels in [(64, 2), (64, 3), (16, 2)]:
        got, case = call(answer, ngf, out_channels)
        with torch.device("meta"):
            expected = count_parameters(UNetGenerator(out_channels=out_channels, ngf=ngf).up[-1])
        expect_int(got, expected, case)


# --- Notebook 05: the seed's channel error, the receptive field, the size of the logit map ------------------

@exercise(
    "05.fixed_channels",
    task="Read the error message above. Which (in_channels, out_channels) should the seed's second "
         "convolution have?",
    name="fixed_channels",
    stub="""
        fixed_channels = ...  # (in_channels, out_channels)
    """,
    solution="""
        # It receives the first convolution's 64 channels; BatchNorm2d(128) after it expects 128.
        fixed_channels = (64, 128)
    """,
    wrong=(
        """
        fixed_channels = (3, 64)
        """,
        """
        fixed_channels = (64, 64)
        """,
    ),
    hint="in_channels: what does the layer before it output? out_channels: what does the BatchNorm2d "
         "right after it expect?",
)
def _fixed_channels(answer):
    with torch.device("meta"):
        second = [m for m in PatchDiscriminator().modules() if isinstance(m, nn.Conv2d)][1]
    if isinstance(answer, (tuple, list)) and tuple(answer) == (3, 64):
        raise Wrong("(3, 64) is what the seed declared, the cause of the error.")
    expect_ints(answer, (second.in_channels, second.out_channels), labels=("in_channels", "out_channels"))


@exercise(
    "05.receptive_field",
    task="Write the receptive field of a stack of convolutions given as a list of (kernel, stride) pairs, "
         "first layer first, using the recursion of section 4.",
    name="receptive_field_of",
    stub="""
        def receptive_field_of(layers):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def receptive_field_of(layers):
            field, jump = 1, 1
            for kernel, stride in layers:
                field += (kernel - 1) * jump  # jump: input pixels between neighbouring positions
                jump *= stride
            return field
    """,
    wrong=(
        """
        def receptive_field_of(layers):
            return 1 + sum(kernel - 1 for kernel, stride in layers)
        """,
        """
        def receptive_field_of(layers):
            field, jump = 1, 1
            for kernel, stride in layers:
                jump *= stride
                field += (kernel - 1) * jump
            return field
        """,
    ),
    hint="Keep two numbers, the field and the jump (the product of the strides of the layers *before* "
         "this one); each layer adds (kernel - 1) x jump.",
)
def _receptive_field(answer):
    stacks = [[(4, 2), (4, 2), (4, 2), (4, 1), (4, 1)], [(4, 2)] * 5, [(3, 1)] * 3, [(7, 2), (3, 2), (3, 1)]]
    for layers in stacks:
        got, case = call(answer, list(layers))
        with torch.device("meta"):
            stack = nn.Sequential(*[nn.Conv2d(1, 1, kernel, stride) for kernel, stride in layers])
        expect_int(got, receptive_field(stack), case)


@exercise(
    "05.logit_map_side",
    task="Write the side of the logit map that PatchDiscriminator(n_layers=n_layers) gives for a square "
         "input of side `image_size` (n_layers stride-2 convolutions, then two stride-1 ones; kernel 4, "
         "padding 1 everywhere).",
    name="logit_map_side",
    stub="""
        def logit_map_side(image_size, n_layers=3):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def logit_map_side(image_size, n_layers=3):
            side = image_size
            for _ in range(n_layers):
                side = (side + 2 - 4) // 2 + 1  # stride 2: halves the side
            for _ in range(2):
                side = (side + 2 - 4) // 1 + 1  # stride 1, kernel 4: one pixel less
            return side
    """,
    wrong=(
        """
        def logit_map_side(image_size, n_layers=3):
            return image_size // 2**n_layers
        """,
        """
        def logit_map_side(image_size, n_layers=3):
            return image_size // 2 ** (n_layers + 2)
        """,
    ),
    hint="Apply the output-size formula of notebook 04, (in + 2 * padding - kernel) // stride + 1, "
         "layer by layer. A stride-1 convolution with kernel 4 and padding 1 is not size-preserving.",
)
def _logit_map_side(answer):
    for image_size, n_layers in [(256, 3), (64, 3), (512, 3), (256, 1), (100, 3)]:
        got, case = call(answer, image_size, n_layers)
        with torch.device("meta"):
            logits = PatchDiscriminator(ndf=8, n_layers=n_layers)(torch.empty(1, 3, image_size, image_size))
        expect_int(got, logits.shape[-1], case)


# --- Notebook 06: the variance argument, Xavier's bound, He's std, fans and modes ---------------------------

@functools.cache
def _variance_ratio(n_layers: int, gain: float, width: int = 256, batch: int = 256) -> float:
    """Var(output) / Var(input), measured through n bias-free Linear layers with Var(w) = gain^2 / fan_in."""
    torch.manual_seed(0)
    net = nn.Sequential(*[nn.Linear(width, width, bias=False) for _ in range(n_layers)]).double()
    init_weights(net, "kaiming_normal", nonlinearity="linear", gain=gain)  # std = gain / sqrt(fan_in)
    x = torch.randn(batch, width, dtype=torch.float64)
    with torch.no_grad():
        return (net(x).var() / x.var()).item()


@exercise(
    "06.variance_after_n",
    task="A stack of n_layers Linear layers, no activation and no bias, every weight drawn with "
         "Var(w) = gain^2 / fan_in. Write the predicted Var(output) / Var(input).",
    name="variance_ratio",
    stub="""
        def variance_ratio(n_layers, gain):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def variance_ratio(n_layers, gain):
            # Each layer multiplies the variance by fan_in * Var(w) = gain^2.
            return gain ** (2 * n_layers)
    """,
    wrong=(
        """
        def variance_ratio(n_layers, gain):
            return gain**n_layers
        """,
        """
        def variance_ratio(n_layers, gain):
            return n_layers * gain**2
        """,
    ),
    hint="Var(y) = fan_in x Var(w) x Var(x) for one layer: by what factor does one layer multiply the "
         "variance, and what do n such factors make?",
)
def _variance_after_n(answer):
    for n_layers, gain in [(10, 1.2), (5, 0.8), (8, 1.0), (3, 2.0)]:
        got, case = call(answer, n_layers, gain)
        expect_number(got, _variance_ratio(n_layers, gain), case, rtol=0.15)  # a measurement: 15% allowed


@functools.cache
def _xavier_uniform_max(fan_in: int, fan_out: int, gain: float) -> float:
    """The largest |w| that nn.init.xavier_uniform_ draws, over at least 200,000 draws: its bound."""
    torch.manual_seed(0)
    weight = torch.empty(fan_out, fan_in)
    draws = max(1, 200_000 // weight.numel())
    return max(nn.init.xavier_uniform_(weight, gain=gain).abs().max().item() for _ in range(draws))


@exercise(
    "06.xavier_bound",
    task="Write the bound a of Xavier's uniform distribution U(-a, a) for a layer with these fans and gain.",
    name="xavier_bound",
    stub="""
        def xavier_bound(fan_in, fan_out, gain=1.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            # Var(w) = gain^2 * 2 / (fan_in + fan_out), and U(-a, a) has variance a^2 / 3.
            return gain * math.sqrt(6 / (fan_in + fan_out))
    """,
    wrong=(
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return gain * math.sqrt(2 / (fan_in + fan_out))
        """,
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return math.sqrt(6 / (fan_in + fan_out))
        """,
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return gain * math.sqrt(6 / fan_in)
        """,
    ),
    hint="Start from Xavier's variance, gain^2 x 2 / (fan_in + fan_out); a uniform U(-a, a) has variance "
         "a^2 / 3.",
)
def _xavier_bound(answer):
    for fan_in, fan_out, gain in [(64, 128, 1.0), (1024, 512, 1.0), (256, 256, 5 / 3)]:
        got, case = call(answer, fan_in, fan_out, gain=gain)
        expect_number(got, _xavier_uniform_max(fan_in, fan_out, gain), case, rtol=1e-3)


@exercise(
    "06.he_std",
    task="Write He's (Kaiming's) standard deviation, mode fan_in, for a layer fed by a leaky ReLU of "
         "slope a (a = 0: a plain ReLU).",
    name="he_std",
    stub="""
        def he_std(fan_in, a=0.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import math


        def he_std(fan_in, a=0.0):
            gain = math.sqrt(2 / (1 + a**2))  # a ReLU keeps half the second moment, a leaky one a bit more
            return gain / math.sqrt(fan_in)
    """,
    wrong=(
        """
        import math


        def he_std(fan_in, a=0.0):
            return math.sqrt(2 / fan_in)
        """,
        """
        def he_std(fan_in, a=0.0):
            return 2 / fan_in
        """,
        """
        import math


        def he_std(fan_in, a=0.0):
            return math.sqrt(1 / fan_in)
        """,
    ),
    hint="std = gain / sqrt(fan_in), with the gain of the activation feeding the layer: sqrt(2) for a "
         "ReLU, sqrt(2 / (1 + a^2)) for a leaky ReLU (section 2.2). A std is the square root of a variance.",
)
def _he_std(answer):
    for fan_in, a in [(1024, 0.0), (4096, 0.2), (16, 0.0), (512, 0.2)]:
        got, case = call(answer, fan_in, a=a)
        expect_number(got, nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan_in), case)


@exercise(
    "06.convtranspose_fan",
    task="Which fan_in does torch.nn.init use for the weight of nn.ConvTranspose2d(256, 32, kernel_size=4)?",
    name="torch_fan_in",
    stub="""
        torch_fan_in = ...  # a whole number
    """,
    solution="""
        # The weight is stored (in, out, 4, 4) = (256, 32, 4, 4); torch.nn.init reads size(1) x taps.
        torch_fan_in = 32 * 4 * 4
    """,
    wrong=(
        """
        torch_fan_in = 256 * 4 * 4
        """,
        """
        torch_fan_in = 32
        """,
    ),
    hint="torch.nn.init reads the fans from the weight tensor as if it were a Conv2d's (section 3). "
         "How is a ConvTranspose2d weight stored?",
)
def _convtranspose_fan(answer):
    with torch.device("meta"):
        layer = nn.ConvTranspose2d(256, 32, kernel_size=4)
    if answer == fan_in_and_out(layer)[0]:
        raise Wrong(f"Got {answer}: that is the layer's true fan-in, but not what torch.nn.init reads.")
    expect_int(answer, fan_in_and_out(layer.weight)[0])


@functools.cache
def _mode_keeping_gradients() -> str:
    """Measure, in a ReLU network widening from 16 to 512 units, which mode keeps the gradients' scale."""
    widths = [round(16 * 32 ** (i / 16)) for i in range(17)]
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    net = nn.Sequential(*layers).double()
    x = torch.randn(64, widths[0], dtype=torch.float64)
    drift = {}
    for mode in ("fan_in", "fan_out"):
        torch.manual_seed(0)
        init_weights(net, "kaiming_normal", mode=mode, nonlinearity="relu")
        grads = layer_stats(net, x, kinds=(nn.ReLU,)).column("grad_std")
        drift[mode] = abs(math.log(grads[0] / grads[-1]))
    return min(drift, key=drift.get)


@exercise(
    "06.mode_for_gradients",
    task="A network whose width changes from layer to layer: you want the gradients to keep their scale "
         'all the way back to the first layer. Which Kaiming mode: "fan_in" or "fan_out"?',
    name="gradient_mode",
    stub="""
        gradient_mode = ...  # "fan_in" or "fan_out"
    """,
    solution="""
        # Backward, a gradient is a sum over the fan_out outputs a unit feeds: Var(w) = 2 / fan_out.
        gradient_mode = "fan_out"
    """,
    wrong=(
        """
        gradient_mode = "fan_in"
        """,
        """
        gradient_mode = "both"
        """,
    ),
    hint="Going forward, each output sums fan_in terms; going backward, each gradient sums fan_out terms.",
)
def _mode(answer):
    expect_choice(answer, _mode_keeping_gradients(), {
        "fan_in": "fan_in makes each layer keep the variance of the forward signal.",
        "fan_out": "fan_out makes each layer keep the variance of the gradient on its way back.",
    })


# --- Notebook 07: D's and G's losses, reading a loss value, and why G's loss does not saturate --------------

BCE, LSGAN = GANLoss("vanilla"), GANLoss("lsgan")


def _logits(seed: int, shape=(2, 1, 6, 6)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@exercise(
    "07.d_loss",
    task="Write D's loss for the logits it gave a batch of real pairs and a batch of fake pairs.",
    name="discriminator_loss",
    stub="""
        def discriminator_loss(real_logits, fake_logits):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return 0.5 * (real + fake)  # halved, as in the paper
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return real + fake
        """,
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return 0.5 * (real + fake)
        """,
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy(torch.sigmoid(real_logits), torch.ones_like(real_logits))
            fake = F.binary_cross_entropy(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits))
            return 0.5 * (real + fake)
        """,
    ),
    hint="Binary cross-entropy on the logits (F.binary_cross_entropy_with_logits): target 1 for real "
         "pairs, 0 for fake ones, and the paper's factor 1/2.",
)
def _d_loss(answer):
    cases = [(_logits(0), _logits(1)), (torch.zeros(1, 1, 30, 30), torch.zeros(1, 1, 30, 30)),
             (torch.full((1, 1, 4, 4), -120.0), torch.full((1, 1, 4, 4), 120.0))]  # D fooled completely
    for real, fake in cases:
        got, case = call(answer, real, fake)
        value = as_number(got, case)
        expected = 0.5 * (BCE(real, real=True) + BCE(fake, real=False)).item()
        swapped = 0.5 * (BCE(real, real=False) + BCE(fake, real=True)).item()
        if math.isclose(value, 2 * expected, rel_tol=1e-5):
            raise Wrong(f"{case}: got twice D's loss.", hint="The paper halves D's loss.")
        if math.isclose(value, swapped, rel_tol=1e-5) and not math.isclose(swapped, expected, rel_tol=1e-5):
            raise Wrong(f"{case}: got the loss with the targets swapped.",
                        hint="D should call real pairs real (target 1) and fake pairs fake (target 0).")
        expect_number(value, expected, case, rtol=1e-5)


@exercise(
    "07.g_loss",
    task="Write G's loss from D's logits for G's fake pairs, G's colours fake_ab and the real ones.",
    name="generator_loss",
    stub="""
        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))  # "real"
            return fool_d + lambda_l1 * F.l1_loss(fake_ab, real_ab)
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return fool_d + lambda_l1 * F.l1_loss(fake_ab, real_ab)
        """,
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return fool_d + F.l1_loss(fake_ab, real_ab)
        """,
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return fool_d + lambda_l1 * F.mse_loss(fake_ab, real_ab)
        """,
    ),
    hint="G wants D to call its pairs real (BCE on the logits with target 1), plus lambda times the mean "
         "absolute difference of the colours (F.l1_loss).",
)
def _g_loss(answer):
    generator = torch.Generator().manual_seed(2)
    fake_ab, real_ab = (torch.rand(2, 2, 8, 8, generator=generator) * 2 - 1 for _ in range(2))
    for logits, kwargs in [(_logits(3), {}), (_logits(4), {"lambda_l1": 10.0}),
                           (torch.full((2, 1, 6, 6), -120.0), {})]:  # D rejects every patch
        got, case = call(answer, logits, fake_ab, real_ab, **kwargs)
        value, l1 = as_number(got, case), kwargs.get("lambda_l1", 100.0) * F.l1_loss(fake_ab, real_ab).item()
        expected, target_0 = BCE(logits, real=True).item() + l1, BCE(logits, real=False).item() + l1
        if math.isclose(value, target_0, rel_tol=1e-5):
            raise Wrong(f"{case}: got G's loss with target 0 for its own pairs.",
                        hint="G wants D to call its pairs real: target 1.")
        expect_number(value, expected, case, rtol=1e-5)


@exercise(
    "07.lsgan_d_loss",
    task='With gan_mode="lsgan", BCE is replaced by the squared error against the targets 1 (real) and 0 '
         "(fake). What is D's loss, with the paper's 1/2, when D outputs 0.5 for every patch?",
    name="lsgan_d_loss",
    stub="""
        lsgan_d_loss = ...  # a number
    """,
    solution="""
        # Squared errors of 0.5 against 1 (real) and against 0 (fake), then halved as for BCE.
        lsgan_d_loss = 0.5 * ((0.5 - 1) ** 2 + (0.5 - 0) ** 2)
    """,
    wrong=(
        """
        import math

        lsgan_d_loss = math.log(2)
        """,
        """
        lsgan_d_loss = (0.5 - 1) ** 2 + (0.5 - 0) ** 2
        """,
    ),
    hint="Compute the squared error of 0.5 against each target, as D's BCE loss does with cross-entropies.",
)
def _lsgan(answer):
    undecided = torch.full((1, 1, 30, 30), 0.5)
    expected = 0.5 * (LSGAN(undecided, real=True) + LSGAN(undecided, real=False)).item()
    if math.isclose(as_number(answer), math.log(2), rel_tol=1e-3):
        raise Wrong("log 2 is an undecided D's loss with BCE, not with squared errors.")
    expect_number(answer, expected, rtol=1e-3)


def _g_gradients(z: float) -> tuple[float, float]:
    """d/dz of G's minimax loss log(1 - sigmoid(z)) and of its non-saturating loss -log sigmoid(z)."""
    logit = torch.tensor(z, requires_grad=True)
    minimax = -F.binary_cross_entropy_with_logits(logit, torch.tensor(0.0))  # = log(1 - sigmoid(z))
    non_saturating = F.binary_cross_entropy_with_logits(logit, torch.tensor(1.0))
    return tuple(torch.autograd.grad(loss, logit)[0].item() for loss in (minimax, non_saturating))


@exercise(
    "07.saturation",
    task="D confidently rejects a fake pair: its logit is z = -5. Compute with autograd the gradient "
         "dL/dz of G's two classic losses: the original GAN's minimax loss log(1 - sigmoid(z)) and the "
         "non-saturating loss -log sigmoid(z) = BCE(z, target 1) that pix2pix uses.",
    name="grads",
    stub="""
        grads = ...  # (minimax gradient, non-saturating gradient), two numbers
    """,
    solution="""
        import torch
        import torch.nn.functional as F

        z = torch.tensor(-5.0, requires_grad=True)
        minimax = torch.log(1 - torch.sigmoid(z))
        non_saturating = F.binary_cross_entropy_with_logits(z, torch.tensor(1.0))
        grads = (torch.autograd.grad(minimax, z)[0].item(), torch.autograd.grad(non_saturating, z)[0].item())
        # The minimax gradient is about 150 times smaller: it vanishes exactly when G is doing badly.
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F

        z = torch.tensor(-5.0, requires_grad=True)
        minimax = torch.log(1 - torch.sigmoid(z))
        non_saturating = F.binary_cross_entropy_with_logits(z, torch.tensor(1.0))
        grads = (torch.autograd.grad(non_saturating, z)[0].item(), torch.autograd.grad(minimax, z)[0].item())
        """,
        """
        import torch

        z = torch.tensor(-5.0)
        grads = (torch.sigmoid(z).item(), (1 - torch.sigmoid(z)).item())
        """,
    ),
    hint="Make z a tensor with requires_grad=True, build each loss from it, and take "
         "torch.autograd.grad(loss, z). G minimises both losses.",
)
def _saturation(answer):
    expected = _g_gradients(-5.0)
    if not isinstance(answer, (tuple, list)) or len(answer) != 2:
        raise Wrong(f"Got {show(answer)}; expected a pair of numbers (minimax, non-saturating).")
    got = tuple(as_number(g) for g in answer)
    if all(math.isclose(g, e, rel_tol=1e-3) for g, e in zip(got[::-1], expected, strict=True)):
        raise Wrong("The two numbers are swapped: the minimax gradient comes first.")
    for g, e, label in zip(got, expected, ("minimax gradient", "non-saturating gradient"), strict=True):
        expect_number(g, e, label, rtol=1e-3)


# --- Notebook 08: full resolution from a small network, output names, exit status, rotation -----------------

class _FixedColours(nn.Module):
    """A stand-in generator that answers every L with the same small ab."""

    def __init__(self, ab: torch.Tensor):
        super().__init__()
        self.ab = nn.Parameter(ab, requires_grad=False)

    def forward(self, L: torch.Tensor) -> torch.Tensor:
        return self.ab


@exercise(
    "08.full_resolution",
    task="Join a photo's full-size L [N, 1, H, W] with the small ab [N, 2, h, w] that G predicted, as "
         "colorize_image does: return network-scaled Lab [N, 3, H, W].",
    name="full_resolution",
    stub="""
        def full_resolution(L_full, ab_small):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch
        import torch.nn.functional as F


        def full_resolution(L_full, ab_small):
            ab = F.interpolate(ab_small, size=L_full.shape[-2:], mode="bilinear", align_corners=False)
            return torch.cat([L_full, ab], dim=1)  # the photo's own L keeps every detail
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F


        def full_resolution(L_full, ab_small):
            L = F.interpolate(L_full, size=ab_small.shape[-2:], mode="bilinear", align_corners=False)
            return torch.cat([L, ab_small], dim=1)
        """,
        """
        import torch
        import torch.nn.functional as F


        def full_resolution(L_full, ab_small):
            ab = F.interpolate(ab_small, size=L_full.shape[-2:], mode="nearest")
            return torch.cat([L_full, ab], dim=1)
        """,
        """
        import torch


        def full_resolution(L_full, ab_small):
            return torch.cat([L_full, ab_small], dim=1)
        """,
    ),
    hint="Upsample only the colour: F.interpolate(ab_small, size=..., mode='bilinear', align_corners=False) "
         "to L's height and width, then stack L and ab along the channels.",
)
def _full_resolution(answer):
    generator = torch.Generator().manual_seed(0)
    for height, width, small in [(48, 40, 8), (30, 64, 16)]:
        pixels = torch.randint(0, 256, (height, width, 3), dtype=torch.uint8, generator=generator)
        ab_small = torch.rand(1, 2, small, small, generator=generator) * 0.6 - 0.3
        expected = np.asarray(colorize_image(_FixedColours(ab_small), Image.fromarray(pixels.numpy()), small))
        L_full, _ = normalize_lab(rgb_to_lab(pixels.permute(2, 0, 1)[None]))
        got, case = call(answer, L_full, ab_small)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (1, 3, height, width):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else show(got)
            raise Wrong(f"{case}: got {shape}; expected a tensor of shape {(1, 3, height, width)}: "
                        "the photo's full size.")
        rgb = (normalized_to_rgb(got[:, :1], got[:, 1:])[0].permute(1, 2, 0).numpy() * 255).round()
        error = np.abs(rgb - expected).max()
        if error > 1:
            raise Wrong(f"{case}: the colours differ from colorize_image's by up to {error:.0f} grey levels.")


@exercise(
    "08.output_name",
    task="Write the name of the file that colorize_files writes for an input file name "
         "(the first one, without name clashes).",
    name="output_name",
    stub="""
        def output_name(filename):
            raise NotImplementedError("your code here")
    """,
    solution="""
        from pathlib import Path


        def output_name(filename):
            return f"{Path(filename).stem}_color.png"  # always PNG: no JPEG artefacts in the colours
    """,
    wrong=(
        """
        def output_name(filename):
            return filename + "_color.png"
        """,
        """
        def output_name(filename):
            return filename.split(".")[0] + "_color.png"
        """,
        """
        from pathlib import Path


        def output_name(filename):
            return Path(filename).stem + "_color" + Path(filename).suffix
        """,
    ),
    hint="Look at the files section 3 wrote: NAME_color.png, where NAME is the input's name without its "
         "extension (pathlib's Path(...).stem), whatever the input's format.",
)
def _output_name(answer):
    for filename in ("photo.jpg", "scan.TIFF", "my.holiday.jpeg", "IMG_0001.png"):
        got, case = call(answer, filename)
        expected = output_paths([Path(filename)], Path("colorized"))[0].name
        if got != expected:
            raise Wrong(f"{case}: got {show(got)}, which is not the name colorize_files writes.")


@functools.cache
def _colorize_exit_status() -> int:
    """Run `python -m course_utils colorize` (in this process) on two photos and one broken file."""
    from .__main__ import main  # the command line, run in this process

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        Pix2Pix(Pix2PixConfig(image_size=8, num_downs=2, ngf=4, ndf=4)).save(root / "checkpoint.pt")
        rng = np.random.default_rng(0)
        for name in ("one.png", "two.png"):
            Image.fromarray(rng.integers(0, 256, (12, 16, 3), dtype=np.uint8)).save(root / name)
        (root / "broken.jpg").write_text("not an image")
        arguments = ["colorize", "--checkpoint", str(root / "checkpoint.pt"), "--device", "cpu",
                     str(root / "one.png"), str(root / "two.png"), str(root / "broken.jpg"),
                     "--out", str(root / "out")]
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return main(arguments)


@exercise(
    "08.exit_status",
    task="`python -m course_utils colorize` gets three inputs; one is not a readable image. The other two "
         "are colorized. Which exit status does the command return?",
    name="exit_status",
    stub="""
        exit_status = ...  # a whole number
    """,
    solution="""
        # 0 only when every photo was colorized; 1: some could not be read; 2: bad arguments or paths.
        exit_status = 1
    """,
    wrong=(
        """
        exit_status = 0
        """,
        """
        exit_status = 2
        """,
    ),
    hint="A script that runs the command learns only the exit status: should it believe that everything "
         "went well? See the README's command-line section for the codes.",
)
def _cli_exit_status(answer):
    expected = _colorize_exit_status()
    meanings = {0: "0 tells the script that called the command that every photo was colorized.",
                2: "2 means the command could not do its work at all (bad arguments or paths)."}
    if isinstance(answer, int) and answer != expected and answer in meanings:
        raise Wrong(f"Got {answer}: {meanings[answer]}")
    expect_int(answer, expected)


@functools.cache
def _rotation_outcome() -> str:
    """Colour a random L upright and turned by 90 degrees with a (random) U-Net: which option happens."""
    torch.manual_seed(0)
    generator = UNetGenerator(num_downs=3, ngf=4).eval()
    L = torch.rand(1, 1, 16, 16) * 2 - 1
    with torch.no_grad():
        try:
            turned_back = generator(L.rot90(1, dims=(2, 3))).rot90(-1, dims=(2, 3))
        except (RuntimeError, ValueError):
            return "c"
        return "a" if torch.allclose(turned_back, generator(L), atol=1e-6) else "b"


@exercise(
    "08.rotated_photo",
    task="Colour a photo turned by 90 degrees, then turn the result back. What do you get?",
    name="rotated",
    stub="""
        # "a": the same colours, only rotated: G finds the objects whichever way up they are
        # "b": somewhat different colours: G's filters, learnt from upright photos, do not turn with it
        # "c": an error: a turned photo does not have the shape G accepts
        rotated = ...  # "a", "b" or "c"
    """,
    solution="""
        # A convolution's 4x4 kernels are not symmetric, and G has learnt upright photos.
        rotated = "b"
    """,
    wrong=(
        """
        rotated = "a"
        """,
        """
        rotated = "c"
        """,
    ),
    hint="Try it: colorize_image(G, photo.rotate(90, expand=True), config.image_size), then .rotate(-90).",
)
def _rotated(answer):
    expect_choice(answer, _rotation_outcome(), {
        "a": "that needs a G that treats every orientation alike, and a convolution's 4x4 filters do not "
             "turn with the image.",
        "b": "G's filters, learnt from upright photos, do not turn with the photo.",
        "c": "colorize_image resizes every photo to G's square first, whichever way up it is.",
    })
