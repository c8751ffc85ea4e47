"""RGB <-> CIE Lab in torch: batched, on any device, differentiable.

The formulas are scikit-image's ``rgb2lab`` / ``lab2rgb`` (sRGB, illuminant D65, 2-degree observer),
so the results agree with it; the tests check this. The networks see ``L`` scaled to [-1, 1]
(``L / 50 - 1``) and ``ab`` scaled by ``1 / 110``, as in the seed course.
"""

from __future__ import annotations

import functools

import torch

# Linear sRGB -> XYZ (the sRGB specification's matrix, as in scikit-image), each row divided by the
# D65 white point (2-degree observer), so white maps to (1, 1, 1). Kept in float64; cast per call.
_XYZ_FROM_RGB = torch.tensor(
    [[0.412453, 0.357580, 0.180423], [0.212671, 0.715160, 0.072169], [0.019334, 0.119193, 0.950227]],
    dtype=torch.float64,
)
_D65_WHITE = torch.tensor([0.95047, 1.0, 1.08883], dtype=torch.float64)
_WHITE_XYZ_FROM_RGB = _XYZ_FROM_RGB / _D65_WHITE.view(3, 1)
_RGB_FROM_WHITE_XYZ = torch.linalg.inv(_WHITE_XYZ_FROM_RGB)
# normalize_lab's L / 50 - 1, a / 110 and b / 110 are linear in CIE's f of X/Xn, Y/Yn and Z/Zn (the rows),
# less an offset on L: the matrix lets a batch go from f to the networks' scale in one step.
_NETWORK_LAB_FROM_F = torch.tensor(
    [[0.0, 116 / 50, 0.0], [500 / 110, -500 / 110, 0.0], [0.0, 200 / 110, -200 / 110]], dtype=torch.float64
)
_NETWORK_L_OFFSET = 16 / 50 + 1
_EPSILON = 0.008856  # (6/29)**3: below it the Lab curve is a straight line
_KAPPA = 7.787  # slope of that straight line
_LAB_OFFSET = 16.0 / 116.0


def _check_shape(image: torch.Tensor, what: str) -> None:
    if image.dim() not in (3, 4) or image.shape[-3] != 3:
        raise ValueError(f"{what} must have shape [3, H, W] or [N, 3, H, W]; got {list(image.shape)}")


def _mix(matrix: str, image: torch.Tensor) -> torch.Tensor:
    """Apply a named 3x3 colour matrix to the channel axis of [..., 3, H, W]."""
    return (_constant(matrix, image.device, image.dtype) @ image.flatten(-2)).view(image.shape)


def srgb_to_linear(rgb: torch.Tensor) -> torch.Tensor:
    """Undo the sRGB gamma curve (values in [0, 1])."""
    curved = ((rgb.clamp(min=0.04045) + 0.055) / 1.055) ** 2.4  # clamp keeps the unused branch finite
    return torch.where(rgb > 0.04045, curved, rgb / 12.92)


def linear_to_srgb(linear: torch.Tensor) -> torch.Tensor:
    """Apply the sRGB gamma curve, then clip to the displayable range [0, 1]."""
    curved = 1.055 * linear.clamp(min=0.0031308) ** (1 / 2.4) - 0.055
    return torch.where(linear > 0.0031308, curved, linear * 12.92).clamp(0.0, 1.0)


def _linear_from_uint8(rgb: torch.Tensor) -> torch.Tensor:
    """uint8 pixels take one of 256 values, so the gamma curve becomes a table lookup (fast)."""
    table = _constant("linear_from_uint8", rgb.device, torch.float32)
    return table.index_select(0, rgb.flatten().int()).view(rgb.shape)


