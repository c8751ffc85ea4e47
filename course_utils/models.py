"""The Pix2Pix networks (Isola et al. 2017, appendix): a U-Net generator and a 70x70 PatchGAN.

Layer names follow the paper: ``Ck`` = Convolution(4x4, stride 2)-BatchNorm-ReLU with k filters,
``CDk`` = the same plus Dropout(0.5). Encoder C64-C128-C256-C512-C512-C512-C512-C512 with leaky ReLUs
(slope 0.2); the U-Net decoder, listed by the channels each layer reads (its input is doubled by the
skip connections), CD512-CD1024-CD1024-C1024-C1024-C512-C256-C128 with plain ReLUs, then a convolution
to the output channels and Tanh. The discriminator is C64-C128-C256-C512 and a 1-channel convolution;
the paper's text gives every convolution stride 2, its authors' code the last two stride 1, which is
what makes each logit see a 70x70 patch (and a 256x256 input give a 30x30 map): the course follows the
code.

Details that follow the authors' PyTorch implementation (pytorch-CycleGAN-and-pix2pix), whose
parameter counts these classes reproduce: a convolution followed by BatchNorm has no bias (BatchNorm's
own shift replaces it), and the U-Net's first and innermost encoder convolutions have neither bias nor
BatchNorm (the innermost output is 1x1, where a batch of one has a single value per channel to
normalise).

``resnet18_unet`` is the course's second generator (notebook 09), not the paper's: the U-Net of
Shariatnia's colorization tutorial, an ImageNet ResNet-18 encoder cut before its pooling layer
(fastai's ``create_body``) under fastai's ``DynamicUnet`` decoder.
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["UNetGenerator", "PatchDiscriminator", "receptive_field", "count_parameters", "resnet18_unet"]


def count_parameters(model: nn.Module) -> int:
    """Number of learnable numbers in ``model`` (BatchNorm's running statistics are not counted)."""
    return sum(p.numel() for p in model.parameters())


def _check_input(name: str, x: torch.Tensor, channels: int) -> None:
    if x.dim() != 4:
        raise ValueError(f"{name} expects a batch [N, C, H, W]; got a tensor of shape {tuple(x.shape)}.")
    if x.shape[1] != channels:
        raise ValueError(f"{name} was built for {channels} input channel(s); got {x.shape[1]} "
                         f"(input shape {tuple(x.shape)}).")


def _encoder_block(c_in: int, c_out: int, *, outermost: bool, innermost: bool) -> nn.Sequential:
    """LeakyReLU (not before the first layer), 4x4 stride-2 convolution, BatchNorm (not at either end)."""
    layers = [] if outermost else [nn.LeakyReLU(0.2)]
    layers.append(nn.Conv2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=False))
    if not (outermost or innermost):
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


def _decoder_block(c_in: int, c_out: int, *, outermost: bool, dropout: float) -> nn.Sequential:
    """ReLU, 4x4 stride-2 transposed convolution, then BatchNorm (and Dropout) or, at the end, Tanh."""
    layers = [nn.ReLU(), nn.ConvTranspose2d(c_in, c_out, kernel_size=4, stride=2, padding=1, bias=outermost)]
    layers.append(nn.Tanh() if outermost else nn.BatchNorm2d(c_out))
    if dropout > 0:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers)


