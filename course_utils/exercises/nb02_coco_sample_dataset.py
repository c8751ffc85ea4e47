"""Notebook 02's exercises (02_coco_sample_dataset.ipynb): a folder with surprises, and a split that stays
put."""

from __future__ import annotations

import functools
import json
import marshal
import numbers
import os
import pickle
import subprocess
import sys
import tempfile
import time
import types
import warnings
from pathlib import Path
from unittest import mock

import numpy as np
from PIL import Image

from ..data import find_images
from .checking import Wrong, call, expect_int, expect_number, show
from .registry import exercise


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
    if isinstance(answer, numbers.Integral) and answer == expected + 1:
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


def _portable(function, depth: int = 0):
    """What another Python process needs to rebuild ``function``: its code, defaults, closure and the
    globals it names (modules by name, functions likewise, other values pickled); None if that fails."""
    if depth > 3:
        return None
    code, names = function.__code__, set()
    stack = [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack += [k for k in c.co_consts if isinstance(k, types.CodeType)]
    needed = {}
    for name in sorted(names & set(function.__globals__)):
        value = function.__globals__[name]
        if isinstance(value, types.ModuleType):
            needed[name] = ("module", value.__name__)
        elif isinstance(value, types.FunctionType):
            rebuilt = _portable(value, depth + 1)
            if rebuilt is None:
                return None
            needed[name] = ("function", rebuilt)
        else:
            needed[name] = ("value", value)
    closure = tuple(cell.cell_contents for cell in function.__closure__ or ())
    payload = (marshal.dumps(code), function.__defaults__, function.__kwdefaults__, closure, needed)
    try:
        pickle.dumps(payload)
    except Exception:  # a global no other process can rebuild: the check skips this part
        return None
    return payload


# Run by a child process (standard library only, so it starts fast): rebuild the learner's function from
# _portable's payload, split, print the validation names as JSON.
_CHILD = """
import importlib, json, marshal, pickle, sys, types


def rebuild(payload):
    code, defaults, kwdefaults, closure, needed = payload
    namespace = {"__builtins__": __builtins__}
    for name, (kind, value) in needed.items():
        namespace[name] = (importlib.import_module(value) if kind == "module"
                           else rebuild(value) if kind == "function" else value)
    function = types.FunctionType(marshal.loads(code), namespace, None, defaults,
                                  tuple(types.CellType(v) for v in closure) or None)
    function.__kwdefaults__ = kwdefaults
    return function


payload, arguments = pickle.loads(sys.stdin.buffer.read())
print(json.dumps(sorted(str(name) for name in rebuild(payload)(*arguments)[1])))
"""


def _validation_sets_in_other_processes(answer, arguments, hash_seeds=("1", "2")) -> list[list[str]] | None:
    """The validation names that ``answer(*arguments)`` gives in fresh processes, one per PYTHONHASHSEED
    (run side by side); None when the function cannot be rebuilt elsewhere or a process fails."""
    payload = _portable(answer)
    if payload is None:
        return None
    data = pickle.dumps((payload, arguments))
    command = [sys.executable, "-c", _CHILD]
    runs = [subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONHASHSEED": seed})
            for seed in hash_seeds]
    try:
        outputs = [run.communicate(data, timeout=60)[0] for run in runs]
    except subprocess.TimeoutExpired:  # a function that never returns: no verdict from this part
        for run in runs:
            run.kill()
            run.communicate()
        return None
    if any(run.returncode for run in runs):
        return None
    return [json.loads(out) for out in outputs]


def _split(answer, names, fraction, seed):
    result, case = call(answer, names, fraction, seed)
    if not isinstance(result, (tuple, list)) or len(result) != 2:
        raise Wrong(f"{case}: got {show(result)}; expected a pair (train, val) of lists of names.")
    train, val = result
    if isinstance(train, str) or isinstance(val, str):
        raise Wrong(f"{case}: got a string where a list of names was expected.")
    try:
        train, val = list(train), list(val)
    except TypeError:
        raise Wrong(f"{case}: got {show(result)}; expected a pair (train, val) of lists of names.") from None
    if not all(isinstance(name, str) for name in train + val):
        raise Wrong(f"{case}: got {show(result)}; expected two lists of names (strings).")
    return train, val, case


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
        """
        def my_split(names, val_fraction, seed):
            order = sorted(names, key=lambda name: hash((name, seed)))  # salted per process
            n_val = round(len(order) * val_fraction)
            return sorted(order[n_val:]), sorted(order[:n_val])
        """,
    ),
    hint="Sort the names first, then shuffle with a generator of your own seeded by `seed` "
         "(random.Random(seed)), or rank the names by a SHA-256 digest of seed and name as split_paths does.",
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
    elsewhere = _validation_sets_in_other_processes(answer, (shuffled, 0.2, 42))
    if elsewhere is not None and elsewhere[0] != elsewhere[1]:
        raise Wrong("Run in two fresh Python processes, your function gave two different splits.",
                    hint="Python's hash() of a string is salted afresh in every process (PYTHONHASHSEED), so "
                         "anything ordered by hash(), or by a set's order, changes from run to run. Use "
                         "random.Random(seed) on the sorted names, or a digest that never changes, e.g. "
                         "hashlib.sha256(f'{seed}:{name}'.encode()).hexdigest().")
