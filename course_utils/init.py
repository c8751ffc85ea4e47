"""Weight initialisation: the schemes of ``torch.nn.init`` applied by layer kind, fans, per-layer statistics.

``init_weights(model)`` is the Pix2Pix paper's recipe (Isola et al. 2017, section 6.2): every
convolution, transposed convolution and linear weight ~ N(0, 0.02), biases 0, BatchNorm weights
~ N(1, 0.02) and BatchNorm biases 0, as the authors' code does. Other schemes are one argument away.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass

import torch
from torch import nn

SCHEMES = ("normal", "xavier_uniform", "xavier_normal", "kaiming_uniform", "kaiming_normal",
           "orthogonal", "zeros", "constant")
MODES = ("fan_in", "fan_out")
NONLINEARITIES = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
                  "conv_transpose3d", "sigmoid", "tanh", "relu", "leaky_relu", "selu")

# isinstance against these catches subclasses too, which `type(m) == nn.Conv2d` misses.
CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
CONV_TRANSPOSES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
WEIGHTED = CONVS + CONV_TRANSPOSES + (nn.Linear,)
BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)
# Other normalisations get their identity start (weight 1, bias 0): the paper's code only touches BatchNorm.
OTHER_NORMS = (nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm1d, nn.InstanceNorm2d, nn.InstanceNorm3d) + (
    (nn.RMSNorm,) if hasattr(nn, "RMSNorm") else ())


def _check_choice(what: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"Unknown {what} {value!r}; choose one of: {', '.join(valid)}.")


def fan_in_and_out(weight: torch.Tensor | nn.Module) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or convolution weight, or of the layer itself.

    A tensor is read as PyTorch stores Linear and Conv weights, ``(out, in / groups, *kernel)``:
    fan_in = in/groups * kernel taps, fan_out = out * kernel taps (what ``torch.nn.init`` computes).
    A ConvTranspose weight is stored ``(in, out / groups, *kernel)``, so from the tensor alone the two
    numbers come out swapped. Pass the ConvTranspose *module* to get the layer's true fan-in (inputs per
    output) and fan-out. Like PyTorch, the count ignores stride: with stride s a transposed conv's
    output pixel really sees only kernel/s taps per dimension.
    """
    if isinstance(weight, nn.Module):
        if not isinstance(weight, WEIGHTED):
            raise TypeError(f"fan_in_and_out needs a Linear or convolution layer, "
                            f"got {type(weight).__name__}.")
        naive_in, naive_out = fan_in_and_out(weight.weight)
        if isinstance(weight, CONV_TRANSPOSES):
            g = weight.groups
            return naive_out // g, naive_in * g
        return naive_in, naive_out
    if not isinstance(weight, torch.Tensor):
        raise TypeError(f"fan_in_and_out needs a tensor or a layer, got {type(weight).__name__}.")
    if weight.dim() < 2:
        raise ValueError(f"Fans are defined for weights with 2 or more dimensions, got shape "
                         f"{tuple(weight.shape)} (a bias or a norm layer's weight has no fan).")
    taps = math.prod(weight.shape[2:])
    return weight.shape[1] * taps, weight.shape[0] * taps


@dataclass
class InitSummary:
    """What ``init_weights`` did: layers initialised per kind, and layers with parameters it left alone."""

    scheme: str
    initialised: dict
    left_alone: dict

    def __str__(self) -> str:
        def fmt(counts):
            return ", ".join(f"{n} {kind}" for kind, n in counts.items()) or "none"
        return f"init '{self.scheme}': {fmt(self.initialised)} | left as they were: {fmt(self.left_alone)}"

    __repr__ = __str__


