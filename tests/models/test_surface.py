"""The uniform surface (forward_features / forward_head / classifier) and each family's defining details."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model
from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT, GoogLeNetOutputs
from cnnzoo.models.resnet import BasicBlock, Bottleneck
from cnnzoo.models.senet import SqueezeExcite

from .conftest import ALL_MODELS

CHEAP = ["convnet", "alexnet", "vgg11_quarter", "nin", "googlenet", "lenet5_bn", "resnet20", "densenet_bc_100",
         "seresnet18", "mixer_t4", "mobilenet_v1_050", "mobilenet_v3_small"]


@pytest.mark.parametrize("name", ALL_MODELS)
def test_surface_on_every_model(name):
    model = meta_model(name, num_classes=10, in_channels=1, image_size=28).eval()
    x = torch.empty(2, 1, 28, 28, device="meta")
    features = model.forward_features(x)
    if model.fixed_input_size:      # MLP-Mixer: tokens (B, N, C)
        assert features.shape == (2, model.num_tokens, model.num_features)
    else:                           # CNNs: the last feature map (B, C, H, W)
        assert features.dim() == 4 and features.shape[1] == model.num_features
    assert model.forward_head(features).shape == (2, 10)
    pre = model.forward_head(features, pre_logits=True)
    assert pre.dim() == 2 and pre.shape[0] == 2
    assert model.get_classifier() is model.classifier
    assert model.num_classes == 10 and model.in_channels == 1 and model.image_size == 28
    model.reset_classifier(7)
    assert model.num_classes == 7 and model(x).shape == (2, 7)


@pytest.mark.parametrize("name", CHEAP)
def test_forward_is_head_of_features(name):
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).eval()
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_head(model.forward_features(x)))
        old = model.get_classifier()
        model.reset_classifier(3)
        assert model.get_classifier() is not old
        assert model(x).shape == (2, 3)
    with pytest.raises(ModelError, match="num_classes must be a positive integer"):
        model.reset_classifier(0)


def test_reset_classifier_keeps_device_and_dtype():
    model = create_model("convnet").double()
    model.reset_classifier(4)
    assert all(p.dtype == torch.float64 for p in model.get_classifier().parameters())
    assert model(torch.randn(2, 1, 28, 28, dtype=torch.float64)).shape == (2, 4)


def test_googlenet_auxiliary_heads():
    model = create_model("googlenet", num_classes=10, image_size=28, aux_logits=True).train()
    x, y = torch.randn(2, 1, 28, 28), torch.tensor([1, 2])
    out = model(x)
    assert isinstance(out, GoogLeNetOutputs) and all(t.shape == (2, 10) for t in out)
    loss = F.cross_entropy(out.logits, y) + AUX_LOSS_WEIGHT * (F.cross_entropy(out.aux1, y)
                                                               + F.cross_entropy(out.aux2, y))
    loss.backward()
    assert model.aux1.classifier.weight.grad is not None and model.aux2.conv.conv.weight.grad is not None
    model.eval()
    assert isinstance(model(x), torch.Tensor)
    model.reset_classifier(4)
    assert model.aux1.classifier.out_features == 4 and model.aux2.classifier.out_features == 4
    assert create_model("googlenet").train()(x).shape == (2, 10)   # default: a plain tensor in training too


def test_se_block_in_every_residual_block_is_called():
    model = create_model("seresnet18", image_size=28)
    blocks = [m for m in model.modules() if isinstance(m, (BasicBlock, Bottleneck))]
    calls = []
    for m in model.modules():
        if isinstance(m, SqueezeExcite):
            m.register_forward_hook(lambda *_: calls.append(1))
    assert all(isinstance(b.attn, SqueezeExcite) for b in blocks)
    model(torch.randn(2, 1, 28, 28))
    assert len(calls) == len(blocks) == 8   # the last block's SE included


def test_squeeze_excite_gates_channels():
    se = SqueezeExcite(32)
    assert se.fc1.out_features == 2      # C / r with r = 16
    x = torch.randn(2, 32, 5, 5)
    y = se(x)
    gate = y / x
    # One gate per image and channel, in (0, 1), the same at every position.
    assert torch.allclose(gate, gate[:, :, :1, :1].expand_as(gate), atol=1e-5)
    assert ((gate > 0) & (gate < 1)).all()


def test_resnet_bottleneck_strides_on_the_3x3_conv():
    block = create_model("resnet50", image_size=28).stages[1][0]
    assert block.conv1.stride == (1, 1) and block.conv2.stride == (2, 2)   # ResNet v1.5


def test_zero_init_residual():
    model = create_model("resnet50", image_size=28, zero_init_residual=True)
    assert all((b.bn3.weight == 0).all() for b in model.modules() if isinstance(b, Bottleneck))
    default = create_model("resnet18", image_size=28)
    assert all((b.bn2.weight == 1).all() for b in default.modules() if isinstance(b, BasicBlock))


def test_cifar_resnet_shortcuts_have_no_parameters():
    model = create_model("resnet20", in_channels=3, image_size=32)
    first = model.stages[1][0]
    assert sum(p.numel() for p in first.shortcut.parameters()) == 0
    x = torch.randn(2, 16, 32, 32)
    out = first.shortcut(x)
    assert out.shape == (2, 32, 16, 16)
    assert torch.equal(out[:, 8:24], x[:, :, ::2, ::2]) and (out[:, :8] == 0).all()


def test_alexnet_paper_initialization_and_lrn():
    model = create_model("alexnet", image_size=28)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    assert [float(c.bias.detach()[0]) for c in convs] == [0.0, 1.0, 0.0, 1.0, 1.0]
    assert abs(float(convs[2].weight.detach().std()) - 0.01) < 1e-3
    assert not any(isinstance(m, nn.LocalResponseNorm) for m in model.modules())
    assert sum(isinstance(m, nn.LocalResponseNorm) for m in create_model("alexnet", lrn=True).modules()) == 2


def test_vgg_width_multiplier_and_seed_configuration():
    model = create_model("vgg", image_size=28)   # the seed's VGG: VGG-11 at a quarter width
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [16, 32, 64, 64, 128, 128, 128, 128]
    assert model.init == "xavier"
    with_bn = create_model("vgg11", batch_norm=True)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in with_bn.modules()) == 8


def test_nin_initialization_choices_reach_the_rebuilt_classifier():
    """Xavier (d2l's, the default) or He; a replaced classifier is initialized the same way."""
    import math

    torch.manual_seed(0)
    xavier, he = create_model("nin"), create_model("nin", init="kaiming")
    conv = he.features[0][2]  # a 1x1 conv of 96 -> 96: He's std is sqrt(2 / 96) (fan_out)
    assert abs(float(conv.weight.detach().std()) - math.sqrt(2 / 96)) < 0.01
    assert abs(float(xavier.features[0][2].weight.detach().std()) - math.sqrt(2 / (96 + 96))) < 0.01
    he.reset_classifier(5)
    head = he.classifier[0]
    assert head.out_channels == 5 and abs(float(head.weight.detach().std()) - math.sqrt(2 / (5 * 9))) < 0.05


def test_nin_batch_norm_option_normalizes_every_convolution_and_trains():
    """``batch_norm=True``: BatchNorm between each of the 12 convolutions (class block included) and
    its ReLU, convolutions without a bias; the plain NiN keeps the paper's biased convolutions."""
    plain, bn = create_model("nin"), create_model("nin", batch_norm=True)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    convs = [m for m in bn.modules() if isinstance(m, nn.Conv2d)]
    assert len(convs) == 12 and all(c.bias is None for c in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in bn.modules()) == 12
    assert isinstance(bn.classifier[1], nn.BatchNorm2d)
    bn.reset_classifier(5)
    assert isinstance(bn.classifier[1], nn.BatchNorm2d) and bn.classifier[0].out_channels == 5
    # each convolution is followed by its BatchNorm, then the ReLU
    kinds = [type(m).__name__ for m in bn.features[0]]
    assert kinds == ["Conv2d", "BatchNorm2d", "ReLU"] * 3
    torch.manual_seed(0)
    x, y = torch.randn(8, 1, 28, 28), torch.randint(0, 5, (8,))
    opt = torch.optim.SGD(bn.parameters(), lr=0.1)
    losses = []
    for _ in range(5):
        loss = torch.nn.functional.cross_entropy(bn(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def test_mixer_zero_head_and_token_mixing():
    model = create_model("mixer_t4", image_size=28)
    assert (model.classifier.weight == 0).all()
    assert (model(torch.randn(2, 1, 28, 28)) == 0).all()
    # Token mixing mixes positions: changing one patch changes every token's features.
    model.eval()
    x = torch.randn(1, 1, 28, 28)
    y = x.clone()
    y[..., :4, :4] += 1
    diff = (model.forward_features(x) - model.forward_features(y)).abs().sum(-1)
    assert (diff > 0).all()


def test_mobilenet_v2_blocks_are_linear_bottlenecks():
    from cnnzoo.models.mobilenet import InvertedResidual

    model = create_model("mobilenet_v2", image_size=28)
    blocks = [m for m in model.modules() if isinstance(m, InvertedResidual)]
    assert len(blocks) == 17
    assert all(isinstance(b.block[-1].act, nn.Identity) for b in blocks)   # projection without activation
    assert sum(b.use_residual for b in blocks) == 10


def test_lenet_bn_normalizes_every_layer_but_the_last():
    model = create_model("batchnorm")
    norms = [m for m in model.modules() if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == 4
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in create_model("lenet5").modules())


def test_densenet_bc_depth_formula():
    from cnnzoo.models.densenet import DenseBlock, _densenet_bc
    from cnnzoo.models.profile import profile

    def layers_per_block(name: str) -> list[int]:
        return [len(b.layers) for b in create_model(name).modules() if isinstance(b, DenseBlock)]

    assert layers_per_block("densenet_bc_100") == [16, 16, 16]
    assert layers_per_block("densenet_bc_40") == [6, 6, 6]
    small = meta_model("densenet_bc_40", 10, 3, 32)
    assert sum(p.numel() for p in small.parameters()) == 176_122
    # A quarter of DenseNet-BC-100's compute: the dense blocks' cost grows with the square of their depth.
    ratio = profile(small, (3, 32, 32)).macs / profile(meta_model("densenet_bc_100", 10, 3, 32), (3, 32, 32)).macs
    assert 0.24 < ratio < 0.27
    for bad in (41, 4, 0):
        with pytest.raises(ModelError, match=r"depth must be 6n \+ 4"):
            _densenet_bc(bad, 10, 1, 28, 12, 0.5, 0.0, None)
