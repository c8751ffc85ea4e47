"""The command line end to end: every awkward input gets one clear line and its exit status, nothing
is lost, and a stopped run resumes exactly (README, "Command line")."""

import csv
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import TRAIN, one_line, same_run, training_photos
from PIL import Image

from course_utils import checkpoint as checkpoint_mod
from course_utils import data as data_mod
from course_utils.__main__ import main
from course_utils.checkpoint import read_checkpoint, save_checkpoint
from course_utils.files import RunLock
from course_utils.train import Pix2Pix, Pix2PixConfig

ROOT = Path(__file__).resolve().parent.parent
POSIX = pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals and file modes")


@pytest.fixture
def checkpoint(tmp_path):
    torch.manual_seed(0)
    return Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)).save(tmp_path / "ck.pt")


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def photo_folder(folder, n_rgb=1):
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(n_rgb):
        Image.fromarray(rng.integers(0, 255, (37, 50, 3), dtype=np.uint8)).save(folder / f"rgb{i}.jpg")
    Image.fromarray(rng.integers(0, 255, (29, 41), dtype=np.uint8), "L").save(folder / "gray.png")
    Image.fromarray(rng.integers(0, 255, (45, 33, 4), dtype=np.uint8), "RGBA").save(folder / "alpha.png")
    (folder / "corrupt.jpg").write_bytes(b"\xff\xd8 this is not really a JPEG")
    return folder


def cli(*args, unprivileged=False, env=None, timeout=120) -> subprocess.CompletedProcess:
    """``python -m course_utils ARGS`` in a new process (as a user without root's file powers if asked)."""
    command = [sys.executable, "-m", "course_utils", *map(str, args)]
    if unprivileged and os.geteuid() == 0:  # root minus the powers that override file modes
        caps = "-dac_override,-dac_read_search"
        command = [shutil.which("setpriv"), f"--bounding-set={caps}", f"--inh-caps={caps}", *command]
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT,
                            env={**os.environ, **(env or {})})
    assert "Traceback" not in result.stdout + result.stderr, result.stderr
    return result


needs_unprivileged = pytest.mark.skipif(
    os.name == "nt" or (hasattr(os, "geteuid") and os.geteuid() == 0 and not shutil.which("setpriv")),
    reason="needs a way to run without root's file powers")