class UNetGenerator(nn.Module):
    """U-Net generator: ``num_downs`` halvings down to the bottleneck, as many doublings back up.

    ``down[i]`` is encoder layer i+1 of the paper; ``up[j]`` is decoder layer j+1, and the last ``up``
    block maps to ``out_channels`` with Tanh. Every decoder output except the last is concatenated
    with the encoder output of the same size (decoder channels first), so the next decoder block
    reads twice the channels. Dropout sits in the three innermost decoder blocks (the paper's CD512).
    Inputs need sides divisible by ``2**num_downs`` (256 for the paper's ``num_downs=8``).
    """

    def __init__(self, in_channels: int = 1, out_channels: int = 2, num_downs: int = 8, ngf: int = 64,
                 dropout: float = 0.5):
        super().__init__()
        if num_downs < 2:
            raise ValueError(f"num_downs must be at least 2 (one layer at each end); got {num_downs}.")
        self.in_channels, self.num_downs = in_channels, num_downs
        widths = [ngf * min(2**i, 8) for i in range(num_downs)]  # encoder outputs: 64, 128, 256, 512, ...
        last = num_downs - 1
        self.down = nn.ModuleList(
            _encoder_block(in_channels if i == 0 else widths[i - 1], widths[i],
                           outermost=i == 0, innermost=i == last)
            for i in range(num_downs)
        )
        decoder_in = [widths[last]] + [2 * w for w in reversed(widths[1:last])] + [2 * widths[0]]
        decoder_out = list(reversed(widths[:last])) + [out_channels]
        self.up = nn.ModuleList(
            _decoder_block(c_in, c_out, outermost=j == last, dropout=dropout if j < 3 and j < last else 0.0)
            for j, (c_in, c_out) in enumerate(zip(decoder_in, decoder_out, strict=True))
        )

    def check_size(self, x: torch.Tensor) -> None:
        """Raise a ValueError naming the allowed sizes unless ``x`` fits this U-Net."""
        _check_input("UNetGenerator", x, self.in_channels)
        step = 2**self.num_downs
        height, width = x.shape[-2:]
        if height % step or width % step:
            examples = ", ".join(str(step * k) for k in range(1, 5))
            raise ValueError(
                f"UNetGenerator(num_downs={self.num_downs}) halves the image {self.num_downs} times, "
                f"so height and width must be multiples of 2**{self.num_downs} = {step} (e.g. {examples}); "
                f"got {height}x{width}. Resize or crop the image first."
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.check_size(x)
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        skips.pop()  # the bottleneck goes straight into the decoder
        for block in self.up:
            x = block(x)
            if skips:
                x = torch.cat([x, skips.pop()], dim=1)
        return x


def resnet18_unet(image_size: int, encoder_state: dict | None = None) -> nn.Module:
    """A U-Net on a ResNet-18 encoder (1 channel L in, 2 channels ab in [-1, 1] out).

    ``create_body(resnet18, n_in=1, cut=-2)`` keeps the ResNet up to its last residual stage; its
    first convolution reads one channel (with ImageNet weights: the sum of the RGB filters).
    ``encoder_state``: torchvision's ResNet-18 ImageNet weights (``course_utils.imagenet``), or None
    for random ones. ``DynamicUnet`` builds the decoder from the encoder's feature sizes at
    ``image_size`` (a multiple of 32); unlike the tutorial, its output is bounded to [-1, 1] as the
    paper's Tanh bounds the U-Net's.
    """
    import warnings

    from torchvision.models import resnet18

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # fastai's imports warn about torch APIs it uses
        from fastai.vision.learner import create_body
        from fastai.vision.models.unet import DynamicUnet

    if image_size % 32:
        raise ValueError(f"The ResNet-18 U-Net halves the image 5 times: image_size must be a multiple of "
                         f"32; got {image_size}.")
    encoder = resnet18()
    if encoder_state is not None:
        encoder.load_state_dict(encoder_state)
    body = create_body(encoder, n_in=1, pretrained=encoder_state is not None, cut=-2)
    return DynamicUnet(body, 2, (image_size, image_size), y_range=(-1, 1))


class PatchDiscriminator(nn.Module):
    """PatchGAN discriminator: one raw logit (no sigmoid) per overlapping patch of the input.

    ``n_layers`` stride-2 convolutions (C64-C128-C256 for 3), a stride-1 C512 and a stride-1 convolution
    to one channel; with the default 3 each logit sees a 70x70 patch and a 256x256 input gives a 30x30
    map. The input is the condition and the colours stacked, e.g. L and ab: 3 channels. Pair it with
    ``nn.BCEWithLogitsLoss``.
    """

    def __init__(self, in_channels: int = 3, ndf: int = 64, n_layers: int = 3):
        super().__init__()
        if n_layers < 1:
            raise ValueError(f"n_layers must be at least 1; got {n_layers}.")
        self.in_channels = in_channels
        widths = [ndf * min(2**i, 8) for i in range(n_layers + 1)]
        layers = [nn.Conv2d(in_channels, ndf, kernel_size=4, stride=2, padding=1), nn.LeakyReLU(0.2)]
        for i in range(1, n_layers + 1):
            stride = 2 if i < n_layers else 1
            layers += [
                nn.Conv2d(widths[i - 1], widths[i], kernel_size=4, stride=stride, padding=1, bias=False),
                nn.BatchNorm2d(widths[i]),
                nn.LeakyReLU(0.2),
            ]
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size=4, stride=1, padding=1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _check_input("PatchDiscriminator", x, self.in_channels)
        return self.model(x)


def receptive_field(model: nn.Module) -> int:
    """Side of the input window one output value sees, for a plain stack of convolutions.

    Walks the Conv2d / pooling layers in the order they were registered: each adds
    ``(kernel - 1) * dilation`` input steps, scaled by the product of the strides before it.
    """
    size, jump = 1, 1
    for layer in model.modules():
        if isinstance(layer, nn.ConvTranspose2d):
            raise ValueError("receptive_field works on a plain convolution stack; this model upsamples "
                             f"({layer}), so one output value has no single input window.")
        if not isinstance(layer, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            continue
        kernel, stride, dilation = (_square(layer, name) for name in ("kernel_size", "stride", "dilation"))
        size += (kernel - 1) * dilation * jump
        jump *= stride
    return size


def _square(layer: nn.Module, name: str) -> int:
    value = getattr(layer, name, 1)
    values = set(value) if isinstance(value, tuple) else {value}
    if len(values) != 1:
        raise ValueError(f"receptive_field needs square {name}s; {layer} has {name}={value}.")
    return values.pop()
