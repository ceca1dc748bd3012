"""MobileNet v1, v2, v3: convolutional networks for phones
(Howard et al. 2017; Sandler et al. 2018; Howard et al. 2019).

The problem. ResNets and Inception cost billions of multiply-adds per image: too slow for a phone.
Where does a standard convolution spend its effort? A 3x3 convolution from C to C' channels does
9 x C x C' multiply-adds per pixel, filtering space and mixing channels in one go.

v1, the idea: split that into two cheaper steps, a *depthwise separable convolution*: a 3x3
*depthwise* convolution filters each channel on its own (9 x C), then a 1x1 *pointwise*
convolution mixes the channels (C x C'). For C' = 256 that is 8-9x less work for nearly the same
accuracy. MobileNetV1 is a plain stack of 13 such blocks, each followed by BatchNorm and ReLU,
and a *width multiplier* alpha thins every layer to trade accuracy for speed (0.5 MobileNet: 1.3M
parameters, 149M multiply-adds).

v2, the idea: the *inverted residual* with a *linear bottleneck*. A block expands a narrow input
6x with a 1x1 convolution, filters it depthwise, and projects it back down with a 1x1 convolution
*without* a ReLU: a ReLU on a narrow representation destroys information, so the narrow ends stay
linear. The residual shortcut connects the narrow ends (the inverse of ResNet's bottleneck, which
is wide at the ends). Activations are ReLU6, robust in low-precision arithmetic.

v3: the same block, with layer sizes found by neural architecture search, the Squeeze-and-
Excitation block of senet.py in some blocks (with a hard sigmoid), the cheap *hard-swish*
activation in the deeper layers, and a leaner head.

The blocks: :class:`DepthwiseSeparable` (v1) and :class:`InvertedResidual` (v2 and v3; it lives in
layers.py because EfficientNet's MBConv is one too).

What we changed, and why:

- v1: the paper's table lists the last depthwise convolution with stride 2 but a 7x7 output; it is
  stride 1 in practice (as in the released models), which is what we build.
- Small images (under 64 px): the stem and the first stride-2 block run at stride 1, so the total
  stride is 8 instead of 32 and a 28x28 image leaves a 4x4 map (as CIFAR MobileNets do).
- v2 and v3 are torchvision's (their counts and GMACs are the references): channels rounded to
  multiples of 8 under a width multiplier, dropout 0.2 before the classifier, BatchNorm with
  eps=1e-3 and momentum 0.01 in v3. v1 uses the same conventions (the paper gives only rounded
  counts: 4.2M parameters and 569M multiply-adds at width 1).
- ``drop_path`` (v2; off by default): stochastic depth on the inverted residuals that have a
  shortcut, rising linearly with depth to ``drop_path`` (as timm's ``drop_path_rate``).
- Initialization as torchvision: He normal (fan-out) for convolutions, N(0, 0.01) for linear layers,
  zero biases, BatchNorm at one and zero.

Ablation switch (docs/ablations.md; ``cnnzoo ablate mobilenet``), v1 and v2: ``depthwise=False``
replaces the depthwise-separable convolutions by full ones. In v1 each depthwise + pointwise pair
becomes one full 3x3 convolution (paper Table 4's "Conv MobileNet"); in v2 each block's depthwise 3x3
becomes a full 3x3 across the expanded channels (the 1x1 expansion and projection stay).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import torch
from torch import nn

from ..errors import ModelError, did_you_mean
from .base import ZooModel, wants_small_input
from .layers import ConvBNAct, InvertedResidual, SqueezeExcite, drop_path_rates, init_mobile, make_divisible
from .registry import Paper, Reference, register_model

PAPER_V1 = Paper("MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications",
                 "Howard et al.", 2017, "https://arxiv.org/abs/1704.04861")
PAPER_V2 = Paper("MobileNetV2: Inverted Residuals and Linear Bottlenecks", "Sandler et al.", 2018,
                 "https://arxiv.org/abs/1801.04381")
PAPER_V3 = Paper("Searching for MobileNetV3", "Howard et al.", 2019, "https://arxiv.org/abs/1905.02244")

class DepthwiseSeparable(nn.Sequential):
    """MobileNetV1's block: 3x3 depthwise conv -> BN -> ReLU, then 1x1 pointwise conv -> BN -> ReLU.

    ``depthwise=False`` is the ablation: one full 3x3 conv -> BN -> ReLU instead (paper Table 4's
    "Conv MobileNet").
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, depthwise: bool = True) -> None:
        if not depthwise:
            super().__init__(ConvBNAct(in_channels, out_channels, 3, stride))
            return
        super().__init__(ConvBNAct(in_channels, in_channels, 3, stride, groups=in_channels),
                         ConvBNAct(in_channels, out_channels, 1))


