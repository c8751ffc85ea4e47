"""Notebook 05's exercises (05_discriminator_patchgan.ipynb): the seed's channel error, the receptive field,
the size of the logit map."""

from __future__ import annotations

import torch
from torch import nn

from ..models import PatchDiscriminator, receptive_field
from .checking import Wrong, call, expect_int, expect_ints
from .registry import exercise


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
