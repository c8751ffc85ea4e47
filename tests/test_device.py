import subprocess

import pytest
import torch

from course_utils import device as dev
from course_utils.errors import DeviceError


@pytest.fixture(autouse=True)
def no_forced_device(monkeypatch):
    monkeypatch.delenv("COURSE_DEVICE", raising=False)


def test_pick_device_on_a_cpu_only_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert dev.pick_device() == torch.device("cpu")


def test_pick_device_prefers_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert dev.pick_device().type == "cuda"


def test_report_on_a_cpu_only_machine(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    report = dev.describe_environment()
    assert report.device == "cpu"
    assert report.gpu_name is None and report.gpu_memory_gb is None
    assert report.cpu_count >= 1 and report.ram_gb > 0.1
    assert report.torch == torch.__version__
    text = str(report)
    lines = text.splitlines()
    assert len(lines) == len(report.rows()) >= 10
    assert any(line.startswith("GPU ") and line.rstrip().endswith("-") for line in lines)
    assert "<table>" in report._repr_html_()


def test_nvidia_smi_missing(monkeypatch):
    monkeypatch.setattr(dev.shutil, "which", lambda name: None)
    result = dev.run_nvidia_smi()
    assert not result.found and not result.ok
    assert "not found" in result.output


def test_nvidia_smi_failure_is_judged_by_exit_status(monkeypatch):
    """The seed searched the text for 'falied' (sic), so a failing nvidia-smi looked fine."""
    monkeypatch.setattr(dev.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    failed = subprocess.CompletedProcess(
        [], returncode=9, stderr="",
        stdout="NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver",
    )
    monkeypatch.setattr(dev.subprocess, "run", lambda *a, **k: failed)
    result = dev.run_nvidia_smi()
    assert result.found and not result.ok
    assert "falied" not in result.output  # the seed's test would have reported success


def test_nvidia_smi_timeout_does_not_crash(monkeypatch):
    monkeypatch.setattr(dev.shutil, "which", lambda name: "/usr/bin/nvidia-smi")

    def hang(*args, **kwargs):
        raise subprocess.TimeoutExpired("nvidia-smi", 10)

    monkeypatch.setattr(dev.subprocess, "run", hang)
    assert not dev.run_nvidia_smi().ok


def test_colab_detection(monkeypatch):
    monkeypatch.delenv("COLAB_RELEASE_TAG", raising=False)
    monkeypatch.delitem(dev.sys.modules, "google.colab", raising=False)
    assert not dev.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20260101")
    assert dev.in_colab()


def test_cudnn_version_numbers_are_readable():
    assert dev.cudnn_version_string(8902) == "8.9.2"
    assert dev.cudnn_version_string(92400) == "9.24.0"


def test_forced_device(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setenv("COURSE_DEVICE", " CPU ")
    assert dev.pick_device() == torch.device("cpu")


def test_forced_device_that_is_missing_or_unknown(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("COURSE_DEVICE", "cuda")
    with pytest.raises(DeviceError, match="no cuda device"):
        dev.pick_device()
    monkeypatch.setenv("COURSE_DEVICE", "tpu")
    with pytest.raises(DeviceError, match="cpu, cuda, mps"):
        dev.pick_device()


def test_device_names(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert dev.pick_device("cuda:1") == torch.device("cuda", 1)
    for bad, message in (("banana", "Unknown device --device='banana'"), ("cpu:0", "Unknown"),
                         ("cuda:x", "Unknown"), ("cuda:2", "has 2 GPU")):
        with pytest.raises(DeviceError, match=message):
            dev.pick_device(bad)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="--device=cuda, but this machine has no cuda device"):
        dev.pick_device("cuda")