class _MobileNet(ZooModel):
    """What the three versions share: torchvision's initialization, the head's forward, the checks."""

    # set by each version's __init__
    features: nn.Module
    pool: nn.Module
    pre_logits: nn.Module
    head_width: int

    def _init_weights(self) -> None:
        init_mobile(self, linear_std=0.01)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.head_width, num_classes)
        nn.init.normal_(fc.weight, 0.0, 0.01)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


def _check_width(width_mult: float) -> None:
    if width_mult <= 0:
        raise ModelError(f"MobileNet width_mult must be positive, got {width_mult}")


# -- v1 ---------------------------------------------------------------------------------------

# Paper Table 1: (out_channels, stride) of the 13 depthwise separable blocks after the stem.
V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
             (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


class MobileNetV1(_MobileNet):
    """A 3x3 stride-2 conv stem, 13 depthwise separable blocks, global average pooling, linear."""

    ablation_switches = ("depthwise",)

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, *,
                 width_mult: float = 1.0, dropout: float = 0.0, small_input: bool | None = None,
                 depthwise: bool = True) -> None:
        _check_width(width_mult)
        small = wants_small_input(image_size, small_input)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=8 if small else 32)
        self.small_input = small
        channels = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [ConvBNAct(in_channels, channels, 3, stride=1 if small else 2)]
        first_stride2 = True
        for out, stride in V1_BLOCKS:
            if small and stride == 2 and first_stride2:
                stride, first_stride2 = 1, False
            out = make_divisible(out * width_mult)
            layers.append(DepthwiseSeparable(channels, out, stride, depthwise))
            channels = out
        self.features = nn.Sequential(*layers)
        self.num_features = self.head_width = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pre_logits = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()


# -- v2 ---------------------------------------------------------------------------------------

# Paper Table 2: expansion t, channels c, repeats n, first stride s of each bottleneck sequence.
V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
               (6, 160, 3, 2), (6, 320, 1, 1))
V2_LAST_CHANNEL = 1280


