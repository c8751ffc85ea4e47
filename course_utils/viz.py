"""Plot helpers the notebooks share."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np


def use_course_style() -> None:
    """One readable style for every figure: notebook width, compact PNGs, labelled grids."""
    plt.rcParams.update(
        {
            "figure.figsize": (8, 4),
            "figure.dpi": 80,
            "savefig.dpi": 80,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.titlesize": 11,
            "axes.labelsize": 10,
            "legend.fontsize": 9,
            "image.interpolation": "nearest",
        }
    )


def show_images(images, titles=None, ncols: int = 4, size: float = 2.5, suptitle: str | None = None):
    """Show a list of images (HxW or HxWx3 arrays, values in [0, 1] or uint8) in a grid."""
    images = list(images)
    ncols = max(1, min(ncols, len(images)))
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, (ax, img) in enumerate(zip(axes.flat, images, strict=False)):
        img = np.asarray(img)
        ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0 if img.ndim == 2 else None,
                  vmax=(255 if img.dtype == np.uint8 else 1) if img.ndim == 2 else None)
        if titles is not None:
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig
