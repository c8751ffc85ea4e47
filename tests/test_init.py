import math

import pytest
import torch
from torch import nn

from course_utils.init import fan_in_and_out, init_weights, layer_stats

FAN_IN, FAN_OUT = 600, 300  # Linear(600, 300): 180,000 weights, so an empirical std is within ~0.2%


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def expected_std(scheme, gain=None, mode="fan_in", nonlinearity="leaky_relu", a=0.2):
    fan = FAN_IN if mode == "fan_in" else FAN_OUT
    he = nn.init.calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return {
        "normal": 0.02 if gain is None else gain,
        "xavier_uniform": (gain or 1.0) * math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "xavier_normal": (gain or 1.0) * math.sqrt(2 / (FAN_IN + FAN_OUT)),
        "kaiming_uniform": (gain or 1.0) * he,
        "kaiming_normal": (gain or 1.0) * he,
        "orthogonal": (gain or 1.0) / math.sqrt(FAN_IN),  # 300 orthonormal rows of length 600
    }[scheme]


@pytest.mark.parametrize("scheme", ["normal", "xavier_uniform", "xavier_normal", "kaiming_uniform",
                                    "kaiming_normal", "orthogonal"])
@pytest.mark.parametrize("kwargs", [{}, {"gain": 0.5, "mode": "fan_out", "nonlinearity": "relu"},
                                    {"nonlinearity": "tanh"}])
def test_empirical_std_matches_formula(scheme, kwargs):
    layer = nn.Linear(FAN_IN, FAN_OUT)
    init_weights(layer, scheme, **kwargs)
    std = layer.weight.std().item()
    assert std == pytest.approx(expected_std(scheme, **kwargs), rel=0.05)
    assert abs(layer.weight.mean().item()) < 0.05 * std
    assert torch.all(layer.bias == 0)


def test_uniform_schemes_respect_their_bound():
    layer = nn.Linear(FAN_IN, FAN_OUT)
    init_weights(layer, "xavier_uniform", gain=2.0)
    assert layer.weight.abs().max() <= 2.0 * math.sqrt(6 / (FAN_IN + FAN_OUT))
    init_weights(layer, "kaiming_uniform", nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / FAN_IN)
    assert bound * 0.99 < layer.weight.abs().max() <= bound


def test_zeros_and_constant():
    layer = nn.Conv2d(3, 8, 3)
    init_weights(layer, "constant", value=0.3)
    assert torch.all(layer.weight == 0.3) and torch.all(layer.bias == 0)
    init_weights(layer, "zeros")
    assert torch.all(layer.weight == 0)


def test_conv_weight_std_uses_kernel_taps():
    conv = nn.Conv2d(32, 64, 3)  # fan_in = 32 * 9 = 288
    init_weights(conv, "kaiming_normal", nonlinearity="relu")
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / 288), rel=0.05)


def deep_relu_stack(depth=30, width=512):
    return nn.Sequential(*[m for _ in range(depth) for m in (nn.Linear(width, width), nn.ReLU())])


def test_kaiming_keeps_relu_activations_alive_small_normal_kills_them():
    net, x = deep_relu_stack(), torch.randn(256, 512)
    init_weights(net, "kaiming_normal", nonlinearity="relu")
    relu_stds = layer_stats(net, x, backward=False, kinds=(nn.ReLU,)).column("out_std")
    ratios = [s / x.std().item() for s in relu_stds]
    assert len(ratios) == 30 and all(0.5 < r < 2 for r in ratios)
    init_weights(net, "normal", gain=0.01)
    last = layer_stats(net, x, backward=False)[-1]
    assert last.out_std < 1e-3 * x.std().item()


def test_subclassed_conv_is_initialised_where_type_equality_misses_it():
    class MyConv(nn.Conv2d):
        pass

    net = nn.Sequential(MyConv(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 8, 3))
    seen_by_type_eq = [m for m in net.modules() if type(m) == nn.Conv2d]  # noqa: E721 -- the pitfall itself
    assert len(seen_by_type_eq) == 1  # the seed's test skips MyConv...
    summary = init_weights(net, "constant", value=0.5)
    assert torch.all(net[0].weight == 0.5) and torch.all(net[0].bias == 0)  # ...isinstance does not
    assert summary.initialised == {"MyConv": 1, "BatchNorm2d": 1, "Conv2d": 1}
    assert "1 MyConv" in str(summary)


@pytest.mark.parametrize("bn", [nn.BatchNorm1d(4000), nn.BatchNorm2d(4000), nn.BatchNorm3d(4000)])
def test_batchnorm_of_any_dimension_gets_normal_1_002(bn):
    init_weights(bn, "kaiming_normal")
    assert bn.weight.mean().item() == pytest.approx(1.0, abs=0.003)
    assert bn.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert torch.all(bn.bias == 0)


