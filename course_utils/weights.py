"""Checkpoints by URL: downloaded once into the data folder's cache, checked against their SHA-256.

    path = resolve_checkpoint("https://.../checkpoint.pt", sha256="9f2c...")  # or a local path

A download streams into a hidden partial file beside its final place while its SHA-256 is computed;
only a complete file with the expected hash is renamed into place. Any failure (HTTP error, lost
connection, short body, wrong hash, a body over ``MAX_BYTES``, no progress for ``STALL_SECONDS``,
Ctrl-C) deletes the partial file. A cached file is hashed again before each use: a damaged one is
downloaded again. A local file given with a hash is checked against it too.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from .errors import CourseError
from .files import atomic_file, shown
from .paths import data_dir
from .published import WEIGHTS_SHA256, WEIGHTS_URL

CHUNK = 1 << 20  # bytes read at a time (at most)
MAX_BYTES = 4 << 30  # 4 GiB: no course checkpoint comes near (the full profile's is under 1 GB)
STALL_SECONDS = 90.0  # a download abandoned when STALL_BYTES more take longer than this to arrive;
STALL_BYTES = 64 << 10  # with a read's timeout (30 s), at most 2 minutes pass without that progress
HEX64 = re.compile(r"[0-9a-f]{64}")


class DownloadError(CourseError, RuntimeError):
    """A download that failed or did not match its SHA-256; nothing was kept."""


def is_url(source) -> bool:
    return isinstance(source, str) and urlparse(source).scheme.lower() in ("http", "https")


def cache_path(url: str, sha256: str) -> Path:
    """Where the file of ``url`` with this hash is kept: ``data/cache/weights/<sha256>/<name>``."""
    name = re.sub(r"[^A-Za-z0-9._-]", "_", unquote(Path(urlparse(url).path).name)).lstrip(".")
    return data_dir() / "cache" / "weights" / sha256 / (name or "download")


def _checked_hash(sha256: str | None, url: str) -> str:
    value = (sha256 or "").strip().lower()
    if not value:
        raise DownloadError(f"No SHA-256 given for {url}: a download is only used once its hash is checked. "
                            "Pass the hash published with the file (--sha256 HEX, or sha256=...).")
    if not HEX64.fullmatch(value):
        raise DownloadError(f"{sha256!r} is not a SHA-256 (64 hexadecimal digits).")
    return value


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _too_big(url: str, size: str) -> DownloadError:
    return DownloadError(f"{url} is {size}, more than the {MAX_BYTES:,} bytes any course checkpoint needs "
                         "(weights.MAX_BYTES): refused, nothing was kept. Check the URL.")


def _download(url: str, out, label: str, timeout: float, progress: bool) -> str:
    """Stream ``url`` into the open file ``out`` behind a progress bar; the SHA-256 of what arrived.

    At most ``MAX_BYTES``; abandoned when ``STALL_BYTES`` more take over ``STALL_SECONDS`` to arrive.
    """
    from tqdm import tqdm

    digest, received = hashlib.sha256(), 0
    request = urllib.request.Request(url, headers={"User-Agent": "course-utils"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        length = response.headers.get("Content-Length")
        total = int(length) if length and length.isdigit() else None
        if total is not None and total > MAX_BYTES:
            raise _too_big(url, f"{total:,} bytes (its Content-Length)")
        mark, marked_at = 0, time.monotonic()  # progress is measured from here
        with tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, disable=not progress,
                  desc=label) as bar:
            while chunk := response.read1(CHUNK):  # whatever has arrived: a trickle cannot block it
                received += len(chunk)
                if received > MAX_BYTES:
                    raise _too_big(url, f"over {MAX_BYTES:,} bytes (the server did not stop)")
                out.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
                now = time.monotonic()
                if now - marked_at > STALL_SECONDS:
                    raise TimeoutError(f"under {STALL_BYTES:,} bytes in {STALL_SECONDS:g} s")
                if received - mark >= STALL_BYTES:
                    mark, marked_at = received, now
    if total is not None and received != total:
        raise http.client.IncompleteRead(b"", total - received)
    return digest.hexdigest()


def fetch(url: str, sha256: str, *, timeout: float = 30.0, progress: bool = True) -> Path:
    """The file at ``url``, downloaded once into the data folder's cache and checked against ``sha256``.

    Raises :class:`DownloadError` (with what to do) when the hash is missing, the server cannot be
    reached or answers with an error, the body stops short, or the file's hash is not ``sha256``.
    """
    expected = _checked_hash(sha256, url)
    if not is_url(url):
        raise DownloadError(f"{url!r} is not an http(s) URL.")
    target = cache_path(url, expected)
    if target.is_file():
        if file_sha256(target) == expected:
            return target
        target.unlink()  # damaged since it was checked: fetched again below
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(target) as partial:  # renamed into place only if no error is raised in the block
        try:
            got = _download(url, partial, f"downloading {target.name}", timeout, progress)
        except urllib.error.HTTPError as err:
            if 300 <= err.code < 400:
                raise DownloadError(f"{url} redirects in a loop (HTTP {err.code}); nothing was kept. "
                                    "Check the URL.") from None
            why = "the file is not there" if err.code in (404, 410) else "the server did not send it"
            raise DownloadError(f"{url} answered HTTP {err.code} ({err.reason}): {why}. "
                                "Check the URL (has the file moved?).") from None
        except urllib.error.URLError as err:
            raise DownloadError(f"Cannot reach {urlparse(url).netloc} ({err.reason}). Check the "
                                "internet connection (on Colab: is the runtime connected?).") from None
        except (http.client.IncompleteRead, ConnectionError, TimeoutError) as err:
            raise DownloadError(f"The download of {url} broke off ({type(err).__name__}"
                                f"{f': {err}' if isinstance(err, TimeoutError) and str(err) else ''}); "
                                "nothing was kept. Run it again.") from None
        if got != expected:
            raise DownloadError(f"{url} is not the expected file: its SHA-256 is {got}, not {expected}. "
                                "Nothing was kept. Check the hash, or whether the file was replaced.")
    return target


def resolve_checkpoint(source, sha256: str | None = None) -> Path:
    """A checkpoint as a local file: an http(s) URL goes through :func:`fetch` (``sha256`` required),
    a path is returned as it is (``read_checkpoint`` says what is wrong with it, if anything), checked
    against ``sha256`` when one is given."""
    if is_url(source):
        return fetch(source, sha256)
    path = Path(source).expanduser()
    if sha256 is not None and path.is_file():
        expected = _checked_hash(sha256, str(path))
        got = file_sha256(path)
        if got != expected:
            raise DownloadError(f"{shown(path)} is not the expected file: its SHA-256 is {got}, not "
                                f"{expected}. Check the hash, or whether the file was replaced.")
    return path


def published_checkpoint() -> Path | None:
    """The course's published checkpoint (downloaded once), or ``None`` when none is published yet.

    Its URL and hash are set in pyproject.toml's ``[tool.course]`` (``weights_url``, ``weights_sha256``).
    """
    return fetch(WEIGHTS_URL, WEIGHTS_SHA256) if WEIGHTS_URL else None