# --------------------------------------------------------------------------------------------- colorize
def test_colorize_folder_with_odd_photos(tmp_path, checkpoint, capsys):
    photos = photo_folder(tmp_path / "photos")
    code = main(["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "out")])
    assert code == 1  # the corrupt file failed, the others were written
    out, err = capsys.readouterr()
    assert "corrupt.jpg" in one_line(err)
    assert sorted(line.split()[0] for line in out.splitlines()[:-1]) == ["written"] * 3  # as each is done
    assert out.splitlines()[-1].startswith("3 photo(s) colorized") and "1 could not be" in out
    for name in ("rgb0.jpg", "gray.png", "alpha.png"):
        result = tmp_path / "out" / f"{name.split('.')[0]}_color.png"
        with Image.open(photos / name) as src, Image.open(result) as out_image:
            assert out_image.size == src.size and out_image.mode == "RGB"
    assert not (tmp_path / "out" / "corrupt_color.png").exists()


def test_colorize_errors(tmp_path, checkpoint, capsys):
    photos = photo_folder(tmp_path / "photos")
    out = str(tmp_path / "out")
    assert main(["colorize", "--checkpoint", str(tmp_path / "nope.pt"), str(photos), "--out", out]) == 2
    assert "No checkpoint" in one_line(capsys.readouterr().err)
    missing = str(tmp_path / "missing.jpg")
    assert main(["colorize", "--checkpoint", str(checkpoint), missing, "--out", out]) == 2
    assert "no such file" in capsys.readouterr().err
    # an output would land on an input: another name, the input untouched (even with --overwrite)
    (photos / "rgb0_color.png").write_bytes((photos / "gray.png").read_bytes())
    before = (photos / "rgb0_color.png").read_bytes()
    inputs = [str(photos / "rgb0.jpg"), str(photos / "rgb0_color.png")]
    args = ["colorize", "--checkpoint", str(checkpoint), *inputs, "--out", str(photos), "--overwrite"]
    assert main(args) == 0
    assert "rgb0_from_photos_color.png" in capsys.readouterr().out
    assert (photos / "rgb0_color.png").read_bytes() == before
    assert (photos / "rgb0_color_color.png").is_file() and (photos / "rgb0_from_photos_color.png").is_file()


def test_colorize_into_the_input_folder_twice(tmp_path, checkpoint, capsys):
    photos = photo_folder(tmp_path / "photos")
    (photos / "corrupt.jpg").unlink()
    args = ["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(photos)]
    assert main(args) == 0
    assert main(args) == 0  # its own results are not inputs, and finished photos are skipped
    assert "0 photo(s) colorized" in capsys.readouterr().out.splitlines()[-1]
    assert not list(photos.glob("*_color_color.png"))
    assert main([*args, "--overwrite"]) == 0
    assert "3 photo(s) colorized" in capsys.readouterr().out


def test_one_bomb_does_not_stop_the_batch(tmp_path, checkpoint, capsys, png_bomb):
    photos = photo_folder(tmp_path / "photos")
    (photos / "corrupt.jpg").unlink()
    png_bomb(photos / "bomb.png")
    assert main(["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "o")]) == 1
    assert "bomb.png" in one_line(capsys.readouterr().err)
    assert len(list((tmp_path / "o").glob("*_color.png"))) == 3


@pytest.mark.parametrize("command", ["colorize", "train"])
def test_an_out_that_is_a_file(tmp_path, checkpoint, capsys, command):
    (tmp_path / "taken").write_text("a file")
    photos = training_photos(tmp_path / "photos")
    args = (["colorize", "--checkpoint", str(checkpoint), str(photos)] if command == "colorize"
            else [*TRAIN, "--data", str(photos), "--steps", "1"])
    assert main([*args, "--out", str(tmp_path / "taken")]) == 2
    assert "is a file, not a folder" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "data" / "cache").exists()  # checked before any work


@pytest.mark.parametrize("device, message", [("banana", "Unknown device --device='banana'"),
                                             ("cuda", "no cuda device")])
def test_bad_devices(tmp_path, checkpoint, capsys, monkeypatch, device, message):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    photos = photo_folder(tmp_path / "photos")
    for args in (["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "o")],
                 [*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run")]):
        assert main([*args, "--device", device]) == 2
        assert message in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("option", ["--checkpoint-every", "--sample-every", "--steps", "--batch-size"])
def test_counts_below_one_are_refused(tmp_path, capsys, option):
    with pytest.raises(SystemExit) as stop:
        main([*TRAIN, "--out", str(tmp_path / "run"), option, "0"])
    assert stop.value.code == 2
    assert f"argument {option}: must be above 0" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("changes, message", [
    ({"ngf": "16"}, "ngf='16'"), ({"image_size": 0}, "image_size=0"), ("ngf=16", "not a dict")])
def test_checkpoints_with_a_damaged_config(tmp_path, checkpoint, capsys, changes, message):
    state = torch.load(checkpoint, weights_only=True)
    state["config"] = {**state["config"], **changes} if isinstance(changes, dict) else changes
    run = tmp_path / "run"
    run.mkdir()
    save_checkpoint(state, run / "checkpoint.pt")
    photos = training_photos(tmp_path / "photos")
    assert main(["colorize", "--checkpoint", str(run / "checkpoint.pt"), str(photos), "--out",
                 str(tmp_path / "o")]) == 2
    assert message in one_line(capsys.readouterr().err)
    assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--resume"]) == 2
    assert message in one_line(capsys.readouterr().err)


def test_foreign_and_non_finite_checkpoints(tmp_path, checkpoint, capsys):
    photos = training_photos(tmp_path / "photos", n=2)
    args = [str(photos), "--out", str(tmp_path / "o")]
    assert main(["colorize", "--checkpoint", str(ROOT / "README.md"), *args]) == 2
    err = one_line(capsys.readouterr().err)
    assert "not a PyTorch file" in err and "weights_only" not in err
    state = torch.load(checkpoint, weights_only=True)
    state["G"]["up.0.1.weight"][0] = float("nan")
    assert main(["colorize", "--checkpoint", str(save_checkpoint(state, tmp_path / "nan.pt")), *args]) == 2
    assert "NaN or infinite weights" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "o").exists() or not list((tmp_path / "o").iterdir())


def test_an_unexpected_failure_is_one_line_and_a_log(tmp_path, checkpoint, capsys, monkeypatch):
    from course_utils import colorize

    def bug(*args, **kwargs):
        raise RuntimeError("something the course did not expect\nsecond line")

    monkeypatch.setattr(colorize, "colorize_image", bug)
    photos = training_photos(tmp_path / "photos", n=1)
    assert main(["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "o")]) == 5
    err = one_line(capsys.readouterr().err)
    assert "unexpected RuntimeError: something the course did not expect" in err
    log = Path(err.split("details in ")[1].split(";")[0])
    assert "Traceback" in log.read_text()
    log.unlink()


@POSIX
def test_ctrl_c_and_a_full_disk_while_colorizing(tmp_path, checkpoint, capsys, monkeypatch):
    photos = training_photos(tmp_path / "photos", n=3)
    args = ["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "o")]
    real_save, saves = Image.Image.save, []

    def stop_on_the_second(self, fp, *a, **k):
        saves.append(fp)
        if len(saves) == 2:
            fp.write(b"\x89PNG half")
            raise stop
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", stop_on_the_second)
    stop = KeyboardInterrupt()
    assert main(args) == 130
    assert "1 photo(s) written before the interrupt" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p00_color.png"]  # nothing half-written
    saves.clear()
    stop = OSError(errno.ENOSPC, "No space left on device")
    assert main(args) == 4  # the first photo is skipped (done), the next one meets the full disk
    assert "no space left on the device" in one_line(capsys.readouterr().err)
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["p00_color.png", "p01_color.png"]


def test_names_any_terminal_can_print(tmp_path, checkpoint):
    photos = training_photos(tmp_path / "photos", n=2)
    (photos / "p00.png").rename(photos / os.fsdecode(b"caf\xe9 one.png"))
    (photos / "p01.png").rename(photos / "two\nlines.png")
    result = cli("colorize", "--checkpoint", checkpoint, photos, "--out", tmp_path / "o",
                 env={"PYTHONIOENCODING": "ascii", "LC_ALL": "C"})
    assert result.returncode == 0, result.stderr
    assert "caf\\udce9 one_color.png" in result.stdout and "two\\nlines_color.png" in result.stdout
    assert len(list((tmp_path / "o").iterdir())) == 2


# ------------------------------------------------------------------------------------------------ train
def test_train_then_resume(tmp_path, capsys):
    photos = photo_folder(tmp_path / "photos", n_rgb=4)
    run = tmp_path / "run"
    args = ["train", "--data", str(photos), "--out", str(run), "--profile", "quick", "--sample-every", "1"]
    assert main([*args, "--steps", "2"]) == 0
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["step_000001.png", "step_000002.png"]
    out, err = capsys.readouterr()
    assert "gray baseline" in out and one_line(err).startswith("warning: Skipped 1 of 7 files")
    assert main([*args, "--steps", "3"]) == 2  # the run exists: --resume or another folder
    assert "--resume" in one_line(capsys.readouterr().err.splitlines()[-1])
    assert main([*args, "--steps", "3", "--resume"]) == 0
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 3
    assert len((run / "losses.csv").read_text().splitlines()) == 4  # header + 3 steps


def test_a_stopped_run_resumes_bit_for_bit_mid_pass(tmp_path):
    photos = training_photos(tmp_path / "photos")  # 8 training photos, batch 2: 4 steps a pass
    args = [*TRAIN, "--data", str(photos), "--checkpoint-every", "2"]
    assert main([*args, "--out", str(tmp_path / "whole"), "--steps", "7"]) == 0
    assert main([*args, "--out", str(tmp_path / "parts"), "--steps", "3"]) == 0  # stops mid-pass
    assert main([*args, "--out", str(tmp_path / "parts"), "--steps", "7", "--resume"]) == 0
    assert same_run(tmp_path / "whole", tmp_path / "parts")


@POSIX
def test_a_killed_run_resumes_exactly_and_its_log_never_runs_ahead(tmp_path):
    photos = training_photos(tmp_path / "photos")
    args = [*TRAIN, "--data", photos, "--checkpoint-every", "2"]
    run = tmp_path / "killed"
    process = subprocess.Popen([sys.executable, "-m", "course_utils", *map(str, args), "--out", str(run),
                                "--steps", "100000"], cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 120
        while time.time() < deadline and not (run / "checkpoint.pt").is_file():
            time.sleep(0.2)
        time.sleep(1.5)  # a few more steps and saves
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(30)
    step = read_checkpoint(run / "checkpoint.pt")["step"]
    with open(run / "losses.csv") as f:
        assert [int(row["step"]) for row in csv.DictReader(f)][-1] <= step
    assert main([*map(str, args), "--out", str(run), "--steps", str(step + 3), "--resume"]) == 0
    assert not list(run.glob(".*.tmp"))  # the killed run's temporaries are gone
    assert main([*map(str, args), "--out", str(tmp_path / "whole"), "--steps", str(step + 3)]) == 0
    assert same_run(tmp_path / "whole", run)


@POSIX
def test_sigterm_saves_and_exits_143(tmp_path):
    photos = training_photos(tmp_path / "photos")
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "course_utils", *TRAIN, "--data", str(photos), "--out",
                                str(run), "--steps", "100000", "--checkpoint-every", "100000"],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not (run / "samples").is_dir() and process.poll() is None:
        time.sleep(0.2)  # the sample folder appears just before training starts
    time.sleep(2)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert one_line(err).startswith("stopped by SIGTERM: stopped at step")
    assert read_checkpoint(run / "checkpoint.pt")["step"] >= 1


def test_a_second_run_into_the_same_folder_is_refused(tmp_path, capsys):
    photos = training_photos(tmp_path / "photos")
    run = tmp_path / "run"
    run.mkdir()
    (run / ".checkpoint.pt.k1ll3d.tmp").write_bytes(b"left by a killed run")
    with RunLock(run):
        assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1"]) == 2
        assert "Another training run" in one_line(capsys.readouterr().err)
    assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1"]) == 0
    assert not (run / ".checkpoint.pt.k1ll3d.tmp").exists()


def test_awkward_names_do_not_stop_training(tmp_path):
    photos = training_photos(tmp_path / "photos", n=6)
    (photos / "p00.png").rename(photos / os.fsdecode(b"caf\xe9.png"))
    (photos / "p01.png").rename(photos / "new\nline.png")
    (photos / "link.png").symlink_to(photos / "p02.png")
    (photos / "x.jpg").mkdir()
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "2"]) == 0


def test_a_data_folder_that_cannot_be_written(tmp_path, capsys, monkeypatch):
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "file" / "data"))
    photos = training_photos(tmp_path / "photos", n=2)
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "1"]) == 2
    assert "Not a directory" in one_line(capsys.readouterr().err)


@needs_unprivileged
def test_folders_without_write_permission(tmp_path, checkpoint):
    photos = training_photos(tmp_path / "photos", n=4)
    locked = tmp_path / "locked"
    (locked / "data").mkdir(parents=True)
    locked.chmod(0o555)
    (locked / "data").chmod(0o555)
    try:
        result = cli("colorize", "--checkpoint", checkpoint, photos, "--out", locked / "out",
                     unprivileged=True)
        assert result.returncode == 2 and "Permission denied" in one_line(result.stderr)
        result = cli(*TRAIN, "--data", photos, "--out", locked / "run", "--steps", "1", unprivileged=True)
        assert result.returncode == 2 and "the run folder (--out)" in one_line(result.stderr)
        result = cli(*TRAIN, "--data", photos, "--out", tmp_path / "run", "--steps", "1", unprivileged=True,
                     env={"COURSE_DATA_DIR": str(locked / "data")})
        assert result.returncode == 2 and "the course's data folder" in one_line(result.stderr)
        assert not (tmp_path / "run").exists()  # refused before anything was cached or built
    finally:
        (locked / "data").chmod(0o755)
        locked.chmod(0o755)


@pytest.mark.parametrize("where", ["caching", "evaluation"])
def test_ctrl_c_outside_the_training_loop(tmp_path, capsys, monkeypatch, data_home, where):
    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    if where == "caching":
        monkeypatch.setattr(data_mod, "decode_resized", interrupt)
    else:
        from course_utils import metrics

        monkeypatch.setattr(metrics, "evaluate", interrupt)
    photos = training_photos(tmp_path / "photos", n=4)
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "1"]) == 130
    assert one_line(capsys.readouterr().err) == "interrupted"
    assert not [p for p in (data_home / "cache").iterdir() if p.name.endswith(".tmp")]


def test_a_full_disk_while_training(tmp_path, capsys, monkeypatch):
    real_save, calls = torch.save, []

    def full_from_the_second_save(obj, f):
        calls.append(1)
        if len(calls) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_save(obj, f)

    monkeypatch.setattr(checkpoint_mod.torch, "save", full_from_the_second_save)
    photos = training_photos(tmp_path / "photos", n=4)
    run = tmp_path / "run"
    args = [*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "4", "--checkpoint-every", "2"]
    assert main(args) == 4
    assert "holds step 2" in one_line(capsys.readouterr().err)
    monkeypatch.undo()
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2
    assert len((run / "losses.csv").read_text().splitlines()) == 3


def test_a_non_finite_loss_stops_with_status_3(tmp_path, capsys, monkeypatch):
    from course_utils.train import GANLoss

    original = GANLoss.forward

    def nan_loss(self, logits, real):
        return original(self, logits * float("nan"), real)

    monkeypatch.setattr(GANLoss, "forward", nan_loss)
    photos = training_photos(tmp_path / "photos", n=4)
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "2"]) == 3
    assert "not a finite number" in one_line(capsys.readouterr().err)


