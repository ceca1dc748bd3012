"""Wide ResNet: wider residual blocks instead of deeper stacks (Zagoruyko and Komodakis, 2016).

The problem. Residual networks made 1000-layer networks trainable, but each extra point of
accuracy cost doubling the depth, and deep thin networks are slow: their layers run one after
another, each too small to fill a GPU. Worse, with an identity shortcut a block can learn almost
nothing and still pass its input on, so many of a very deep ResNet's blocks contribute little
(the *diminishing feature reuse* the paper names).

The idea. Widen the blocks instead. Multiply the channels of every residual block by a factor
``k`` and use far fewer blocks: WRN-28-10 (28 layers, 10x the width of the CIFAR ResNets) beats
the 1001-layer pre-activation ResNet on CIFAR-10 and CIFAR-100 and trains several times faster.
With so many parameters per block, the paper puts *dropout between the two convolutions* of a
block (not on the shortcut) as a regularizer.

The block (paper Figure 1c and Table 1): :class:`WideBasic`, a pre-activation basic block,
BN -> ReLU -> 3x3 conv -> BN -> ReLU -> [dropout] -> 3x3 conv, added to the input; when the
width or the resolution changes, the shortcut is a 1x1 convolution of the pre-activated input.
The network WRN-``n``-``k``: a 3x3 convolution to 16 channels, three groups of ``(n - 4) / 6``
blocks at 16k, 32k and 64k channels (the second and third halving the resolution), BN -> ReLU,
global average pooling and one linear layer. WRN-28-10 has 36.5M parameters, WRN-16-8 11.0M
(paper Table 2 and 4, CIFAR-10).

ImageNet (``wide_resnet50_2``): the paper widens ResNet-50's bottleneck blocks instead, doubling
the inner width of every Bottleneck (the 3x3 convolutions at 128, 256, 512, 1024 channels) while
the block outputs stay ResNet-50's. That is resnet.py's network with ``base_width=128``, exactly
torchvision's ``wide_resnet50_2``, and it loads torchvision's weight files.

What we changed from the paper, and why:

- Nothing in the CIFAR networks' layers (convolutions without bias, as the authors' code); the
  paper's dropout rate, 0.3, is the ``drop_rate`` option (default 0: the paper's plain WRNs).
- Small images are the CIFAR networks' own size: a 28x28 image goes through the groups at 28, 14
  and 7 pixels. From 64 px on, a ResNet-style ImageNet stem (7x7 stride-2 convolution and 3x3
  stride-2 max-pool) shrinks the image 4x first, so the groups see what they would at 1/4 scale.
- Initialization as the authors' code: He normal for convolutions, BatchNorm at one and zero,
  PyTorch's default for the linear layer.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import init_conv_bn
from .registry import CIFAR10, Paper, Reference, register_model
from .resnet import RESNET_LAYERS, ResNet

PAPER = Paper("Wide Residual Networks", "Zagoruyko, Komodakis", 2016, "https://arxiv.org/abs/1605.07146")


class WideBasic(nn.Module):
    """Pre-activation basic block: BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3, plus the shortcut."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, padding=1, bias=False)
        self.drop_rate = drop_rate
        # The projection reads the pre-activated input, as in the authors' code (the identity
        # reads the raw input: the signal path stays clean).
        self.shortcut = (nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)
                         if stride != 1 or in_channels != out_channels else None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        o = F.relu(self.bn1(x))
        y = F.relu(self.bn2(self.conv1(o)))
        y = F.dropout(y, self.drop_rate, self.training)
        y = self.conv2(y)
        return y + (self.shortcut(o) if self.shortcut is not None else x)


class WideResNet(ZooModel):
    """WRN-``depth``-``widen_factor``: a 3x3 stem, three groups of WideBasic blocks, BN-ReLU, pooling, linear."""

    def __init__(self, depth: int, widen_factor: int, num_classes: int = 10, in_channels: int = 3,
                 image_size: int = 32, *, drop_rate: float = 0.0, small_input: bool | None = None) -> None:
        if (depth - 4) % 6 != 0 or depth < 10:
            raise ModelError(f"WideResNet depth must be 6n+4 (10, 16, 22, 28, 40, ...), got {depth}")
        if not 0.0 <= drop_rate < 1.0:
            raise ModelError(f"drop_rate must be in [0, 1), got {drop_rate}")
        small = wants_small_input(image_size, small_input)
        # Total stride: the ImageNet stem's 4 (none when small) times the two halving groups' 4.
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=4 if small else 16)
        self.small_input = small
        n = (depth - 4) // 6
        widths = (16 * widen_factor, 32 * widen_factor, 64 * widen_factor)
        stem: list[nn.Module] = [nn.Conv2d(in_channels, 16, 3, 1, padding=1, bias=False)] if small else [
            nn.Conv2d(in_channels, 16, 7, 2, padding=3, bias=False), nn.MaxPool2d(3, 2, padding=1)]
        self.stem = nn.Sequential(*stem)
        groups, channels = [], 16
        for i, width in enumerate(widths):
            blocks = []
            for j in range(n):
                blocks.append(WideBasic(channels, width, 2 if i > 0 and j == 0 else 1, drop_rate))
                channels = width
            groups.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*groups)
        self.norm = nn.BatchNorm2d(channels)  # the last blocks are pre-activated: normalize their sum
        self.num_features = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = self.make_classifier(num_classes)
        init_conv_bn(self)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return F.relu(self.norm(self.stages(self.stem(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(x)


# -- ImageNet: ResNet-50 with twice as wide bottlenecks (torchvision's count and GMACs) -----------

register_model("wide_resnet50_2", ResNet, dict(RESNET_LAYERS[50], base_width=128), family="wide_resnet",
               paper=PAPER, reference=Reference(68_883_240, 11.40e9, "torchvision"),
               doc="Wide ResNet-50-2: ResNet-50 whose Bottlenecks are twice as wide inside (128 ... 1024 channels).")


# -- CIFAR: WRN-n-k (paper Tables 2 and 4, CIFAR-10, rounded counts) ----------------------------

def _paper(params: int) -> Reference:
    return Reference(params, source="paper Tables 2, 4 (rounded)", exact=False)


register_model("wrn28_10", WideResNet, dict(depth=28, widen_factor=10), family="wide_resnet", paper=PAPER,
               design=CIFAR10, reference=_paper(36_500_000), aliases=("wide_resnet", "wrn"),
               doc="WRN-28-10 for CIFAR: 3 groups of 4 WideBasic blocks at 160, 320, 640 channels (36.5M parameters).")
register_model("wrn16_8", WideResNet, dict(depth=16, widen_factor=8), family="wide_resnet", paper=PAPER,
               design=CIFAR10, reference=_paper(11_000_000),
               doc="WRN-16-8 for CIFAR: 3 groups of 2 WideBasic blocks at 128, 256, 512 channels (11.0M parameters).")
