"""EfficientNet and EfficientNetV2: scale depth, width and resolution together
(Tan and Le 2019; Tan and Le 2021).

The problem. A ConvNet that is too small for the task is made bigger along one dimension: deeper
(ResNet-18 to ResNet-200), wider (Wide ResNets) or fed larger images. Each dimension alone saturates
quickly: a very deep network is hard to train, a very wide and shallow one misses high-level
features, a larger image gains little when the network cannot see its detail. By hand, balancing
the three is a guess.

The idea: *compound scaling*. Scale depth by alpha^phi, width by beta^phi and resolution by
gamma^phi for one user-chosen phi, with alpha = 1.2, beta = 1.1, gamma = 1.15 found once by a small
grid search under alpha x beta^2 x gamma^2 ~ 2, so that each step of phi doubles the FLOPs. The
network being scaled matters as much as the rule, so the baseline, EfficientNet-B0, was found by
neural architecture search (MnasNet's objective, accuracy and FLOPs). B1...B7 are B0 scaled up.

The key block: :class:`MBConv`, the *mobile inverted bottleneck* of MobileNetV2 (layers.py's
``InvertedResidual``: 1x1 expand -> k x k depthwise -> 1x1 linear project, with a shortcut between
the narrow ends) with a squeeze-and-excitation gate (senet.py) in every block, squeezed to a
quarter of the block's *input* width, and the smooth Swish/SiLU activation, x * sigmoid(x). B0 is
a 3x3 stride-2 stem, seven stages of 1-4 MBConv blocks (3x3 and 5x5 kernels, expansion 1 or 6), a
1x1 convolution to 1280 channels, global pooling, dropout and a linear classifier.

V2, the idea: on accelerators, depthwise convolutions in the early, high-resolution stages are
slow (they cannot use the hardware well), so a training-aware search replaced the expansion and
the depthwise 3x3 by one ordinary 3x3 convolution there: :class:`FusedMBConv` (3x3 expand ->
1x1 project, no SE; with expansion 1, one 3x3 convolution). EfficientNetV2-S: three stages of
Fused-MBConv, three of MBConv with smaller expansions (4 and 6), a 1x1 convolution to 1280.

What we changed, and why:

- Nothing at ImageNet size: these are torchvision's ``efficientnet_b0`` ... ``efficientnet_b3``
  and ``efficientnet_v2_s``, and they load torchvision's weight files exactly (cnnzoo.weights):
  channels rounded to multiples of 8 after the width coefficient, block counts rounded up after
  the depth coefficient; dropout 0.2 before the classifier for B0, B1 and V2-S, 0.3 for B2 and B3
  (torchvision's; the paper rises to 0.5 for B7); BatchNorm with PyTorch's eps=1e-5 and momentum
  0.1 in B0-B3 (torchvision trained them so) but eps=1e-3 in V2-S (TensorFlow's value, as
  torchvision). Initialization as torchvision: He normal (fan-out) for the convolutions and the
  SE layers, uniform(+-1/sqrt(out)) for the classifier.
- Stochastic depth (``drop_path``, on by default at 0.2 as in torchvision and the paper): block i
  of N drops its residual branch with probability 0.2 x i / N (torchvision's rule; layers.py's
  ``drop_path_rates`` divides by N - 1 instead, so it is not used here), only where there is a
  shortcut.
- The resolution of the compound rule is the input size the user gives; each variant's
  ``design`` input is the crop torchvision evaluates its weights at (B1 240, B2 288, B3 300,
  V2-S 384 px) and its reference MACs hold there.
- ``width_mult`` (an option, 1.0 by default) thins every layer further on top of the variant's
  width coefficient, as MobileNet's width multiplier: the 28 px recipe trains a thin B0.
- Small images (under 64 px): the stem and the first stride-2 stage run at stride 1, so the total
  stride is 8 instead of 32 and a 28x28 image leaves a 4x4 map (as the small MobileNets do).
"""

from __future__ import annotations

import math
from functools import partial

import torch
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import ConvBNAct, DropPath, InvertedResidual, SqueezeExcite, init_mobile, make_divisible
from .registry import Design, Paper, Reference, register_model

PAPER = Paper("EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks", "Tan, Le", 2019,
              "https://arxiv.org/abs/1905.11946")
