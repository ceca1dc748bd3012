"""SqueezeNet: AlexNet's accuracy with 50x fewer parameters (Iandola, Han, Moskewicz, et al., 2016).

The problem. The networks of 2012-2015 were large (AlexNet 61M parameters, VGG-16 138M): too big
to ship over the air to a car, to fit an FPGA's memory, or to train quickly across many machines.
Most of those parameters sit in 3x3 convolutions over many channels and in the fully connected
head.

The idea. Three strategies, in the paper's words: (1) replace most 3x3 filters by 1x1 filters
(9x fewer parameters each); (2) feed the remaining 3x3 filters fewer input channels; (3) downsample
late, so that the convolutions work on large feature maps (accuracy per parameter). And no fully
connected layer at all: as in NiN, a 1x1 convolution produces one map per class and global average
pooling reads it out.

The block (paper Figure 1): :class:`Fire`. A *squeeze* layer of 1x1 convolutions cuts the
channels (strategy 2), then an *expand* layer runs 1x1 and 3x3 convolutions side by side on the
squeezed map and concatenates them (strategy 1). The network: a convolution, eight Fire modules
with widths growing from 128 to 512 channels, three max-pools spread through it (strategy 3), and
the convolutional classifier. SqueezeNet 1.0 has 1.25M parameters (0.82 GMACs) and AlexNet's
ImageNet accuracy; SqueezeNet 1.1 (the authors' later release) moves the pools earlier and starts
with a 3x3 convolution of 64 channels: the same accuracy at 2.4x less computation.

What we changed from the paper, and why:

- Nothing at ImageNet size: these are torchvision's ``squeezenet1_0`` and ``squeezenet1_1``
  (ceil-mode max-pools, dropout 0.5 before the classifier, no bypass connections), and they load
  torchvision's weight files exactly (cnnzoo.weights). Initialization as torchvision: Kaiming
  uniform for the convolutions, N(0, 0.01) for the classifier, biases at zero.
- Small images (under 64 px): the stem becomes a 3x3 stride-1 convolution (same width) and its
  max-pool is skipped (an identity in its place, so the parameter names stay torchvision's), so a
  28x28 image reaches the Fire modules at 28, 14 and 7 pixels instead of vanishing after the
  stem's 4x reduction.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel, wants_small_input
from .layers import smallest_input
from .registry import Paper, Reference, register_model

PAPER = Paper("SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size",
              "Iandola, Han, Moskewicz, Ashraf, Dally, Keutzer", 2016, "https://arxiv.org/abs/1602.07360")


class Fire(nn.Module):
    """Squeeze (1x1 to ``squeeze`` channels, ReLU), then expand: 1x1 and 3x3 side by side, ReLU, concatenated."""

    def __init__(self, in_channels: int, squeeze: int, expand1x1: int, expand3x3: int) -> None:
        super().__init__()
        self.squeeze = nn.Conv2d(in_channels, squeeze, 1)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, 1)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, 3, padding=1)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


# Each version: the stem (channels, kernel, stride) and the layers after its max-pool, "M" a max-pool
# and a tuple a Fire module's (squeeze, expand1x1, expand3x3); its input width is the last output.
VERSIONS: dict[str, dict] = {
    # Paper Table 1: fire2-4, pool, fire5-8, pool, fire9.
    "1_0": dict(stem=(96, 7, 2), layers=((16, 64, 64), (16, 64, 64), (32, 128, 128), "M",
                                         (32, 128, 128), (48, 192, 192), (48, 192, 192), (64, 256, 256), "M",
                                         (64, 256, 256))),
    # SqueezeNet 1.1: a 3x3 stem of 64, the pools after fire3 and fire5.
    "1_1": dict(stem=(64, 3, 2), layers=((16, 64, 64), (16, 64, 64), "M", (32, 128, 128), (32, 128, 128), "M",
                                         (48, 192, 192), (48, 192, 192), (64, 256, 256), (64, 256, 256))),
}
_POOL = (3, 2, 0, True)  # 3x3 stride-2 max-pool, ceil mode (Caffe's rounding, as torchvision)


class SqueezeNet(ZooModel):
    """A convolution and max-pool, Fire modules with max-pools between, a 1x1 conv per class, global pooling."""

    def __init__(self, stem: tuple[int, int, int], layers: tuple, num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224, *, dropout: float = 0.5, small_input: bool | None = None) -> None:
        width, kernel, stride = stem
        pools = sum(1 for layer in layers if layer == "M")
        paper_steps = [(kernel, stride, 0), _POOL] + [_POOL] * pools
        small = wants_small_input(image_size, small_input)
        min_size = (smallest_input([(3, 1, 1)] + [_POOL] * pools, at_least=2 ** pools) if small
                    else smallest_input(paper_steps, at_least=stride * 2 ** (pools + 1)))
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size, min_size=min_size)
        self.small_input = small
        features: list[nn.Module] = [
            nn.Conv2d(in_channels, width, 3, 1, padding=1) if small else nn.Conv2d(in_channels, width, kernel, stride),
            nn.ReLU(inplace=True),
            # Small images keep their resolution here; the Identity keeps the indices (and names) of torchvision.
            nn.Identity() if small else nn.MaxPool2d(3, 2, ceil_mode=True),
        ]
        channels = width
        for layer in layers:
            if layer == "M":
                features.append(nn.MaxPool2d(3, 2, ceil_mode=True))
            else:
                squeeze, e1, e3 = layer
                features.append(Fire(channels, squeeze, e1, e3))
                channels = e1 + e3
        self.features = nn.Sequential(*features)
        self.num_features = channels
        self.dropout = nn.Dropout(dropout)
        self.pool = nn.AdaptiveAvgPool2d(1)
        for m in self.features.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        # One 1x1 convolution per class (NiN's head); torchvision's initialization for it.
        conv = nn.Conv2d(self.num_features, num_classes, 1)
        nn.init.normal_(conv.weight, mean=0.0, std=0.01)
        if conv.bias is not None:
            nn.init.zeros_(conv.bias)
        return conv

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return torch.flatten(self.pool(x), 1)
        return torch.flatten(self.pool(torch.relu(self.classifier(self.dropout(x)))), 1)


register_model("squeezenet1_0", SqueezeNet, VERSIONS["1_0"], family="squeezenet", paper=PAPER,
               aliases=("squeezenet",), reference=Reference(1_248_424, 0.82e9, "torchvision"),
               doc="SqueezeNet 1.0: a 7x7 convolution of 96, eight Fire modules, a 1x1 convolution per class.")
register_model("squeezenet1_1", SqueezeNet, VERSIONS["1_1"], family="squeezenet", paper=PAPER,
               reference=Reference(1_235_496, 0.35e9, "torchvision"),
               doc="SqueezeNet 1.1: a 3x3 convolution of 64 and earlier pools: SqueezeNet 1.0's accuracy, "
                   "2.4x cheaper.")
