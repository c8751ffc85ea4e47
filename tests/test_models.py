"""The generator and discriminator against the paper's appendix and the reference parameter counts."""

import pytest
import torch
from torch import nn

from course_utils.config import PROFILES
from course_utils.models import PatchDiscriminator, UNetGenerator, count_parameters, receptive_field

QUICK = PROFILES["quick"]


def convs(model):
    return [m for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def test_full_size_parameter_counts_match_the_reference():
    with torch.device("meta"):  # no memory, no compute: only the layer shapes matter
        assert count_parameters(UNetGenerator(1, 2, num_downs=8, ngf=64)) == 54_409_858
        assert count_parameters(PatchDiscriminator(3, ndf=64, n_layers=3)) == 2_765_633


def test_full_size_output_shapes():
    with torch.device("meta"):
        assert UNetGenerator()(torch.empty(1, 1, 256, 256)).shape == (1, 2, 256, 256)
        assert PatchDiscriminator()(torch.empty(1, 3, 256, 256)).shape == (1, 1, 30, 30)


@pytest.mark.parametrize("num_downs, ngf, height, width", [
    (QUICK.num_downs, QUICK.ngf, QUICK.image_size, QUICK.image_size),
    (QUICK.num_downs, QUICK.ngf, 128, 64),
    (5, 8, 32, 96),
    (3, 4, 16, 8),
])
def test_generator_output_shape_and_range(num_downs, ngf, height, width):
    generator = UNetGenerator(num_downs=num_downs, ngf=ngf)
    out = generator(torch.randn(2, 1, height, width) * 3)
    assert out.shape == (2, 2, height, width)
    assert out.abs().max() <= 1  # Tanh


@pytest.mark.parametrize("size, expected", [
    (QUICK.image_size, QUICK.image_size // 8 - 2),  # three halvings, then two 4x4 stride-1 convolutions
    (128, 14),
    (64, 6),
])
def test_discriminator_patch_map_shape(size, expected):
    out = PatchDiscriminator(ndf=QUICK.ndf)(torch.randn(2, 3, size, size))
    assert out.shape == (2, 1, expected, expected)


def test_encoder_widths_and_skip_concatenation_double_decoder_inputs():
    with torch.device("meta"):
        generator = UNetGenerator()
    enc = [m.out_channels for m in convs(generator.down)]
    assert enc == [64, 128, 256, 512, 512, 512, 512, 512]
    ups = convs(generator.up)
    assert [m.out_channels for m in ups] == [512, 512, 512, 512, 256, 128, 64, 2]
    assert ups[0].in_channels == 512  # the bottleneck alone
    for j in range(1, len(ups)):  # the previous decoder output and the mirrored encoder output
        assert ups[j].in_channels == ups[j - 1].out_channels + enc[-1 - j]


def test_every_convolution_is_4x4_stride_2_in_the_generator():
    for m in convs(UNetGenerator(num_downs=QUICK.num_downs, ngf=QUICK.ngf)):
        assert (m.kernel_size, m.stride, m.padding) == ((4, 4), (2, 2), (1, 1))


def test_activations_leaky_in_encoder_plain_in_decoder_tanh_at_the_end():
    generator = UNetGenerator(num_downs=QUICK.num_downs, ngf=QUICK.ngf)
    leaky = [m for m in generator.down.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(leaky) == QUICK.num_downs - 1 and all(m.negative_slope == 0.2 for m in leaky)
    assert not any(isinstance(m, nn.LeakyReLU) for m in generator.up.modules())
    assert sum(isinstance(m, nn.ReLU) for m in generator.up.modules()) == QUICK.num_downs
    assert isinstance(generator.up[-1][-1], nn.Tanh)


def test_batchnorm_everywhere_but_the_first_innermost_and_last_layers():
    with torch.device("meta"):
        generator = UNetGenerator()
    has_norm = [any(isinstance(m, nn.BatchNorm2d) for m in block) for block in generator.down]
    assert has_norm == [False] + [True] * 6 + [False]
    has_norm = [any(isinstance(m, nn.BatchNorm2d) for m in block) for block in generator.up]
    assert has_norm == [True] * 7 + [False]


def test_bias_only_where_no_batchnorm_follows():
    with torch.device("meta"):
        generator, discriminator = UNetGenerator(), PatchDiscriminator()
    for model in (generator, discriminator):
        for block in [m for m in model.modules() if isinstance(m, nn.Sequential)]:
            for layer, after in zip(block, list(block)[1:], strict=False):
                if isinstance(after, nn.BatchNorm2d):
                    assert layer.bias is None, layer
    assert [m.bias is not None for m in convs(generator)] == [False] * 15 + [True]  # the output layer
    assert [m.bias is not None for m in convs(discriminator)] == [True, False, False, False, True]


def test_dropout_only_in_the_three_innermost_decoder_blocks():
    with torch.device("meta"):
        generator = UNetGenerator()
    where = [any(isinstance(m, nn.Dropout) and m.p == 0.5 for m in block) for block in generator.up]
    assert where == [True] * 3 + [False] * 5
    assert not any(isinstance(m, nn.Dropout) for m in generator.down.modules())
    assert not any(isinstance(m, nn.Dropout) for m in UNetGenerator(num_downs=3, ngf=4, dropout=0).modules())


def test_dropout_is_random_in_train_mode_and_off_in_eval_mode():
    generator = UNetGenerator(num_downs=QUICK.num_downs, ngf=QUICK.ngf)
    x = torch.randn(2, 1, QUICK.image_size, QUICK.image_size)
    assert not torch.equal(generator(x), generator(x))
    generator.eval()
    assert torch.equal(generator(x), generator(x))


def test_a_batch_of_one_trains_although_the_bottleneck_is_1x1():
    generator = UNetGenerator(num_downs=QUICK.num_downs, ngf=QUICK.ngf).train()
    generator(torch.randn(1, 1, QUICK.image_size, QUICK.image_size)).mean().backward()


def test_indivisible_size_is_a_clear_error_before_any_convolution_runs():
    generator = UNetGenerator(num_downs=6, ngf=4)
    ran = []
    for m in convs(generator):
        m.register_forward_pre_hook(lambda module, args: ran.append(module))
    allowed = r"multiples of 2\*\*6 = 64 \(e\.g\. 64, 128, 192, 256\); got 100x64"
    with pytest.raises(ValueError, match=allowed):
        generator(torch.randn(1, 1, 100, 64))
    assert ran == []


def test_wrong_channel_count_is_a_clear_error():
    with pytest.raises(ValueError, match="built for 1 input channel"):
        UNetGenerator(num_downs=3, ngf=4)(torch.randn(1, 3, 16, 16))
    with pytest.raises(ValueError, match="built for 3 input channel"):
        PatchDiscriminator(ndf=4)(torch.randn(1, 2, 64, 64))
    with pytest.raises(ValueError, match=r"\[N, C, H, W\]"):
        UNetGenerator(num_downs=3, ngf=4)(torch.randn(1, 16, 16))


def test_discriminator_layout_and_raw_logits():
    discriminator = PatchDiscriminator()
    assert [(m.out_channels, m.stride[0]) for m in convs(discriminator)] == [
        (64, 2), (128, 2), (256, 2), (512, 1), (1, 1)]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules()) == 3
    assert not any(isinstance(m, nn.Sigmoid) for m in discriminator.modules())
    assert isinstance(discriminator.model[-1], nn.Conv2d)  # the last layer's output is returned as is


@pytest.mark.parametrize("n_layers, expected", [(1, 16), (2, 34), (3, 70), (4, 142), (5, 286)])
def test_receptive_field_of_patch_discriminators(n_layers, expected):
    with torch.device("meta"):
        assert receptive_field(PatchDiscriminator(ndf=4, n_layers=n_layers)) == expected


def test_receptive_field_uses_kernel_stride_and_dilation():
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3))) == 5
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, stride=2), nn.Conv2d(1, 1, 3))) == 7
    assert receptive_field(nn.Sequential(nn.Conv2d(1, 1, 3, dilation=2), nn.MaxPool2d(2))) == 6
    with pytest.raises(ValueError, match="plain convolution stack"):
        receptive_field(UNetGenerator(num_downs=2, ngf=2))


@pytest.mark.parametrize("n_layers", [2, 3])
def test_receptive_field_matches_the_gradient_of_one_logit(n_layers):
    torch.manual_seed(0)
    discriminator = PatchDiscriminator(ndf=8, n_layers=n_layers).eval()  # eval: no batch statistics
    x = torch.randn(1, 3, 128, 128, requires_grad=True)
    logits = discriminator(x)
    centre = logits.shape[-1] // 2
    logits[0, 0, centre, centre].backward()
    rows, cols = torch.nonzero(x.grad.abs().sum(dim=1)[0], as_tuple=True)
    side = receptive_field(discriminator)
    assert rows.max() - rows.min() + 1 == side and cols.max() - cols.min() + 1 == side
    assert len(rows) == side * side  # every pixel of the window, nothing outside it
    assert rows.min() > 0 and rows.max() < 127  # the window lies inside the image, not cut by the border
