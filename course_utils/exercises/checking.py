"""What a checker uses: the verdicts it raises (:class:`Wrong`, :class:`NotAnswered`), :func:`call` to run a
learner's function on a case, and ``expect_*`` comparisons whose messages never give the answer away."""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch


class Wrong(Exception):
    """The answer is not right. The message says why; ``hint``, if given, replaces the exercise's hint."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class NotAnswered(Exception):
    """The answer is still the cell's placeholder: ``...``, ``None`` or ``raise NotImplementedError``."""


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


def _scalar(x, case: str = ""):
    """A one-element tensor or NumPy array as a Python number; anything else unchanged."""
    if isinstance(x, (torch.Tensor, np.ndarray)):
        if x.size == 1 if isinstance(x, np.ndarray) else x.numel() == 1:
            return x.item()
        raise Wrong(_got(case, f"{'a tensor' if isinstance(x, torch.Tensor) else 'an array'} of shape "
                               f"{tuple(x.shape)}; expected a single number."),
                    hint="Reduce it to one number, e.g. with .mean(), or return a float.")
    return x


def as_number(x, case: str = "") -> float:
    """A real number from a float, an int, a NumPy scalar or a one-element tensor or array; else Wrong."""
    x = _scalar(x, case)
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
    got = _scalar(got, case)
    if got is Ellipsis:
        raise NotAnswered
    if isinstance(got, (bool, np.bool_)) or not isinstance(got, numbers.Integral):
        raise Wrong(_got(case, f"{_kind(got)}; expected a whole number (an int)."),
                    hint="Sizes and counts are whole numbers: // divides and rounds down." if isinstance(
                        got, numbers.Real) else None)
    if got != expected:
        raise Wrong(_got(case, f"{got}{_miss(got, expected)}"))


def expect_ints(got, expected: tuple[int, ...], case: str = "", labels: tuple[str, ...] = ()) -> None:
    """A sequence of whole numbers (tuple, list, torch.Size, 1-d array or tensor), compared one by one."""
    if isinstance(got, (np.ndarray, torch.Tensor)) and got.ndim == 1:
        got = got.tolist()
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
    got = _scalar(got, case)
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
    if got is Ellipsis:
        raise NotAnswered
    if not isinstance(got, str):
        raise Wrong(f"Got {_kind(got)}; expected one of {', '.join(map(repr, options))} (a string).")
    key = got.strip().lower()
    if key not in options:
        raise Wrong(f"Got {show(got)}; expected one of {', '.join(map(repr, options))}.")
    if key != expected:
        raise Wrong(f"{key!r} is not it: {options[key]}")
