"""Darknet-53 (YOLOv3's backbone): its DarkBlock, the small-image strides and the leaky slope."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.models import create_model, meta_model, model_info
from cnnzoo.models.darknet import DarkBlock


def test_dark_block_halves_then_restores_the_channels_and_adds_the_input():
    block = meta_model("darknet53", 1000, 3, 256).stages[2][1]
    assert isinstance(block, DarkBlock)
    assert (block.conv1.conv.kernel_size, block.conv1.conv.out_channels) == ((1, 1), 128)
    assert (block.conv2.conv.kernel_size, block.conv2.conv.out_channels) == ((3, 3), 256)
    # zero_init_residual (timm's zero_init_last): the branch's last BatchNorm starts at 0, the block at the identity.
    torch.manual_seed(0)
    block = DarkBlock(8, nn.LeakyReLU).eval()
    block.zero_init_last()
    x = torch.randn(2, 8, 5, 5)
    assert torch.equal(block(x), x)
    nn.init.ones_(block.conv2.bn.weight)
    assert not torch.equal(block(x), x)


def test_five_stages_of_one_two_eight_eight_four_blocks_after_a_strided_conv():
    model = meta_model("darknet53", 1000, 3, 256)
    assert [sum(isinstance(m, DarkBlock) for m in stage) for stage in model.stages] == [1, 2, 8, 8, 4]
    assert [stage[0].conv.stride for stage in model.stages] == [(2, 2)] * 5
    convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
    assert convs + 1 == 53  # 52 convolutions and the linear head: the "53"
    assert sum(p.numel() for p in model.parameters()) == model_info("darknet53").reference_params == 41_609_928


def test_small_images_run_the_first_two_stages_at_stride_one_with_the_same_weights():
    small, paper = meta_model("darknet53", 10, 1, 28), meta_model("darknet53", 10, 1, 256)
    assert small.small_input and not paper.small_input
    shapes = [[(k, tuple(v.shape)) for k, v in m.state_dict().items()] for m in (small, paper)]
    assert shapes[0] == shapes[1]
    sizes, x = [], torch.empty(1, 1, 28, 28, device="meta")
    x = small.stem(x)
    for stage in small.stages:
        x = stage(x)
        sizes.append(x.shape[-1])
    assert sizes == [28, 28, 14, 7, 4]
    assert paper.forward_features(torch.empty(1, 1, 256, 256, device="meta")).shape[-1] == 8


def test_the_leaky_slope_is_timms_by_default_and_the_papers_on_request():
    slopes = {m.negative_slope for m in meta_model("darknet53", 10, 1, 28).modules() if isinstance(m, nn.LeakyReLU)}
    assert slopes == {0.01}
    model = create_model("darknet53", leaky_slope=0.1, width_mult=0.125)
    assert {m.negative_slope for m in model.modules() if isinstance(m, nn.LeakyReLU)} == {0.1}


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)])
def test_a_quarter_width_darknet_trains_on_small_images(shape):
    torch.manual_seed(0)
    model = create_model("darknet53", num_classes=10, in_channels=shape[0], image_size=shape[1], width_mult=0.25)
    x, y = torch.randn(4, *shape), torch.tensor([0, 1, 2, 3])
    loss = nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert loss.isfinite() and model.stem.conv.weight.grad.abs().sum() > 0
    assert model.forward_features(x).shape == (4, 256, 4, 4)
