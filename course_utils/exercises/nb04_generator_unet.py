"""Notebook 04's exercises (04_generator_unet.ipynb): convolution arithmetic, the U-Net's shapes, dropout and
parameters."""

from __future__ import annotations

import numbers
import random

import numpy as np
import torch
from torch import nn

from ..models import UNetGenerator, count_parameters
from .checking import Wrong, call, expect_int, expect_ints, show
from .registry import exercise


def _conv_cases() -> list[tuple[int, int, int, int]]:
    """Fixed cases (the course's layers; (s + 2p - k) / stride ending in .5 with an even and an odd whole
    part, where rounding and rounding down differ), then random ones: a lookup cannot know them."""
    cases = [(128, 4, 2, 1), (31, 4, 1, 1), (70, 3, 1, 1), (7, 4, 2, 0), (9, 4, 2, 0), (11, 4, 2, 0)]
    rng = random.Random()  # fresh cases at every check
    while len(cases) < 14:
        kernel, stride, padding = rng.randint(1, 7), rng.randint(1, 4), rng.randint(0, 3)
        side = rng.randint(max(1, kernel - 2 * padding), 300)
        cases.append((side, kernel, stride, padding))
    return cases


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
        """
        def conv_out_side(side, kernel, stride, padding):
            return round((side + 2 * padding - kernel) / stride) + 1
        """,
        """
        def conv_out_side(side, kernel, stride, padding):
            return {128: 64, 31: 30, 70: 70, 8: 3}[side]  # the sides tried before
        """,
    ),
    hint="The formula is in section 1: (in + 2 * padding - kernel) / stride + 1, rounded down. The cases "
         "change at every check: write the formula, not a table of sides.",
)
def _conv_out_side(answer):
    for side, kernel, stride, padding in _conv_cases():
        got, case = call(answer, side, kernel, stride, padding)
        with torch.device("meta"):
            conv = nn.Conv2d(1, 1, kernel, stride, padding)
            expected = conv(torch.empty(1, 1, side, side)).shape[-1]
        span = side + 2 * padding - kernel
        if isinstance(got, numbers.Integral) and got == expected + 1 and span % stride:
            raise Wrong(f"{case}: got {got}, one too many.",
                        hint=f"Here (in + 2 * padding - kernel) / stride = {span / stride}: a window that "
                             "does not fit whole is dropped, so round down (//), never to the nearest "
                             "(round() takes 1.5 up to 2).")
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
        """
        def bottleneck_shape(image_size, num_downs, ngf):
            side = image_size // 2**num_downs
            return 8 * ngf, side, side  # as if the widths had always reached 8 x ngf
        """,
    ),
    hint="Follow the shape table of section 3: how many times is the side halved, and where do the "
         "channels stop doubling?",
)
def _bottleneck_shape(answer):
    for image_size, num_downs, ngf in [(256, 8, 64), (64, 6, 16), (512, 8, 64), (128, 4, 32), (64, 3, 16),
                                       (32, 2, 8)]:
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
        """
        dropout_blocks = [False, True, 2]  # False == 0 and True == 1 in Python
        """,
    ),
    hint="The paper marks its decoder CD512-CD512-CD512-C512-C256-C128-C64: where are the CD layers?",
)
def _dropout(answer):
    if isinstance(answer, (np.ndarray, torch.Tensor)) and answer.ndim == 1:
        answer = answer.tolist()
    if not isinstance(answer, (list, tuple, set, range)) or not all(isinstance(j, numbers.Integral)
                                                                     for j in answer):
        raise Wrong(f"Got {show(answer)}; expected a list of whole numbers, e.g. [5, 6].")
    if any(isinstance(j, (bool, np.bool_)) for j in answer):
        raise Wrong(f"Got {show(answer)}: True and False are not indices, even though Python lets them "
                    "pass for 1 and 0.", hint="Write the indices j as whole numbers, e.g. [5, 6].")
    answer = [int(j) for j in answer]
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
