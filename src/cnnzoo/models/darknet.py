"""Darknet-53: YOLOv3's backbone, a plain residual network of 3x3 and 1x1 convolutions (Redmon & Farhadi, 2018).

The problem. YOLOv2's backbone, Darknet-19, was a VGG-like stack: fast, but 19 layers were not
enough for the features a detector needs, and ResNet-101/152 were accurate but slow (many layers,
much of their compute in thin bottlenecks a GPU uses poorly).

The idea. Take Darknet-19's diet of 3x3 convolutions and 1x1 reductions, add ResNet's shortcut
connections, and go deeper: 53 convolutional layers. No max-pools: each of the five downsamplings
is a 3x3 convolution of stride 2 that also doubles the channels (32 -> 64 -> ... -> 1024). Every
convolution is followed by BatchNorm and a leaky ReLU. The paper reports ResNet-152's ImageNet
accuracy at twice its speed, with the most floating-point operations per second of the networks it
compared: the layers are wide and few enough to keep a GPU busy.

The block (paper Table 1, "Residual"): :class:`DarkBlock`, a 1x1 convolution that halves the
channels, a 3x3 convolution that restores them, and the input added back (no activation after
the addition). The network: a 3x3 convolution of 32, then five stages, each a stride-2 3x3
convolution and 1, 2, 8, 8, 4 DarkBlocks; global average pooling and a linear head. 41,609,928
parameters at 3x256x256 (the paper's ImageNet input), 1000 classes.

What we changed from the paper and the reference, and why:

- Nothing from the reference: ``darknet53`` is timm's ``darknet53`` and loads its weight files
  exactly (cnnzoo.weights); the names are timm's (``stem``, ``stages.S``; its ``conv_down`` is our
  ``stages.S.0``, its ``blocks.B`` our ``stages.S.B+1``, ``head.fc`` our ``classifier``).
- The leaky ReLU's slope is timm's 0.01 (PyTorch's default), not the original Darknet's 0.1,
  because the published weights were trained with it; ``leaky_slope=0.1`` builds the paper's.
- Initialization as timm's: He normal convolutions (fan-out), N(0, 0.01) head, and the last
  BatchNorm of each DarkBlock at zero (``zero_init_residual``) so that every block starts as the
  identity.
- Small images (under 64 px): the first two stages keep their stride-2 convolution's weights but
  run it at stride 1, so a 28x28 image reaches the five stages at 28, 28, 14, 7 and 4 pixels (the
  last stage sees 4x4, as in the CIFAR ResNets) instead of 1x1 after a total stride of 32.
  ``width_mult`` scales every width (0.25: 8 ... 256 channels), for a CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import torch
from torch import nn

from .base import ZooModel, wants_small_input
from .layers import ConvBNAct, init_conv_bn, scaled_widths, smallest_input
from .registry import Design, Paper, Reference, register_model

PAPER = Paper("YOLOv3: An Incremental Improvement", "Redmon, Farhadi", 2018, "https://arxiv.org/abs/1804.02767")

# Paper Table 1: the stem's width, then each stage's width and number of DarkBlocks.
STEM_WIDTH = 32
STAGES = ((64, 1), (128, 2), (256, 8), (512, 8), (1024, 4))
# The first SMALL_UNSTRIDED stages run at stride 1 on small images (total stride 8 instead of 32).
SMALL_UNSTRIDED = 2
# timm's leaky ReLU slope (PyTorch's default); the original Darknet's is 0.1.
LEAKY_SLOPE = 0.01
# The paper's ImageNet input: 256 x 256 (timm's darknet53 is trained and measured there).
IMAGENET_256 = Design(3, 256, 1000)


class DarkBlock(nn.Module):
    """1x1 convolution to half the channels, 3x3 convolution back, each with BatchNorm and leaky ReLU;
    the input added back."""

    def __init__(self, channels: int, act: Callable[..., nn.Module]) -> None:
        super().__init__()
        self.conv1 = ConvBNAct(channels, channels // 2, 1, act=act)
        self.conv2 = ConvBNAct(channels // 2, channels, 3, act=act)

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.conv2.bn.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(self.conv1(x))


class Darknet(ZooModel):
    """A 3x3 stem, stages of (stride-2 3x3 convolution, DarkBlocks), global average pooling, linear head."""

    def __init__(self, stages: tuple[tuple[int, int], ...], num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 256, stem_width: int = STEM_WIDTH, *, leaky_slope: float = LEAKY_SLOPE,
                 zero_init_residual: bool = True, width_mult: float = 1.0,
                 small_input: bool | None = None) -> None:
        widths = scaled_widths([stem_width] + [w for w, _ in stages], width_mult)
        small = wants_small_input(image_size, small_input)
        strides = [1 if small and i < SMALL_UNSTRIDED else 2 for i in range(len(stages))]
        steps = [(3, 1, 1)] + [(3, s, 1) for s in strides]
        total = 1
        for s in strides:
            total *= s
        # The last stage must see at least one pixel of the image, not only padding.
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=smallest_input(steps, at_least=total))
        self.small_input = small
        act = partial(nn.LeakyReLU, negative_slope=leaky_slope)
        self.stem = ConvBNAct(in_channels, widths[0], 3, act=act)
        channels, layers = widths[0], []
        for (_, depth), width, stride in zip(stages, widths[1:], strides, strict=True):
            # Downsample (a strided 3x3 convolution doubling the channels), then the residual blocks.
            layers.append(nn.Sequential(ConvBNAct(channels, width, 3, stride, act=act),
                                        *(DarkBlock(width, act) for _ in range(depth))))
            channels = width
        self.stages = nn.Sequential(*layers)
        self.num_features = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = self.make_classifier(num_classes)
        init_conv_bn(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, DarkBlock):
                    m.zero_init_last()

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.normal_(fc.weight, std=0.01)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(x)


register_model("darknet53", Darknet, dict(stages=STAGES), family="darknet", paper=PAPER, design=IMAGENET_256,
               reference=Reference(41_609_928, 9.3e9, "timm"),
               doc="""Darknet-53: a 3x3 stem and five stages of 1, 2, 8, 8, 4 DarkBlocks (YOLOv3's backbone).

               timm's ``darknet53``; 41,609,928 parameters at 3x256x256.
               """)
