"""The course's command line: train and colorize, with one clear line for every problem.

    python -m course_utils train --data DIR --out RUN_DIR [--profile quick|full] [--steps N] [--resume]
    torchrun --standalone --nproc_per_node=N -m course_utils train --data DIR --out RUN_DIR ...
    python -m course_utils colorize --checkpoint FILE_OR_URL [--sha256 HEX] INPUT... --out DIR
    python -m course_utils export CHECKPOINT OUT

``train`` writes RUN_DIR/checkpoint.pt, RUN_DIR/losses.csv, RUN_DIR/run.json (its --data) and
RUN_DIR/samples/step_NNNNNN.png (gray | generated | real). ``colorize`` writes NAME_color.png for every
input photo, at its own size. ``export`` writes the generator alone in half precision (the file to
publish) and prints its SHA-256.

Exit status: 0 done; 1 some photos could not be colorized (the others were); 2 bad arguments, paths,
data or checkpoint (nothing was changed); 3 training stopped on a non-finite loss; 4 the disk is full;
5 an unexpected error (one line, details in a log file); 130 interrupted (Ctrl-C); 143 stopped by SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

from . import __version__
from .errors import DISK_FULL_ERRNOS, CourseError, DiskFullError, PeerFailedError, Terminated
from .files import shown

CHECKPOINT_NAME = "checkpoint.pt"
LOSSES_NAME = "losses.csv"
RUN_RECORD = "run.json"  # what a run was started with (its --data), for --resume to compare
SAMPLES_NAME = "samples"
EXIT_UNEXPECTED, EXIT_INTERRUPTED, EXIT_TERMINATED = 5, 130, 143


def _positive(kind):
    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


class _Parser(argparse.ArgumentParser):
    """argparse, but a mistake costs one line (not the whole usage) and exit status 2."""

    _argv: list[str] = []

    def parse_known_args(self, args=None, namespace=None):
        self._argv = list(sys.argv[1:] if args is None else args)  # for error(): a subcommand's own
        return super().parse_known_args(args, namespace)

    def error(self, message: str):
        dashed = next((a for a in self._argv if a[:1] == "-" and len(a) > 1 and os.path.exists(a)), None)
        hint = f"; {dashed} is a file: a name that starts with '-' goes after --, as in -- {dashed}"
        self.exit(2, f"error: {message}{hint if dashed else ''} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m course_utils", description=__doc__.split("\n")[0],
                     epilog=__doc__.split("\n\n")[-1], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"course_utils {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train Pix2Pix on a folder of photos (also under torchrun)")
    train.add_argument("--data", type=Path, help="folder of photos (default: the profile's dataset)")
    train.add_argument("--out", type=Path, required=True, help="run folder for checkpoints, logs, samples")
    train.add_argument("--profile", choices=("quick", "full", "auto"),
                       help="default: $COURSE_PROFILE, else auto")
    train.add_argument("--steps", type=_positive(int), metavar="N",
                       help="total optimiser steps (default: the profile's)")
    train.add_argument("--batch-size", type=_positive(int), metavar="N", help="images per step and process "
                       "(default: the profile's; under torchrun the global batch is N x processes)")
    train.add_argument("--lr", type=_positive(float), metavar="X", help="Adam's learning rate (default: the "
                       "paper's 2e-4)")
    train.add_argument("--generator", choices=("unet", "resnet18_unet"),
                       help="unet: the paper's U-Net (default); resnet18_unet: a U-Net on an ImageNet "
                       "ResNet-18 encoder (notebook 09; its weights are downloaded once). With --resume: "
                       "the run's")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--new-data", action="store_true", help="with --resume: continue on other photos "
                       "than the run's --data (it will not repeat an uninterrupted run)")
    train.add_argument("--checkpoint-every", type=_positive(int), metavar="N",
                       help="steps between checkpoints, at least 1 (default: the profile's; one is also "
                       "written at the end and on Ctrl-C or SIGTERM)")
    train.add_argument("--sample-every", type=_positive(int), metavar="N",
                       help="steps between sample grids, at least 1 (default: --checkpoint-every)")
    train.add_argument("--compile", action="store_true", help="torch.compile the networks (GPU)")
    train.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the fastest available)")
    train.add_argument("--sync-bn", action="store_true", help="with several processes on CUDA GPUs: "
                       "BatchNorm statistics over the global batch (SyncBatchNorm)")
    train.add_argument("--nproc-per-node", type=_positive(int), default=1, metavar="N",
                       help="train with N processes on this machine (as torchrun --standalone does)")
    train.set_defaults(run=run_train)

    colorize = commands.add_parser("colorize", help="colorize photos with a trained checkpoint")
    colorize.add_argument("--checkpoint", required=True, metavar="FILE_OR_URL",
                          help="a checkpoint written by train, or an http(s) URL of one (with --sha256)")
    colorize.add_argument("--sha256", metavar="HEX", help="the SHA-256 of the checkpoint at the URL: it is "
                          "downloaded once into the data folder's cache, and used only if it matches")
    colorize.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    colorize.add_argument("--out", type=Path, required=True, help="folder for the NAME_color.png results")
    colorize.add_argument("--overwrite", action="store_true", help="redo photos already colorized in --out")
    colorize.add_argument("--device", help="cpu, cuda, cuda:N or mps (default: the fastest available)")
    colorize.set_defaults(run=run_colorize)

    export = commands.add_parser("export", help="write a checkpoint's generator alone, in half precision")
    export.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a checkpoint written by train")
    export.add_argument("out", type=Path, metavar="OUT", help="the file to write (e.g. generator.pt)")
    export.set_defaults(run=run_export)
    return parser


# ------------------------------------------------------------------------------------------- train
def run_train(args) -> int:
    from . import distributed
    from .device import pick_device

    dist = distributed.start(pick_device(args.device))
    try:
        return _train(args, dist)
    finally:
        distributed.stop()


def _photos(args, profile):
    from .data import course_split, find_images, split_paths

    if args.data is None:
        return course_split(profile)
    return split_paths(find_images(args.data, exclude=[args.out]), profile.val_fraction, profile.seed)


def _check_run_folder(out: Path) -> None:
    """Refuse, before the first step, what would make the first save fail; clear a killed run's leftovers."""
    from .files import remove_stale_temporaries

    for name, kind in ((CHECKPOINT_NAME, "file"), (LOSSES_NAME, "file"), (RUN_RECORD, "file"),
                       (SAMPLES_NAME, "folder")):
        path = out / name
        if os.path.lexists(path) and (path.is_symlink() or not (path.is_dir() if kind == "folder"
                                                                else path.is_file())):
            raise CourseError(f"{shown(path)} is in the way: the run writes a {kind} there, and this is a "
                              f"link or not a {kind}. Remove it, or choose another --out folder.")
    (out / SAMPLES_NAME).mkdir(exist_ok=True)
    for name in (CHECKPOINT_NAME, LOSSES_NAME, RUN_RECORD):
        remove_stale_temporaries(out / name)
    for leftover in (out / SAMPLES_NAME).glob(".step_*.tmp"):
        leftover.unlink(missing_ok=True)


