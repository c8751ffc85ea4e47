"""On a CUDA GPU (skipped elsewhere): a training step and its data never make the host wait for the GPU,
and a non-finite loss changes no weight on both mixed-precision paths (bf16, and a T4's fp16 + scaler)."""

import pytest
import torch
from helpers import training_photos

from course_utils.data import make_dataloaders
from course_utils.errors import NonFiniteLossError
from course_utils.train import Pix2Pix, Pix2PixConfig, Precision

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
TINY = Pix2PixConfig(image_size=32, num_downs=5, ngf=8, ndf=8)


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))


def loaders(tmp_path, resident: bool):
    photos = sorted(training_photos(tmp_path / f"photos{resident}", n=10).glob("*.png"))
    return make_dataloaders(photos[:8], photos[8:], size=32, batch_size=4, device="cuda", seed=1,
                            resident=resident)


def fp16_with_scaler(trainer: Pix2Pix) -> Pix2Pix:
    """A T4's precision (fp16 and a gradient scaler), forced on this GPU."""
    trainer.precision = Precision("cuda", torch.float16, use_scaler=True, channels_last=True)
    trainer.scaler = torch.amp.GradScaler("cuda")
    return trainer


@pytest.mark.parametrize("resident", [False, True])
@pytest.mark.parametrize("precision", ["native", "fp16"])
def test_steps_and_their_batches_never_wait_for_the_gpu(tmp_path, resident, precision):
    train_loader, _ = loaders(tmp_path, resident)
    torch.manual_seed(0)
    trainer = Pix2Pix(TINY, device="cuda")
    if precision == "fp16":
        fp16_with_scaler(trainer)
    batches = iter(train_loader)
    trainer.train_step(next(batches))  # the first step makes the optimisers' state
    torch.cuda.set_sync_debug_mode("error")  # any synchronising call raises
    try:
        trainer.train_step(next(batches))
    finally:
        torch.cuda.set_sync_debug_mode(0)
    assert len(trainer.history) == 2


def test_the_cache_in_gpu_memory_gives_the_batches_of_the_host_path(tmp_path):
    host, kept = loaders(tmp_path, False)[0], loaders(tmp_path, True)[0]
    assert kept.dataset.resident is not None and kept.dataset.resident.is_cuda
    for a, b in zip(host, kept, strict=True):
        assert all(torch.equal(a[k], b[k]) for k in ("L", "ab"))


@pytest.mark.parametrize("precision", ["native", "fp16"])
def test_a_non_finite_loss_changes_no_weight_on_the_gpu(precision):
    torch.manual_seed(0)
    trainer = Pix2Pix(TINY, device="cuda")
    if precision == "fp16":
        fp16_with_scaler(trainer)
    g = torch.Generator().manual_seed(0)
    good = {"L": torch.rand(4, 1, 32, 32, generator=g) * 2 - 1,
            "ab": torch.rand(4, 2, 32, 32, generator=g) - 0.5}
    trainer.train_step(good)
    before = [p.detach().clone() for net in (trainer.G, trainer.D) for p in net.parameters()]
    bad = {k: v.clone() for k, v in good.items()}
    bad["L"][0, 0, 0, 0] = float("nan")
    trainer.train_step(bad)
    trainer.train_step(good)
    after = [p.detach() for net in (trainer.G, trainer.D) for p in net.parameters()]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    with pytest.raises(NonFiniteLossError, match="at step 2"):
        len(trainer.history)
