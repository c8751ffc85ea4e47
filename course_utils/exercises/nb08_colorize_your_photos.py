"""Notebook 08's exercises (08_colorize_your_photos.ipynb): full resolution from a small network, output
names, exit status, rotation."""

from __future__ import annotations

import contextlib
import functools
import io
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from ..color import normalize_lab, normalized_to_rgb, rgb_to_lab
from ..colorize import colorize_image, output_paths
from ..models import UNetGenerator
from ..train import Pix2Pix, Pix2PixConfig
from .checking import Wrong, call, expect_choice, expect_int, show
from .registry import exercise


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
        """
        import torch
        import torch.nn.functional as F


        def full_resolution(L_full, ab_small):
            ab = F.interpolate(ab_small[:1], size=L_full.shape[-2:], mode="bilinear", align_corners=False)
            return torch.cat([L_full, ab.expand(len(L_full), -1, -1, -1)], dim=1)  # the first photo's ab
        """,
    ),
    hint="Upsample only the colour: F.interpolate(ab_small, size=..., mode='bilinear', align_corners=False) "
         "to L's height and width, then stack L and ab along the channels.",
)
def _full_resolution(answer):
    generator = torch.Generator().manual_seed(0)
    for batch, height, width, small in [(1, 48, 40, 8), (3, 30, 64, 16)]:  # several photos, one size
        pixels = torch.randint(0, 256, (batch, height, width, 3), dtype=torch.uint8, generator=generator)
        ab_small = torch.rand(batch, 2, small, small, generator=generator) * 0.6 - 0.3
        expected = np.stack([np.asarray(colorize_image(_FixedColours(ab_small[i:i + 1]),
                                                       Image.fromarray(pixels[i].numpy()), small))
                             for i in range(batch)])
        L_full, _ = normalize_lab(rgb_to_lab(pixels.permute(0, 3, 1, 2)))
        got, case = call(answer, L_full, ab_small)
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != (batch, 3, height, width):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else show(got)
            raise Wrong(f"{case}: got {shape}; expected a tensor of shape {(batch, 3, height, width)}: "
                        "every photo of the batch, at its full size.")
        rgb = (normalized_to_rgb(got[:, :1], got[:, 1:]).permute(0, 2, 3, 1).numpy() * 255).round()
        error = np.abs(rgb - expected).max(axis=(1, 2, 3))
        if error.max() > 1:
            worst = int(error.argmax())
            raise Wrong(f"{case}: the colours of photo {worst} of the batch differ from colorize_image's by "
                        f"up to {error[worst]:.0f} grey levels.",
                        hint=None if worst == 0 else "Each photo of the batch has its own L and its own ab: "
                                                     "treat the whole batch, not its first photo.")


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
        if isinstance(got, os.PathLike):  # a Path is a file name too
            got = os.fspath(got)
        if not isinstance(got, str):
            raise Wrong(f"{case}: got {show(got)}; expected a file name (a str or a Path).")
        if got != expected:
            raise Wrong(f"{case}: got {show(got)}, which is not the name colorize_files writes.")


@functools.cache
def _colorize_exit_status() -> int:
    """Run `python -m course_utils colorize` (in this process) on two photos and one broken file."""
    from ..__main__ import main  # the command line, run in this process

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
    task="`python -m course_utils colorize` gets three inputs: two photos and a file that is not a readable "
         "image. It colorizes the two photos. Which exit status does it return? Run it as the cell above "
         "does, or read `python -m course_utils --help`.",
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
         "went well? `python -m course_utils --help` lists the codes.",
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