def _data_name(data: Path | None) -> str | None:
    return None if data is None else str(data.expanduser().resolve())


def _check_same_data(args) -> None:
    """On --resume: the photos must be the run's (as recorded when it started), unless --new-data."""
    import json

    record = args.out / RUN_RECORD
    if not record.is_file():  # a run started before runs were recorded
        return
    try:
        recorded = json.loads(record.read_text(encoding="utf-8"))["data"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise CourseError(f"{shown(record)} is damaged ({type(err).__name__}); delete it to resume "
                          "without checking --data.") from None
    if recorded != _data_name(args.data) and not args.new_data:
        was = f"--data {shown(recorded)}" if recorded else "the profile's dataset (no --data)"
        now = f"--data {shown(args.data)}" if args.data is not None else "no --data"
        raise CourseError(f"--resume: the run in {shown(args.out)} trained on {was}, this command has {now}. "
                          "Give the run's --data, or add --new-data to continue on these photos.")


def _record_run(args) -> None:
    import json

    from .files import atomic_file

    with atomic_file(args.out / RUN_RECORD, "w") as f:
        f.write(json.dumps({"data": _data_name(args.data)}) + "\n")


def _nothing_to_do(args, state, steps: int) -> str | None:
    if state is None or state["step"] < steps:
        return None
    return (f"Nothing to do: the checkpoint in {shown(args.out)} is at step {state['step']} and the run "
            f"stops at step {steps} (--steps is a total); pass a larger --steps to train on.")


def _resumed_config(config, state, args, checkpoint: Path, announce: bool = False):
    """The run's config: the checkpoint's learning rate unless --lr changes it (and says so)."""
    from dataclasses import replace

    from .errors import CheckpointError
    from .train import Pix2PixConfig, check_architecture

    try:
        saved = Pix2PixConfig.from_dict(state["config"])
        if args.generator is None:  # not given: the run's own
            config = replace(config, generator=saved.generator)
        check_architecture(saved, config)
    except CheckpointError as err:
        raise CheckpointError(f"{shown(checkpoint)}: {err}") from None
    if announce and args.lr and args.lr != saved.lr:
        print(f"learning rate {args.lr:g} from now on (the checkpoint's was {saved.lr:g})", flush=True)
    return replace(config, lr=args.lr or saved.lr)


def _load_trainer_state(trainer, state, checkpoint: Path) -> None:
    """Restore the run; the optimisers then use the config's learning rate (--lr on --resume)."""
    from .errors import CheckpointError

    try:
        trainer.load_state_dict(state)
    except CheckpointError as err:
        raise CheckpointError(f"{shown(checkpoint)}: {err}") from None
    for optimiser in (trainer.opt_G, trainer.opt_D):
        for group in optimiser.param_groups:
            group["lr"] = trainer.config.lr


def _train(args, dist) -> int:
    import torch

    from .checkpoint import read_checkpoint
    from .config import get_profile, seed_everything
    from .data import cached_pixels, load_side, make_dataloaders
    from .files import RunLock, writable_folder
    from .paths import data_dir
    from .train import Pix2Pix, Pix2PixConfig, check_sync_bn, write_loss_log

    if args.sync_bn:  # checked here too, before anything is cached or built
        check_sync_bn(dist.device)
    overrides = {"train_steps": args.steps, "batch_size": args.batch_size}
    profile = get_profile(args.profile, **{k: v for k, v in overrides.items() if v})
    config = Pix2PixConfig.from_profile(profile, generator=args.generator or "unet",
                                        **({"lr": args.lr} if args.lr else {}))
    checkpoint, losses = args.out / CHECKPOINT_NAME, args.out / LOSSES_NAME
    every = args.checkpoint_every or profile.checkpoint_every
    state = paths = finished = None
    with contextlib.ExitStack() as held:
        # 1. Everything that can be checked is checked before anything is cached or built.
        with dist.all_or_none():
            writable_folder(data_dir(), "the course's data folder (COURSE_DATA_DIR)")
            if args.data is not None and not args.data.is_dir():
                raise CourseError(f"--data {shown(args.data)}: no such folder.")
            if dist.is_main:
                writable_folder(args.out, "the run folder (--out)")
                held.enter_context(RunLock(args.out))
                _check_run_folder(args.out)
                if args.resume:
                    if not checkpoint.is_file():
                        raise CourseError(f"--resume: no checkpoint to continue in {shown(args.out)}.")
                    state = read_checkpoint(checkpoint)
                    if "D" not in state:
                        raise CourseError(f"--resume: {shown(checkpoint)} holds a generator alone (an "
                                          "export), not a run that can continue.")
                    _resumed_config(config, state, args, checkpoint)  # checked here, before any caching
                    _check_same_data(args)
                    finished = _nothing_to_do(args, state, profile.train_steps)
                elif checkpoint.is_file():
                    raise CourseError(f"{shown(args.out)} already holds a run; pass --resume to continue it, "
                                      "or choose another --out folder.")
                if not finished:
                    paths = _photos(args, profile)
                    _record_run(args)
        paths, finished = dist.share((paths, finished))
        if finished:
            if dist.is_main:
                print(finished)
            return 0
        with dist.all_or_none():
            if args.resume and not dist.is_main:
                state = read_checkpoint(checkpoint)
            train_paths, val_paths = paths
            if dist.local_rank == 0:  # one process per machine decodes the photos; the others wait
                for split, split_paths in (("train", train_paths), ("val", val_paths)):
                    cached_pixels(split_paths, load_side(profile.image_size, split))

        # 2. The run itself.
        if state is not None:
            config = _resumed_config(config, state, args, checkpoint, announce=dist.is_main)
        seed_everything(profile.seed)
        train_data, val_data = make_dataloaders(
            train_paths, val_paths, profile.image_size, profile.batch_size, device=dist.device,
            seed=profile.seed, rank=dist.rank, world_size=dist.world_size)
        trainer = Pix2Pix(config, device=dist.device, compile=args.compile, dist=dist, sync_bn=args.sync_bn)
        if dist.rank:
            torch.manual_seed(profile.seed + dist.rank)  # each process its own dropout noise
        if state is not None:
            _load_trainer_state(trainer, state, checkpoint)
        elif config.generator == "resnet18_unet":
            _start_resnet_encoder(trainer, dist.is_main)
        if dist.is_main:
            data = shown(args.data) if args.data is not None else None
            processes = f" x {dist.world_size} processes" if dist.active else ""
            resuming = f" | resuming at step {trainer.step}" if state is not None else ""
            print(f"{profile.summary(data)} | {len(train_paths)} train / {len(val_paths)} val images | "
                  f"device {dist.device}{processes}{resuming}", flush=True)
        on_step = _sample_writer(args, profile, val_data, every) if dist.is_main else None
        try:
            trainer.fit(train_data, profile.train_steps, checkpoint=checkpoint, checkpoint_every=every,
                        on_step=on_step, after_save=lambda t: write_loss_log(t.history, losses),
                        progress=dist.is_main)
        except (KeyboardInterrupt, Terminated) as stop:
            raise type(stop)(f"{stop} (continue with --resume)") from None
        if dist.is_main:
            from .metrics import evaluate

            print(evaluate(trainer.predict_ab, val_data, max_images=500))
            print(f"Done: {shown(checkpoint)}, {shown(losses)}, {shown(args.out / SAMPLES_NAME)}/")
    return 0


def _start_resnet_encoder(trainer, announce: bool) -> None:
    """A fresh ResNet-18 U-Net run starts from ImageNet's encoder (downloaded once), not from N(0, 0.02)."""
    from .imagenet import encoder_weights
    from .pretrain import new_generator

    fresh = new_generator(trainer.config, encoder_weights()).state_dict() if announce else None
    trainer.G.load_state_dict(trainer.dist.share(fresh))  # every process starts from rank 0's weights


def _sample_writer(args, profile, val_data, every: int):
    """``on_step`` for rank 0: a gray | generated | real grid of the first validation batch, now and then."""
    from PIL import Image

    from .files import atomic_file
    from .viz import comparison_grid

    samples = args.out / SAMPLES_NAME
    watch = next(iter(val_data))
    sample_every = args.sample_every or every

    def on_step(t) -> None:
        if t.step % sample_every == 0 or t.step == profile.train_steps:
            grid = comparison_grid(watch["L"], t.predict_ab(watch["L"]), watch["ab"])
            with atomic_file(samples / f"step_{t.step:06d}.png") as f:
                Image.fromarray(grid).save(f, format="PNG")

    return on_step


# ---------------------------------------------------------------------------------------- colorize
def run_colorize(args) -> int:
    from .colorize import colorize_photos, expand_inputs, load_generator, output_paths
    from .device import pick_device
    from .files import writable_folder

    device = pick_device(args.device)
    files, problems = expand_inputs(args.inputs, args.out)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not files:
        raise CourseError("No photos to colorize (see above).")
    generator, config = load_generator(args.checkpoint, device, args.sha256)  # checked before any write
    writable_folder(args.out, "the output folder (--out)")
    outputs = output_paths(files, args.out)
    counts = dict.fromkeys(("written", "skipped", "failed"), 0)
    try:
        for outcome in colorize_photos(generator, config.image_size, files, outputs, args.overwrite):
            counts[outcome.status] += 1
            if outcome.status == "failed":
                print(f"error: {outcome.message}", file=sys.stderr, flush=True)
            else:
                note = f": {outcome.message}" if outcome.message else ""
                print(f"{outcome.status} {shown(outcome.output)}{note}", flush=True)
    except (KeyboardInterrupt, Terminated) as stop:
        what = "SIGTERM" if isinstance(stop, Terminated) else "the interrupt"
        raise type(stop)(f"{counts['written']} photo(s) written before {what}; run the same command again "
                         "to finish (finished photos are skipped).") from None
    failed = counts["failed"] + len(problems)
    print(f"{counts['written']} photo(s) colorized into {shown(args.out)}"
          + (f", {counts['skipped']} already there" if counts["skipped"] else "")
          + (f", {failed} could not be" if failed else ""))
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------ export
def run_export(args) -> int:
    from .export import export_generator, tool_course_lines
    from .weights import file_sha256

    out = export_generator(args.checkpoint, args.out)
    size, full = out.stat().st_size, args.checkpoint.stat().st_size
    digest = file_sha256(out)
    print(f"wrote {shown(out)}: {size / 1e6:.1f} MB, {size / full:.0%} of {shown(args.checkpoint)} "
          f"({full / 1e6:.1f} MB)")
    print(f"SHA-256 {digest}")
    print("To publish it: upload it (e.g. as a release asset), set these lines in pyproject.toml's "
          "[tool.course], then run `make repo-links`:")
    print(tool_course_lines(out, digest))
    return 0


# -------------------------------------------------------------------------------------------- main
def _say(message: str) -> None:
    """Print an error line (prefixed with the process's rank in a distributed run)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    prefix = f"[process {os.environ.get('RANK', '0')}] " if world > 1 else ""
    print(f"{prefix}{message}", file=sys.stderr, flush=True)


def _describe_os_error(err: OSError) -> str:
    where = f": {shown(err.filename)}" if err.filename else ""
    return f"{err.strerror or err}{where}"


def _unexpected(err: BaseException) -> int:
    """One line for the learner, the whole story in a log file for a bug report."""
    command = " ".join(map(shown, sys.argv[1:]))
    try:  # a new file with a name nobody can guess, never one that exists (or a link planted in /tmp)
        fd, log = tempfile.mkstemp(prefix=f"course_utils-error-{time.strftime('%Y%m%d-%H%M%S')}-",
                                   suffix=".log")
        with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(f"python -m course_utils {command}\n\n{traceback.format_exc()}")
        where = f"details in {log}"
    except OSError:
        where = "no log could be written"
    first_line = (str(err).splitlines() or [""])[0][:200]
    _say(f"error: unexpected {type(err).__name__}: {first_line} ({where}; please report it)")
    return EXIT_UNEXPECTED


@contextlib.contextmanager
def _learner_friendly_process():
    """Warnings as one line each, SIGTERM as an exception (so cleanups run), unprintable names escaped."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")

    def one_line(message, category, *_args, **_kwargs):
        _say(f"warning: {message}")

    def terminate(signum, frame):
        raise Terminated()

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # e.g. "skipped 1 unreadable file": show it every time
        warnings.showwarning = one_line
        try:
            previous = signal.signal(signal.SIGTERM, terminate)
        except ValueError:  # not the main thread (e.g. called from a test's thread)
            previous = None
        try:
            yield
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)


