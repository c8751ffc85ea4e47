import numpy as np
import pytest
import torch
from skimage import data
from skimage.color import lab2rgb, rgb2lab

from course_utils.color import denormalize_lab, lab_to_rgb, normalize_lab, rgb_to_lab, rgb_to_network_lab

TOL = 1e-3  # the bound, in L, a, b units (and in RGB units for the inverse)


def special_colours() -> np.ndarray:
    """Black, white, grey, the saturated primaries and secondaries, as a 3x3 uint8 image."""
    colours = [[0, 0, 0], [255, 255, 255], [128, 128, 128], [255, 0, 0], [0, 255, 0], [0, 0, 255],
               [0, 255, 255], [255, 0, 255], [255, 255, 0]]
    return np.array(colours, dtype=np.uint8).reshape(3, 3, 3)


def sample_pixels() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "astronaut": data.astronaut()[::4, ::4],
        "coffee": data.coffee()[::4, ::4],
        "special": special_colours(),
        "random": rng.integers(0, 256, size=(32, 40, 3), dtype=np.uint8),
    }


def chw(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(array)).permute(2, 0, 1)


def hwc(tensor: torch.Tensor) -> np.ndarray:
    return tensor.permute(1, 2, 0).double().numpy()


@pytest.mark.parametrize("name", ["astronaut", "coffee", "special", "random"])
@pytest.mark.parametrize("kind", ["uint8", "float32", "float64"])
def test_rgb_to_lab_matches_skimage(name, kind):
    pixels = sample_pixels()[name]
    expected = rgb2lab(pixels)
    x = chw(pixels)
    if kind != "uint8":
        x = x.to(getattr(torch, kind)) / 255.0
    lab = rgb_to_lab(x)
    assert lab.dtype == (torch.float64 if kind == "float64" else torch.float32)
    assert np.abs(hwc(lab) - expected).max() < TOL


def test_known_values():
    lab = hwc(rgb_to_lab(chw(special_colours()))).reshape(-1, 3)
    np.testing.assert_allclose(lab[0], [0, 0, 0], atol=TOL)  # black
    np.testing.assert_allclose(lab[1], [100, 0, 0], atol=0.01)  # white: L = 100, no colour
    assert lab[3, 1] > 75 and lab[4, 1] < -75 and lab[5, 2] < -100  # red +a, green -a, blue -b


def test_batched_equals_unbatched():
    images = [sample_pixels()[k][:32, :32] for k in ("astronaut", "coffee", "random")]
    batch = torch.stack([chw(im) for im in images]).float() / 255
    batched = rgb_to_lab(batch)
    assert batched.shape == (3, 3, 32, 32)
    for i in range(3):
        torch.testing.assert_close(batched[i], rgb_to_lab(batch[i]))
    back = lab_to_rgb(batched)
    torch.testing.assert_close(back[1], lab_to_rgb(batched[1]))


@pytest.mark.parametrize("name", ["astronaut", "special", "random"])
def test_lab_to_rgb_matches_skimage_and_round_trips(name):
    pixels = sample_pixels()[name]
    lab = rgb2lab(pixels)
    ours = lab_to_rgb(chw(lab).float())
    assert np.abs(hwc(ours) - lab2rgb(lab)).max() < TOL
    assert np.abs(hwc(ours) - pixels / 255.0).max() < TOL  # RGB -> Lab -> RGB comes back


def test_out_of_gamut_lab_is_clipped_like_skimage():
    rng = np.random.default_rng(1)
    lab = rng.uniform([0, -128, -128], [100, 127, 127], size=(24, 24, 3))
    ours = lab_to_rgb(chw(lab))
    assert ours.min() >= 0 and ours.max() <= 1
    assert (ours == 0).any() and (ours == 1).any()  # some colours really were outside sRGB
    with pytest.warns(UserWarning):  # scikit-image warns about negative Z; we clip silently
        expected = lab2rgb(lab)
    assert np.abs(hwc(ours) - expected).max() < TOL


def test_conversions_are_differentiable():
    rng = np.random.default_rng(2)
    rgb = torch.tensor(rng.uniform(0.1, 0.9, size=(2, 3, 2, 2)), requires_grad=True)
    assert torch.autograd.gradcheck(rgb_to_lab, (rgb,))
    lab = torch.tensor(rng.uniform([20, -30, -30], [80, 30, 30], size=(2, 2, 3)), dtype=torch.float64)
    lab = lab.permute(2, 0, 1).contiguous().requires_grad_(True)
    assert torch.autograd.gradcheck(lab_to_rgb, (lab,))


def test_gradients_are_finite_at_black_and_white():
    rgb = torch.tensor(special_colours(), dtype=torch.float32).permute(2, 0, 1) / 255
    rgb.requires_grad_(True)
    rgb_to_lab(rgb).sum().backward()
    assert torch.isfinite(rgb.grad).all()


def test_normalisation_is_the_seeds_and_inverts():
    lab = torch.tensor([[0.0, 50.0, 100.0], [-110.0, 0.0, 110.0], [55.0, -55.0, 0.0]]).view(3, 3, 1)
    L, ab = normalize_lab(lab)
    assert L.shape == (1, 3, 1) and ab.shape == (2, 3, 1)
    torch.testing.assert_close(L.flatten(), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(ab[0].flatten(), torch.tensor([-1.0, 0.0, 1.0]))
    torch.testing.assert_close(denormalize_lab(L, ab), lab)
    batch = torch.randn(4, 3, 5, 5) * 40
    torch.testing.assert_close(denormalize_lab(*normalize_lab(batch)), batch)


@pytest.mark.parametrize("kind", ["uint8", "float64", "one image"])
def test_the_networks_lab_in_one_step_equals_lab_then_scaling(kind):
    pixels = sample_pixels()["random"]
    pixels[:3, :3] = special_colours()
    rgb = chw(pixels)
    rgb = {"uint8": rgb[None], "float64": rgb[None].double() / 255, "one image": rgb}[kind]
    expected, got = normalize_lab(rgb_to_lab(rgb)), rgb_to_network_lab(rgb)
    for e, g in zip(expected, got, strict=True):
        assert g.shape == e.shape and g.dtype == e.dtype
        torch.testing.assert_close(g, e, atol=1e-6, rtol=0)


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match=r"\[3, H, W\]"):
        rgb_to_lab(torch.rand(4, 4, 3))  # channels last
    with pytest.raises(ValueError, match="lab"):
        lab_to_rgb(torch.rand(2, 4, 4))
    with pytest.raises(TypeError, match="uint8"):
        rgb_to_lab(torch.zeros(3, 2, 2, dtype=torch.int64))


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])  # every device this machine has


@pytest.mark.parametrize("device", DEVICES)
def test_same_result_on_every_device(device):
    pixels = chw(sample_pixels()["random"]).unsqueeze(0)  # uint8
    reference = rgb_to_lab(pixels.double() / 255)  # float64 on the CPU
    for rgb in (pixels, pixels.float() / 255):  # the uint8 table path and the float path
        lab = rgb_to_lab(rgb.to(device))
        assert lab.device.type == device
        torch.testing.assert_close(lab.cpu().double(), reference, atol=1e-3, rtol=0)
    back = lab_to_rgb(lab).cpu()
    torch.testing.assert_close(back, pixels.float() / 255, atol=1e-4, rtol=0)