PAPER_V2 = Paper("EfficientNetV2: Smaller Models and Faster Training", "Tan, Le", 2021,
                 "https://arxiv.org/abs/2104.00298")


class MBConv(InvertedResidual):
    """Mobile inverted bottleneck: 1x1 expand -> k x k depthwise -> SqueezeExcite -> 1x1 project (linear),
    SiLU after the first two, a shortcut (with stochastic depth) when the shape allows.

    The SE gate squeezes to a quarter of the block's input width (not of the expanded width, as
    MobileNetV3's does), with SiLU inside and a sigmoid gate.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float, kernel_size: int = 3,
                 stride: int = 1, drop_path: float = 0.0, bn_eps: float = 1e-5) -> None:
        se = partial(SqueezeExcite, rd_channels=max(1, in_channels // 4), act=nn.SiLU, gate=nn.Sigmoid)
        super().__init__(in_channels, make_divisible(in_channels * expand_ratio), out_channels, kernel_size, stride,
                         act=nn.SiLU, se=se, bn_eps=bn_eps, drop_path=drop_path)


class FusedMBConv(nn.Module):
    """EfficientNetV2's early block: k x k expand (one full convolution, in place of MBConv's 1x1 expand and
    k x k depthwise) -> 1x1 project (linear); with ``expand_ratio`` 1, one k x k convolution with SiLU.
    No SE. A shortcut (with stochastic depth) when the shape allows.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float, kernel_size: int = 3,
                 stride: int = 1, drop_path: float = 0.0, bn_eps: float = 1e-5) -> None:
        super().__init__()
        conv = partial(ConvBNAct, bn_eps=bn_eps)
        expanded = make_divisible(in_channels * expand_ratio)
        if expanded != in_channels:
            layers = [conv(in_channels, expanded, kernel_size, stride, act=nn.SiLU),
                      conv(expanded, out_channels, 1, act=None)]      # linear projection, as MBConv's
        else:
            layers = [conv(in_channels, out_channels, kernel_size, stride, act=nn.SiLU)]
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        self.drop_path = DropPath(drop_path) if drop_path > 0 and self.use_residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.drop_path(out) if self.use_residual else out


# A stage: (block, expansion ratio, kernel, first stride, input channels, output channels, blocks),
# before the width and depth coefficients.
Stage = tuple[type[nn.Module], float, int, int, int, int, int]

# EfficientNet paper Table 1 (B0); B1-B3 scale it.
B0_STAGES: tuple[Stage, ...] = (
    (MBConv, 1, 3, 1, 32, 16, 1), (MBConv, 6, 3, 2, 16, 24, 2), (MBConv, 6, 5, 2, 24, 40, 2),
    (MBConv, 6, 3, 2, 40, 80, 3), (MBConv, 6, 5, 1, 80, 112, 3), (MBConv, 6, 5, 2, 112, 192, 4),
    (MBConv, 6, 3, 1, 192, 320, 1))
# EfficientNetV2 paper Table 4 (V2-S).
V2_S_STAGES: tuple[Stage, ...] = (
    (FusedMBConv, 1, 3, 1, 24, 24, 2), (FusedMBConv, 4, 3, 2, 24, 48, 4), (FusedMBConv, 4, 3, 2, 48, 64, 4),
    (MBConv, 4, 3, 2, 64, 128, 6), (MBConv, 6, 3, 1, 128, 160, 9), (MBConv, 6, 3, 2, 160, 256, 15))


