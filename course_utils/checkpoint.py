"""Checkpoints on disk: written atomically, read safely, checked before anything uses them.

A checkpoint is a dict of tensors and plain containers (format 2):
``format, step, world_size, config, G, D, opt_G, opt_D, scaler, rng, data, history``.
It is read with ``torch.load(weights_only=True)``, so a file can never run code, and every entry the
course relies on is checked, so a damaged or foreign file gets a message in the course's words.
"""

from __future__ import annotations

import pickle
import random
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointError
from .files import atomic_file, shown

FORMAT = 2
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's format since PyTorch 1.6
_PICKLE_MAGIC = b"\x80"  # the legacy format: a bare pickle


def save_checkpoint(state: dict, path) -> Path:
    """Write ``state`` atomically: a crash, kill or full disk mid-write leaves the previous file intact."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(path) as f:
        torch.save(state, f)
    return path


def _load(path: Path) -> object:
    """``torch.load(weights_only=True)`` with errors explained in the course's words."""
    try:
        with open(path, "rb") as f:
            magic = f.read(4)
    except OSError as err:
        raise CheckpointError(f"Cannot read {shown(path)}: {err.strerror or err}.") from None
    if not magic:
        raise CheckpointError(f"{shown(path)} is empty (0 bytes): not a checkpoint.")
    if not (magic.startswith(_ZIP_MAGIC) or magic.startswith(_PICKLE_MAGIC)):
        raise CheckpointError(f"{shown(path)} is not a PyTorch file at all, so not a course checkpoint.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's note on old pickle protocols
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        raise CheckpointError(
            f"{shown(path)} is not a course checkpoint: it holds Python objects other than tensors and "
            "plain containers. The course never loads such files, because loading one can run any code "
            "hidden in it." if "global" in str(err).lower() else
            f"{shown(path)} is damaged or not a course checkpoint (its contents cannot be read)."
        ) from None
    except (EOFError, RuntimeError, OSError, ValueError) as err:
        raise CheckpointError(f"{shown(path)} is truncated or damaged (a copy or download that did not "
                              f"finish?): {type(err).__name__}.") from None


def read_checkpoint(path) -> dict:
    """A course checkpoint, loaded safely onto the CPU and checked: structure, types, finite weights."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointError(f"{shown(path)} is a folder; give the checkpoint file inside it "
                              "(e.g. checkpoint.pt).")
    if not path.is_file():
        raise CheckpointError(f"No checkpoint at {shown(path)}. Train a model first (notebook 07 or "
                              "`python -m course_utils train`), or check the path.")
    state = _load(path)
    if not isinstance(state, dict) or not {"config", "G", "step"} <= set(state):
        has = f"a dict of {sorted(map(str, state))[:6]}" if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(f"{shown(path)} is not a course checkpoint: it holds {has}, not the course's "
                              "'config', 'G' and 'step' entries.")
    problems = []
    if not isinstance(state["config"], dict):
        problems.append(f"'config' is a {type(state['config']).__name__}, not a dict")
    for name in ("G", "D"):
        if name in state and not _is_state_dict(state[name]):
            problems.append(f"'{name}' is not a dict of tensors")
    if not _whole(state["step"], 0):
        problems.append(f"'step' is {state['step']!r}, not a whole number >= 0")
    problems += _training_problems(state)
    if problems:
        raise CheckpointError(f"{shown(path)} is a damaged course checkpoint: " + "; ".join(problems) + ".")
    for name, label in (("G", "generator"), ("D", "discriminator")):
        if name in state:
            check_finite(state[name], f"{shown(path)}: the {label}")
    return state


def _whole(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _is_state_dict(value) -> bool:
    """A dict of ordinary tensors: not sparse, not on the ``meta`` device (which holds no values)."""
    return isinstance(value, dict) and all(
        isinstance(v, torch.Tensor) and v.layout == torch.strided and not v.is_meta for v in value.values())


def _training_problems(state: dict) -> list[str]:
    """What is wrong with the entries a resumed run relies on (those present)."""
    problems = []
    if "world_size" in state and not _whole(state["world_size"], 1):
        problems.append(f"'world_size' is {state['world_size']!r}, not a whole number >= 1")
    if "history" in state and not (isinstance(state["history"], list)
                                   and all(isinstance(h, dict) for h in state["history"])):
        problems.append("'history' is not a list of dicts")
    data = state.get("data", {})
    if not (isinstance(data, dict) and all(_whole(data.get(k, 0), 0) for k in ("epoch", "batch"))):
        problems.append("'data' is not a position in the data (epoch and batch >= 0)")
    if "rng" in state:
        rngs = state["rng"] if isinstance(state["rng"], list) else [state["rng"]]  # format 1: one dict
        if not rngs or not all(_valid_rng(r) for r in rngs):
            problems.append("'rng' is not a state of the random generators")
    return problems


def _valid_rng(state) -> bool:
    """Can :func:`set_rng_state` restore ``state``? Tried on new generators, never the global ones."""
    try:
        version, internal, gauss = state["python"]
        random.Random().setstate((version, tuple(internal), gauss))
        name, keys, pos, has_gauss, cached = state["numpy"]
        np.random.RandomState().set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.Generator().set_state(state["torch"])
        return isinstance(state["cuda"], list) and all(
            isinstance(t, torch.Tensor) and t.dtype == torch.uint8 for t in state["cuda"])
    except (TypeError, ValueError, KeyError, AttributeError, RuntimeError, IndexError):
        return False


def check_finite(state: dict, what: str) -> None:
    """Refuse weights holding NaN or infinity: a model trained past a divergence colours nothing."""
    bad = [k for k, v in state.items() if v.is_floating_point() and not torch.isfinite(v).all()]
    if bad:
        raise CheckpointError(f"{what} holds NaN or infinite weights (in {len(bad)} tensors, e.g. {bad[0]}): "
                              "training diverged before this was saved. Use an earlier checkpoint.")


def load_module(module: nn.Module, state: dict, name: str) -> None:
    """``load_state_dict`` with an error that names the layers that do not match."""
    own = module.state_dict()
    problems = [f"missing {k}" for k in own if k not in state]
    problems += [f"unexpected {k}" for k in state if k not in own]
    problems += [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(v.shape)}"
                 for k, v in own.items() if k in state and state[k].shape != v.shape]
    if problems:
        listed = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise CheckpointError(f"The checkpoint's {name} does not match this architecture: {listed}")
    module.load_state_dict(state)


def rng_state() -> dict:
    """Every random generator a training step draws from, in types that ``weights_only`` loading accepts."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {
        "python": random.getstate(),
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def set_rng_state(state: dict) -> None:
    """Restore what :func:`rng_state` recorded (the GPU's generators only where a GPU is present)."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"][: torch.cuda.device_count()])

