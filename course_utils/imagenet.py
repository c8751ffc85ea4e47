"""torchvision's ImageNet weights for the ResNet-18 encoder (notebook 09), fetched once into the data folder.

The file is torchvision's ``ResNet18_Weights.IMAGENET1K_V1``; ``course_utils.weights.fetch`` downloads it
behind a progress bar into ``data/cache/weights/<sha256>/`` (so with ``USE_DRIVE`` on Colab it is kept)
and uses it only if its SHA-256 matches. Without a network the encoder starts from random weights, and
:func:`encoder_weights` says so in one line.
"""

from __future__ import annotations

import torch

from .checkpoint import check_finite
from .weights import DownloadError, fetch

RESNET18_URL = "https://download.pytorch.org/models/resnet18-f37072fd.pth"
RESNET18_SHA256 = "f37072fd47e89c5e827621c5baffa7500819f7896bbacec160b1a16c560e07ec"  # 46,830,571 bytes
WITHOUT = "without ImageNet weights"  # the label every number of a randomly started encoder carries


def encoder_weights(url: str | None = None, sha256: str | None = None, *, timeout: float = 10.0,
                    progress: bool = True) -> dict | None:
    """ResNet-18's ImageNet state dict (default: torchvision's file), or None (with one printed line)
    when it cannot be had. A cached copy is used only while its SHA-256 is right."""
    try:
        path = fetch(url or RESNET18_URL, sha256 or RESNET18_SHA256, timeout=timeout, progress=progress)
    except DownloadError as err:
        print(f"No ImageNet weights ({err}): the ResNet-18 encoder starts from random weights, and every "
              f"number below is {WITHOUT}.")
        return None
    state = torch.load(path, map_location="cpu", weights_only=True)
    check_finite(state, f"{path.name}")
    return state
