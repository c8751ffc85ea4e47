"""The compact model to publish: the generator alone, in half precision, with its configuration.

A training checkpoint also holds D, both optimisers' state (two numbers per weight each) and the
training history; colorizing needs none of them. ``export`` keeps G, halves its floating-point
tensors to float16 (their 11-bit mantissa moves a colour by far less than one level of 255), and keeps
``config`` and ``step``, so the file reads like any checkpoint: ``load_generator``, ``colorize
--checkpoint`` and the URL + SHA-256 path take it, and turn the weights back to float32 on loading.
"""

from __future__ import annotations

from pathlib import Path

import torch

from .checkpoint import read_checkpoint, save_checkpoint
from .errors import CheckpointError
from .files import shown

__all__ = ["EXPORT_KIND", "export_generator", "is_export", "tool_course_lines"]

EXPORT_KIND = "generator-fp16"  # the "kind" an exported file carries; a training checkpoint has none


def is_export(state: dict) -> bool:
    """Does this checkpoint hold only a generator (written by :func:`export_generator`)?"""
    return state.get("kind") == EXPORT_KIND


def export_generator(checkpoint: str | Path, out: str | Path) -> Path:
    """Write ``checkpoint``'s generator alone, in float16, with its config and step, to ``out``."""
    checkpoint, out = Path(checkpoint), Path(out)
    state = read_checkpoint(checkpoint)
    if is_export(state):
        raise CheckpointError(f"{shown(checkpoint)} is already an exported generator.")
    if out.exists() and out.resolve() == checkpoint.resolve():
        raise CheckpointError(f"Writing to {shown(out)} would replace the checkpoint itself; "
                              "choose another OUT.")
    G = {k: v.half() if v.is_floating_point() else v for k, v in state["G"].items()}
    if not all(torch.isfinite(v).all() for v in G.values() if v.is_floating_point()):
        raise CheckpointError(f"{shown(checkpoint)}'s generator holds weights beyond float16's range "
                              "(65504): it cannot be exported in half precision.")
    return save_checkpoint({"kind": EXPORT_KIND, "config": state["config"], "step": state["step"], "G": G},
                           out)


def tool_course_lines(path: str | Path, sha256: str) -> str:
    """The pyproject.toml ``[tool.course]`` lines that publish ``path`` once it is a release asset."""
    url = f"https://github.com/OWNER/REPO/releases/download/TAG/{Path(path).name}"
    return f'weights_url = "{url}"  # where you uploaded it\nweights_sha256 = "{sha256}"'
