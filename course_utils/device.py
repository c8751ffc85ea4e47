"""What machine are we on? An environment report and the choice of device.

Nothing here may fail on a laptop without a GPU or without ``nvidia-smi``.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass

import psutil
import torch
import torchvision

from .errors import DeviceError

DEVICE_ENV = "COURSE_DEVICE"
DEVICE_CHOICES = ("cpu", "cuda", "mps")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def pick_device(name: str | None = None) -> torch.device:
    """The device to use: ``name`` if given, else ``COURSE_DEVICE`` if set, else the fastest available
    (a CUDA GPU, then Apple's MPS, then the CPU).

    A name is ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; one this machine does not have is a
    :class:`~course_utils.errors.DeviceError` that says so (``make test`` forces the CPU, whose outputs
    the notebooks' checked cells hold).
    """
    source = "--device" if name is not None else DEVICE_ENV
    wanted = (name if name is not None else os.environ.get(DEVICE_ENV, "")).strip().lower()
    if not wanted:
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    kind, _, index = wanted.partition(":")
    if kind not in DEVICE_CHOICES or (index and not (kind == "cuda" and index.isdigit())):
        raise DeviceError(f"Unknown device {source}={wanted!r}; allowed: {', '.join(DEVICE_CHOICES)} "
                          "(or cuda:N for the N-th GPU).")
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": _mps_available()}
    if not available[kind]:
        raise DeviceError(f"{source}={wanted}, but this machine has no {kind} device that PyTorch can use; "
                          f"choose another, or leave {source} out to let the course choose.")
    if index and int(index) >= torch.cuda.device_count():
        raise DeviceError(f"{source}={wanted}, but this machine has {torch.cuda.device_count()} GPU(s), "
                          "numbered from 0.")
    return torch.device(wanted)


def native_bf16(device=None) -> bool:
    """Does this CUDA GPU compute in bf16 in hardware? Compute capability 8.0 or newer (A100, L4, H100).

    Older GPUs, such as Colab's T4 (7.5), only emulate it, slowly, although
    ``torch.cuda.is_bf16_supported()`` answers True for them.
    """
    major, _ = torch.cuda.get_device_capability(device)
    return major >= 8


def in_colab() -> bool:
    """True inside Google Colab."""
    return "google.colab" in sys.modules or "COLAB_RELEASE_TAG" in os.environ


@dataclass
class NvidiaSmi:
    """The outcome of running ``nvidia-smi``: whether it ran, and what it printed."""

    found: bool  # the program exists on this machine
    ok: bool  # it ran and exited with status 0
    output: str


def run_nvidia_smi(timeout: float = 10.0) -> NvidiaSmi:
    """Run ``nvidia-smi`` and judge it by its exit status, not by searching its text."""
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return NvidiaSmi(found=False, ok=False, output="nvidia-smi not found: no NVIDIA driver here")
    try:
        proc = subprocess.run([exe], capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        return NvidiaSmi(found=True, ok=False, output=f"nvidia-smi could not run: {err}")
    return NvidiaSmi(found=True, ok=proc.returncode == 0, output=(proc.stdout + proc.stderr).strip())


@dataclass
class EnvironmentReport:
    """Versions and hardware that matter for this course; prints as a table."""

    python: str
    platform: str
    torch: str
    torchvision: str
    cuda: str | None  # CUDA version torch was built with
    cudnn: str | None
    device: str  # "cuda", "mps" or "cpu"
    gpu_name: str | None
    gpu_memory_gb: float | None
    gpu_capability: str | None
    bf16_supported: bool
    cpu_count: int
    ram_gb: float
    colab: bool

    def rows(self) -> list[tuple[str, str]]:
        def show(value):
            if value is None:
                return "-"
            if isinstance(value, bool):
                return "yes" if value else "no"
            if isinstance(value, float):
                return f"{value:.1f}"
            return str(value)

        labels = {
            "python": "Python",
            "platform": "Platform",
            "torch": "PyTorch",
            "torchvision": "torchvision",
            "cuda": "CUDA (torch build)",
            "cudnn": "cuDNN",
            "device": "Device used",
            "gpu_name": "GPU",
            "gpu_memory_gb": "GPU memory (GB)",
            "gpu_capability": "GPU compute capability",
            "bf16_supported": "bfloat16 on the GPU",
            "cpu_count": "CPU cores",
            "ram_gb": "RAM (GB)",
            "colab": "Running on Colab",
        }
        return [(labels[k], show(v)) for k, v in asdict(self).items()]

    def __str__(self) -> str:
        rows = self.rows()
        width = max(len(k) for k, _ in rows)
        return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)

    def _repr_html_(self) -> str:
        body = "".join(f"<tr><th style='text-align:left'>{k}</th><td>{v}</td></tr>" for k, v in self.rows())
        return f"<table>{body}</table>"


def cudnn_version_string(number: int) -> str:
    """cuDNN reports one integer: 8902 is 8.9.2 (cuDNN 8), 92400 is 9.24.0 (cuDNN 9 and later)."""
    base = 10_000 if number >= 90_000 else 1_000
    return f"{number // base}.{number % base // 100}.{number % 100}"


def describe_environment() -> EnvironmentReport:
    """Collect the report; every GPU field is ``None`` on a machine without one."""
    device = pick_device()
    gpu_name = gpu_mem = capability = None
    bf16 = False
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(0)
        gpu_name, gpu_mem = props.name, props.total_memory / 1e9
        capability = f"{props.major}.{props.minor}"
        bf16 = native_bf16()
    cudnn = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
    return EnvironmentReport(
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.machine()}",
        torch=torch.__version__,
        torchvision=torchvision.__version__,
        cuda=torch.version.cuda,
        cudnn=cudnn_version_string(cudnn) if cudnn else None,
        device=device.type,
        gpu_name=gpu_name,
        gpu_memory_gb=gpu_mem,
        gpu_capability=capability,
        bf16_supported=bf16,
        cpu_count=os.cpu_count() or 1,
        ram_gb=psutil.virtual_memory().total / 1e9,
        colab=in_colab(),
    )
