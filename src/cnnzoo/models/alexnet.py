"""AlexNet: the network that made deep learning win ImageNet (Krizhevsky, Sutskever, Hinton, 2012).

The problem. Before 2012, image classifiers were hand-designed features (SIFT, HOG) fed to a
linear model. LeNet had shown that a ConvNet could learn its features, but only on small digit
images; nobody had trained one big enough for 1.2 million photos of 1000 classes.

The idea. Make LeNet much bigger and make it trainable: five convolutional layers and three
fully connected ones, 60 million parameters, with three ingredients that made it work --
ReLU instead of saturating sigmoids (training several times faster), dropout in the fully
connected layers (the net overfits without it), and a GPU implementation. It cut the top-5 error
from 26% to 15%.

The layers (paper, section 3.5; input 3x224x224):

    conv 11x11/4, 96  -> ReLU -> [LRN] -> max-pool 3x3/2      55x55 -> 27x27
    conv 5x5, 256     -> ReLU -> [LRN] -> max-pool 3x3/2      27x27 -> 13x13
    conv 3x3, 384 -> ReLU;  conv 3x3, 384 -> ReLU;  conv 3x3, 256 -> ReLU -> max-pool 3x3/2  -> 6x6
    dropout -> fc 4096 -> ReLU -> dropout -> fc 4096 -> ReLU -> fc 1000

What we changed from the paper, and why:

- One tower. The paper split every layer in two halves on two 3 GB GPUs, with some layers seeing
  only their own half (a grouped convolution). We keep the paper's widths as a single tower,
  the way the network is usually taught and re-implemented: 62,378,344 parameters at 3x224x224
  with 1000 classes (6x6x256 into the first linear layer). torchvision's ``alexnet`` is a
  different, narrower network, registered here as ``alexnet_owt`` so that its published weights
  have a home: the widths 64-192-384-256-256 of Krizhevsky's 2014 "One weird trick for
  parallelizing convolutional neural networks", 61,100,840
  parameters, the same layer layout otherwise.
- Local response normalization (LRN) is off by default (``lrn=True`` restores it). It brought
  about one point of accuracy in 2012 and was dropped by later work: BatchNorm does its job better.
  PyTorch divides LRN's alpha by the window size and the paper does not, so alpha is 5 x 1e-4.
- Small images. For inputs under 64 px the 11x11 stride-4 stem would leave almost nothing, so it
  becomes a 3x3 stride-1 convolution and the last max-pool is dropped: a 28x28 image then reaches
  the classifier as the paper's 6x6x256 map. An adaptive average pool before the first linear
  layer fixes the head's input at 6x6 whatever the input size.
- Initialization as in the paper (``init="paper"``): weights from N(0, 0.01), biases 1 in the
  second, fourth and fifth convolutions and the hidden linear layers (so that the ReLUs start in
  their active region), 0 elsewhere. ``init="kaiming"`` uses He initialization instead, which
  trains faster from scratch without LRN.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import smallest_input
from .registry import Paper, Reference, register_model

PAPER = Paper("ImageNet Classification with Deep Convolutional Neural Networks",
              "Krizhevsky, Sutskever, Hinton", 2012,
              "https://papers.nips.cc/paper/4824-imagenet-classification-with-deep-convolutional-neural-networks")

# The classifier reads a 6x6x256 map, the size the paper's stack leaves from a 224x224 image.
HEAD_GRID = 6
# Paper section 3.3: n=5 neighbouring channels, k=2, alpha=1e-4, beta=0.75 (alpha x 5 for PyTorch).
LRN: dict[str, Any] = dict(size=5, alpha=5e-4, beta=0.75, k=2.0)
# Paper section 4.2: dropout with probability 0.5 before the two hidden linear layers.
DROPOUT = 0.5

# Output channels of the five convolutions: the 2012 paper's, and the 2014 "one weird trick" paper's
# (torchvision's alexnet).
PAPER_WIDTHS = (96, 256, 384, 384, 256)
OWT_WIDTHS = (64, 192, 384, 256, 256)

OWT_PAPER = Paper("One weird trick for parallelizing convolutional neural networks", "Krizhevsky", 2014,
                  "https://arxiv.org/abs/1404.5997")

# Spatial steps (kernel, stride, padding) of the two stacks, to derive the smallest input.
_PAPER_STEPS = [(11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
_SMALL_STEPS = [(3, 1, 1), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1)]


class AlexNet(ZooModel):
    """AlexNet in one tower, with the five convolutions' ``widths`` (see the module docstring)."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
                 widths: tuple[int, ...] = PAPER_WIDTHS, *,
                 lrn: bool = False, dropout: float = DROPOUT, init: str = "paper",
                 small_input: bool | None = None) -> None:
        paper_min = smallest_input(_PAPER_STEPS, at_least=32)  # 63: the 11x11/4 stem and three pools
        small = wants_small_input(image_size, small_input, paper_min)
        min_size = smallest_input(_SMALL_STEPS, at_least=4) if small else paper_min
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)
        if init not in ("paper", "kaiming"):
            raise ModelError(f"AlexNet init must be 'paper' or 'kaiming', got {init!r}")
        self.small_input = small

        def norm() -> nn.Module:
            return nn.LocalResponseNorm(**LRN) if lrn else nn.Identity()

        if len(widths) != 5:
            raise ModelError(f"AlexNet takes five convolution widths, got {widths!r}")
        w1, w2, w3, w4, w5 = widths
        stem = (nn.Conv2d(in_channels, w1, 3, 1, 1) if small
                else nn.Conv2d(in_channels, w1, kernel_size=11, stride=4, padding=2))
        self.features = nn.Sequential(
            stem, nn.ReLU(inplace=True), norm(), nn.MaxPool2d(3, 2),
            nn.Conv2d(w1, w2, 5, padding=2), nn.ReLU(inplace=True), norm(), nn.MaxPool2d(3, 2),
            nn.Conv2d(w2, w3, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w3, w4, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(w4, w5, 3, padding=1), nn.ReLU(inplace=True),
            nn.Identity() if small else nn.MaxPool2d(3, 2),
        )
        self.num_features = w5
        self.pool = nn.AdaptiveAvgPool2d(HEAD_GRID)
        self.pre_logits = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(w5 * HEAD_GRID * HEAD_GRID, 4096), nn.ReLU(inplace=True),
            nn.Dropout(dropout), nn.Linear(4096, 4096), nn.ReLU(inplace=True),
        )
        self.init = init
        self._init_weights()
        self.classifier = self.make_classifier(num_classes)

    def _init_weights(self) -> None:
        layers = [m for m in [*self.features, *self.pre_logits] if isinstance(m, (nn.Conv2d, nn.Linear))]
        # conv1..conv5, fc6, fc7: conv2, conv4, conv5, fc6 and fc7 start with bias 1 (paper, section 5).
        bias_one = {1, 3, 4, 5, 6}
        for i, layer in enumerate(layers):
            assert layer.bias is not None  # every AlexNet layer has a bias
            if self.init == "paper":
                nn.init.normal_(layer.weight, 0.0, 0.01)
                nn.init.constant_(layer.bias, 1.0 if i in bias_one else 0.0)
            else:
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
                nn.init.zeros_(layer.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(4096, num_classes)  # "kaiming" keeps PyTorch's default for the last layer
        if self.init == "paper":
            nn.init.normal_(fc.weight, 0.0, 0.01)
            nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


register_model("alexnet", AlexNet, dict(widths=PAPER_WIDTHS), family="alexnet", paper=PAPER,
               reference=Reference(62_378_344, source="paper widths, one tower (computed from section 3.5)"),
               doc="""AlexNet: five convolutions and three linear layers, the paper's widths in one tower.

               62,378,344 parameters at 3x224x224 and 1000 classes.
               """)

register_model("alexnet_owt", AlexNet, dict(widths=OWT_WIDTHS), family="alexnet", paper=OWT_PAPER,
               reference=Reference(61_100_840, 0.71e9, "torchvision"),
               doc="""AlexNet "one weird trick" (2014): widths 64-192-384-256-256, torchvision's alexnet.

               The home of torchvision's published AlexNet weights (docs/transfer.md); 61,100,840
               parameters at 3x224x224 and 1000 classes.
               """)