# ------------------------------------------------------------------------ trust boundaries (issue 19)
@pytest.fixture
def quick_checkpoint(tmp_path):
    """A checkpoint of the quick profile's architecture (so that --resume gets as far as its contents)."""
    from course_utils.config import get_profile

    torch.manual_seed(0)
    run = tmp_path / "run"
    return Pix2Pix(Pix2PixConfig.from_profile(get_profile("quick"))).save(run / "checkpoint.pt")


@POSIX
def test_a_lock_link_never_redirects_a_write(tmp_path, capsys):
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file")
    (tmp_path / "rs").mkdir()
    (tmp_path / "rs" / ".lock").symlink_to(victim)
    photos = training_photos(tmp_path / "photos", n=3)
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "rs"), "--steps", "1"]) == 2
    assert ".lock is a link" in one_line(capsys.readouterr().err)
    assert victim.read_text() == "a user's file"


def test_a_checkpoint_asking_for_a_huge_network_is_refused(tmp_path, checkpoint, capsys):
    state = torch.load(checkpoint, weights_only=True)
    state["config"].update(image_size=32768, ngf=8192)
    huge = save_checkpoint(state, tmp_path / "huge.pt")
    photos = training_photos(tmp_path / "photos", n=1)
    assert main(["colorize", "--checkpoint", str(huge), str(photos), "--out", str(tmp_path / "o")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "huge.pt" in err and "image_size=32768 (must be at most 1024); ngf=8192 (must be at most 256)" \
        in err
    assert "no course network is larger" in err


@pytest.mark.parametrize("entry, value, message", [
    ("G", "sparse", "'G' is not a dict of tensors"), ("G", "meta", "'G' is not a dict of tensors"),
    ("world_size", 0, "'world_size' is 0"), ("history", "not a list", "'history' is not a list"),
    ("rng", [{"python": 1, "numpy": 2, "torch": 3, "cuda": 4}], "'rng' is not a state")])
def test_a_damaged_checkpoint_is_status_2_and_named(tmp_path, quick_checkpoint, capsys, entry, value,
                                                    message):
    state = torch.load(quick_checkpoint, weights_only=True)
    if value in ("sparse", "meta"):
        name = next(iter(state["G"]))
        state["G"][name] = state["G"][name].to_sparse() if value == "sparse" else state["G"][name].to("meta")
    else:
        state[entry] = value
    save_checkpoint(state, quick_checkpoint)
    photos = training_photos(tmp_path / "photos", n=3)
    assert main(["colorize", "--checkpoint", str(quick_checkpoint), str(photos), "--out",
                 str(tmp_path / "o")]) == 2
    err = one_line(capsys.readouterr().err)
    assert "checkpoint.pt is a damaged course checkpoint" in err and message in err
    assert main([*TRAIN, "--data", str(photos), "--out", str(quick_checkpoint.parent), "--resume"]) == 2
    err = one_line(capsys.readouterr().err)
    assert "checkpoint.pt is a damaged course checkpoint" in err and message in err


def test_the_error_log_is_never_written_through_a_planted_link(tmp_path, monkeypatch):
    from course_utils import __main__ as cli_mod

    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file")
    shared = tmp_path / "tmp"
    shared.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(shared))
    monkeypatch.setattr(time, "strftime", lambda *a: "STAMP")
    (shared / f"course_utils-error-STAMP-{os.getpid()}.log").symlink_to(victim)  # the name once used
    assert cli_mod._unexpected(RuntimeError("boom")) == 5
    assert victim.read_text() == "a user's file"
    logs = [p for p in shared.iterdir() if not p.is_symlink()]
    assert len(logs) == 1 and logs[0].stat().st_mode & 0o077 == 0  # a new file, the user's alone


def test_same_names_from_different_folders_give_two_results(tmp_path, checkpoint, capsys):
    for folder, seed in (("a", 0), ("b", 1)):
        (tmp_path / folder).mkdir()
        Image.fromarray(np.random.default_rng(seed).integers(0, 255, (30, 40, 3), dtype=np.uint8)).save(
            tmp_path / folder / "x.jpg")
    a, b, out = tmp_path / "a" / "x.jpg", tmp_path / "b" / "x.jpg", tmp_path / "o"
    assert main(["colorize", "--checkpoint", str(checkpoint), str(a), "--out", str(out)]) == 0
    assert main(["colorize", "--checkpoint", str(checkpoint), str(b), "--out", str(out)]) == 0
    assert "written" in capsys.readouterr().out  # not "already colorized": another photo
    assert sorted(p.name for p in out.iterdir()) == ["x_color.png", "x_from_b_color.png"]
    both = tmp_path / "both"
    assert main(["colorize", "--checkpoint", str(checkpoint), str(a), str(b), "--out", str(both)]) == 0
    assert f"x_from_b_color.png: from {b}" in capsys.readouterr().out
    assert sorted(p.name for p in both.iterdir()) == ["x_color.png", "x_from_b_color.png"]
    # the same photo again: skipped; with another checkpoint (retrained): redone
    assert main(["colorize", "--checkpoint", str(checkpoint), str(a), "--out", str(out)]) == 0
    assert "already colorized" in capsys.readouterr().out
    torch.manual_seed(1)
    other = Pix2Pix(Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)).save(tmp_path / "other.pt")
    assert main(["colorize", "--checkpoint", str(other), str(a), "--out", str(out)]) == 0
    assert "redone: the photo or the checkpoint changed" in capsys.readouterr().out


