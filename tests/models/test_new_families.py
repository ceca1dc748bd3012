"""The families that followed ResNet: ResNeXt, Wide ResNet, SqueezeNet, ShuffleNet V2 (their own blocks and options)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model, meta_model
from cnnzoo.models.resnet import BasicBlock, Bottleneck
from cnnzoo.models.wide_resnet import WideBasic


def test_resnext_block_is_a_bottleneck_with_a_grouped_wider_three_by_three():
    block = meta_model("resnext50_32x4d", 1000, 3, 224).stages[0][0]
    assert isinstance(block, Bottleneck)
    # 32 paths of 4 channels: 128 inside where ResNet-50 has 64; the output stays 256.
    assert block.conv2.groups == 32 and block.conv2.in_channels == 128 and block.conv3.out_channels == 256
    assert meta_model("resnet50", 1000, 3, 224).stages[0][0].conv2.groups == 1


def test_wide_resnet50_2_doubles_the_bottleneck_inside_only():
    wide, plain = meta_model("wide_resnet50_2", 1000, 3, 224), meta_model("resnet50", 1000, 3, 224)
    assert [s[0].conv2.out_channels for s in wide.stages] == [128, 256, 512, 1024]
    assert wide.num_features == plain.num_features == 2048


def test_basic_block_refuses_groups():
    with pytest.raises(ModelError, match="BasicBlock has no grouped or widened form"):
        BasicBlock(64, 64, groups=32, base_width=4)


def test_a_width_mult_that_leaves_a_grouped_path_no_channel_is_an_error():
    with pytest.raises(ModelError, match="has no channels: use a larger width_mult"):
        create_model("resnext50_32x4d", width_mult=0.0625)


def test_wrn_depth_must_be_six_n_plus_four():
    from cnnzoo.models.wide_resnet import WideResNet

    with pytest.raises(ModelError, match=r"depth must be 6n\+4"):
        WideResNet(27, 10)
    assert sum(isinstance(m, WideBasic) for m in meta_model("wrn28_10", 10, 3, 32).modules()) == 12


def test_wrn_dropout_sits_between_the_convolutions_and_only_in_training():
    torch.manual_seed(0)
    model = create_model("wrn16_8", num_classes=10, in_channels=1, image_size=28, drop_rate=0.3)
    x = torch.randn(2, 1, 28, 28)
    model.train()
    assert not torch.equal(model(x), model(x))
    model.eval()
    assert torch.equal(model(x), model(x))
    with pytest.raises(ModelError, match=r"drop_rate must be in \[0, 1\)"):
        create_model("wrn16_8", drop_rate=1.0)


def test_wrn_projection_shortcut_reads_the_pre_activated_input():
    block = WideBasic(4, 8).eval()
    nn.init.zeros_(block.conv2.weight)  # the residual branch adds nothing: the output is the shortcut alone
    x = torch.randn(1, 4, 5, 5)
    assert torch.allclose(block(x), block.shortcut(torch.relu(block.bn1(x))))


def test_squeezenet_small_stem_keeps_torchvision_names_and_the_resolution():
    small, paper = meta_model("squeezenet1_0", 10, 1, 28), meta_model("squeezenet1_0", 10, 1, 224)
    assert isinstance(small.features[2], nn.Identity) and isinstance(paper.features[2], nn.MaxPool2d)
    assert small.features[0].kernel_size == (3, 3) and small.features[0].stride == (1, 1)
    assert [k for k in small.state_dict()] == [k for k in paper.state_dict()]
    assert small.forward_features(torch.empty(2, 1, 28, 28, device="meta")).shape[-2:] == (7, 7)


def test_channel_shuffle_interleaves_the_two_halves():
    from cnnzoo.models.shufflenet import channel_shuffle

    x = torch.arange(6.0).reshape(1, 6, 1, 1)
    assert channel_shuffle(x, 2).flatten().tolist() == [0, 3, 1, 4, 2, 5]


def test_shufflenet_basic_unit_passes_half_its_channels_through_unchanged():
    from cnnzoo.models.shufflenet import ShuffleUnit

    unit = ShuffleUnit(8, 8).eval()
    x = torch.randn(1, 8, 4, 4)
    # The untouched half lands on the even channels after the shuffle.
    assert torch.equal(unit(x)[:, 0::2], x[:, :4])
    small = meta_model("shufflenet_v2_x1_0", 10, 1, 28)
    assert small.stem[0].stride == (1, 1) and isinstance(small.stem[3], nn.Identity) and small.min_size == 8
