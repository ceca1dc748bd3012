"""VGG: depth from one repeated block of 3x3 convolutions (Simonyan & Zisserman, 2014).

The problem. AlexNet was a hand-tuned stack: an 11x11 filter here, a 5x5 there. How should a
deeper network be laid out, and does depth itself help?

The idea. Use one kind of layer only, the 3x3 convolution, and grow the network by repeating
a block. Two stacked 3x3 convolutions see a 5x5 window and three see a 7x7 one, with fewer
weights than a single large filter and an extra non-linearity in between. A *VGG block* is a few
3x3 convolutions (each with ReLU) followed by a 2x2 max-pool that halves the resolution; the
channel count doubles from block to block (64, 128, 256, 512, 512), and three fully connected
layers (4096, 4096, classes) classify. The paper's configurations A, B, D and E have 11, 13, 16
and 19 weight layers; the deepest were the best, which made "go deeper" the lesson of 2014.

The block in code is :class:`VGGBlock`; a network is a list of ``(num_convs, channels)`` pairs,
one per block (d2l's notation), e.g. VGG-11 = ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)).

What we changed from the paper, and why:

- ``batch_norm=True`` adds BatchNorm after every convolution (the ``_bn`` variants, from
  torchvision; BatchNorm came a year after VGG). The convolutions keep their bias there, as in
  torchvision, so the parameter counts match its published ones.
- ``width_mult`` scales every convolution's channel count. The seed's ``vgg`` is VGG-11 at a
  quarter of the width (16-32-64-128-128 channels) with Xavier initialization, which trains on
  a CPU in minutes: it is registered as ``vgg11_quarter``.
- An adaptive average pool fixes the classifier's input (7x7 at 224 px, as torchvision does,
  so the first linear layer sees 512x7x7 = 25,088 values).
- Small images (under 64 px): five 2x2 pools would shrink 28 px to nothing, so the last block
  keeps its resolution (no pool), and the map is averaged to 1x1 before the classifier: copying a
  1x1 map 49 times into a 7x7 grid would only multiply the first linear layer's weights by 49.
- Initialization: ``init="kaiming"`` (the default) is torchvision's (He normal for convolutions,
  N(0, 0.01) for linear layers, zero biases); ``init="xavier"`` is Glorot uniform, which the
  paper mentions as an alternative to its staged training and which d2l and the seed use.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .registry import FASHION_MNIST, Paper, Reference, register_model

PAPER = Paper("Very Deep Convolutional Networks for Large-Scale Image Recognition",
              "Simonyan, Zisserman", 2014, "https://arxiv.org/abs/1409.1556")

# Paper Table 1, as (num_convs, channels) per block.
ARCHS: dict[int, tuple[tuple[int, int], ...]] = {
    11: ((1, 64), (1, 128), (2, 256), (2, 512), (2, 512)),   # configuration A
    13: ((2, 64), (2, 128), (2, 256), (2, 512), (2, 512)),   # configuration B
    16: ((2, 64), (2, 128), (3, 256), (3, 512), (3, 512)),   # configuration D
    19: ((2, 64), (2, 128), (4, 256), (4, 512), (4, 512)),   # configuration E
}
# The classifier's hidden width and dropout (paper section 3.1).
HIDDEN = 4096
DROPOUT = 0.5
# The grid the paper's classifier reads (224 / 2**5 = 7), and the small-image one.
PAPER_GRID, SMALL_GRID = 7, 1


class VGGBlock(nn.Sequential):
    """``num_convs`` x (3x3 conv [-> BatchNorm] -> ReLU), then a 2x2 max-pool (unless ``pool=False``)."""

    def __init__(self, in_channels: int, out_channels: int, num_convs: int, batch_norm: bool = False,
                 pool: bool = True) -> None:
        layers: list[nn.Module] = []
        for _ in range(num_convs):
            layers.append(nn.Conv2d(in_channels, out_channels, 3, padding=1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
            in_channels = out_channels
        if pool:
            layers.append(nn.MaxPool2d(2, 2))
        super().__init__(*layers)


class VGG(ZooModel):
    """VGG blocks, then dropout-regularized 4096-4096 linear layers and a classifier."""

    def __init__(self, arch: tuple[tuple[int, int], ...], num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224, *, batch_norm: bool = False, width_mult: float = 1.0,
                 dropout: float = DROPOUT, init: str = "kaiming", small_input: bool | None = None) -> None:
        small = wants_small_input(image_size, small_input)
        # Each pooled block halves the image: the last block must still see one pixel.
        pools = len(arch) - 1 if small else len(arch)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=2 ** pools)
        if init not in ("kaiming", "xavier"):
            raise ModelError(f"VGG init must be 'kaiming' or 'xavier', got {init!r}")
        if width_mult <= 0:
            raise ModelError(f"VGG width_mult must be positive, got {width_mult}")
        self.small_input, self.init = small, init
        blocks = []
        for i, (num_convs, channels) in enumerate(arch):
            channels = max(1, round(channels * width_mult))
            blocks.append(VGGBlock(in_channels, channels, num_convs, batch_norm, pool=i < pools))
            in_channels = channels
        self.features = nn.Sequential(*blocks)
        self.num_features = in_channels
        grid = SMALL_GRID if small else PAPER_GRID
        self.pool = nn.AdaptiveAvgPool2d(grid)
        self.pre_logits = nn.Sequential(
            nn.Linear(in_channels * grid * grid, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(dropout),
            nn.Linear(HIDDEN, HIDDEN), nn.ReLU(inplace=True), nn.Dropout(dropout),
        )
        self.classifier = self.make_classifier(num_classes)
        for m in self.modules():
            self._init_module(m)

    def _init_module(self, m: nn.Module) -> None:
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            if self.init == "xavier":
                nn.init.xavier_uniform_(m.weight)
            elif isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            else:
                nn.init.normal_(m.weight, 0.0, 0.01)
            assert m.bias is not None  # every VGG convolution and linear layer has a bias
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(HIDDEN, num_classes)
        self._init_module(fc)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


# -- The paper's configurations (references: torchvision's published counts and GMACs) ------------

# A `_bn` variant fixes batch_norm=True (its name says so); the plain ones leave it an option.
_TV = "torchvision"

register_model("vgg11", VGG, dict(arch=ARCHS[11]), family="vgg", paper=PAPER,
               reference=Reference(132_863_336, 7.61e9, _TV),
               doc="VGG-11 (configuration A): 8 convolutions in 5 blocks and 3 linear layers.")
register_model("vgg11_bn", VGG, dict(arch=ARCHS[11], batch_norm=True), family="vgg", paper=PAPER,
               reference=Reference(132_868_840, 7.61e9, _TV), doc="VGG-11 with BatchNorm after every convolution.")
register_model("vgg13", VGG, dict(arch=ARCHS[13]), family="vgg", paper=PAPER,
               reference=Reference(133_047_848, 11.31e9, _TV),
               doc="VGG-13 (configuration B): two convolutions in every block.")
register_model("vgg13_bn", VGG, dict(arch=ARCHS[13], batch_norm=True), family="vgg", paper=PAPER,
               reference=Reference(133_053_736, 11.31e9, _TV), doc="VGG-13 with BatchNorm after every convolution.")
register_model("vgg16", VGG, dict(arch=ARCHS[16]), family="vgg", paper=PAPER,
               reference=Reference(138_357_544, 15.47e9, _TV),
               doc="VGG-16 (configuration D): 13 convolutions, three in each of the last three blocks.")
register_model("vgg16_bn", VGG, dict(arch=ARCHS[16], batch_norm=True), family="vgg", paper=PAPER,
               reference=Reference(138_365_992, 15.47e9, _TV), doc="VGG-16 with BatchNorm after every convolution.")
register_model("vgg19", VGG, dict(arch=ARCHS[19]), family="vgg", paper=PAPER,
               reference=Reference(143_667_240, 19.63e9, _TV),
               doc="VGG-19 (configuration E): 16 convolutions, four in each of the last three blocks.")
register_model("vgg19_bn", VGG, dict(arch=ARCHS[19], batch_norm=True), family="vgg", paper=PAPER,
               reference=Reference(143_678_248, 19.63e9, _TV), doc="VGG-19 with BatchNorm after every convolution.")

# The seed's `vgg`: its width and initialization are defaults, so its recipe may add BatchNorm.
register_model("vgg11_quarter", VGG, dict(arch=ARCHS[11]), defaults=dict(width_mult=0.25, init="xavier"),
               family="vgg", paper=PAPER, design=FASHION_MNIST, aliases=("vgg",),
               doc="""VGG-11 at a quarter of the width (16-32-64-128-128 channels), Xavier-initialized.

               The seed's ``vgg`` (d2l's Fashion-MNIST VGG): the same design at 1/16 of the convolutions' cost.
               """)