def test_a_users_file_named_like_a_result_is_never_overwritten(tmp_path, checkpoint, capsys):
    photos = training_photos(tmp_path / "photos", n=1)
    (photos / "p00.png").rename(photos / "sunset.png")
    Image.new("RGB", (20, 10), "orange").save(photos / "sunset_color.png")  # the user's own photo
    before = (photos / "sunset_color.png").read_bytes()
    for _ in range(2):
        assert main(["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(photos),
                     "--overwrite"]) == 0
    assert (photos / "sunset_color.png").read_bytes() == before
    assert (photos / "sunset_from_photos_color.png").is_file()


def test_one_awkward_name_never_stops_the_batch(tmp_path, checkpoint, capsys, monkeypatch):
    photos = training_photos(tmp_path / ("f" * 255), n=3)
    (photos / "p01.png").rename(photos / ("l" * 236 + ".png"))  # 240 bytes
    (photos / "p02.png").rename(photos / ("m" * 251 + ".png"))  # 255 bytes, in a folder of 255 too
    out = tmp_path / "o"
    (out / "p00_color.png").mkdir(parents=True)  # a folder named like a result
    (out / f"{'m' * 150}_color.png").mkdir()  # and one named like the long name's result
    locked = tmp_path / "locked"
    locked.mkdir()
    real_iterdir = Path.iterdir
    monkeypatch.setattr(Path, "iterdir", lambda self: (_ for _ in ()).throw(PermissionError(13, "Permission "
                        "denied")) if self == locked else real_iterdir(self))
    assert main(["colorize", "--checkpoint", str(checkpoint), str(photos), str(locked), "--out", str(out)]
                ) == 1
    stdout, err = capsys.readouterr()
    assert "locked: cannot be read (Permission denied)" in one_line(err)
    assert "3 photo(s) colorized" in stdout and ".tmp" not in stdout + err
    assert (out / f"p00_from_{'f' * 60}_color.png").is_file() and (out / "p00_color.png").is_dir()


