"""The course's own exceptions. Each one means "tell the learner in one line", never "a bug".

The command line prints ``error: <message>`` and exits with the exception's ``exit_code`` (README,
"Command line"); notebooks show the message as usual.
"""

from __future__ import annotations

import errno

DISK_FULL_ERRNOS = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)}  # no space, or over quota


class CourseError(Exception):
    """A problem the learner can fix: bad arguments, paths, data or checkpoints (exit status 2)."""

    exit_code = 2


class CheckpointError(CourseError, RuntimeError):
    """A checkpoint is missing, unreadable, foreign, or belongs to a different architecture."""


class ImageReadError(CourseError, ValueError):
    """A file that is not an image Pillow can read (corrupt, empty, a decompression bomb, ...)."""


class FolderError(CourseError, OSError):
    """A folder the course must write to is a file, cannot be created, or is not writable."""


class RunLockedError(CourseError):
    """Another training run holds the lock on the same run folder."""


class DeviceError(CourseError, ValueError):
    """An unknown device name, or a device this machine does not have."""


class NonFiniteLossError(CourseError, RuntimeError):
    """A loss became NaN or infinite; the step that produced it was not applied (exit status 3)."""

    exit_code = 3


class DiskFullError(CourseError, OSError):
    """No space left on the device while writing; what was on disk before is intact (exit status 4)."""

    exit_code = 4


class PeerFailedError(CourseError):
    """Another process of a distributed run failed; its own message says why."""


class Terminated(BaseException):
    """SIGTERM asked the program to stop (schedulers send it before they kill a job): exit status 143.

    A ``BaseException``, like ``KeyboardInterrupt``, so that no ``except Exception`` swallows it.
    """


class SaveAbandoned(KeyboardInterrupt):
    """A second interrupt arrived while the checkpoint of the first was being written."""