def test_other_norms_reset_to_identity_and_unknown_layers_reported():
    net = nn.Sequential(nn.Linear(4, 4), nn.GroupNorm(2, 4), nn.LayerNorm(4), nn.InstanceNorm1d(4),
                        nn.PReLU(), nn.Embedding(3, 4))
    with torch.no_grad():
        for p in net.parameters():
            p.fill_(7.0)
    summary = init_weights(net)
    for norm in net[1:3]:
        assert torch.all(norm.weight == 1) and torch.all(norm.bias == 0)
    assert torch.all(net[4].weight == 7) and torch.all(net[5].weight == 7)
    assert summary.left_alone == {"PReLU": 1, "Embedding": 1}
    assert "InstanceNorm1d" not in summary.initialised  # affine=False: no parameters to set


def test_fans_of_linear_conv_and_conv_transpose():
    assert fan_in_and_out(nn.Linear(5, 3).weight) == (5, 3)
    conv, convt = nn.Conv2d(8, 4, 3), nn.ConvTranspose2d(8, 4, 3)
    assert conv.weight.shape == (4, 8, 3, 3) and convt.weight.shape == (8, 4, 3, 3)
    assert fan_in_and_out(conv.weight) == fan_in_and_out(conv) == (72, 36)
    assert fan_in_and_out(convt.weight) == (36, 72)  # read as a Conv weight: swapped
    assert fan_in_and_out(convt) == (72, 36)  # the layer: 8 input channels x 9 taps feed each output
    assert nn.init._calculate_fan_in_and_fan_out(convt.weight) == (36, 72)  # torch agrees with the naive read
    grouped = nn.ConvTranspose2d(8, 4, 3, groups=2)
    assert fan_in_and_out(grouped) == fan_in_and_out(nn.Conv2d(8, 4, 3, groups=2)) == (36, 36)


def test_kaiming_on_conv_transpose_uses_the_layers_fan_in():
    convt = nn.ConvTranspose2d(256, 32, 4)  # layer fan_in 256 * 16; the naive read would give 32 * 16
    init_weights(convt, "kaiming_normal", nonlinearity="relu")
    assert convt.weight.std().item() == pytest.approx(math.sqrt(2 / (256 * 16)), rel=0.05)


def test_fan_errors():
    with pytest.raises(ValueError, match="2 or more dimensions"):
        fan_in_and_out(torch.zeros(5))
    with pytest.raises(TypeError, match="Linear or convolution"):
        fan_in_and_out(nn.ReLU())


@pytest.mark.parametrize("kwargs, words", [
    ({"scheme": "he"}, ["scheme 'he'", "kaiming_normal", "xavier_uniform"]),
    ({"scheme": "kaiming_normal", "mode": "fan_avg"}, ["mode 'fan_avg'", "fan_in, fan_out"]),
    ({"nonlinearity": "gelu"}, ["nonlinearity 'gelu'", "leaky_relu"]),
    ({"scheme": "constant"}, ["value=", "'constant'"]),
    ({"scheme": "normal", "value": 0.5}, ["value=", "only with it"]),
])
def test_bad_arguments_are_clear_errors(kwargs, words):
    with pytest.raises(ValueError) as err:
        init_weights(nn.Linear(2, 2), **kwargs)
    assert all(w in str(err.value) for w in words)


def test_lazy_layer_is_a_clear_error():
    with pytest.raises(ValueError, match="forward pass first"):
        init_weights(nn.LazyLinear(3))


def test_layer_stats_records_forward_and_backward_without_touching_parameter_grads():
    net = nn.Sequential(nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh())
    x = torch.randn(512, 64) * 3
    stats = layer_stats(net, x)
    assert [r.name for r in stats] == ["0", "1", "2", "3"]
    assert [r.kind for r in stats] == ["Linear", "Tanh", "Linear", "Tanh"]
    assert stats[0].out_std == pytest.approx(net[0](x).std().item(), rel=1e-5)
    assert stats[-1].grad_std == pytest.approx(1.0, rel=0.05)  # the standard-normal gradient sent back
    assert stats[1].grad_std < stats[2].grad_std  # tanh' < 1 shrinks the gradient
    assert all(p.grad is None for p in net.parameters())
    assert not net[0]._forward_hooks  # hooks removed
    assert all(math.isnan(r.grad_std) for r in layer_stats(net, x, backward=False))
    only_tanh = layer_stats(net, x, kinds=(nn.Tanh,))
    assert [r.kind for r in only_tanh] == ["Tanh", "Tanh"]
    assert "grad std" in str(only_tanh) and len(str(only_tanh).splitlines()) == 3
