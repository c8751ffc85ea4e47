"""The training loop's machinery, kept out of the trainer's way: progress bar, running averages, and
stopping cleanly on Ctrl-C or SIGTERM with a checkpoint."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable

from .errors import SaveAbandoned, Terminated

PROGRESS_ENV = "COURSE_PROGRESS"  # "text": a plain text progress bar (headless notebook runs)


class LossMeter:
    """Average of a stream of values since the last reset."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.total, self.count = 0.0, 0

    def update(self, value: float, n: int = 1) -> None:
        self.total += value * n
        self.count += n

    @property
    def avg(self) -> float:
        return self.total / self.count if self.count else float("nan")


def progress_bar(total: int, initial: int, enabled: bool):
    """A notebook widget or terminal bar; a plain text bar when ``COURSE_PROGRESS=text`` (headless runs,
    whose saved outputs then show the bar's final state)."""
    if os.environ.get(PROGRESS_ENV, "").lower() == "text":
        from tqdm.std import tqdm

        return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc="training",
                    file=sys.stdout, mininterval=2.0, ascii=True)
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, unit="step", desc="training")


@contextlib.contextmanager
def deferred_stop():
    """Let the running step finish when Ctrl-C (SIGINT) or SIGTERM arrives: a checkpoint never holds half
    a step. Yields a function that returns the pending signal's number (0: none). A second Ctrl-C stops
    at once; a repeated SIGTERM changes nothing (schedulers may send several: SIGKILL is theirs to stop
    at once). Outside the main thread (where signals cannot be caught) signals act as usual.
    """
    pending = []

    def handler(signum, frame):
        if pending and signum == signal.SIGINT:
            raise KeyboardInterrupt()
        pending.append(signum)

    previous = {}
    try:
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread
        yield lambda: 0
        return
    try:
        yield lambda: max(pending, default=0)
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def raise_stop(signum: int) -> None:
    """Raise what a pending signal means: :class:`Terminated` for SIGTERM, ``KeyboardInterrupt`` else."""
    if signum:
        raise Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


@contextlib.contextmanager
def checkpoint_on_stop(save: Callable[[], None] | None, saved: Callable[[], str],
                       unsaved: Callable[[], str]):
    """On Ctrl-C or SIGTERM inside the block: ``save()``, then raise the same kind of stop with the
    message ``saved()``. A second Ctrl-C during the save abandons it: :class:`SaveAbandoned` says which
    step ``unsaved()`` (and what the file on disk holds). Without ``save`` the stop passes through unchanged.

    Signals are deferred (:func:`deferred_stop`) for the whole block: yields the pending signal's reader.
    """
    with deferred_stop() as pending:
        try:
            yield pending
        except (KeyboardInterrupt, Terminated) as stop:
            if save is None:
                raise
            try:  # still deferred: only a second Ctrl-C abandons the save
                save()
            except KeyboardInterrupt:
                raise SaveAbandoned(f"a second interrupt abandoned the save of {unsaved()}") from None
            raise type(stop)(saved()) from None
