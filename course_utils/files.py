"""Writing files so that nothing is ever lost or half-written, and naming them safely on screen.

* :func:`atomic_file`: write to a uniquely named temporary file beside the target, flush it to disk,
  then rename it over the target. A crash, a kill, Ctrl-C or a full disk leaves the old file intact.
* :func:`remove_stale_temporaries`: what a killed run left behind.
* :class:`RunLock`: one training run per run folder (its lock file is never followed through a link).
* :func:`writable_folder`: check (early) that a folder can be created and written to.
* :func:`shown`: a file name fit for printing (newlines, undecodable bytes).
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
import tempfile
from pathlib import Path

from .errors import FolderError, RunLockedError

TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".lock"


TEMP_NAME_BYTES = 96  # of the target's name in a temporary's: a long name must not make it too long


def _temp_prefix(path: Path) -> str:
    """Hidden, so that folder scans (find_images, colorize) never pick it up; short enough for any name."""
    name = os.fsencode(path.name)[:TEMP_NAME_BYTES]
    return f".{os.fsdecode(name)}."


def temporary_beside(path) -> Path:
    """A new empty file beside ``path``: hidden, uniquely named, with the usual permissions."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(path), suffix=TEMP_SUFFIX, dir=path.parent)
    os.close(fd)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes the file private to its owner
    return Path(tmp)


@contextlib.contextmanager
def atomic_file(path, mode: str = "wb"):
    """Open a temporary file for writing; on success it replaces ``path`` in one step, else it is deleted."""
    path = Path(path)
    try:
        tmp = temporary_beside(path)
    except OSError as err:
        raise _naming(err, path) from None
    try:
        with open(tmp, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": ""})) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as err:
        tmp.unlink(missing_ok=True)
        raise _naming(err, path) from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _naming(err: OSError, path: Path) -> OSError:
    """``err`` about ``path``, the file the user asked for, never about the temporary file."""
    if err.errno is None:
        return err
    return type(err)(err.errno, err.strerror, str(path))


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def remove_stale_temporaries(path) -> list[Path]:
    """Delete the temporary files that writes of ``path`` by a killed process left beside it."""
    path = Path(path)
    stale = list(path.parent.glob(f"{_temp_prefix(path)}*{TEMP_SUFFIX}"))
    for file in stale:
        file.unlink(missing_ok=True)
    return stale


def open_regular(path) -> int:
    """A file descriptor for reading and writing ``path``, created if missing; never through a link.

    A link, a folder or a special file at ``path`` is a :class:`FolderError`: whoever can write to a
    shared folder must not be able to make the course write into another file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o666)
    except OSError:
        if path.is_symlink() or path.exists():
            raise FolderError(f"{shown(path)} is a link or not a regular file; the course writes only to "
                              "its own files there. Remove it, or choose another folder.") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise FolderError(f"{shown(path)} is not a regular file; the course writes only to its own files "
                          "there. Remove it, or choose another folder.")
    return fd


def shown(path) -> str:
    """``path`` as text that prints on any terminal: control characters and undecodable bytes escaped."""
    text = str(path)
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def writable_folder(path, what: str) -> Path:
    """Create ``path`` if needed and check that files can be written there; ``what`` names it in errors."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise FolderError(f"{what} {shown(path)} is a file, not a folder.")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise FolderError(f"Cannot write to {what} {shown(path)}: {reason}.") from err
    return path


class RunLock:
    """An exclusive lock on a run folder while a training run writes there.

    The operating system releases it when the process ends, however it ends (even ``kill -9``), so a
    crashed run never leaves the folder locked. A second run gets :class:`RunLockedError` at once.
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self._file = None

    def acquire(self) -> RunLock:
        file = os.fdopen(open_regular(self.folder / LOCK_NAME), "r+")  # held until release
        try:
            _lock(file)
        except OSError:
            holder = ""
            with contextlib.suppress(OSError):  # Windows forbids reading a byte another process locked
                file.seek(0)
                holder = file.read().strip()
            file.close()
            raise RunLockedError(
                f"Another training run{f' (process {holder})' if holder else ''} is writing to "
                f"{shown(self.folder)}; wait for it to finish, or choose another --out folder."
            ) from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing the file releases the lock
            self._file = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


if sys.platform == "win32":
    import msvcrt

    def _lock(file) -> None:
        file.seek(0)
        msvcrt.locking(file.fileno(), msvcrt.LK_NBLCK, 1)
else:
    import fcntl

    def _lock(file) -> None:
        fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
