"""EfficientNet B0-B3 and V2-S: MBConv and FusedMBConv as torchvision builds them, compound scaling,
torchvision's dropout, BatchNorm and stochastic-depth settings, and the small-image configuration."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model
from cnnzoo.models.efficientnet import FusedMBConv, MBConv
from cnnzoo.models.layers import DropPath, SqueezeExcite


def _blocks(model, cls):
    return [m for m in model.modules() if type(m) is cls]


def test_mbconv_expands_filters_depthwise_gates_and_projects_linearly():
    block = meta_model("efficientnet_b0", 1000, 3, 224).features[2][0]  # stage 2's first: 16 -> 24, stride 2
    assert isinstance(block, MBConv)
    expand, depthwise, se, project = block.block
    assert (expand.conv.in_channels, expand.conv.out_channels, expand.conv.kernel_size) == (16, 96, (1, 1))
    assert depthwise.conv.groups == 96 and depthwise.conv.stride == (2, 2)
    assert isinstance(expand.act, nn.SiLU) and isinstance(depthwise.act, nn.SiLU)
    # the SE squeezes to a quarter of the block's *input* width (16 // 4), not of the 96 expanded
    assert isinstance(se, SqueezeExcite) and se.fc1.out_features == 4 and isinstance(se.gate, nn.Sigmoid)
    assert isinstance(se.act, nn.SiLU)
    assert project.conv.out_channels == 24 and isinstance(project.act, nn.Identity)   # linear bottleneck
    assert not block.use_residual and meta_model("efficientnet_b0", 1000, 3, 224).features[2][1].use_residual


def test_expansion_one_has_no_expand_convolution():
    first = meta_model("efficientnet_b0", 1000, 3, 224).features[1][0]
    assert [type(m).__name__ for m in first.block] == ["ConvBNAct", "SqueezeExcite", "ConvBNAct"]
    assert first.block[1].fc1.out_features == 8  # 32 // 4


def test_fused_mbconv_replaces_expand_and_depthwise_by_one_full_convolution():
    model = meta_model("efficientnet_v2_s", 1000, 3, 384)
    single = model.features[1][0]          # expansion 1: one 3x3 conv with SiLU, and a shortcut
    assert isinstance(single, FusedMBConv) and len(single.block) == 1 and single.use_residual
    assert single.block[0].conv.kernel_size == (3, 3) and isinstance(single.block[0].act, nn.SiLU)
    fused = model.features[2][0]           # 24 -> 48, expansion 4, stride 2
    expand, project = fused.block
    assert (expand.conv.kernel_size, expand.conv.groups, expand.conv.stride) == ((3, 3), 1, (2, 2))
    assert expand.conv.out_channels == 96 and project.conv.out_channels == 48
    assert isinstance(project.act, nn.Identity) and not fused.use_residual
    assert not any(isinstance(m, SqueezeExcite) for b in _blocks(model, FusedMBConv) for m in b.modules())


@pytest.mark.parametrize("name,mbconv,fused,stem,head", [
    ("efficientnet_b0", 16, 0, 32, 1280), ("efficientnet_b1", 23, 0, 32, 1280),
    ("efficientnet_b2", 23, 0, 32, 1408), ("efficientnet_b3", 26, 0, 40, 1536),
    ("efficientnet_v2_s", 30, 10, 24, 1280)])
def test_compound_scaling_sets_depth_and_width(name, mbconv, fused, stem, head):
    model = meta_model(name, 1000, 3, 224)
    assert len(_blocks(model, MBConv)) == mbconv and len(_blocks(model, FusedMBConv)) == fused
    assert model.features[0].conv.out_channels == stem and model.num_features == head


@pytest.mark.parametrize("name,dropout,eps", [
    ("efficientnet_b0", 0.2, 1e-5), ("efficientnet_b1", 0.2, 1e-5), ("efficientnet_b2", 0.3, 1e-5),
    ("efficientnet_b3", 0.3, 1e-5), ("efficientnet_v2_s", 0.2, 1e-3)])
def test_torchvision_dropout_and_batchnorm_settings(name, dropout, eps):
    model = meta_model(name, 1000, 3, 224)
    assert model.pre_logits.p == dropout
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert {(m.eps, m.momentum) for m in norms} == {(eps, 0.1)}


def test_stochastic_depth_follows_torchvision_rule_on_by_default():
    model = create_model("efficientnet_b0", num_classes=10, in_channels=1, image_size=28)
    blocks = [b for stage in model.features[1:-1] for b in stage]
    # block i of 16 drops with 0.2 * i / 16, where it has a shortcut (no DropPath at rate 0 or without one)
    for i, b in enumerate(blocks):
        expected = 0.2 * i / 16
        if b.use_residual and expected > 0:
            assert isinstance(b.drop_path, DropPath) and b.drop_path.p == pytest.approx(expected)
        else:
            assert isinstance(b.drop_path, nn.Identity)
    off = create_model("efficientnet_b0", num_classes=10, in_channels=1, image_size=28, drop_path=0.0)
    assert not any(isinstance(m, DropPath) for m in off.modules())
    with pytest.raises(ModelError, match=r"drop_path must be in \[0, 1\)"):
        create_model("efficientnet_b0", drop_path=1.0)


@pytest.mark.parametrize("name,shape", [("efficientnet_b0", (1, 28, 28)), ("efficientnet_v2_s", (3, 32, 32))])
def test_small_images_train_with_total_stride_eight(name, shape):
    torch.manual_seed(0)
    model = create_model(name, num_classes=10, in_channels=shape[0], image_size=shape[1], width_mult=0.25)
    assert model.small_input and model.min_size == 8
    x = torch.randn(2, *shape)
    side = -(-shape[1] // 8)
    assert model.forward_features(x).shape[-2:] == (side, side)
    loss = nn.functional.cross_entropy(model(x), torch.tensor([1, 2]))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_width_mult_thins_every_layer_on_top_of_the_coefficient():
    thin = meta_model("efficientnet_b0", 10, 1, 28, width_mult=0.5)
    assert thin.features[0].conv.out_channels == 16 and thin.num_features == 640
    assert meta_model("efficientnet_v2_s", 10, 1, 28, width_mult=0.5).num_features == 640
    with pytest.raises(ModelError, match="width_mult must be positive"):
        create_model("efficientnet_b0", width_mult=0)


def test_fixed_coefficients_are_refused_as_options():
    with pytest.raises(ModelError, match="efficientnet_b2 fixes width_coefficient=1.1"):
        create_model("efficientnet_b2", width_coefficient=1.0)