class EfficientNet(ZooModel):
    """A 3x3 stride-2 SiLU stem, stages of MBConv / FusedMBConv blocks, a 1x1 convolution, pooling, dropout, linear.

    ``width_coefficient`` and ``depth_coefficient`` are the compound-scaling factors of the variant
    (B0: 1 and 1); ``last_channel`` is the head convolution's width (None: 4x the last stage's).
    """

    def __init__(self, stages: tuple[Stage, ...], width_coefficient: float = 1.0, depth_coefficient: float = 1.0,
                 last_channel: int | None = None, bn_eps: float = 1e-5, num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, *, width_mult: float = 1.0, dropout: float = 0.2,
                 drop_path: float = 0.2, small_input: bool | None = None) -> None:
        if width_mult <= 0:
            raise ModelError(f"EfficientNet width_mult must be positive, got {width_mult}")
        if not 0.0 <= drop_path < 1.0:
            raise ModelError(f"EfficientNet drop_path must be in [0, 1), got {drop_path}")
        small = wants_small_input(image_size, small_input)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=8 if small else 32)
        self.small_input = small

        def width(channels: int) -> int:
            return make_divisible(channels * width_coefficient * width_mult)

        depths = [math.ceil(n * depth_coefficient) for *_, n in stages]
        total, index = sum(depths), 0
        channels = width(stages[0][4])
        layers: list[nn.Module] = [ConvBNAct(in_channels, channels, 3, 1 if small else 2, act=nn.SiLU, bn_eps=bn_eps)]
        first_stride2 = True
        for (block, expand, kernel, stride, _, out, _), n in zip(stages, depths, strict=True):
            if small and stride == 2 and first_stride2:
                stride, first_stride2 = 1, False
            out = width(out)
            stage = []
            for i in range(n):
                # stochastic depth rises linearly with the block's index: 0 for the first, < drop_path for the last
                stage.append(block(channels, out, expand, kernel, stride if i == 0 else 1,
                                   drop_path=drop_path * index / total, bn_eps=bn_eps))
                channels, index = out, index + 1
            layers.append(nn.Sequential(*stage))
        last = make_divisible(last_channel * width_mult) if last_channel else 4 * channels
        layers.append(ConvBNAct(channels, last, 1, act=nn.SiLU, bn_eps=bn_eps))
        self.features = nn.Sequential(*layers)
        self.num_features = last
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pre_logits = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        init_mobile(self)  # the classifier initializes itself (make_classifier)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        bound = 1.0 / math.sqrt(num_classes)   # torchvision's: uniform in +-1/sqrt(fan_out)
        nn.init.uniform_(fc.weight, -bound, bound)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


# -- registered variants ----------------------------------------------------------------------

_TV = "torchvision"

# torchvision's (width, depth) coefficients, dropout, and the crop its weights are evaluated at;
# params and GMACs from its weights' meta (num_params, _ops) at that crop.
register_model("efficientnet_b0", EfficientNet, dict(stages=B0_STAGES), family="efficientnet", paper=PAPER,
               aliases=("efficientnet",), reference=Reference(5_288_548, 0.386e9, _TV),
               doc="EfficientNet-B0: the searched baseline, 16 MBConv blocks with SE and SiLU.")
register_model("efficientnet_b1", EfficientNet, dict(stages=B0_STAGES, depth_coefficient=1.1),
               family="efficientnet", paper=PAPER, design=Design(3, 240, 1000),
               reference=Reference(7_794_184, 0.687e9, _TV),
               doc="EfficientNet-B1: B0 1.1x deeper (23 MBConv blocks), at 240 px.")
register_model("efficientnet_b2", EfficientNet, dict(stages=B0_STAGES, width_coefficient=1.1, depth_coefficient=1.2),
               defaults=dict(dropout=0.3), family="efficientnet", paper=PAPER, design=Design(3, 288, 1000),
               reference=Reference(9_109_994, 1.088e9, _TV),
               doc="EfficientNet-B2: B0 1.1x wider and 1.2x deeper (23 MBConv blocks), at 288 px.")
register_model("efficientnet_b3", EfficientNet, dict(stages=B0_STAGES, width_coefficient=1.2, depth_coefficient=1.4),
               defaults=dict(dropout=0.3), family="efficientnet", paper=PAPER, design=Design(3, 300, 1000),
               reference=Reference(12_233_232, 1.827e9, _TV),
               doc="EfficientNet-B3: B0 1.2x wider and 1.4x deeper (26 MBConv blocks), at 300 px.")
register_model("efficientnet_v2_s", EfficientNet, dict(stages=V2_S_STAGES, last_channel=1280, bn_eps=1e-3),
               family="efficientnet", paper=PAPER_V2, design=Design(3, 384, 1000),
               reference=Reference(21_458_488, 8.366e9, _TV),
               doc="EfficientNetV2-S: 10 Fused-MBConv then 30 MBConv blocks, at 384 px.")
