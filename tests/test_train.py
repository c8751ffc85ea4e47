"""The Pix2Pix trainer: losses, learning, precision choice, checkpoints, exact resume, interrupts."""

import errno
import math
import os
import signal

import pytest
import torch

from course_utils import checkpoint as checkpoint_mod
from course_utils.errors import DiskFullError, SaveAbandoned, Terminated
from course_utils.train import (
    CheckpointError,
    GANLoss,
    NonFiniteLossError,
    Pix2Pix,
    Pix2PixConfig,
    choose_precision,
    read_checkpoint,
    write_loss_log,
)

TINY = Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)


def make_batch(seed: int, n: int = 4, size: int = 32) -> dict:
    """Photos-like pairs: ab is a smooth function of L, so there is something to learn."""
    g = torch.Generator().manual_seed(seed)
    L = torch.nn.functional.avg_pool2d(torch.rand(n, 1, size, size, generator=g) * 2 - 1, 5, 1, 2)
    ab = torch.cat([0.5 * L, -0.3 * L.flip(-1)], dim=1)
    return {"L": L, "ab": ab}


def trainer(seed: int = 0, config: Pix2PixConfig = TINY) -> Pix2Pix:
    torch.manual_seed(seed)
    return Pix2Pix(config)


def test_gan_loss_of_an_undecided_discriminator_is_log_2():
    logits = torch.zeros(2, 1, 4, 4)  # sigmoid(0) = 0.5: "real" and "fake" equally likely
    assert GANLoss()(logits, real=True).item() == pytest.approx(math.log(2))
    assert GANLoss()(logits, real=False).item() == pytest.approx(math.log(2))
    assert GANLoss("lsgan")(logits, real=True).item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="gan_mode"):
        GANLoss("wgan")


def test_paper_settings():
    t = trainer()
    for opt in (t.opt_G, t.opt_D):
        assert opt.param_groups[0]["lr"] == 2e-4
        assert opt.param_groups[0]["betas"] == (0.5, 0.999)
    assert t.config.lambda_l1 == 100.0
    conv = t.G.down[1][1].weight
    assert abs(conv.std().item() - 0.02) < 0.005  # N(0, 0.02) initialisation


def test_precision_choice(monkeypatch):
    cpu = choose_precision("cpu")
    assert (cpu.dtype, cpu.use_scaler, cpu.channels_last) == (None, False, False)
    # is_bf16_supported() says yes on a T4 too (emulation): the choice must go by the hardware
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    for name, capability in (("A100", (8, 0)), ("H100", (9, 0))):
        monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None, c=capability: c)
        bf16 = choose_precision("cuda")
        assert (bf16.dtype, bf16.use_scaler, bf16.channels_last) == (torch.bfloat16, False, True), name
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))  # a T4
    fp16 = choose_precision("cuda")
    assert (fp16.dtype, fp16.use_scaler, fp16.channels_last) == (torch.float16, True, True)
    assert choose_precision("cuda", amp=False).dtype is None


def test_training_lowers_l1_on_a_fixed_batch():
    t, batch = trainer(), make_batch(1)
    losses = [t.train_step(batch)["loss_G_L1"] for _ in range(30)]
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5  # about 0.65 for seeds 0-2
    assert t.step == 30 and len(t.history) == 30


def test_discriminator_is_frozen_during_generator_step(monkeypatch):
    t, seen = trainer(), []
    original = t.gan_loss.forward

    def spy(logits, real):
        seen.append((real, any(p.requires_grad for p in t.D.parameters())))
        return original(logits, real)

    monkeypatch.setattr(t.gan_loss, "forward", spy)
    t.train_step(make_batch(0))
    # D's two terms with D trainable, then G's adversarial term with D frozen
    assert seen == [(True, True), (False, True), (True, False)]


def weights_of(t: Pix2Pix) -> list[torch.Tensor]:
    return [p.detach().clone() for net in (t.G, t.D) for p in net.parameters()]