@pytest.mark.parametrize("name, make", [("checkpoint.pt", "folder"), ("losses.csv", "folder"),
                                        ("samples", "file")])
def test_a_run_that_cannot_save_stops_before_the_first_step(tmp_path, capsys, name, make):
    run = tmp_path / "run"
    run.mkdir()
    (run / name).mkdir() if make == "folder" else (run / name).write_text("a file")
    photos = training_photos(tmp_path / "photos", n=3)
    assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1"]) == 2
    out, err = capsys.readouterr()
    assert f"{name} is in the way" in one_line(err) and ".tmp" not in err
    assert "train /" not in out  # nothing was cached or trained


def test_leftovers_of_killed_writers_are_removed(tmp_path, checkpoint):
    from course_utils.files import temporary_beside

    photos = training_photos(tmp_path / "photos", n=3)
    out, run = tmp_path / "o", tmp_path / "run"
    out.mkdir()
    (run / "samples").mkdir(parents=True)
    leftovers = [temporary_beside(out / "p00_color.png"),
                 temporary_beside(run / "samples" / "step_000050.png")]
    for leftover in leftovers:
        leftover.write_bytes(b"half a picture")
    assert main(["colorize", "--checkpoint", str(checkpoint), str(photos / "p00.png"), "--out", str(out)]
                ) == 0
    assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1"]) == 0
    assert not any(leftover.exists() for leftover in leftovers)


