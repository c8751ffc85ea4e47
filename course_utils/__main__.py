"""The course's command line.

    python -m course_utils train --data DIR --out RUN_DIR [--profile quick|full] [--steps N] [--resume]
    python -m course_utils colorize --checkpoint FILE INPUT... --out DIR

``train`` writes RUN_DIR/checkpoint.pt, RUN_DIR/losses.csv and RUN_DIR/samples/step_NNNNNN.png
(gray | generated | real). ``colorize`` writes NAME_color.png for every input photo, at its own size.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

CHECKPOINT_NAME = "checkpoint.pt"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m course_utils", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)

    train = commands.add_parser("train", help="train Pix2Pix on a folder of photos")
    train.add_argument("--data", type=Path, help="folder of photos (default: the profile's dataset)")
    train.add_argument("--out", type=Path, required=True, help="run folder for checkpoints, logs, samples")
    train.add_argument("--profile", choices=("quick", "full", "auto"),
                       help="default: $COURSE_PROFILE, else auto")
    train.add_argument("--steps", type=int, help="total optimiser steps (default: the profile's)")
    train.add_argument("--resume", action="store_true", help="continue the run saved in --out")
    train.add_argument("--checkpoint-every", type=int, default=500, metavar="N")
    train.add_argument("--sample-every", type=int, default=500, metavar="N")
    train.add_argument("--compile", action="store_true", help="torch.compile the networks (GPU)")
    train.add_argument("--device", help="cuda, mps or cpu (default: the fastest available)")
    train.set_defaults(run=run_train)

    colorize = commands.add_parser("colorize", help="colorize photos with a trained checkpoint")
    colorize.add_argument("--checkpoint", type=Path, required=True, help="a checkpoint written by train")
    colorize.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="image files or folders")
    colorize.add_argument("--out", type=Path, required=True, help="folder for the NAME_color.png results")
    colorize.add_argument("--device", help="cuda, mps or cpu (default: the fastest available)")
    colorize.set_defaults(run=run_colorize)
    return parser


def _device(name):
    import torch

    from .device import pick_device

    return torch.device(name) if name else pick_device()


def run_train(args) -> int:
    from .config import get_profile, seed_everything
    from .data import course_split, find_images, make_dataloaders, split_paths
    from .metrics import evaluate
    from .train import Pix2Pix, Pix2PixConfig, write_loss_log
    from .viz import comparison_grid

    if args.steps is not None and args.steps < 1:
        raise ValueError(f"--steps must be at least 1, got {args.steps}")
    profile = get_profile(args.profile, **({"train_steps": args.steps} if args.steps else {}))
    device = _device(args.device)
    checkpoint = args.out / CHECKPOINT_NAME
    if args.resume and not checkpoint.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint to continue at {checkpoint}")
    if checkpoint.is_file() and not args.resume:
        raise FileExistsError(f"{args.out} already holds a run; pass --resume to continue it, "
                              "or choose another --out folder.")
    seed_everything(profile.seed)
    if args.data is not None:
        train_paths, val_paths = split_paths(find_images(args.data), profile.val_fraction, profile.seed)
    else:
        train_paths, val_paths = course_split(profile)
    train_data, val_data = make_dataloaders(train_paths, val_paths, profile.image_size, profile.batch_size,
                                            device=device)
    trainer = Pix2Pix(Pix2PixConfig.from_profile(profile), device=device, compile=args.compile)
    if args.resume:
        trainer.resume(checkpoint)
    print(f"{profile.summary()} | {len(train_paths)} train / {len(val_paths)} val images | device {device}"
          + (f" | resuming at step {trainer.step}" if args.resume else ""))
    watch = next(iter(val_data))
    samples = args.out / "samples"
    samples.mkdir(parents=True, exist_ok=True)

    def on_step(t: Pix2Pix) -> None:
        if t.step % args.sample_every == 0 or t.step == profile.train_steps:
            from PIL import Image

            grid = comparison_grid(watch["L"], t.predict_ab(watch["L"]), watch["ab"])
            Image.fromarray(grid).save(samples / f"step_{t.step:06d}.png")
        if t.step % args.checkpoint_every == 0:
            write_loss_log(t.history, args.out / "losses.csv")

    try:
        trainer.fit(train_data, profile.train_steps, checkpoint=checkpoint,
                    checkpoint_every=args.checkpoint_every, on_step=on_step)
    except KeyboardInterrupt:
        write_loss_log(trainer.history, args.out / "losses.csv")
        print(f"Interrupted at step {trainer.step}; continue with --resume.", file=sys.stderr)
        return 130
    write_loss_log(trainer.history, args.out / "losses.csv")
    print(evaluate(trainer.predict_ab, val_data, max_images=500))
    print(f"Done: {checkpoint}, {args.out / 'losses.csv'}, {samples}/")
    return 0


def run_colorize(args) -> int:
    from .colorize import colorize_files

    written, errors = colorize_files(args.checkpoint, args.inputs, args.out, device=_device(args.device))
    for path in written:
        print(f"wrote {path}")
    for message in errors:
        print(f"error: {message}", file=sys.stderr)
    failed = f", {len(errors)} failed" if errors else ""
    print(f"{len(written)} photo(s) colorized into {args.out}{failed}")
    return 1 if errors or not written else 0


def main(argv=None) -> int:
    from .colorize import ImageReadError
    from .train import CheckpointError, NonFiniteLossError

    args = build_parser().parse_args(argv)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("always")  # e.g. "skipped 1 unreadable file": show it every time
            return args.run(args)
    except (CheckpointError, NonFiniteLossError, ImageReadError, FileNotFoundError, FileExistsError,
            ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
