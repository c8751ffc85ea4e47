"""Notebook 06's exercises (06_weight_init_theory.ipynb): the variance argument, Xavier's bound, He's std,
fans and modes."""

from __future__ import annotations

import functools
import math

import torch
from torch import nn

from ..init import init_weights, layer_stats
from .checking import call, expect_choice, expect_number
from .registry import exercise


@exercise(
    "06.variance_after_n",
    task="A stack of n_layers Linear layers, no activation and no bias, every weight drawn with "
         "Var(w) = gain^2 / fan_in. Write the predicted Var(output) / Var(input).",
    name="variance_ratio",
    stub="""
        def variance_ratio(n_layers, gain):
            raise NotImplementedError("your code here")
    """,
    solution="""
        def variance_ratio(n_layers, gain):
            # Each layer multiplies the variance by fan_in * Var(w) = gain^2.
            return gain ** (2 * n_layers)
    """,
    wrong=(
        """
        def variance_ratio(n_layers, gain):
            return gain**n_layers
        """,
        """
        def variance_ratio(n_layers, gain):
            return n_layers * gain**2
        """,
        """
        def variance_ratio(n_layers, gain):
            return 1.12 * gain ** (2 * n_layers)  # 12% off
        """,
        """
        def variance_ratio(n_layers, gain):
            return gain ** (2 * n_layers) * 1.02**n_layers  # drifts with depth
        """,
    ),
    hint="Var(y) = fan_in x Var(w) x Var(x) for one layer: by what factor does one layer multiply the "
         "variance, and what do n such factors make?",
)
def _variance_after_n(answer):
    # The prediction is exact (section 4 measures the one-layer rule): Var(w) = gain^2 / fan_in, so each layer
    # multiplies the variance by fan_in x Var(w) = gain^2.
    for n_layers, gain in [(10, 1.2), (5, 0.8), (8, 1.0), (3, 2.0), (1, 1.5), (30, 1.05)]:
        got, case = call(answer, n_layers, gain)
        expect_number(got, gain ** (2 * n_layers), case, rtol=1e-6)


@functools.cache
def _xavier_uniform_max(fan_in: int, fan_out: int, gain: float) -> float:
    """The largest |w| that nn.init.xavier_uniform_ draws, over at least 200,000 draws: its bound."""
    torch.manual_seed(0)
    weight = torch.empty(fan_out, fan_in)
    draws = max(1, 200_000 // weight.numel())
    return max(nn.init.xavier_uniform_(weight, gain=gain).abs().max().item() for _ in range(draws))


@exercise(
    "06.xavier_bound",
    task="Write the bound a of Xavier's uniform distribution U(-a, a) for a layer with these fans and gain.",
    name="xavier_bound",
    stub="""
        def xavier_bound(fan_in, fan_out, gain=1.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            # Var(w) = gain^2 * 2 / (fan_in + fan_out), and U(-a, a) has variance a^2 / 3.
            return gain * math.sqrt(6 / (fan_in + fan_out))
    """,
    wrong=(
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return gain * math.sqrt(2 / (fan_in + fan_out))
        """,
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return math.sqrt(6 / (fan_in + fan_out))
        """,
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            return gain * math.sqrt(6 / fan_in)
        """,
        """
        import math


        def xavier_bound(fan_in, fan_out, gain=1.0):
            scale = 5 / 3 if gain != 1 else 1.0  # tanh's gain, whatever gain was asked for
            return scale * math.sqrt(6 / (fan_in + fan_out))
        """,
    ),
    hint="Start from Xavier's variance, gain^2 x 2 / (fan_in + fan_out); a uniform U(-a, a) has variance "
         "a^2 / 3.",
)
def _xavier_bound(answer):
    for fan_in, fan_out, gain in [(64, 128, 1.0), (1024, 512, 1.0), (256, 256, 5 / 3), (300, 100, 2**0.5),
                                  (48, 16, 0.5), (128, 512, 3.0)]:
        got, case = call(answer, fan_in, fan_out, gain=gain)
        expect_number(got, _xavier_uniform_max(fan_in, fan_out, gain), case, rtol=1e-3)


@exercise(
    "06.he_std",
    task="Write He's (Kaiming's) standard deviation, mode fan_in, for a layer fed by a leaky ReLU of "
         "slope a (a = 0: a plain ReLU).",
    name="he_std",
    stub="""
        def he_std(fan_in, a=0.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import math


        def he_std(fan_in, a=0.0):
            gain = math.sqrt(2 / (1 + a**2))  # a ReLU keeps half the second moment, a leaky one a bit more
            return gain / math.sqrt(fan_in)
    """,
    wrong=(
        """
        import math


        def he_std(fan_in, a=0.0):
            return math.sqrt(2 / fan_in)
        """,
        """
        def he_std(fan_in, a=0.0):
            return 2 / fan_in
        """,
        """
        import math


        def he_std(fan_in, a=0.0):
            return math.sqrt(1 / fan_in)
        """,
        """
        import math


        def he_std(fan_in, a=0.0):
            gain = 1.3867504905630728 if a == 0.2 else math.sqrt(2)  # pix2pix's slope, special-cased
            return gain / math.sqrt(fan_in)
        """,
    ),
    hint="std = gain / sqrt(fan_in), with the gain of the activation feeding the layer: sqrt(2) for a "
         "ReLU, sqrt(2 / (1 + a^2)) for a leaky ReLU (section 5). A std is the square root of a variance.",
)
def _he_std(answer):
    for fan_in, a in [(1024, 0.0), (4096, 0.2), (16, 0.0), (512, 0.2), (256, 0.01), (100, 0.5), (64, 1.0)]:
        got, case = call(answer, fan_in, a=a)
        expect_number(got, nn.init.calculate_gain("leaky_relu", a) / math.sqrt(fan_in), case)


@functools.cache
def _mode_keeping_gradients() -> str:
    """Measure, in a ReLU network widening from 16 to 512 units, which mode keeps the gradients' scale."""
    widths = [round(16 * 32 ** (i / 16)) for i in range(17)]
    layers = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.ReLU()]
    net = nn.Sequential(*layers).double()
    x = torch.randn(64, widths[0], dtype=torch.float64)
    drift = {}
    for mode in ("fan_in", "fan_out"):
        torch.manual_seed(0)
        init_weights(net, "kaiming_normal", mode=mode, nonlinearity="relu")
        grads = layer_stats(net, x, kinds=(nn.ReLU,)).column("grad_std")
        drift[mode] = abs(math.log(grads[0] / grads[-1]))
    return min(drift, key=drift.get)


@exercise(
    "06.mode_for_gradients",
    task="A network whose width changes from layer to layer: you want the gradients to keep their scale "
         'all the way back to the first layer. Which Kaiming mode: "fan_in" or "fan_out"?',
    name="gradient_mode",
    stub="""
        gradient_mode = ...  # "fan_in" or "fan_out"
    """,
    solution="""
        # Backward, a gradient is a sum over the fan_out outputs a unit feeds: Var(w) = 2 / fan_out.
        gradient_mode = "fan_out"
    """,
    wrong=(
        """
        gradient_mode = "fan_in"
        """,
        """
        gradient_mode = "both"
        """,
    ),
    hint="Going forward, each output sums fan_in terms; going backward, each gradient sums fan_out terms.",
)
def _mode(answer):
    expect_choice(answer, _mode_keeping_gradients(), {
        "fan_in": "fan_in makes each layer keep the variance of the forward signal.",
        "fan_out": "fan_out makes each layer keep the variance of the gradient on its way back.",
    })
