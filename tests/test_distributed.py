"""Several processes on the CPU (gloo), as torchrun starts them: what DDP computes, checkpoints that move
between one process and several, exact resume, SIGTERM, and a broken process that ends the whole run."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from helpers import TRAIN, same_run, training_photos
from torch.nn import functional as F

from course_utils.__main__ import main
from course_utils.checkpoint import read_checkpoint
from course_utils.colorize import load_generator
from course_utils.train import Pix2Pix, set_requires_grad

sys.path.insert(0, str(Path(__file__).parent / "workers"))
from ddp_steps import TINY, batch, half, weights  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
WORKERS = Path(__file__).parent / "workers"
pytestmark = pytest.mark.skipif(os.name == "nt" or not torch.distributed.is_available(),
                                reason="needs torch.distributed and POSIX signals")


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    """Every test here runs two processes on the CPU (gloo), whatever GPUs the machine has."""
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("COURSE_DEVICE", "cpu")


def torchrun(*args, timeout=240) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc_per_node=2 ARGS``, as the README shows it."""
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               *map(str, args)]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def reference_step(trainer: Pix2Pix, halves: list[dict], seeds: list[int]) -> None:
    """What DDP computes, in one process: each half through forward and backward on its own (BatchNorm
    statistics per half), the gradients averaged, then one optimiser step; D first, then G."""
    fakes = []
    for part, seed in zip(halves, seeds, strict=True):
        torch.manual_seed(seed)  # the dropout noise that process drew
        fakes.append(trainer.G(part["L"]))
    trainer.opt_D.zero_grad()
    for part, fake in zip(halves, fakes, strict=True):
        real = trainer.gan_loss(trainer.D(torch.cat([part["L"], part["ab"]], 1)), real=True)
        generated = trainer.gan_loss(trainer.D(torch.cat([part["L"], fake.detach()], 1)), real=False)
        (0.5 * (real + generated) / len(halves)).backward()
    trainer.opt_D.step()
    set_requires_grad(trainer.D, False)
    trainer.opt_G.zero_grad()
    for part, fake in zip(halves, fakes, strict=True):
        adversarial = trainer.gan_loss(trainer.D(torch.cat([part["L"], fake], 1)), real=True)
        ((adversarial + trainer.config.lambda_l1 * F.l1_loss(fake, part["ab"])) / len(halves)).backward()
    trainer.opt_G.step()
    set_requires_grad(trainer.D, True)


def test_ddp_averages_the_gradients_of_each_process(tmp_path):
    result = torchrun(WORKERS / "ddp_steps.py", tmp_path)
    assert result.returncode == 0, result.stderr
    ranks = [torch.load(tmp_path / f"step1_rank{r}.pt") for r in (0, 1)]
    torch.manual_seed(0)
    reference = Pix2Pix(TINY)
    reference_step(reference, [half(batch(0), r) for r in (0, 1)], seeds=[100, 101])
    expected = weights(reference)
    for net in ("G", "D"):
        for name, value in expected[net].items():
            torch.testing.assert_close(ranks[0][net][name], value, atol=1e-5, rtol=0, msg=f"{net}.{name}")
    later = [torch.load(tmp_path / f"step4_rank{r}.pt") for r in (0, 1)]
    assert all(torch.equal(later[0][n][k], later[1][n][k]) for n in later[0] for k in later[0][n])


def test_torchrun_trains_one_model_that_resumes_exactly_and_moves_between_process_counts(tmp_path, capfd):
    photos = training_photos(tmp_path / "photos", n=12)  # 9 training photos: 3 steps a pass per process
    args = [*TRAIN, "--data", photos, "--checkpoint-every", "2"]
    whole = torchrun("-m", "course_utils", *args, "--out", tmp_path / "whole", "--steps", "5")
    assert whole.returncode == 0, whole.stderr
    assert "x 2 processes" in whole.stdout
    assert read_checkpoint(tmp_path / "whole" / "checkpoint.pt")["world_size"] == 2

    parts = [*map(str, args), "--out", str(tmp_path / "parts"), "--nproc-per-node", "2"]
    handler = signal.getsignal(signal.SIGINT)
    assert main([*parts, "--steps", "2"]) == 0  # stops mid-pass
    assert main([*parts, "--steps", "5", "--resume"]) == 0
    assert same_run(tmp_path / "whole", tmp_path / "parts")
    assert signal.getsignal(signal.SIGINT) is handler  # the launcher put it back

    # a checkpoint of two processes serves one process, and the other way round
    generator, config = load_generator(tmp_path / "whole" / "checkpoint.pt")
    with pytest.warns(UserWarning, match="written by 2 process"):  # resuming it in 1 would not be exact
        assert config == Pix2Pix.from_checkpoint(tmp_path / "whole" / "checkpoint.pt").config
    single = [*map(str, args), "--out", str(tmp_path / "single")]
    assert main([*single, "--steps", "2"]) == 0
    capfd.readouterr()
    assert main([*single, "--steps", "4", "--resume", "--nproc-per-node", "2"]) == 0
    assert "written by 1 process(es), this run has 2" in capfd.readouterr().err
    state = read_checkpoint(tmp_path / "single" / "checkpoint.pt")
    assert (state["step"], state["world_size"]) == (4, 2)


def test_sigterm_stops_every_process_after_a_checkpoint(tmp_path):
    photos = training_photos(tmp_path / "photos")
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "course_utils", *TRAIN, "--data", str(photos),
                                "--out", str(run), "--steps", "100000", "--checkpoint-every", "100000",
                                "--nproc-per-node", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 180
    while time.time() < deadline and not (run / "samples").is_dir() and process.poll() is None:
        time.sleep(0.2)
    time.sleep(3)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=90)
    assert process.returncode == 143, err
    assert "Traceback" not in out + err
    assert "stopped by SIGTERM: stopped at step" in err
    state = read_checkpoint(run / "checkpoint.pt")
    assert state["step"] >= 1 and state["world_size"] == 2


def test_a_broken_process_ends_the_whole_run_with_its_message(tmp_path):
    photos = training_photos(tmp_path / "photos", n=4)
    start = time.time()
    result = torchrun(WORKERS / "broken_rank.py", *TRAIN, "--data", photos, "--out", tmp_path / "run",
                      "--steps", "3", timeout=180)
    assert result.returncode != 0 and time.time() - start < 150  # no process waits forever
    assert f"error: --data {photos}-missing: no such folder. [process 1]" in result.stderr
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


def test_sync_batchnorm_needs_cuda(tmp_path, capsys):
    photos = training_photos(tmp_path / "photos", n=4)
    args = [*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--sync-bn", "--device", "cpu"]
    assert main(args) == 2
    assert "--sync-bn needs CUDA GPUs" in capsys.readouterr().err
