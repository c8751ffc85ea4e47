"""Notebook 03's exercises (03_lab_preprocessing.ipynb): what a and b mean, and the networks' scaling of L
and ab."""

from __future__ import annotations

import torch

from ..color import denormalize_lab, lab_to_rgb, normalize_lab
from .checking import Wrong, call, expect_choice, expect_tensor, show
from .registry import exercise

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