def _without_option(argv: list[str], option: str) -> list[str]:
    """``argv`` less ``option VALUE`` / ``option=VALUE``."""
    out, skip = [], False
    for token in argv:
        if skip:
            skip = False
        elif token == option:
            skip = True
        elif not token.startswith(option + "="):
            out.append(token)
    return out


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser().parse_args(argv)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    main_process = os.environ.get("RANK", "0") == "0"
    with _learner_friendly_process():
        try:
            if getattr(args, "nproc_per_node", 1) > 1:
                if distributed:
                    raise CourseError("--nproc-per-node starts the processes itself: leave it out "
                                      "under torchrun.")
                from .launch import launch

                return launch(args.nproc_per_node, _without_option(argv, "--nproc-per-node"))
            return args.run(args)
        except PeerFailedError as err:  # the same for every process: rank 0 speaks for all
            if main_process:
                print(f"error: {err}", file=sys.stderr, flush=True)
            return err.exit_code
        except CourseError as err:
            _say(f"error: {err}")
            return err.exit_code
        except KeyboardInterrupt as err:  # every process stops together: rank 0 speaks for all
            if main_process:
                _say(f"interrupted{f': {err}' if str(err) else ''}")
            return EXIT_INTERRUPTED
        except Terminated as err:
            if main_process:
                _say(f"stopped by SIGTERM{f': {err}' if str(err) else ''}")
            return EXIT_TERMINATED
        except OSError as err:  # files, folders, permissions, network: the learner's to fix
            if err.errno in DISK_FULL_ERRNOS:
                _say(f"error: no space left on the device ({_describe_os_error(err)}); what was written "
                     "before is intact.")
                return DiskFullError.exit_code
            _say(f"error: {_describe_os_error(err) if err.errno is not None else err}")
            return CourseError.exit_code
        except ValueError as err:
            _say(f"error: {err}")
            return CourseError.exit_code
        except Exception as err:
            return _unexpected(err)


if __name__ == "__main__":
    sys.exit(main())