@functools.cache
def _constant(name: str, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """A colour constant on a device, made once: copying it from the host at every call would make the
    host wait for the GPU. Cast before moving: some devices (MPS) have no float64."""
    values = {"xyz_from_rgb": _WHITE_XYZ_FROM_RGB, "rgb_from_xyz": _RGB_FROM_WHITE_XYZ,
              "network_lab_from_f": _NETWORK_LAB_FROM_F,
              "linear_from_uint8": srgb_to_linear(torch.arange(256, dtype=torch.float64) / 255.0)}
    return values[name].to(dtype).to(device)


def _lab_curve(t: torch.Tensor, in_place: bool) -> torch.Tensor:
    """CIE's f(t): the cube root above (6/29)**3, a straight line below. ``in_place`` reuses ``t``."""
    line = t * _KAPPA + _LAB_OFFSET
    above = t > _EPSILON
    if in_place:  # no gradients to keep: overwrite t rather than allocate (2x faster on a CPU)
        root = t.clamp_(min=_EPSILON).log_().div_(3).exp_()
    else:  # exp(log(t) / 3) is faster than t ** (1/3) on CPU; the clamp keeps the unused branch finite
        root = torch.exp(torch.log(t.clamp(min=_EPSILON)) / 3)
    return torch.where(above, root, line)


def _lab_curve_of_rgb(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB (float in [0, 1] or uint8) -> CIE's f of X/Xn, Y/Yn and Z/Zn, the step before Lab."""
    _check_shape(rgb, "rgb")
    if rgb.dtype == torch.uint8:
        linear = _linear_from_uint8(rgb)
    elif rgb.is_floating_point():
        linear = srgb_to_linear(rgb)
    else:
        raise TypeError(f"rgb must be floats in [0, 1] or uint8 pixels; got dtype {rgb.dtype}")
    xyz = _mix("xyz_from_rgb", linear)  # X/Xn, Y/Yn, Z/Zn
    return _lab_curve(xyz, in_place=not xyz.requires_grad)


def rgb_to_lab(rgb: torch.Tensor) -> torch.Tensor:
    """sRGB, shape [3, H, W] or [N, 3, H, W], float in [0, 1] or uint8 -> Lab with L in [0, 100].

    Float input keeps its dtype (float64 in, float64 out) and its gradients; uint8 input gives float32.
    """
    fx, fy, fz = _lab_curve_of_rgb(rgb).unbind(-3)
    return torch.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], dim=-3)


def rgb_to_network_lab(rgb: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``normalize_lab(rgb_to_lab(rgb))`` in fewer steps, the same to float rounding: from f straight
    to the networks' scale with one matrix. The training batches' way (fewer kernels for a GPU)."""
    lab = _mix("network_lab_from_f", _lab_curve_of_rgb(rgb))
    lab.select(-3, 0).sub_(_NETWORK_L_OFFSET)
    return lab[..., :1, :, :], lab[..., 1:, :, :]


def lab_to_rgb(lab: torch.Tensor) -> torch.Tensor:
    """Lab, shape [3, H, W] or [N, 3, H, W] -> sRGB in [0, 1]; colours outside sRGB are clipped."""
    _check_shape(lab, "lab")
    L, a, b = lab.unbind(-3)
    fy = (L + 16.0) / 116.0
    # Z below 0 is not a colour; scikit-image sets it to 0, and so do we.
    f = torch.stack([fy + a / 500.0, fy, (fy - b / 200.0).clamp(min=0.0)], dim=-3)
    xyz = torch.where(f > 0.2068966, f**3, (f - _LAB_OFFSET) / _KAPPA)
    return linear_to_srgb(_mix("rgb_from_xyz", xyz))


def normalize_lab(lab: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Lab -> (L, ab) scaled for the networks: ``L / 50 - 1`` and ``ab / 110``, both about [-1, 1]."""
    return lab[..., :1, :, :] / 50.0 - 1.0, lab[..., 1:, :, :] / 110.0


def denormalize_lab(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """The inverse of :func:`normalize_lab`: network-scaled (L, ab) -> Lab."""
    return torch.cat([(L + 1.0) * 50.0, ab * 110.0], dim=-3)


def normalized_to_rgb(L: torch.Tensor, ab: torch.Tensor) -> torch.Tensor:
    """Network-scaled L and ab (any float dtype, e.g. a generator's bf16) -> sRGB in [0, 1]."""
    return lab_to_rgb(denormalize_lab(L.float(), ab.float()))
