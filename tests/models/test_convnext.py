"""The ConvNeXt family: CNBlock (depthwise 7x7, LayerNorm, inverted MLP, layer scale, stochastic depth)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.models import create_model, meta_model, model_info
from cnnzoo.models.convnext import CNBlock, Downsample, LayerNorm2d
from cnnzoo.models.layers import DropPath


def test_cnblock_is_depthwise_7x7_then_an_inverted_mlp_and_starts_near_the_identity():
    block = CNBlock(8).eval()
    assert block.dwconv.groups == 8 and block.dwconv.kernel_size == (7, 7)
    assert block.pwconv1.out_features == 32 and block.pwconv2.out_features == 8
    x = torch.randn(2, 8, 5, 5)
    # Layer scale 1e-6: the branch adds about a millionth of its output.
    assert not torch.equal(block(x), x) and torch.allclose(block(x), x, atol=1e-4)


def test_layer_norm_2d_normalizes_each_pixels_channels():
    norm = LayerNorm2d(4, eps=1e-6)
    y = norm(torch.randn(2, 4, 3, 3) * 5 + 3)
    assert torch.allclose(y.mean(1), torch.zeros(2, 3, 3), atol=1e-5)
    assert torch.allclose(y.var(1, unbiased=False), torch.ones(2, 3, 3), atol=1e-3)


def test_convnext_tiny_is_torchvisions_with_stochastic_depth_rising_to_0_1():
    model = meta_model("convnext_tiny", 1000, 3, 224)
    assert [len(s.blocks) for s in model.stages] == [3, 3, 9, 3]
    assert isinstance(model.stages[0].downsample, nn.Identity)
    assert all(isinstance(s.downsample, Downsample) for s in model.stages[1:])
    blocks = [b for s in model.stages for b in s.blocks]
    assert isinstance(blocks[0].drop_path, nn.Identity)
    assert isinstance(blocks[-1].drop_path, DropPath) and blocks[-1].drop_path.p == pytest.approx(0.1)
    assert sum(p.numel() for p in model.parameters()) == model_info("convnext_tiny").reference_params == 28_589_128
    assert [len(s.blocks) for s in meta_model("convnext_small", 1000, 3, 224).stages] == [3, 3, 27, 3]


def test_patchify_stem_at_224_and_the_small_stem_keeps_28_px_to_3x3():
    paper = meta_model("convnext_tiny", 1000, 3, 224)
    assert paper.stem[0].kernel_size == (4, 4) and paper.stem[0].stride == (4, 4) and paper.min_size == 32
    assert paper.forward_features(torch.empty(1, 3, 224, 224, device="meta")).shape[-2:] == (7, 7)
    small = meta_model("convnext_atto", 10, 1, 28)
    assert small.small_input and small.stem[0].kernel_size == (3, 3) and small.stem[0].stride == (1, 1)
    x = torch.empty(1, 1, 28, 28, device="meta")
    sizes = []
    x = small.stem(x)
    for stage in small.stages:
        x = stage(x)
        sizes.append(x.shape[-1])
    assert sizes == [28, 14, 7, 3]


@pytest.mark.parametrize("channels,size", [(1, 28), (3, 32)])
def test_convnext_atto_trains_at_small_sizes(channels, size):
    torch.manual_seed(0)
    model = create_model("convnext_atto", num_classes=10, in_channels=channels, image_size=size, drop_path=0.1)
    out = model(torch.randn(2, channels, size, size))
    assert out.shape == (2, 10)
    out.square().sum().backward()
    assert model.stem[0].weight.grad.abs().sum() > 0
    assert model.stages[0].blocks[0].layer_scale.grad.abs().sum() > 0