def init_weights(model: nn.Module, scheme: str = "normal", gain: float | None = None, mode: str = "fan_in",
                 nonlinearity: str = "leaky_relu", a: float = 0.2, value: float | None = None) -> InitSummary:
    """Initialise every Conv, ConvTranspose and Linear weight (any dimension) of ``model`` in place.

    Matched with ``isinstance``, so subclasses count. Biases are set to 0. BatchNorm weights ~ N(1, 0.02),
    biases 0 (the pix2pix code); other norm layers get weight 1, bias 0. The schemes:

    - ``normal``: N(0, gain) -- here ``gain`` IS the standard deviation (default 0.02, the paper's).
    - ``xavier_uniform`` / ``xavier_normal``: Glorot & Bengio (2010), ``gain`` a multiplier (default 1).
    - ``kaiming_uniform`` / ``kaiming_normal``: He et al. (2015), std = gain * calculate_gain(nonlinearity, a)
      / sqrt(fan), fan chosen by ``mode``; ``gain`` an extra multiplier (default 1). The fan is the
      layer's (see ``fan_in_and_out``), so ConvTranspose layers are not given swapped fans.
    - ``orthogonal``: a (flattened) orthogonal matrix times ``gain`` (default 1).
    - ``zeros``; ``constant`` (needs ``value``): every weight the same -- for demonstrations only.

    ``nonlinearity`` and ``a`` (leaky ReLU's slope) name the activation whose gain Kaiming uses (only
    Kaiming uses them): the one feeding the layers for ``mode="fan_in"`` (He et al.'s forward argument),
    the one after them for ``mode="fan_out"`` (the backward argument); in a stack with one activation
    throughout they are the same. Returns an ``InitSummary`` (prints as one line).
    """
    _check_choice("scheme", scheme, SCHEMES)
    _check_choice("mode", mode, MODES)
    _check_choice("nonlinearity", nonlinearity, NONLINEARITIES)
    if (scheme == "constant") != (value is not None):
        raise ValueError("value= goes with scheme='constant', and only with it: "
                         "e.g. init_weights(model, 'constant', value=0.5).")
    if gain is None:
        gain = 0.02 if scheme == "normal" else 1.0
    act_gain = nn.init.calculate_gain(nonlinearity, a)
    initialised, left_alone = Counter(), Counter()

    @torch.no_grad()
    def init_one(m: nn.Module) -> None:
        kind = type(m).__name__
        if any(isinstance(p, nn.parameter.UninitializedParameter) for p in m.parameters(recurse=False)):
            raise ValueError(f"{kind} is a lazy layer whose shape is not known yet: "
                             "run one forward pass first.")
        if isinstance(m, WEIGHTED):
            _init_weight(m, scheme, gain, mode, act_gain, value)
        elif isinstance(m, BATCH_NORMS + OTHER_NORMS):
            if getattr(m, "weight", None) is None:  # affine=False: nothing to initialise
                return
            if isinstance(m, BATCH_NORMS):
                m.weight.normal_(1.0, 0.02)
            else:
                m.weight.fill_(1.0)
        else:
            if any(True for _ in m.parameters(recurse=False)):
                left_alone[kind] += 1
            return
        if getattr(m, "bias", None) is not None:
            m.bias.zero_()
        initialised[kind] += 1

    model.apply(init_one)
    return InitSummary(scheme, dict(initialised), dict(left_alone))


def _init_weight(m: nn.Module, scheme: str, gain: float, mode: str, act_gain: float, value) -> None:
    w = m.weight
    if scheme == "normal":
        w.normal_(0.0, gain)
    elif scheme == "xavier_uniform":
        nn.init.xavier_uniform_(w, gain=gain)
    elif scheme == "xavier_normal":
        nn.init.xavier_normal_(w, gain=gain)
    elif scheme.startswith("kaiming"):
        fan_in, fan_out = fan_in_and_out(m)
        std = gain * act_gain / math.sqrt(fan_in if mode == "fan_in" else fan_out)
        if scheme == "kaiming_normal":
            w.normal_(0.0, std)
        else:  # U(-b, b) has variance b^2 / 3
            w.uniform_(-math.sqrt(3.0) * std, math.sqrt(3.0) * std)
    elif scheme == "orthogonal":
        nn.init.orthogonal_(w, gain=gain)
    elif scheme == "zeros":
        w.zero_()
    else:
        w.fill_(value)


@dataclass
class LayerStat:
    """One layer's output statistics: forward mean and std, and the std of the gradient reaching it."""

    name: str
    kind: str
    out_mean: float
    out_std: float
    grad_std: float = float("nan")


class LayerStats(list):
    """The records of ``layer_stats``, in forward order; ``column('out_std')`` gives one field as a list."""

    def column(self, field: str) -> list:
        return [getattr(r, field) for r in self]

    def __str__(self) -> str:
        lines = [f"{'layer':<28}{'kind':<18}{'out mean':>11}{'out std':>11}{'grad std':>11}"]
        lines += [f"{r.name:<28}{r.kind:<18}{r.out_mean:>11.3g}{r.out_std:>11.3g}{r.grad_std:>11.3g}"
                  for r in self]
        return "\n".join(lines)

    __repr__ = __str__


def layer_stats(model: nn.Module, x: torch.Tensor, backward: bool = True, kinds: tuple = ()) -> LayerStats:
    """Forward ``x`` through ``model`` and record every leaf layer's output mean and std (with hooks).

    ``kinds`` (layer classes) keeps only those layers. With ``backward=True`` a standard-normal gradient
    is sent back from the model's output, so each layer's ``grad_std`` is how the backward pass scales a
    unit signal. Only the input receives gradients: the parameters' ``.grad`` are not touched. The model
    is used in whatever mode it is in (train mode: BatchNorm normalises with the batch's statistics).
    """
    records, handles = LayerStats(), []

    def hook(module, _inputs, output, name):
        if not isinstance(output, torch.Tensor):
            return
        out = output.detach().double()
        record = LayerStat(name, type(module).__name__, out.mean().item(), out.std().item())
        records.append(record)
        if backward and output.requires_grad:
            output.register_hook(lambda g: setattr(record, "grad_std", g.double().std().item()))

    for name, module in model.named_modules():
        if next(module.children(), None) is None and (not kinds or isinstance(module, kinds)):
            handles.append(module.register_forward_hook(lambda m, i, o, n=name: hook(m, i, o, n)))
    try:
        x = x.detach().requires_grad_(backward)
        with torch.set_grad_enabled(backward):
            y = model(x)
        if backward:
            torch.autograd.backward(y, torch.randn_like(y), inputs=[x])
    finally:
        for h in handles:
            h.remove()
    return records
