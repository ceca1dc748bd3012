"""Squeeze-and-Excitation: let a network reweigh its own channels (Hu, Shen, Sun, 2017).

The problem. A convolution mixes channels only inside its small spatial window, so no layer
ever looks at the whole image before deciding which of its features matter. Yet "this is a
picture of water" is exactly the global context that should turn some features up and others down.

The idea. A tiny side branch that recalibrates the channels of a feature map ``U`` (C x H x W):

1. *Squeeze*: global average pooling turns each channel into one number, ``z`` (C values), a
   summary of the whole image.
2. *Excite*: two fully connected layers, ``C -> C/r -> C`` with a ReLU between and a sigmoid at
   the end (``r = 16``, the reduction ratio), turn ``z`` into one gate in (0, 1) per channel.
3. *Scale*: multiply each channel of ``U`` by its gate.

The block (:class:`SqueezeExcite`) costs about 2C^2/r parameters and almost no compute, and it
fits anywhere a feature map flows. In a ResNet it sits on the residual branch, after the last
BatchNorm and before the addition, in every block; SE-ResNet-50 gains about 1.5 points of
ImageNet accuracy over ResNet-50 for 10% more parameters and 0.3% more compute. SENets won
ImageNet 2017, the last edition of the challenge. The block is reused by MobileNetV3 (with a
hard sigmoid and a reduction of 4).

What we changed, and why:

- Nothing in the SE block: an SE in *every* residual block, the last one included (the seed's
  SENet built one for the last block and never called it), with reduction 16 and biased linear
  layers: SE-ResNet-50 has 28,088,024 parameters at 3x224x224 and 1000 classes, as timm's.
- The ResNets underneath are ours (resnet.py): the v1.5 stride placement, and the 3x3 stride-1
  stem without max-pool for images under 64 px.
- Initialization: the ResNet's, and PyTorch's default for the SE's linear layers.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from .registry import Paper, register_model
from .resnet import BasicBlock, Bottleneck, ResNet, scaled_widths

PAPER = Paper("Squeeze-and-Excitation Networks", "Hu, Shen, Sun", 2017, "https://arxiv.org/abs/1709.01507")

# Paper section 6.1: reduction ratio r = 16 balances accuracy and cost.
REDUCTION = 16


class SqueezeExcite(nn.Module):
    """Squeeze (global average pool) -> excite (FC C->C/r, ReLU, FC C/r->C, gate) -> scale the channels.

    ``rd_channels`` overrides ``channels // reduction``; ``gate`` is the sigmoid of the paper,
    or the hard sigmoid of MobileNetV3.
    """

    def __init__(self, channels: int, reduction: int = REDUCTION, rd_channels: int | None = None,
                 act: Callable[..., nn.Module] = nn.ReLU, gate: Callable[..., nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        rd_channels = rd_channels or max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, rd_channels)
        self.act = act(inplace=True)
        self.fc2 = nn.Linear(rd_channels, channels)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3))                              # squeeze: (B, C)
        s = self.gate(self.fc2(self.act(self.fc1(z))))      # excite: one gate per channel
        return x * s[:, :, None, None]                      # scale


_SE = partial(SqueezeExcite, reduction=REDUCTION)


def _se_resnet(block: type[BasicBlock] | type[Bottleneck], layers: tuple[int, ...], num_classes: int,
               in_channels: int, image_size: int, zero_init_residual: bool, small_input: bool | None,
               width_mult: float = 1.0) -> ResNet:
    return ResNet(block, layers, num_classes, in_channels, image_size, attn_layer=_SE,
                  widths=scaled_widths(width_mult), zero_init_residual=zero_init_residual,
                  small_input=small_input)


@register_model(family="senet", paper=PAPER, aliases=("senet",))
def seresnet18(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
               zero_init_residual: bool = False, width_mult: float = 1.0,
               small_input: bool | None = None) -> ResNet:
    """SE-ResNet-18: ResNet-18 with a Squeeze-and-Excitation block in every BasicBlock."""
    return _se_resnet(BasicBlock, (2, 2, 2, 2), num_classes, in_channels, image_size, zero_init_residual,
                      small_input, width_mult)


@register_model(family="senet", paper=PAPER)
def seresnet34(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
               zero_init_residual: bool = False, width_mult: float = 1.0,
               small_input: bool | None = None) -> ResNet:
    """SE-ResNet-34: ResNet-34 with a Squeeze-and-Excitation block in every BasicBlock."""
    return _se_resnet(BasicBlock, (3, 4, 6, 3), num_classes, in_channels, image_size, zero_init_residual,
                      small_input, width_mult)


@register_model(family="senet", paper=PAPER, reference_params=28_088_024, reference_macs=4.11e9,
                reference_source="timm")
def seresnet50(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
               zero_init_residual: bool = False, width_mult: float = 1.0,
               small_input: bool | None = None) -> ResNet:
    """SE-ResNet-50: ResNet-50 with a Squeeze-and-Excitation block in every Bottleneck."""
    return _se_resnet(Bottleneck, (3, 4, 6, 3), num_classes, in_channels, image_size, zero_init_residual,
                      small_input, width_mult)


@register_model(family="senet", paper=PAPER)
def seresnet101(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
                zero_init_residual: bool = False, width_mult: float = 1.0,
               small_input: bool | None = None) -> ResNet:
    """SE-ResNet-101: ResNet-101 with a Squeeze-and-Excitation block in every Bottleneck."""
    return _se_resnet(Bottleneck, (3, 4, 23, 3), num_classes, in_channels, image_size, zero_init_residual,
                      small_input, width_mult)


@register_model(family="senet", paper=PAPER)
def seresnet152(num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
                zero_init_residual: bool = False, width_mult: float = 1.0,
               small_input: bool | None = None) -> ResNet:
    """SE-ResNet-152: ResNet-152 with a Squeeze-and-Excitation block in every Bottleneck."""
    return _se_resnet(Bottleneck, (3, 8, 36, 3), num_classes, in_channels, image_size, zero_init_residual,
                      small_input, width_mult)
