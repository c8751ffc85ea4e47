"""Notebook 07's exercises (07_training_pix2pix.ipynb): D's and G's losses, reading a loss value, and why G's
loss does not saturate."""

from __future__ import annotations

import math

import torch
from torch.nn import functional as F

from ..train import GANLoss
from .checking import Wrong, as_number, call, expect_number
from .registry import exercise

BCE, LSGAN = GANLoss("vanilla"), GANLoss("lsgan")


def _logits(seed: int, shape=(2, 1, 6, 6)) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed))


@exercise(
    "07.d_loss",
    task="Write D's loss for the logits it gave a batch of real pairs and a batch of fake pairs.",
    name="discriminator_loss",
    stub="""
        def discriminator_loss(real_logits, fake_logits):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return 0.5 * (real + fake)  # halved, as in the paper
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return real + fake
        """,
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy_with_logits(real_logits, torch.zeros_like(real_logits))
            fake = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return 0.5 * (real + fake)
        """,
        """
        import torch
        import torch.nn.functional as F


        def discriminator_loss(real_logits, fake_logits):
            real = F.binary_cross_entropy(torch.sigmoid(real_logits), torch.ones_like(real_logits))
            fake = F.binary_cross_entropy(torch.sigmoid(fake_logits), torch.zeros_like(fake_logits))
            return 0.5 * (real + fake)
        """,
    ),
    hint="Binary cross-entropy on the logits (F.binary_cross_entropy_with_logits): target 1 for real "
         "pairs, 0 for fake ones, and the paper's factor 1/2.",
)
def _d_loss(answer):
    cases = [(_logits(0), _logits(1)), (torch.zeros(1, 1, 30, 30), torch.zeros(1, 1, 30, 30)),
             (torch.full((1, 1, 4, 4), -120.0), torch.full((1, 1, 4, 4), 120.0))]  # D fooled completely
    for real, fake in cases:
        got, case = call(answer, real, fake)
        value = as_number(got, case)
        expected = 0.5 * (BCE(real, real=True) + BCE(fake, real=False)).item()
        swapped = 0.5 * (BCE(real, real=False) + BCE(fake, real=True)).item()
        if math.isclose(value, 2 * expected, rel_tol=1e-5):
            raise Wrong(f"{case}: got twice D's loss.", hint="The paper halves D's loss.")
        if math.isclose(value, swapped, rel_tol=1e-5) and not math.isclose(swapped, expected, rel_tol=1e-5):
            raise Wrong(f"{case}: got the loss with the targets swapped.",
                        hint="D should call real pairs real (target 1) and fake pairs fake (target 0).")
        expect_number(value, expected, case, rtol=1e-5)


@exercise(
    "07.g_loss",
    task="Write G's loss from D's logits for G's fake pairs, G's colours fake_ab and the real ones.",
    name="generator_loss",
    stub="""
        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            raise NotImplementedError("your code here")
    """,
    solution="""
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))  # "real"
            return fool_d + lambda_l1 * F.l1_loss(fake_ab, real_ab)
    """,
    wrong=(
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
            return fool_d + lambda_l1 * F.l1_loss(fake_ab, real_ab)
        """,
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return fool_d + F.l1_loss(fake_ab, real_ab)
        """,
        """
        import torch
        import torch.nn.functional as F


        def generator_loss(fake_logits, fake_ab, real_ab, lambda_l1=100.0):
            fool_d = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
            return fool_d + lambda_l1 * F.mse_loss(fake_ab, real_ab)
        """,
    ),
    hint="G wants D to call its pairs real (BCE on the logits with target 1), plus lambda times the mean "
         "absolute difference of the colours (F.l1_loss).",
)
def _g_loss(answer):
    generator = torch.Generator().manual_seed(2)
    fake_ab, real_ab = (torch.rand(2, 2, 8, 8, generator=generator) * 2 - 1 for _ in range(2))
    for logits, kwargs in [(_logits(3), {}), (_logits(4), {"lambda_l1": 10.0}),
                           (torch.full((2, 1, 6, 6), -120.0), {})]:  # D rejects every patch
        got, case = call(answer, logits, fake_ab, real_ab, **kwargs)
        value, l1 = as_number(got, case), kwargs.get("lambda_l1", 100.0) * F.l1_loss(fake_ab, real_ab).item()
        expected, target_0 = BCE(logits, real=True).item() + l1, BCE(logits, real=False).item() + l1
        if math.isclose(value, target_0, rel_tol=1e-5):
            raise Wrong(f"{case}: got G's loss with target 0 for its own pairs.",
                        hint="G wants D to call its pairs real: target 1.")
        expect_number(value, expected, case, rtol=1e-5)


@exercise(
    "07.lsgan_d_loss",
    task='With gan_mode="lsgan", BCE is replaced by the squared error against the targets 1 (real) and 0 '
         "(fake). What is D's loss, with the paper's 1/2, when D outputs 0.5 for every patch?",
    name="lsgan_d_loss",
    stub="""
        lsgan_d_loss = ...  # a number
    """,
    solution="""
        # Squared errors of 0.5 against 1 (real) and against 0 (fake), then halved as for BCE.
        lsgan_d_loss = 0.5 * ((0.5 - 1) ** 2 + (0.5 - 0) ** 2)
    """,
    wrong=(
        """
        import math

        lsgan_d_loss = math.log(2)
        """,
        """
        lsgan_d_loss = (0.5 - 1) ** 2 + (0.5 - 0) ** 2
        """,
    ),
    hint="Compute the squared error of 0.5 against each target, as D's BCE loss does with cross-entropies.",
)
def _lsgan(answer):
    undecided = torch.full((1, 1, 30, 30), 0.5)
    expected = 0.5 * (LSGAN(undecided, real=True) + LSGAN(undecided, real=False)).item()
    if math.isclose(as_number(answer), math.log(2), rel_tol=1e-3):
        raise Wrong("log 2 is an undecided D's loss with BCE, not with squared errors.")
    expect_number(answer, expected, rtol=1e-3)


REJECTED = 0.001  # D's probability that G's pair is real, in 07.saturation


def _g_slopes(p_real: float) -> tuple[float, float]:
    """d/ds of G's minimax loss log(1 - sigmoid(s)) and of its non-saturating loss -log sigmoid(s), at the
    logit s where D's probability sigmoid(s) is ``p_real`` (autograd, float64)."""
    logit = torch.tensor(math.log(p_real / (1 - p_real)), dtype=torch.float64, requires_grad=True)
    target = torch.tensor(1.0, dtype=torch.float64)
    minimax = torch.log1p(-torch.sigmoid(logit))  # log(1 - D)
    non_saturating = F.binary_cross_entropy_with_logits(logit, target)  # -log D
    return tuple(torch.autograd.grad(loss, logit)[0].item() for loss in (minimax, non_saturating))


