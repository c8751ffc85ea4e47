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


# --- Training: sample grids, loss curves, a live view (used by notebook 07 and the command line) -----

def comparison_grid(L, fake_ab, real_ab, max_rows: int = 4) -> np.ndarray:
    """Rows of gray input | generated | real, from network-scaled tensors, as one uint8 HxWx3 image."""
    import torch

    from .color import normalized_to_rgb as to_rgb

    n = min(max_rows, L.shape[0])
    L, fake_ab, real_ab = (t[:n].detach().float().cpu() for t in (L, fake_ab, real_ab))
    panels = [to_rgb(L, torch.zeros_like(real_ab)), to_rgb(L, fake_ab), to_rgb(L, real_ab)]
    rows = torch.cat(panels, dim=3)  # side by side: [n, 3, H, 3W]
    grid = torch.cat(list(rows), dim=1)  # rows stacked: [3, nH, 3W]
    return (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)


def smoothed(steps, values, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of every ``window`` consecutive values, and the step at which each window ends."""
    values = np.asarray(values, dtype=float)
    window = max(1, min(window, len(values)))
    return np.asarray(steps)[window - 1:], np.convolve(values, np.ones(window) / window, mode="valid")


def plot_losses(history, axes=None, smooth: int = 20):
    """D's and G's adversarial losses (with log 2, a confused D) and the L1 loss, against the step."""
    if axes is None:
        _, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    ax_gan, ax_l1 = axes
    steps = [h["step"] for h in history]
    for key, label in (("loss_D", "D: (BCE real + BCE fake) / 2"), ("loss_G_GAN", "G: adversarial (BCE)")):
        ax_gan.plot(*smoothed(steps, [h[key] for h in history], smooth), label=label)
    ax_gan.axhline(np.log(2), color="gray", linestyle="--", label="log 2 = 0.69 (D guessing)")
    ax_l1.plot(*smoothed(steps, [h["loss_G_L1"] for h in history], smooth), color="tab:green")
    ax_gan.set(xlabel="step", ylabel="loss", title=f"adversarial losses (mean of {smooth} steps)")
    ax_l1.set(xlabel="step", ylabel="mean |ab - ab_real| (scaled)", title="G's L1 loss")
    ax_gan.legend(loc="upper right")
    return axes


class LiveTrainingView:
    """Loss curves and gray | generated | real samples, redrawn in one notebook output every ``every`` steps.

    Pass it as ``trainer.fit(..., on_step=view)``; ``L`` and ``ab`` are a fixed batch to watch.
    """

    def __init__(self, L, ab, every: int = 50, smooth: int = 20):
        self.L, self.ab, self.every, self.smooth = L[:3], ab[:3], every, smooth
        self.handle = None

    def figure(self, trainer):
        fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), gridspec_kw={"width_ratios": [1.2, 1, 1.1]})
        plot_losses(trainer.history, axes[:2], smooth=self.smooth)
        axes[2].imshow(comparison_grid(self.L, trainer.predict_ab(self.L), self.ab))
        axes[2].set_title(f"step {trainer.step}: gray | generated | real")
        axes[2].axis("off")
        fig.tight_layout()
        return fig

    def __call__(self, trainer) -> None:
        if trainer.step % self.every == 0:
            self.update(trainer)

    def update(self, trainer) -> None:
        """Redraw now (e.g. once more after training ends)."""
        from IPython.display import display

        fig = self.figure(trainer)
        if self.handle is None:
            self.handle = display(fig, display_id=True)
        else:
            self.handle.update(fig)
        plt.close(fig)