def test_resume_applies_a_new_learning_rate(tmp_path, capsys):
    photos = training_photos(tmp_path / "photos", n=3)
    args = [*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run")]
    assert main([*args, "--steps", "1", "--lr", "1e-4"]) == 0
    assert main([*args, "--steps", "2", "--resume"]) == 0  # without --lr: the run's own rate
    state = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["config"]["lr"] == 1e-4 and state["opt_G"]["param_groups"][0]["lr"] == 1e-4
    capsys.readouterr()
    assert main([*args, "--steps", "3", "--resume", "--lr", "5e-5"]) == 0
    assert "learning rate 5e-05 from now on (the checkpoint's was 0.0001)" in capsys.readouterr().out
    state = read_checkpoint(tmp_path / "run" / "checkpoint.pt")
    assert state["config"]["lr"] == 5e-5
    assert {g["lr"] for opt in ("opt_G", "opt_D") for g in state[opt]["param_groups"]} == {5e-5}


def test_resume_refuses_other_data_and_says_when_nothing_is_left(tmp_path, capsys):
    photos, others = training_photos(tmp_path / "photos", n=3), tmp_path / "others"
    shutil.copytree(photos, others)
    run = tmp_path / "run"
    args = [*TRAIN, "--out", str(run), "--resume"]
    assert main([*TRAIN, "--data", str(photos), "--out", str(run), "--steps", "1"]) == 0
    capsys.readouterr()
    assert main([*args, "--data", str(others), "--steps", "2"]) == 2
    assert "add --new-data" in one_line(capsys.readouterr().err)
    assert main([*args, "--steps", "2"]) == 2
    assert "this command has no --data" in one_line(capsys.readouterr().err)
    before = (run / "checkpoint.pt").read_bytes()
    assert main([*args, "--data", str(photos), "--steps", "1"]) == 0
    assert "Nothing to do: the checkpoint" in capsys.readouterr().out
    assert (run / "checkpoint.pt").read_bytes() == before
    assert main([*args, "--data", str(others), "--new-data", "--steps", "2"]) == 0
    assert read_checkpoint(run / "checkpoint.pt")["step"] == 2


def test_a_run_folder_inside_the_data_is_never_training_data(tmp_path, capsys):
    photos = training_photos(tmp_path / "photos", n=5)
    args = ["train", "--profile", "quick", "--batch-size", "2", "--sample-every", "1", "--data", str(photos),
            "--out", str(photos / "run")]
    assert main([*args, "--steps", "1"]) == 0
    assert list((photos / "run" / "samples").glob("*.png"))  # a sample grid lies inside --data now
    first = re.search(r"\d+ train / \d+ val", capsys.readouterr().out).group()
    assert main([*args, "--steps", "2", "--resume"]) == 0
    assert re.search(r"\d+ train / \d+ val", capsys.readouterr().out).group() == first == "4 train / 1 val"


def test_sigterm_while_colorizing_says_how_many_were_written(tmp_path, checkpoint, capsys, monkeypatch):
    from course_utils.errors import Terminated

    photos = training_photos(tmp_path / "photos", n=3)
    real_save, saves = Image.Image.save, []

    def stop_on_the_second(self, fp, *a, **k):
        saves.append(fp)
        if len(saves) == 2:
            raise Terminated()
        return real_save(self, fp, *a, **k)

    monkeypatch.setattr(Image.Image, "save", stop_on_the_second)
    args = ["colorize", "--checkpoint", str(checkpoint), str(photos), "--out", str(tmp_path / "o")]
    assert main(args) == 143
    assert "1 photo(s) written before SIGTERM" in one_line(capsys.readouterr().err)


def test_a_photo_named_like_an_option(tmp_path, checkpoint, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Image.new("RGB", (20, 10), "olive").save(tmp_path / "-x.jpg")
    with pytest.raises(SystemExit) as stop:
        main(["colorize", "--checkpoint", str(checkpoint), "--out", "o", "-x.jpg"])
    assert stop.value.code == 2
    assert "-x.jpg is a file: a name that starts with '-' goes after --" in one_line(capsys.readouterr().err)
    assert main(["colorize", "--checkpoint", str(checkpoint), "--out", "o", "--", "-x.jpg"]) == 0


def test_a_samples_or_data_folder_that_is_a_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "datafile").write_text("a file")
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "datafile"))
    photos = training_photos(tmp_path / "photos", n=3)
    assert main([*TRAIN, "--data", str(photos), "--out", str(tmp_path / "run"), "--steps", "1"]) == 2
    assert "datafile is a file, not a folder" in one_line(capsys.readouterr().err)