@exercise(
    "07.saturation",
    task="D is sure that G's colours are fake: it gives G's pair the probability D(x, G(x)) = 0.001 of "
         "being real. How many times steeper (d loss / d logit) is G's non-saturating loss -log D there "
         "than the objective's minimax loss log(1 - D)?",
    name="slope_ratio",
    stub="""
        slope_ratio = ...  # a number
    """,
    solution="""
        # With s the logit and D = sigmoid(s): d/ds log(1 - D) = -D and d/ds (-log D) = -(1 - D).
        slope_ratio = (1 - 0.001) / 0.001  # about 1000: the minimax loss is flat where G needs a push
    """,
    wrong=(
        """
        slope_ratio = 0.001 / (1 - 0.001)
        """,
        """
        slope_ratio = 0.9933 / 0.0067  # the slopes printed above, at logit -5
        """,
        """
        slope_ratio = 1 / 0.001
        """,
    ),
    hint="Section 2 gives both slopes as functions of D = sigmoid(s): the minimax loss's is -D, the "
         "non-saturating loss's -(1 - D). Or compute them with autograd at s = log(D / (1 - D)).",
)
def _saturation(answer):
    minimax, non_saturating = _g_slopes(REJECTED)
    expected, value = non_saturating / minimax, as_number(answer)
    if math.isclose(value, 1 / expected, rel_tol=1e-3):
        raise Wrong("That is the ratio upside down: the minimax slope divided by the non-saturating one.")
    at_minus_5 = _g_slopes(1 / (1 + math.exp(5)))
    if math.isclose(value, at_minus_5[1] / at_minus_5[0], rel_tol=0.02):
        raise Wrong("That is the ratio at logit -5, where D = 0.0067, as printed above; here D = 0.001.")
    if math.isclose(value, 1 / REJECTED, rel_tol=1e-6):
        raise Wrong(f"Got {value:g}, which is 1 / D: close, but the non-saturating slope is -(1 - D), "
                    "not -1.")
    expect_number(value, expected, rtol=1e-4)
