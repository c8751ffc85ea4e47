"""Evaluation measures on synthetic images whose answers are known."""

import math

import numpy as np
import pytest
import torch
from skimage.color import deltaE_ciede2000

from course_utils.color import normalize_lab, normalized_to_rgb, rgb_to_lab
from course_utils.metrics import ab_mae, ciede2000, colorfulness, evaluate, psnr


def photos(n=3, size=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    rgb = torch.rand(n, 3, size, size, generator=g)
    L, ab = normalize_lab(rgb_to_lab(rgb))
    return rgb, L, ab


def test_normalized_to_rgb_inverts_the_normalised_lab():
    rgb, L, ab = photos()
    assert torch.allclose(normalized_to_rgb(L, ab), rgb, atol=1e-4)
    assert torch.allclose(normalized_to_rgb(L.bfloat16(), ab.bfloat16()), rgb, atol=0.05)


def test_ab_mae_is_in_lab_units():
    ab = torch.zeros(2, 2, 4, 4)
    assert torch.allclose(ab_mae(ab + 0.1, ab), torch.full((2,), 11.0))


def test_psnr_known_value():
    a = torch.zeros(1, 3, 8, 8)
    assert psnr(a + 0.1, a).item() == pytest.approx(20.0, abs=1e-4)  # mse 0.01 -> 20 dB
    assert psnr(a, a).item() == pytest.approx(100.0)


def test_ciede2000_matches_scikit_image():
    rgb, _, _ = photos(2)
    lab = rgb_to_lab(rgb)
    other = rgb_to_lab(rgb.flip(-1))
    expected = deltaE_ciede2000(lab.permute(0, 2, 3, 1).numpy(), other.permute(0, 2, 3, 1).numpy(),
                                channel_axis=-1).mean(axis=(1, 2))
    assert np.allclose(ciede2000(lab, other).numpy(), expected)
    assert torch.all(ciede2000(lab, lab) == 0)


def test_colorfulness_is_zero_for_gray_and_grows_with_saturation():
    gray = torch.rand(1, 1, 8, 8).expand(1, 3, 8, 8)
    assert colorfulness(gray).item() == pytest.approx(0.0, abs=1e-4)
    red = torch.zeros(1, 3, 8, 8)
    red[:, 0] = 1.0  # pure red: rg = 255, yb = 127.5, no spread
    assert colorfulness(red).item() == pytest.approx(0.3 * math.hypot(255, 127.5), rel=1e-5)
    pale = 0.5 + 0.2 * red
    assert colorfulness(pale) < colorfulness(red)


def test_evaluate_a_perfect_model_beats_the_gray_baseline():
    rgb, L, ab = photos(5)
    batches = [{"L": L[:3], "ab": ab[:3]}, {"L": L[3:], "ab": ab[3:]}]
    answers = iter([ab[:3], ab[3:]])  # the true colours, batch by batch
    result = evaluate(lambda x: next(answers), batches)
    assert result.n_images == 5
    assert result.model["ab MAE"] == pytest.approx(0.0, abs=1e-6)
    assert result.model["CIEDE2000"] == pytest.approx(0.0, abs=1e-4)
    assert result.gray["ab MAE"] > 1 and result.gray["colourfulness"] < 0.05
    assert result.model["PSNR"] > result.gray["PSNR"] + 10
    assert result.model["colourfulness"] == pytest.approx(result.real_colorfulness, rel=1e-3)
    assert "gray baseline" in str(result) and "<table>" in result._repr_html_()
    assert evaluate(lambda x: torch.zeros_like(x).repeat(1, 2, 1, 1), batches, max_images=4).n_images == 4


def test_comparison_grid_rows_are_gray_generated_real():
    from course_utils.viz import comparison_grid

    _, L, ab = photos(3, size=8)
    grid = comparison_grid(L, torch.zeros_like(ab), ab, max_rows=2)
    assert grid.shape == (16, 24, 3) and grid.dtype == np.uint8
    gray, generated, real = grid[:8, :8], grid[:8, 8:16], grid[:8, 16:]
    assert np.array_equal(gray, generated)  # ab = 0 predicted: the gray picture
    assert np.abs(gray.astype(int) - real.astype(int)).max() > 10


def test_smoothed_means_each_window_at_the_step_it_ends():
    from course_utils.viz import smoothed

    steps, means = smoothed([10, 20, 30, 40], [1.0, 3.0, 5.0, 7.0], window=2)
    assert steps.tolist() == [20, 30, 40] and means.tolist() == [2.0, 4.0, 6.0]
    steps, means = smoothed([1, 2], [4.0, 6.0], window=10)  # a window longer than the run: one mean
    assert steps.tolist() == [2] and means.tolist() == [5.0]


def test_evaluate_says_when_the_model_gives_nan():
    batch = {"L": torch.zeros(2, 1, 8, 8), "ab": torch.zeros(2, 2, 8, 8)}
    with pytest.raises(ValueError, match="contain NaN or infinite values"):
        evaluate(lambda L: torch.full((len(L), 2, 8, 8), float("nan")), [batch])


def test_a_difference_is_named_only_beyond_twice_its_standard_error():
    from course_utils.metrics import difference

    assert difference((20.0, 1.0), (18.0, 1.0), n=3) == "higher"  # 2.0 > 2 * sqrt(2/3) = 1.63
    assert difference((18.0, 1.0), (20.0, 1.0), n=3) == "lower"
    assert difference((19.5, 1.0), (18.0, 1.0), n=3) == "no difference within the noise"
    assert difference((19.5, 0.1), (18.0, 0.1), n=3) == "higher"  # the same gap, less noise