def test_a_non_finite_loss_changes_no_weight_and_is_reported_when_the_losses_are_read():
    t, batch = trainer(), make_batch(0)
    t.train_step(make_batch(1))
    before = weights_of(t)
    batch["L"][0, 0, 0, 0] = float("nan")
    t.train_step(batch)  # no read of the device: it cannot raise here
    t.train_step(make_batch(2))  # a good batch after a bad one: still no weight changes
    assert all(torch.equal(a, b) for a, b in zip(before, weights_of(t), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(before, weights_of(trainer()), strict=True))  # step 1
    with pytest.raises(NonFiniteLossError, match=r"at step 2 .*no weight was changed by that step, nor by"):
        len(t.history)
    with pytest.raises(NonFiniteLossError):  # the losses stay unread: nothing saves a halted trainer
        t.state_dict()


def test_fit_stops_on_a_non_finite_loss_within_log_every_steps(monkeypatch):
    t = trainer()
    batches = [make_batch(i) for i in range(12)]
    l1_loss, calls = torch.nn.functional.l1_loss, []

    def l1_inf_at_step_4(*args):  # G's loss alone: D's update of step 4 is applied
        calls.append(1)
        return l1_loss(*args) * (float("inf") if len(calls) == 4 else 1.0)

    monkeypatch.setattr(torch.nn.functional, "l1_loss", l1_inf_at_step_4)
    seen = []
    with pytest.raises(NonFiniteLossError, match=r"at step 4 .*D's update of that step was applied, G's"):
        t.fit(batches, steps=12, progress=False, log_every=5, on_step=lambda t: seen.append(t.step))
    assert seen == [1, 2, 3, 4]  # read at step 5, before on_step: no later step ran


def test_fused_adam_gives_the_same_weights_as_the_plain_adam():
    fused, plain = trainer(), trainer()
    adam = {"lr": plain.config.lr, "betas": (plain.config.beta1, plain.config.beta2), "foreach": False}
    plain.opt_G = torch.optim.Adam(plain.G.parameters(), **adam)
    plain.opt_D = torch.optim.Adam(plain.D.parameters(), **adam)
    plain._update = lambda loss, opt: (loss.backward(), opt.step())
    assert fused.opt_G.defaults["fused"] and not plain.opt_G.defaults["fused"]
    for i in range(5):
        torch.manual_seed(i)
        fused.train_step(make_batch(i))
        torch.manual_seed(i)
        plain.train_step(make_batch(i))
    for a, b in zip(weights_of(fused), weights_of(plain), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    assert max((a - b).abs().max().item() for a, b in zip(weights_of(fused), weights_of(trainer()),
                                                           strict=True)) > 1e-4  # the weights did move


READS = ("item", "tolist", "numpy", "__bool__", "__float__", "__int__", "__index__", "__format__")


def test_a_step_never_reads_the_device_between_log_points(monkeypatch):
    t = trainer()
    batches = [make_batch(i) for i in range(8)]
    t.fit(batches[:2], steps=2, progress=False)  # warm-up: lazy state of the optimisers
    reads = []

    def counting(name):
        method = getattr(torch.Tensor, name)

        def counted(self, *args, **kwargs):
            reads.append(name)
            return method(self, *args, **kwargs)
        return counted

    for name in READS:
        monkeypatch.setattr(torch.Tensor, name, counting(name))
    t.fit(batches, steps=42, progress=False, log_every=20)
    monkeypatch.undo()
    assert t.step == 42 and len(t.history) == 42
    assert len(reads) <= 40, (len(reads), sorted(set(reads)))


def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tmp_path):
    batches = [make_batch(i) for i in range(6)]
    full = trainer(seed=0)
    full.fit(batches, steps=6, progress=False)

    first = trainer(seed=0)
    first.fit(batches[:3], steps=3, checkpoint=tmp_path / "ck.pt", progress=False)
    resumed = trainer(seed=123).resume(tmp_path / "ck.pt")  # other seed: everything must come from the file
    assert resumed.step == 3
    resumed.fit(batches[3:], steps=6, progress=False)
    assert resumed.history == full.history  # every loss of every step, bit for bit
    for a, b in zip(resumed.G.state_dict().values(), full.G.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_checkpoint_round_trip_and_weights_only(tmp_path):
    t = trainer()
    t.train_step(make_batch(0))
    path = t.save(tmp_path / "ck.pt")
    assert not list(tmp_path.glob("*.tmp"))
    state = torch.load(path, map_location="cpu", weights_only=True)
    assert state["step"] == 1 and state["config"]["ngf"] == 8
    loaded = Pix2Pix.from_checkpoint(path)
    assert loaded.config == TINY
    for a, b in zip(loaded.D.state_dict().values(), t.D.state_dict().values(), strict=True):
        assert torch.equal(a, b)

    class Evil:  # a pickle that runs code must not load
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"config": {}, "G": Evil(), "step": 0}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="other than tensors"):
        read_checkpoint(tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="No checkpoint"):
        read_checkpoint(tmp_path / "missing.pt")


