"""ShuffleNet V2: design for the speed you measure, not the FLOPs you count (Ma, Zhang, Zheng, Sun, 2018).

The problem. Mobile networks (MobileNet, ShuffleNet V1) were designed to minimize FLOPs, yet two
networks of equal FLOPs could differ 2x in speed on a phone. FLOPs ignore memory access and
parallelism: a 1x1 convolution that changes the channel count, a grouped convolution, a network
split into many small branches, and element-wise operations (ReLU, additions) all cost time that
FLOPs do not show.

The idea. Four guidelines measured on GPUs and ARM: (G1) equal input and output channels minimize
memory access for a given cost; (G2) grouped convolutions cost memory access; (G3) fragmentation
into many branches hurts parallelism; (G4) element-wise operations are not free. The unit that
follows them *splits* the channels in two instead of grouping: one half passes through untouched
(the identity, with no addition: G4), the other goes through 1x1 -> depthwise 3x3 -> 1x1 with
equal widths (G1, no groups: G2), the halves are concatenated and then *shuffled* (interleaved) so
that the next unit's split mixes channels from both branches. A downsampling unit drops the split
and sends the whole input through two strided branches, doubling the channels.

The blocks (paper Figure 3c and 3d): :class:`ShuffleUnit` (torchvision's ``InvertedResidual``)
with :func:`channel_shuffle`. The network: a 3x3 stride-2 convolution of 24 channels and a
max-pool, three stages of 4, 8 and 4 units (each starting with a downsampling unit), a 1x1
convolution to 1024 channels, global average pooling and one linear layer. The width multiplier
sets the stage widths: 48-96-192 at 0.5x, 116-232-464 at 1x.

What we changed from the paper, and why:

- Nothing at ImageNet size: these are torchvision's ``shufflenet_v2_x0_5`` and
  ``shufflenet_v2_x1_0`` (1.37M and 2.28M parameters), and they load torchvision's weight files
  exactly (cnnzoo.weights). Initialization is PyTorch's default, as torchvision's.
- Small images (under 64 px): the stem convolution runs at stride 1 and its max-pool is skipped,
  so a 28x28 image reaches the three stages at 14, 7 and 4 pixels (total stride 8 instead of 32).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel, wants_small_input
from .registry import Paper, Reference, register_model

PAPER = Paper("ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design",
              "Ma, Zhang, Zheng, Sun", 2018, "https://arxiv.org/abs/1807.11164")


def channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    """Interleave the channels of ``groups`` groups: (g, c/g) -> (c/g, g), so every group sees every other."""
    b, c, h, w = x.shape
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).reshape(b, c, h, w)


def _conv_bn(in_channels: int, out_channels: int, kernel: int = 1, stride: int = 1, groups: int = 1,
             relu: bool = True) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, groups=groups,
                                         bias=False), nn.BatchNorm2d(out_channels)]
    return [*layers, nn.ReLU(inplace=True)] if relu else layers


class ShuffleUnit(nn.Module):
    """Split the channels, transform one half (1x1, depthwise 3x3, 1x1), concatenate, shuffle.

    With ``stride=2`` there is no split: both branches see the whole input, the first through a
    strided depthwise 3x3 and a 1x1,; the output has ``out_channels`` channels.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1) -> None:
        super().__init__()
        if stride == 1 and in_channels != out_channels:
            raise ValueError("a ShuffleUnit without stride keeps its width (the split halves are concatenated back)")
        half = out_channels // 2
        self.stride = stride
        # branch1: the downsampling unit's second path (empty in the basic unit: the identity half).
        self.branch1 = nn.Sequential(
            *_conv_bn(in_channels, in_channels, 3, stride, groups=in_channels, relu=False),
            *_conv_bn(in_channels, half)) if stride > 1 else nn.Sequential()
        self.branch2 = nn.Sequential(
            *_conv_bn(in_channels if stride > 1 else half, half),
            *_conv_bn(half, half, 3, stride, groups=half, relu=False),  # depthwise: no ReLU (as the paper)
            *_conv_bn(half, half))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride == 1:
            identity, x2 = x.chunk(2, dim=1)
            out = torch.cat((identity, self.branch2(x2)), 1)
        else:
            out = torch.cat((self.branch1(x), self.branch2(x)), 1)
        return channel_shuffle(out, 2)


class ShuffleNetV2(ZooModel):
    """A 3x3 stem and max-pool, three stages of ShuffleUnits, a 1x1 convolution, pooling, linear."""

    def __init__(self, widths: tuple[int, ...], repeats: tuple[int, ...] = (4, 8, 4), num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, *, small_input: bool | None = None) -> None:
        small = wants_small_input(image_size, small_input)
        stride = (1 if small else 4) * 2 ** len(repeats)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size, min_size=stride)
        self.small_input = small
        stem_width, *stage_widths, last = widths
        self.stem = nn.Sequential(*_conv_bn(in_channels, stem_width, 3, 1 if small else 2),
                                  nn.Identity() if small else nn.MaxPool2d(3, 2, padding=1))
        stages, channels = [], stem_width
        for n, width in zip(repeats, stage_widths, strict=True):
            units = [ShuffleUnit(channels, width, 2)] + [ShuffleUnit(width, width, 1) for _ in range(n - 1)]
            stages.append(nn.Sequential(*units))
            channels = width
        self.stages = nn.Sequential(*stages)
        self.conv5 = nn.Sequential(*_conv_bn(channels, last))
        self.num_features = last
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.conv5(self.stages(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean((2, 3))
        return x if pre_logits else self.classifier(x)


# Paper Table 5: stem, the three stages and the last convolution, per width multiplier.
register_model("shufflenet_v2_x0_5", ShuffleNetV2, dict(widths=(24, 48, 96, 192, 1024)), family="shufflenet",
               paper=PAPER, reference=Reference(1_366_792, 0.04e9, "torchvision"),
               doc="ShuffleNet V2 0.5x: channel-split units with a shuffle, stages of 48, 96, 192 channels.")
register_model("shufflenet_v2_x1_0", ShuffleNetV2, dict(widths=(24, 116, 232, 464, 1024)), family="shufflenet",
               paper=PAPER, aliases=("shufflenet",), reference=Reference(2_278_604, 0.145e9, "torchvision"),
               doc="ShuffleNet V2 1x: channel-split units with a shuffle, stages of 116, 232, 464 channels.")
