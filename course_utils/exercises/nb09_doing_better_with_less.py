"""Notebook 09's exercises (09_doing_better_with_less.ipynb): a result over seeds, and the verdict it
supports."""

from __future__ import annotations

import functools

import numpy as np

from .checking import Wrong, call, expect_bool, expect_number, show
from .registry import exercise


def _cases(seed: int = 9) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(20, 2, n).round(2) for n in (3, 4, 5, 7)] + [np.array([21.0, 21.0, 21.0])]


@exercise(
    "09.mean_spread",
    task="Return the mean and the spread (the sample standard deviation, which divides by n - 1) of one "
         "measure over several seeds.",
    name="mean_spread",
    stub="""
        def mean_spread(values):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import numpy as np


        def mean_spread(values):
            values = np.asarray(values, dtype=float)
            return values.mean(), values.std(ddof=1)  # n - 1: the mean was estimated from the same values
    """,
    wrong=(
        """
        import numpy as np


        def mean_spread(values):
            return np.mean(values), np.std(values)
        """,
        """
        def mean_spread(values):
            return sum(values) / len(values), max(values) - min(values)
        """,
    ),
    hint="numpy's std divides by n unless you pass ddof=1; with 3 seeds that makes the spread look 18% "
         "smaller than the sample standard deviation.",
)
def _mean_spread(answer):
    for values in _cases():
        for given in (values, list(values)):
            got, case = call(answer, given)
            if not isinstance(got, (tuple, list)) or len(got) != 2:
                raise Wrong(f"{case}: got {show(got)}; expected two numbers, (mean, spread).")
            expect_number(got[0], float(np.mean(values)), f"{case}, mean", rtol=1e-9)
            expect_number(got[1], float(np.std(values, ddof=1)), f"{case}, spread", rtol=1e-9, atol=1e-9)


@exercise(
    "09.beats_gray",
    task="Given one measure (lower is better, e.g. CIEDE2000) for each seed and gray's value, return True "
         "only if the model beats gray in every seed.",
    name="beats_gray",
    stub="""
        def beats_gray(per_seed, gray):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def beats_gray(per_seed, gray):
            return all(value < gray for value in per_seed)  # every seed: a mean can hide a bad one
    """,
    wrong=(
        """
        import numpy as np


        def beats_gray(per_seed, gray):
            return np.mean(per_seed) < gray
        """,
        """
        def beats_gray(per_seed, gray):
            return any(value < gray for value in per_seed)
        """,
        """
        def beats_gray(per_seed, gray):
            return all(value <= gray for value in per_seed)
        """,
    ),
    hint="A claim about the method must hold for every seed: a mean below gray can hide a seed above it.",
)
def _beats_gray(answer):
    cases = [([16.0, 16.5, 16.9], 17.0, True), ([15.0, 15.2, 17.3], 17.0, False),  # the mean is below gray
             ([17.5, 16.0, 18.0], 17.0, False), ([16.0, 17.0, 16.5], 17.0, False),  # a tie does not beat
             ([18.0, 19.0, 20.0, 21.0], 17.0, False), ([10.0, 11.0, 12.0, 13.0], 17.0, True)]
    for per_seed, gray, expected in cases:
        got, case = call(answer, per_seed, gray)
        expect_bool(got, expected, case)


@functools.cache
def _encoder_share() -> float:
    from ..models import count_parameters, resnet18_unet

    G = resnet18_unet(64)
    return count_parameters(G[0]) / count_parameters(G)  # DynamicUnet's first layer is the encoder


@exercise(
    "09.encoder_share",
    task="What share of the ResNet-18 U-Net's learnable numbers do the ImageNet weights set (a number "
         "between 0 and 1)? Count them as section 3 does.",
    name="encoder_share",
    stub="""
        encoder_share = ...  # a number between 0 and 1
    """,
    solution="""
        from course_utils.models import count_parameters, resnet18_unet

        # The encoder is G[0]; DynamicUnet's decoder, the larger part, starts from random weights.
        G_resnet = resnet18_unet(64)
        encoder_share = count_parameters(G_resnet[0]) / count_parameters(G_resnet)
    """,
    wrong=(
        """
        encoder_share = 1.0
        """,
        """
        from course_utils.models import count_parameters, resnet18_unet

        G_resnet = resnet18_unet(64)
        encoder_share = count_parameters(G_resnet) / count_parameters(G_resnet[0])
        """,
    ),
    hint="G_resnet[0] is the ResNet-18 body (the encoder); count_parameters counts a module's numbers.",
)
def _encoder_share_check(answer):
    expect_number(answer, _encoder_share(), rtol=0.01)
