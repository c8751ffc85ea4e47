"""The ResNet-18 U-Net, its ImageNet weights (a local server, or a filled cache), L1 pre-training."""

import hashlib
import http.server
import socket
import threading
from dataclasses import asdict

import pytest
import torch
from torchvision.models import resnet18

from course_utils import imagenet
from course_utils.checkpoint import save_checkpoint
from course_utils.colorize import load_generator
from course_utils.errors import CheckpointError
from course_utils.models import resnet18_unet
from course_utils.pretrain import fine_tuner, new_generator, pretrain_l1
from course_utils.train import Pix2PixConfig, check_architecture
from course_utils.weights import cache_path

RESNET = Pix2PixConfig(image_size=32, num_downs=5, ngf=4, ndf=4, generator="resnet18_unet")


@pytest.fixture(scope="module")
def encoder_file(tmp_path_factory):
    """A ResNet-18 state dict (random, standing in for ImageNet's) as file bytes and their SHA-256."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("resnet") / "resnet18.pth"
    torch.save(resnet18().state_dict(), path)
    body = path.read_bytes()
    return body, hashlib.sha256(body).hexdigest()


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def serve(body: bytes):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()
    return httpd


def test_the_resnet_unet_maps_L_to_bounded_ab_and_starts_from_the_encoder_weights(encoder_file, tmp_path):
    state = torch.load(_saved(encoder_file, tmp_path), weights_only=True)
    G = resnet18_unet(64, state)
    out = G(torch.randn(2, 1, 64, 64))
    assert out.shape == (2, 2, 64, 64) and out.abs().max() <= 1
    first = next(m for m in G.modules() if isinstance(m, torch.nn.Conv2d))  # one channel: the RGB sum
    assert torch.allclose(first.weight[:, 0], state["conv1.weight"].sum(1), atol=1e-6)
    with pytest.raises(ValueError, match="multiple of 32"):
        resnet18_unet(48)


def _saved(encoder_file, tmp_path):
    path = tmp_path / "resnet18.pth"
    path.write_bytes(encoder_file[0])
    return path


def test_imagenet_weights_are_downloaded_once_with_a_progress_bar_and_checked(encoder_file, data_home,
                                                                               tmp_path, capsys):
    body, sha = encoder_file
    httpd = serve(body)
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/models/resnet18.pth"
        state = imagenet.encoder_weights(url, sha)
        assert "downloading resnet18.pth" in capsys.readouterr().err  # tqdm's bar
        assert cache_path(url, sha).read_bytes() == body
        wrong = hashlib.sha256(b"other").hexdigest()
        assert imagenet.encoder_weights(url, wrong, progress=False) is None
        assert "not the expected file" in capsys.readouterr().out
    finally:
        httpd.shutdown()
        httpd.server_close()
    original = torch.load(_saved(encoder_file, tmp_path), weights_only=True)
    assert torch.equal(state["fc.weight"], original["fc.weight"])
    assert set(state) == set(resnet18().state_dict())


def test_a_filled_cache_serves_the_default_url_offline(encoder_file, data_home, monkeypatch):
    body, sha = encoder_file
    monkeypatch.setattr(imagenet, "RESNET18_SHA256", sha)  # the stand-in's hash: a cache is re-hashed
    target = cache_path(imagenet.RESNET18_URL, imagenet.RESNET18_SHA256)
    target.parent.mkdir(parents=True)
    target.write_bytes(body)
    assert set(imagenet.encoder_weights()) == set(resnet18().state_dict())


def test_offline_it_says_so_in_one_line_and_trains_from_random_weights(data_home, capsys):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert imagenet.encoder_weights(f"http://127.0.0.1:{port}/r.pth", imagenet.RESNET18_SHA256) is None
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and imagenet.WITHOUT in out


def test_l1_pretraining_lowers_the_loss_and_the_trainer_starts_from_it():
    torch.manual_seed(0)
    config = Pix2PixConfig(image_size=16, num_downs=4, ngf=8, ndf=4, dropout=0.0)
    L = torch.rand(4, 1, 16, 16) * 2 - 1
    batch = {"L": L, "ab": torch.cat([0.4 * L, -0.3 * L], 1)}  # colours that the gray level decides
    G = new_generator(config)
    losses = pretrain_l1(G, [batch], steps=60, lr=1e-3)
    assert len(losses) == 60 and losses[-1] < 0.5 * losses[0]
    trainer = fine_tuner(config, G)
    assert all(torch.equal(a, b) for a, b in zip(trainer.G.state_dict().values(), G.state_dict().values(),
                                                 strict=True))
    with pytest.raises(ValueError, match="no batch"):
        pretrain_l1(G, [], steps=1)


def test_a_checkpoint_records_its_generator_and_old_ones_load_as_the_unet(tmp_path):
    config = Pix2PixConfig(image_size=16, num_downs=4, ngf=4, ndf=4)
    old = {k: v for k, v in asdict(config).items() if k != "generator"}  # written before the field
    G = config.build_generator().state_dict()
    save_checkpoint({"config": old, "G": G, "step": 3}, tmp_path / "old.pt")
    assert load_generator(tmp_path / "old.pt")[1].generator == "unet"
    trainer = fine_tuner(RESNET, new_generator(RESNET))
    trainer.save(tmp_path / "resnet.pt")
    G, loaded = load_generator(tmp_path / "resnet.pt")
    assert loaded.generator == "resnet18_unet" and G(torch.zeros(1, 1, 32, 32)).shape == (1, 2, 32, 32)
    with pytest.raises(CheckpointError, match="generator: checkpoint resnet18_unet vs model unet"):
        check_architecture(loaded, config)
    with pytest.raises(ValueError, match="generator='vgg'"):
        Pix2PixConfig(generator="vgg")