class MobileNetV2(_MobileNet):
    """A 3x3 stride-2 stem, 17 inverted residual blocks, a 1x1 conv to 1280 channels, pooling, linear."""

    ablation_switches = ("depthwise",)

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, *,
                 width_mult: float = 1.0, dropout: float = 0.2, small_input: bool | None = None,
                 drop_path: float = 0.0, depthwise: bool = True) -> None:
        _check_width(width_mult)
        small = wants_small_input(image_size, small_input)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=8 if small else 32)
        self.small_input = small
        rates = iter(drop_path_rates(drop_path, sum(n for _, _, n, _ in V2_SETTINGS)))
        channels = make_divisible(32 * width_mult)
        layers: list[nn.Module] = [ConvBNAct(in_channels, channels, 3, stride=1 if small else 2, act=nn.ReLU6)]
        first_stride2 = True
        for t, c, n, s in V2_SETTINGS:
            if small and s == 2 and first_stride2:
                s, first_stride2 = 1, False
            out = make_divisible(c * width_mult)
            for i in range(n):
                layers.append(InvertedResidual(channels, channels * t, out, 3, s if i == 0 else 1,
                                               drop_path=next(rates), depthwise=depthwise))
                channels = out
        # The last layer does not shrink below 1280 channels for width multipliers under 1.
        last = make_divisible(V2_LAST_CHANNEL * max(1.0, width_mult))
        layers.append(ConvBNAct(channels, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.num_features = self.head_width = last
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pre_logits = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()


# -- v3 ---------------------------------------------------------------------------------------

# Paper Tables 1 and 2: kernel, expanded channels, out channels, SE, activation ("RE" ReLU,
# "HS" hard-swish), stride -- for each block after the 16-channel stem.
V3_LARGE = ((3, 16, 16, False, "RE", 1), (3, 64, 24, False, "RE", 2), (3, 72, 24, False, "RE", 1),
            (5, 72, 40, True, "RE", 2), (5, 120, 40, True, "RE", 1), (5, 120, 40, True, "RE", 1),
            (3, 240, 80, False, "HS", 2), (3, 200, 80, False, "HS", 1), (3, 184, 80, False, "HS", 1),
            (3, 184, 80, False, "HS", 1), (3, 480, 112, True, "HS", 1), (3, 672, 112, True, "HS", 1),
            (5, 672, 160, True, "HS", 2), (5, 960, 160, True, "HS", 1), (5, 960, 160, True, "HS", 1))
V3_SMALL = ((3, 16, 16, True, "RE", 2), (3, 72, 24, False, "RE", 2), (3, 88, 24, False, "RE", 1),
            (5, 96, 40, True, "HS", 2), (5, 240, 40, True, "HS", 1), (5, 240, 40, True, "HS", 1),
            (5, 120, 48, True, "HS", 1), (5, 144, 48, True, "HS", 1), (5, 288, 96, True, "HS", 2),
            (5, 576, 96, True, "HS", 1), (5, 576, 96, True, "HS", 1))
# The two searched architectures, and the head's hidden width of each.
V3_ARCHS = {"large": V3_LARGE, "small": V3_SMALL}
V3_HEAD = {"large": 1280, "small": 1024}
# torchvision's BatchNorm settings for v3 (TensorFlow's defaults in PyTorch's convention).
V3_BN: dict[str, Any] = dict(bn_eps=1e-3, bn_momentum=0.01)
_ACTS = {"RE": nn.ReLU, "HS": nn.Hardswish}


def _v3_squeeze_excite(channels: int) -> SqueezeExcite:
    """v3's SE: a quarter of the expanded width (rounded to 8) and the cheap hard-sigmoid gate."""
    return SqueezeExcite(channels, rd_channels=make_divisible(channels // 4), gate=nn.Hardsigmoid)


class MobileNetV3(_MobileNet):
    """A hard-swish stem, searched inverted residual blocks (some with SE), a 1x1 conv, a two-layer head."""

    def __init__(self, arch: str, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, *,
                 width_mult: float = 1.0, dropout: float = 0.2, small_input: bool | None = None) -> None:
        if not isinstance(arch, str) or arch not in V3_ARCHS:
            raise ModelError(f"MobileNetV3 arch must be one of {', '.join(map(repr, V3_ARCHS))}, got {arch!r}"
                             f"{did_you_mean(str(arch), V3_ARCHS)}")
        _check_width(width_mult)
        small = wants_small_input(image_size, small_input)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=8 if small else 32)
        self.small_input = small
        blocks = V3_ARCHS[arch]
        conv: Callable[..., ConvBNAct] = partial(ConvBNAct, **V3_BN)
        channels = make_divisible(16 * width_mult)
        layers: list[nn.Module] = [conv(in_channels, channels, 3, stride=1 if small else 2, act=nn.Hardswish)]
        first_stride2 = True
        for kernel, expanded, out, se, act, stride in blocks:
            if small and stride == 2 and first_stride2:
                stride, first_stride2 = 1, False
            expanded, out = make_divisible(expanded * width_mult), make_divisible(out * width_mult)
            layers.append(InvertedResidual(channels, expanded, out, kernel, stride, _ACTS[act],
                                           _v3_squeeze_excite if se else None, **V3_BN))
            channels = out
        last_conv = 6 * channels
        layers.append(conv(channels, last_conv, 1, act=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        self.num_features = last_conv
        self.head_width = make_divisible(V3_HEAD[arch] * width_mult)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.pre_logits = nn.Sequential(nn.Linear(last_conv, self.head_width), nn.Hardswish(inplace=True),
                                        nn.Dropout(dropout))
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()


# -- registered variants ----------------------------------------------------------------------

def _table14(params: int, macs: float) -> Reference:
    return Reference(params, macs, source="paper Table 14 (rounded)", exact=False)


_TV = "torchvision"

register_model("mobilenet_v1", MobileNetV1, family="mobilenet", paper=PAPER_V1,
               reference=_table14(4_200_000, 569e6),
               doc="MobileNetV1: 13 depthwise separable blocks (4.2M parameters, 569M MACs at 224 px).")
register_model("mobilenet_v1_050", MobileNetV1, defaults=dict(width_mult=0.5), family="mobilenet", paper=PAPER_V1,
               reference=_table14(1_300_000, 149e6),
               doc="0.5 MobileNetV1: every layer at half width (1.3M parameters, 149M MACs at 224 px).")
register_model("mobilenet_v2", MobileNetV2, family="mobilenet", paper=PAPER_V2, aliases=("mobilenet",),
               reference=Reference(3_504_872, 0.30e9, _TV),
               doc="MobileNetV2: inverted residuals with linear bottlenecks.")
register_model("mobilenet_v2_050", MobileNetV2, defaults=dict(width_mult=0.5), family="mobilenet", paper=PAPER_V2,
               doc="MobileNetV2 at half width (the last layer keeps 1280 channels).")
register_model("mobilenet_v3_large", MobileNetV3, dict(arch="large"), family="mobilenet", paper=PAPER_V3,
               reference=Reference(5_483_032, 0.22e9, _TV),
               doc="MobileNetV3-Large: 15 searched inverted residual blocks, SE and hard-swish.")
register_model("mobilenet_v3_small", MobileNetV3, dict(arch="small"), family="mobilenet", paper=PAPER_V3,
               reference=Reference(2_542_856, 0.06e9, _TV),
               doc="MobileNetV3-Small: 11 searched inverted residual blocks, for low-resource devices.")
