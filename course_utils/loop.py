"""The training loop, kept out of the way of a reader of the step (``course_utils.train``): passes over
the data, reading the losses from the device every few steps, progress bar, checkpoints, and stopping
cleanly on Ctrl-C or SIGTERM."""

from __future__ import annotations

import contextlib
import math
import os
import signal
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch

from .errors import NonFiniteLossError, SaveAbandoned, Terminated

LOSS_NAMES = ("loss_D", "loss_D_real", "loss_D_fake", "loss_G", "loss_G_GAN", "loss_G_L1")
PROGRESS_ENV = "COURSE_PROGRESS"  # "text": a plain text progress bar (headless notebook runs)


class TrainingLoop:
    """``fit`` and the loss history, for :class:`~course_utils.train.Pix2Pix`: its ``train_step`` leaves
    each step's losses on the device (``_unread``); they are read here, every ``log_every`` steps."""

    @property
    def history(self) -> list[dict]:
        """The losses of every step so far, as floats: reading them waits for the device."""
        self._read_losses()
        return self._history

    def _read_losses(self) -> None:
        """Move the losses of the steps since the last read to ``history`` and the meters, in one read of
        the device; raise :class:`NonFiniteLossError` (and keep them unread) if one is not finite."""
        if not self._unread:
            return
        rows = torch.stack(self._unread).tolist()
        first = self.step - len(rows) + 1
        for offset, row in enumerate(rows):
            bad = {k: v for k, v in zip(LOSS_NAMES, row, strict=True) if not math.isfinite(v)}
            if bad:
                d_ok = all(math.isfinite(v) for v in row[:3])
                applied = ("D's update of that step was applied, G's was not" if d_ok
                           else "no weight was changed by that step")
                raise NonFiniteLossError(
                    f"Training stopped: at step {first + offset} {bad} is not a finite number; {applied}, "
                    "nor by any later one. Usual causes: a learning rate that is too high, or broken input "
                    "(check the batch for NaN). Resume from the last checkpoint, perhaps with a lower "
                    "learning rate.")
        for offset, row in enumerate(rows):
            values = dict(zip(LOSS_NAMES, row, strict=True))
            self._history.append({"step": first + offset, **values})
            for name, value in values.items():
                self.meters[name].update(value, self._unread_sizes[offset])
        self._unread.clear()
        self._unread_sizes.clear()

    def fit(self, data: Iterable[dict], steps: int, *, checkpoint: str | Path | None = None,
            checkpoint_every: int = 0, on_step: Callable | None = None,
            after_save: Callable | None = None, progress: bool = True,
            log_every: int = 10) -> list[dict]:
        """Train until ``self.step == steps`` (a total, so a resumed run stops where a fresh one would).

        ``data`` is iterated pass after pass (a loader from ``make_dataloaders`` resumes mid-pass, at
        the batch the last run stopped before). The losses are read from the device every ``log_every``
        steps (progress bar, history, the check for non-finite losses), not every step. With
        ``checkpoint``, a checkpoint is written every ``checkpoint_every`` steps, at the end, and when
        Ctrl-C (the notebook's stop button) or SIGTERM arrives: the running step finishes first, then
        the checkpoint is written, then ``KeyboardInterrupt`` (or :class:`~course_utils.errors.Terminated`)
        is raised. A second Ctrl-C abandons the save (:class:`~course_utils.errors.SaveAbandoned`).
        ``on_step(trainer)`` runs after every step (live plots, sample grids), ``after_save(trainer)``
        after every save. Under torchrun every process calls ``fit`` alike; only rank 0 writes and shows
        progress.
        """
        if self.step >= steps:
            return self.history
        save = (lambda: self._save_and_report(checkpoint, after_save)) if checkpoint else None
        batches = self._batches(data)
        bar = progress_bar(total=steps, initial=self.step, enabled=progress and self.dist.is_main)
        images, tick = 0, time.perf_counter()
        stopped = lambda: f"stopped at step {self.step}; checkpoint saved to {checkpoint}"  # noqa: E731
        abandoned = lambda: f"step {self.step}: {self._on_disk(checkpoint)}"  # noqa: E731
        try:
            with checkpoint_on_stop(save, stopped, abandoned) as pending_signal:
                while self.step < steps:
                    # Fetch a batch and queue a step on the device: nothing waits for the device here.
                    batch = next(batches)
                    self.train_step(batch)
                    self.batch_in_pass += 1
                    images += batch["L"].shape[0] * self.dist.world_size
                    bar.update(1)
                    # Log: read the losses of the last steps (the one wait for the device) and check them.
                    logging = self.step % log_every == 0 or self.step == steps
                    if logging:
                        self._read_losses()
                        bar.set_postfix(self.postfix(images / max(time.perf_counter() - tick, 1e-9)),
                                        refresh=False)
                        images, tick = 0, time.perf_counter()
                    if on_step is not None:
                        on_step(self)
                    # Save, then stop if a signal came (every process stops after the same step).
                    if save and checkpoint_every and self.step % checkpoint_every == 0:
                        save()
                    if logging or not self.dist.active:
                        raise_stop(self.dist.max(pending_signal()))
        finally:
            bar.close()
        if save:
            save()
        return self.history

    def _batches(self, data: Iterable[dict]) -> Iterator[dict]:
        """``data`` pass after pass, from the position the trainer is at (when ``data`` can seek)."""
        seekable = hasattr(data, "set_epoch")
        batch_size = getattr(data, "batch_size", None)
        if seekable and self.batch_in_pass and batch_size != self.data_batch_size:
            warnings.warn(f"The batch size changed since the checkpoint ({self.data_batch_size} -> "
                          f"{batch_size}): training continues from the start of the next pass, so this run "
                          "will not repeat an uninterrupted one exactly.", stacklevel=3)
            self.epoch, self.batch_in_pass = self.epoch + 1, 0
        self.data_batch_size = batch_size
        while True:
            if seekable:
                data.set_epoch(self.epoch, start=self.batch_in_pass)
            empty = True
            for batch in data:
                empty = False
                yield batch
            if empty and (not seekable or self.batch_in_pass == 0):
                raise ValueError("The training data gave no batch (empty, or an iterator that has run out): "
                                 "nothing to train on.")
            if iter(data) is data:  # a generator or iterator: a second pass would find it empty
                raise ValueError(f"The training data ran out after {self.batch_in_pass} batches: fit goes "
                                 "through the data pass after pass, so it needs a list or a loader, not a "
                                 "one-shot iterator.")
            self.epoch, self.batch_in_pass = self.epoch + 1, 0

    def _save_and_report(self, checkpoint, after_save) -> None:
        self.save(checkpoint)
        if after_save is not None and self.dist.is_main:
            after_save(self)

    def postfix(self, images_per_s: float) -> dict:
        """The running losses (then reset) and the speed, for the progress bar."""
        out = {"D": f"{self.meters['loss_D'].avg:.3f}", "G_GAN": f"{self.meters['loss_G_GAN'].avg:.3f}",
               "L1": f"{self.meters['loss_G_L1'].avg:.4f}", "img/s": f"{images_per_s:.1f}"}
        for meter in self.meters.values():
            meter.reset()
        return out



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
