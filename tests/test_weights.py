"""Checkpoints by URL, served by a local HTTP server on 127.0.0.1: never the internet."""

import hashlib
import http.server
import io
import socket
import threading
import time
from dataclasses import asdict

import pytest
import torch
import tqdm
from helpers import one_line

from course_utils import weights
from course_utils.__main__ import main
from course_utils.colorize import load_generator
from course_utils.errors import CheckpointError
from course_utils.train import Pix2PixConfig
from course_utils.weights import DownloadError, fetch, resolve_checkpoint


def tiny_checkpoint() -> bytes:
    """A real course checkpoint (a small generator and its config), as the bytes of a file."""
    config = Pix2PixConfig(image_size=16, num_downs=4, ngf=4, ndf=4)
    buffer = io.BytesIO()
    torch.save({"config": asdict(config), "G": config.build_generator().state_dict(), "step": 7}, buffer)
    return buffer.getvalue()


BODY = tiny_checkpoint()
SHA = hashlib.sha256(BODY).hexdigest()


class Handler(http.server.BaseHTTPRequestHandler):
    requests = []  # paths asked for, in order

    def do_GET(self):
        type(self).requests.append(self.path)
        if self.path == "/files/generator.pt":
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        elif self.path == "/files/short.pt":  # promises the whole file, sends half, hangs up
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY[: len(BODY) // 2])
            self.close_connection = True
        elif self.path == "/files/endless.pt":  # no Content-Length, and far more than the test's cap
            self.send_response(200)
            self.end_headers()
            self._send_bounded(b"x" * (64 << 10), times=64, pause=0)  # 4 MiB at most: a test's bound
        elif self.path == "/files/huge.pt":  # announces a terabyte
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self._send_bounded(b"x" * 1000, times=1, pause=0)
        elif self.path == "/files/trickle.pt":  # a byte every 20 ms, for 2 s at most
            self.send_response(200)
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self._send_bounded(b"x", times=100, pause=0.02)
        elif self.path == "/files/loop.pt":
            self.send_response(302)
            self.send_header("Location", "/files/loop.pt")
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self.send_error(404)

    def _send_bounded(self, chunk: bytes, times: int, pause: float):
        """Send ``chunk`` ``times`` times at most (``pause`` s apart), then hang up: bounded output."""
        try:
            for _ in range(times):
                self.wfile.write(chunk)
                self.wfile.flush()
                time.sleep(pause)
        except OSError:  # the client gave up: what the tests want
            pass
        self.close_connection = True

    def log_message(self, *args):  # keep the test output clean
        pass


@pytest.fixture
def server():
    """Base URL of a server on 127.0.0.1; it stops after the test, or after 60 s whatever happens."""
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True).start()  # quick to shut down
    deadline = threading.Timer(60, httpd.shutdown)
    deadline.daemon = True
    deadline.start()
    Handler.requests = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    deadline.cancel()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def files_under(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_download_is_checked_cached_and_loads_like_a_local_checkpoint(server, data_home):
    url = f"{server}/files/generator.pt"
    path = fetch(url, SHA.upper(), progress=False)  # hashes are read in either case
    assert path == data_home / "cache" / "weights" / SHA / "generator.pt"
    assert path.read_bytes() == BODY
    assert files_under(data_home) == [f"cache/weights/{SHA}/generator.pt"]  # no partial file left
    G, config = load_generator(path)
    assert config.ngf == 4 and not G.training
    assert resolve_checkpoint(url, SHA) == path
    assert Handler.requests == ["/files/generator.pt"]  # the second time: the cache, not the network


def test_wrong_hash_keeps_nothing(server, data_home):
    wrong = hashlib.sha256(b"another file").hexdigest()
    with pytest.raises(DownloadError, match="not the expected file") as err:
        fetch(f"{server}/files/generator.pt", wrong, progress=False)
    assert SHA in str(err.value) and wrong in str(err.value)
    assert files_under(data_home) == []


def test_missing_file_is_a_clear_error(server, data_home):
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{server}/files/nothing.pt", SHA, progress=False)
    assert files_under(data_home) == []


def test_truncated_body_keeps_nothing(server, data_home):
    with pytest.raises(DownloadError, match="broke off"):
        fetch(f"{server}/files/short.pt", SHA, progress=False)
    assert files_under(data_home) == []


def test_unreachable_host_is_a_clear_error(data_home):
    with socket.socket() as sock:  # a port that was free a moment ago: nobody answers there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match="Cannot reach 127.0.0.1"):
        fetch(f"http://127.0.0.1:{port}/generator.pt", SHA, timeout=5, progress=False)
    assert files_under(data_home) == []


def test_interrupted_download_keeps_nothing(server, data_home, monkeypatch):
    def interrupt(self, n=1):
        raise KeyboardInterrupt

    monkeypatch.setattr(tqdm.tqdm, "update", interrupt)  # Ctrl-C after the first chunk has been written
    with pytest.raises(KeyboardInterrupt):
        fetch(f"{server}/files/generator.pt", SHA, progress=False)
    assert files_under(data_home) == []


@pytest.mark.parametrize("sha", [None, "", "abc123", "g" * 64])
def test_a_url_needs_a_valid_hash_before_any_download(server, data_home, sha):
    with pytest.raises(DownloadError, match="SHA-256"):
        resolve_checkpoint(f"{server}/files/generator.pt", sha)
    assert Handler.requests == []


def test_local_paths_are_returned_as_they_are(tmp_path):
    checkpoint = tmp_path / "checkpoint.pt"
    checkpoint.write_bytes(BODY)
    assert resolve_checkpoint(checkpoint) == checkpoint
    assert resolve_checkpoint(str(checkpoint)) == checkpoint
    with pytest.raises(CheckpointError, match="No checkpoint at"):  # said once, by read_checkpoint
        load_generator(tmp_path / "missing.pt")


def test_cache_names_are_plain_file_names(data_home):
    path = weights.cache_path("https://example.org/a/..%2Fmodel%20v1.pt?download=true", SHA)
    assert path.parent == data_home / "cache" / "weights" / SHA and path.name == "_model_v1.pt"
    assert weights.cache_path("https://example.org/", SHA).name == "download"


def test_nothing_published_means_none(monkeypatch, server, data_home):
    monkeypatch.setattr(weights, "WEIGHTS_URL", "")
    assert weights.published_checkpoint() is None
    monkeypatch.setattr(weights, "WEIGHTS_URL", f"{server}/files/generator.pt")
    monkeypatch.setattr(weights, "WEIGHTS_SHA256", SHA)
    assert weights.published_checkpoint().read_bytes() == BODY


def test_the_command_line_colorizes_with_a_checkpoint_by_url(server, data_home, tmp_path, capsys):
    from PIL import Image

    photo = tmp_path / "photo.png"
    Image.new("RGB", (40, 30), "olive").save(photo)
    url = f"{server}/files/generator.pt"
    wrong = hashlib.sha256(b"another file").hexdigest()
    args = ["colorize", "--checkpoint", url, str(photo), "--out", str(tmp_path / "out")]
    assert main([*args, "--sha256", wrong]) == 2
    assert "not the expected file" in one_line(capsys.readouterr().err)
    assert not (data_home / "cache" / "weights" / wrong).exists() or files_under(data_home / "cache") == []
    assert main(args) == 2 and "No SHA-256 given" in capsys.readouterr().err
    assert main([*args, "--sha256", SHA]) == 0
    assert (tmp_path / "out" / "photo_color.png").is_file()


# ------------------------------------------------------------------------ trust boundaries (issue 19)
def test_a_download_is_capped_in_size(server, data_home, monkeypatch):
    monkeypatch.setattr(weights, "MAX_BYTES", 256 << 10)  # the real cap is 4 GiB
    with pytest.raises(DownloadError, match="more than the 262,144 bytes"):
        fetch(f"{server}/files/endless.pt", SHA, progress=False)  # no Content-Length: counted as it comes
    with pytest.raises(DownloadError, match="its Content-Length"):
        fetch(f"{server}/files/huge.pt", SHA, progress=False)  # refused before the body is read
    assert files_under(data_home) == []


def test_a_trickle_is_abandoned(server, data_home, monkeypatch):
    monkeypatch.setattr(weights, "STALL_SECONDS", 0.3)  # the real limit is 90 s
    monkeypatch.setattr(weights, "STALL_BYTES", 1000)
    start = time.monotonic()
    with pytest.raises(DownloadError, match="broke off .*under 1,000 bytes in 0.3 s"):
        fetch(f"{server}/files/trickle.pt", SHA, progress=False)  # a byte every 20 ms: never a timeout
    assert time.monotonic() - start < 1.5  # not the 2 s the server would trickle for
    assert files_under(data_home) == []


def test_a_damaged_cache_file_is_downloaded_again(server, data_home):
    path = fetch(f"{server}/files/generator.pt", SHA, progress=False)
    path.write_bytes(b"damaged on disk")
    assert fetch(f"{server}/files/generator.pt", SHA, progress=False).read_bytes() == BODY
    assert Handler.requests == ["/files/generator.pt"] * 2


def test_a_redirect_loop_is_one_line(server, data_home):
    with pytest.raises(DownloadError, match="redirects in a loop") as err:
        fetch(f"{server}/files/loop.pt", SHA, progress=False)
    assert "\n" not in str(err.value)


def test_a_local_checkpoint_is_checked_against_its_hash(tmp_path, capsys):
    from PIL import Image

    checkpoint, photo = tmp_path / "checkpoint.pt", tmp_path / "photo.png"
    checkpoint.write_bytes(BODY)
    Image.new("RGB", (40, 30), "olive").save(photo)
    wrong = hashlib.sha256(b"another file").hexdigest()
    args = ["colorize", "--checkpoint", str(checkpoint), str(photo), "--out", str(tmp_path / "out")]
    assert main([*args, "--sha256", wrong]) == 2
    assert "not the expected file" in one_line(capsys.readouterr().err)
    assert not (tmp_path / "out").exists()  # nothing written
    assert main([*args, "--sha256", SHA]) == 0 and (tmp_path / "out" / "photo_color.png").is_file()