def test_a_failed_save_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    t = trainer()
    path = t.save(tmp_path / "ck.pt")
    t.train_step(make_batch(0))

    def broken_save(obj, f):
        f.write(b"half a file")
        raise OSError("disk full")

    monkeypatch.setattr(checkpoint_mod.torch, "save", broken_save)
    with pytest.raises(OSError, match="disk full"):
        t.save(path)
    monkeypatch.undo()
    assert read_checkpoint(path)["step"] == 0
    assert not list(tmp_path.glob("*.tmp"))


def test_architecture_mismatch_is_named(tmp_path):
    path = trainer().save(tmp_path / "ck.pt")
    wider = Pix2PixConfig(image_size=32, num_downs=5, ngf=16, ndf=8)
    with pytest.raises(CheckpointError, match="ngf: checkpoint 8 vs model 16"):
        trainer(config=wider).resume(path)
    state = read_checkpoint(path)
    state["G"].pop("down.0.0.weight")
    with pytest.raises(CheckpointError, match="missing down.0.0.weight"):
        trainer().load_state_dict(state)


def test_an_interrupt_saves_a_checkpoint(tmp_path):
    def batches():
        for i in range(10):
            if i == 3:
                raise KeyboardInterrupt
            yield make_batch(i)

    t = trainer()
    with pytest.raises(KeyboardInterrupt):
        t.fit(batches(), steps=10, checkpoint=tmp_path / "ck.pt", progress=False)
    assert read_checkpoint(tmp_path / "ck.pt")["step"] == 3


@pytest.mark.skipif(not hasattr(signal, "SIGINT") or os.name == "nt", reason="needs POSIX signals")
def test_ctrl_c_lets_the_step_finish_then_saves(tmp_path):
    def press_ctrl_c(t):
        if t.step == 2:
            os.kill(os.getpid(), signal.SIGINT)

    t = trainer()
    with pytest.raises(KeyboardInterrupt):
        t.fit([make_batch(0)], steps=10, checkpoint=tmp_path / "ck.pt", on_step=press_ctrl_c, progress=False)
    assert t.step == 2 and read_checkpoint(tmp_path / "ck.pt")["step"] == 2
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handler restored


def test_loss_log_csv(tmp_path):
    t = trainer()
    t.fit([make_batch(0)], steps=2, progress=False)
    lines = write_loss_log(t.history, tmp_path / "losses.csv").read_text().splitlines()
    assert lines[0] == "step,loss_D,loss_D_real,loss_D_fake,loss_G,loss_G_GAN,loss_G_L1"
    assert len(lines) == 3 and lines[2].startswith("2,")


def test_empty_data_is_a_clear_error():
    with pytest.raises(ValueError, match="no batch"):
        trainer().fit([], steps=1, progress=False)


# --------------------------------------------------------------------------- hardening and exact resume
def test_config_values_are_checked():
    with pytest.raises(ValueError, match=r"ngf=0 \(must be a whole number >= 1\); lr=-1"):
        Pix2PixConfig(ngf=0, lr=-1)
    with pytest.raises(ValueError, match="not a multiple of 2\\*\\*num_downs = 256"):
        Pix2PixConfig(image_size=128)


def photo_loader(tmp_path, monkeypatch, n=10, batch_size=2):
    """A real training loader (pixel cache, seeded jitter, seekable sampler) over n random photos."""
    import numpy as np
    from PIL import Image

    from course_utils.data import make_dataloaders

    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        paths.append(tmp_path / f"p{i}.png")
        Image.fromarray(rng.integers(0, 255, (40, 44, 3), dtype=np.uint8)).save(paths[-1])
    return make_dataloaders(paths, paths[:1], 32, batch_size, device="cpu", seed=7)[0]


def same_state(a: Pix2Pix, b: Pix2Pix) -> bool:
    pairs = [(x, y) for net in ("G", "D") for x, y in
             zip(getattr(a, net).state_dict().values(), getattr(b, net).state_dict().values(), strict=True)]
    return a.history == b.history and all(torch.equal(x, y) for x, y in pairs)


