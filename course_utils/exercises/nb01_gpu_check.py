"""Notebook 01's exercises (01_gpu_check.ipynb): judging a program by its exit status, and memory
arithmetic."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..config import get_profile
from ..models import PatchDiscriminator, UNetGenerator
from .checking import Wrong, as_number, call, expect_bool, expect_number
from .registry import exercise

# (exit status, what nvidia-smi printed, did it succeed, what the case teaches when misjudged)
SMI_RUNS = [
    (0, "| NVIDIA-SMI 550.54.15  Driver Version: 550.54.15  CUDA Version: 12.4 |", True, ""),
    (9, "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver.", False, ""),
    (127, "/bin/bash: line 1: nvidia-smi: command not found", False,
     "Status 127 is the shell's: there is no nvidia-smi to run, and no word 'failed' either."),
    (0, "|  0  N/A  N/A  4242  C  python retry_failed_jobs.py  1024MiB |", True,
     "A healthy GPU whose process list contains the word 'failed'."),
    (0, "GPU 0: NVIDIA A100-SXM4-40GB (UUID: GPU-5f2e6c1a-8d3b-4a7e-9c1d-2b7f0e4a6c93)", True,
     "`nvidia-smi -L` lists the GPUs without a table: no '|', and a success all the same."),
    (6, "No devices were found", False,
     "Status 6 (no devices found): a small number and no word 'failed', but a failure."),
    (15, "| 0  NVIDIA A100  ERR!  | Unable to determine the device handle for GPU 0: GPU is lost |", False,
     "A table with '|' in it, printed by a run that failed (status 15)."),
    (255, "Unknown Error", False, "Every status other than 0 is a failure, however large."),
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
        """
        def gpu_ok(returncode, output):
            return "|" in output  # a table was printed
        """,
        """
        def gpu_ok(returncode, output):
            return "has failed" not in output
        """,
        """
        def gpu_ok(returncode, output):
            return returncode < 9  # 9: the driver failure of section 1
        """,
    ),
    hint="Every program ends with a number, its exit status: 0 for success, anything else for failure. "
         "The words it prints can mislead.",
)
def _smi_exit_status(answer):
    for returncode, output, succeeded, lesson in SMI_RUNS:
        got, case = call(answer, returncode, output)
        try:
            expect_bool(got, succeeded, case)
        except Wrong as wrong:
            raise Wrong(f"{wrong} {lesson}" if lesson and "expected True or False" not in str(wrong)
                        else str(wrong)) from None


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
