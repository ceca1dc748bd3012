"""A basic ConvNet: the smallest network in the zoo, and the yardstick for the others.

The idea. A fully connected layer treats a 28x28 image as 784 unrelated numbers. A convolution
instead slides one small filter over the image, so it looks for the same local pattern (an edge,
a corner) everywhere, with a handful of weights. Stacking "convolve, normalize, rectify, pool"
twice gives features that see larger and larger neighbourhoods at a lower and lower resolution;
one linear layer then reads the class off the final 7x7 map.

The block: ``conv 3x3 -> BatchNorm -> ReLU -> max-pool 2x2``, twice (32 then 64 channels), and
a linear head. It is the seed's ``cnn`` model, about 50 thousand parameters at 1x28x28.

Paper: none; this is the textbook baseline every later family is compared against.

Changes for any input size: the linear head reads a fixed grid, the feature map of a 28x28
image (7x7). Larger inputs are average-pooled down to that grid (as torchvision's VGG does),
smaller ones are stretched up to it, so the same weights accept any input of at least 4x4 (two
halvings leave one pixel).
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel
from .layers import ConvBNAct
from .registry import FASHION_MNIST, register_model

# The head reads at most this grid: the 7x7 map a 28x28 image leaves after two 2x2 pools.
HEAD_GRID = 7


class ConvNet(ZooModel):
    """Two conv-BN-ReLU-pool stages and a linear classifier."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
                 widths: tuple[int, int] = (32, 64)) -> None:
        # Two 2x2 max-pools halve the image twice: 4 px is the least that leaves one pixel.
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size, min_size=4)
        self.features = nn.Sequential(
            ConvBNAct(in_channels, widths[0], 3), nn.MaxPool2d(2),
            ConvBNAct(widths[0], widths[1], 3), nn.MaxPool2d(2),
        )
        self.num_features = widths[1]
        self.grid = min(image_size // 4, HEAD_GRID)
        self.pool = nn.AdaptiveAvgPool2d(self.grid)
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features * self.grid * self.grid, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(x)


register_model("convnet", ConvNet, family="convnet", paper=None, design=FASHION_MNIST, aliases=("cnn",),
               doc="""Basic ConvNet: two conv-BN-ReLU-max-pool stages (32, 64 channels) and a linear head.

               The seed's ``cnn``; PyTorch's default initialization, as the seed used.
               """)
