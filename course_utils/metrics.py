"""How good are the colours? Four measures, each beside the gray baseline (ab = 0: no colour at all).

* ab MAE: mean absolute error of the predicted a and b channels, in Lab units (lower is better).
* PSNR: peak signal-to-noise ratio of the RGB result against the real photo, in dB (higher is better).
* CIEDE2000: the perceptual colour difference (scikit-image), averaged over pixels; a difference of
  about 1 is just noticeable (the often-quoted 2.3 is that threshold for the older CIE76 distance,
  plain Euclidean distance in Lab) (lower is better).
* Colourfulness (Hasler & Suesstrunk 2003): how vivid an image is; 0 for gray. Compared with the real
  photos' value, it shows the usual failure of colorization: safe, washed-out colours.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch
from skimage.color import deltaE_ciede2000

from .color import denormalize_lab, lab_to_rgb


def ab_mae(fake_ab: torch.Tensor, real_ab: torch.Tensor) -> torch.Tensor:
    """Per-image mean |a - a'| and |b - b'| in Lab units, from network-scaled ab."""
    return (fake_ab.float() - real_ab.float()).abs().mean(dim=(1, 2, 3)) * 110.0


def psnr(rgb: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image PSNR in dB of RGB images in [0, 1] (capped at 100 dB for identical images)."""
    mse = (rgb.float() - reference.float()).pow(2).mean(dim=(1, 2, 3))
    return 10 * torch.log10(1.0 / mse.clamp(min=1e-10))


def ciede2000(lab: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Per-image mean CIEDE2000 difference of Lab images [N,3,H,W] (L in [0, 100])."""
    a = lab.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    b = reference.detach().float().permute(0, 2, 3, 1).cpu().numpy()
    return torch.from_numpy(deltaE_ciede2000(a, b, channel_axis=-1).mean(axis=(1, 2)))


def colorfulness(rgb: torch.Tensor) -> torch.Tensor:
    """Hasler & Suesstrunk's colourfulness M of RGB images [N,3,H,W] in [0, 1] (on the 0-255 scale)."""
    r, g, b = (rgb.float() * 255).unbind(1)
    rg, yb = r - g, 0.5 * (r + g) - b
    dims = (1, 2)
    spread = torch.sqrt(rg.var(dim=dims, unbiased=False) + yb.var(dim=dims, unbiased=False))
    mean = torch.sqrt(rg.mean(dim=dims) ** 2 + yb.mean(dim=dims) ** 2)
    return spread + 0.3 * mean


METRICS = {  # name: (unit, better)
    "ab MAE": ("Lab units", "lower"),
    "PSNR": ("dB", "higher"),
    "CIEDE2000": ("Delta E", "lower"),
    "colourfulness": ("M", "closer to real"),
}


@dataclass
class Evaluation:
    """Each measure's mean over the images: the model, the gray baseline, the real photos' colourfulness."""

    model: dict
    gray: dict
    real_colorfulness: float
    n_images: int

    def rows(self) -> list[tuple[str, str, str, str, str]]:
        rows = []
        for name, (unit, better) in METRICS.items():
            real = f"{self.real_colorfulness:.1f}" if name == "colourfulness" else "-"
            model, gray = f"{self.model[name]:.2f}", f"{self.gray[name]:.2f}"
            rows.append((f"{name} ({unit})", model, gray, real, better))
        return rows

    HEADER = ("measure", "model", "gray baseline", "real photos", "better")

    def __str__(self) -> str:
        table = [self.HEADER, *self.rows()]
        widths = [max(len(r[i]) for r in table) for i in range(len(self.HEADER))]
        lines = ["  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)) for r in table]
        return "\n".join(lines) + f"\n({self.n_images} validation images)"

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{h}</th>" for h in self.HEADER)
        body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in r) + "</tr>" for r in self.rows())
        return f"<table><tr>{head}</tr>{body}</table><p>{self.n_images} validation images</p>"


def _measures(L, ab, real_ab, real_rgb, real_lab) -> dict:
    lab = denormalize_lab(L.float(), ab.float())
    rgb = lab_to_rgb(lab)
    return {"ab MAE": ab_mae(ab, real_ab), "PSNR": psnr(rgb, real_rgb),
            "CIEDE2000": ciede2000(lab, real_lab), "colourfulness": colorfulness(rgb)}


@torch.no_grad()
def evaluate(predict_ab: Callable[[torch.Tensor], torch.Tensor], batches: Iterable[dict],
             max_images: int | None = None) -> Evaluation:
    """Score ``predict_ab`` (L -> ab, e.g. ``trainer.predict_ab``) on a validation loader."""
    model, gray = {k: [] for k in METRICS}, {k: [] for k in METRICS}
    real_colour, seen = [], 0
    for batch in batches:
        L, real_ab = batch["L"], batch["ab"]
        if max_images is not None:
            L, real_ab = L[: max_images - seen], real_ab[: max_images - seen]
        real_lab = denormalize_lab(L.float(), real_ab.float())
        real_rgb = lab_to_rgb(real_lab)
        fake_ab = predict_ab(L).to(L.device)
        if not torch.isfinite(fake_ab).all():
            raise ValueError(f"The model's colours for {L.shape[0]} validation image(s) contain NaN or "
                             "infinite values: its weights are broken (a training run that diverged?), "
                             "so there is nothing to score.")
        for store, ab in ((model, fake_ab), (gray, torch.zeros_like(real_ab))):
            for name, values in _measures(L, ab, real_ab, real_rgb, real_lab).items():
                store[name].append(values.cpu())
        real_colour.append(colorfulness(real_rgb).cpu())
        seen += L.shape[0]
        if max_images is not None and seen >= max_images:
            break
    if not seen:
        raise ValueError("No validation images to evaluate on.")

    def mean(store):
        return {k: float(torch.cat(v).double().mean()) for k, v in store.items()}

    return Evaluation(model=mean(model), gray=mean(gray),
                      real_colorfulness=float(torch.cat(real_colour).double().mean()), n_images=seen)


def difference(a: tuple[float, float], b: tuple[float, float], n: int) -> str:
    """"higher", "lower" or "no difference within the noise": variant ``a`` against ``b``, each a
    (mean, standard deviation) over the same ``n`` seeds. Within the noise: the means differ by at most
    twice the standard error of their difference (notebooks 07 and 09 judge their variants so)."""
    (mean_a, sd_a), (mean_b, sd_b) = a, b
    if abs(mean_a - mean_b) <= 2 * math.sqrt((sd_a**2 + sd_b**2) / n):
        return "no difference within the noise"
    return "higher" if mean_a > mean_b else "lower"