def test_resume_mid_pass_repeats_an_uninterrupted_run_bit_for_bit(tmp_path, monkeypatch):
    loader = photo_loader(tmp_path, monkeypatch)  # 5 batches a pass
    full = trainer(seed=0)
    full.fit(loader, steps=8, progress=False)

    first = trainer(seed=0)
    first.fit(loader, steps=3, checkpoint=tmp_path / "ck.pt", progress=False)  # stops in pass 0
    torch.randn(100)  # anything may happen to the random generators in between
    resumed = trainer(seed=99).resume(tmp_path / "ck.pt")
    assert (resumed.epoch, resumed.batch_in_pass) == (0, 3)
    resumed.fit(loader, steps=8, progress=False)
    assert (resumed.epoch, resumed.batch_in_pass) == (1, 3) == (full.epoch, full.batch_in_pass)
    assert same_state(resumed, full)


def test_loaders_leave_the_global_random_generator_alone(tmp_path, monkeypatch):
    loader = photo_loader(tmp_path, monkeypatch)
    state = torch.get_rng_state()
    loader.set_epoch(3, start=1)
    for _ in loader:
        pass
    assert torch.equal(state, torch.get_rng_state())


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
def test_sigterm_lets_the_step_finish_then_saves(tmp_path):
    def send_sigterm(t):
        if t.step == 2:  # twice, as a scheduler and torchrun may both send it: the save still happens
            os.kill(os.getpid(), signal.SIGTERM)
            os.kill(os.getpid(), signal.SIGTERM)

    t = trainer()
    with pytest.raises(Terminated, match="stopped at step 2; checkpoint saved"):
        t.fit([make_batch(0)], steps=10, checkpoint=tmp_path / "ck.pt", on_step=send_sigterm, progress=False)
    assert t.step == 2 and read_checkpoint(tmp_path / "ck.pt")["step"] == 2
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


@pytest.mark.skipif(os.name == "nt", reason="needs POSIX signals")
def test_a_second_interrupt_during_the_save_is_reported(tmp_path, monkeypatch):
    def press_ctrl_c(t):
        if t.step == 3:
            os.kill(os.getpid(), signal.SIGINT)

    def slow_save(state, f):  # the second Ctrl-C arrives while the file is being written
        f.write(b"half a checkpoint")
        os.kill(os.getpid(), signal.SIGINT)

    t = trainer()
    t.fit([make_batch(0)], steps=2, checkpoint=tmp_path / "ck.pt", progress=False)
    monkeypatch.setattr(checkpoint_mod.torch, "save", slow_save)
    with pytest.raises(SaveAbandoned, match=r"abandoned the save of step 3: .*ck.pt holds step 2"):
        t.fit([make_batch(0)], steps=10, checkpoint=tmp_path / "ck.pt", on_step=press_ctrl_c, progress=False)
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "ck.pt")["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_a_full_disk_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    t = trainer()
    t.fit([make_batch(0)], steps=2, checkpoint=tmp_path / "ck.pt", progress=False)

    def full_disk(state, f):
        f.write(b"the start of a checkpoint")
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint_mod.torch, "save", full_disk)
    with pytest.raises(DiskFullError, match=r"save step 4: .*ck.pt holds step 2"):
        t.fit([make_batch(0)], steps=4, checkpoint=tmp_path / "ck.pt", checkpoint_every=2, progress=False)
    monkeypatch.undo()
    assert read_checkpoint(tmp_path / "ck.pt")["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ck.pt"]


def test_the_loss_log_is_written_after_each_checkpoint(tmp_path):
    seen = []

    def after_save(t):
        seen.append((t.step, t.saved_step, read_checkpoint(tmp_path / "ck.pt")["step"]))

    trainer().fit([make_batch(0)], steps=5, checkpoint=tmp_path / "ck.pt", checkpoint_every=2, progress=False,
                  after_save=after_save)
    assert seen == [(2, 2, 2), (4, 4, 4), (5, 5, 5)]


def test_the_text_progress_bar_ends_in_its_final_state(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_PROGRESS", "text")
    trainer().fit([make_batch(0)], steps=3)
    final = capsys.readouterr().out.replace("\r", "\n").strip().splitlines()[-1]
    assert "100%" in final and "3/3" in final and "img/s" in final


def test_fit_on_a_one_shot_iterator_says_it_needs_a_loader():
    t = trainer()
    with pytest.raises(ValueError, match="ran out after 2 batches.*not a one-shot iterator"):
        t.fit(iter([make_batch(0), make_batch(1)]), steps=3, progress=False)
    assert t.step == 2
