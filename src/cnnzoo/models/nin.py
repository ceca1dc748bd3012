"""Network in Network: 1x1 convolutions and a head without fully connected layers (Lin, Chen, Yan, 2013).

The problem. In AlexNet and VGG almost all parameters sit in the fully connected head (58 of
AlexNet's 62 million), which overfits, and throws away where in the image a feature was. Also, a
convolution is a linear filter followed by a ReLU: a weak model of what a local patch contains.

The idea. Replace each convolution by a tiny multi-layer perceptron slid over the image (a
"micro network"): a convolution followed by two 1x1 convolutions, each with a ReLU. A 1x1
convolution is a fully connected layer applied at every pixel independently, mixing channels but
not positions. That is the *NiN block*. Then drop the fully connected head altogether: the last
NiN block outputs one channel per class and *global average pooling* turns each channel's map into
that class's score. No parameters in the head, nothing to overfit, and every feature map is a
"confidence map" for one class. Both ideas became standard: the 1x1 convolution in GoogLeNet,
ResNet's bottleneck and MobileNet; global average pooling in almost every later CNN.

The layers (the ImageNet model as d2l teaches it, AlexNet's widths):

    NiN(96, 11x11/4) -> max-pool 3x3/2 -> NiN(256, 5x5) -> max-pool 3x3/2
    -> NiN(384, 3x3) -> max-pool 3x3/2 -> dropout -> NiN(classes, 3x3) -> global average pool

What we changed from the paper, and why:

- The layout is d2l's (the seed's), which follows the paper's ImageNet description with AlexNet's
  widths; the paper's released ImageNet model differs in details, so we quote no reference count.
- Small images (under 67 px, the least the 11x11 stride-4 stem and three pools can take): the
  first NiN block uses a 3x3 stride-1 convolution, so 28 px go 28 -> 13 -> 6 -> 2 through the pools.
- Initialization: Xavier uniform with zero biases, as d2l (the seed's reference) does
  (``init="xavier"``). Without BatchNorm the network starts slowly: one epoch on Fashion-MNIST
  (the recipe, lr 0.05) reached 15.9% test accuracy. ``init="kaiming"`` (He normal) is there to
  experiment with; in the same run it did no better (10.0%, the class maps' ReLUs died), so it is
  not the default.
- ``batch_norm=True`` (not in the paper, which predates BatchNorm; like VGG's ``_bn`` variants)
  puts BatchNorm between every convolution and its ReLU, the class block's included. Twelve ReLU
  convolutions without normalization are exactly the network BatchNorm was invented for. Probes on
  Fashion-MNIST (2-core CPU, 2026-11-27), each ``cnnzoo train --model nin --epochs 1 --set
  train.max_steps=N ...`` with the changes named: plain NiN, SGD lr 0.01, 200 steps: the loss stays
  at ln 10 = 2.3026 (chance; the signal fades through the layers); plain NiN, ``optim.name=adamw
  optim.lr=1e-3``, 200 steps: 59.3% validation accuracy (and 79.2% after 4 epochs of a 10-epoch
  run); ``model.kwargs.batch_norm=true`` with SGD lr 0.1, 150 steps: 79.5%. The Fashion-MNIST
  recipe (configs/nin.yaml) therefore uses it, and reaches 93.44% test accuracy in 8 epochs.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import smallest_input
from .registry import Paper, register_model

PAPER = Paper("Network In Network", "Lin, Chen, Yan", 2013, "https://arxiv.org/abs/1312.4400")

# Paper section 3.2 / d2l: dropout between the last two NiN blocks.
DROPOUT = 0.5

_PAPER_STEPS = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 2, 0), (3, 1, 1)]
_SMALL_STEPS = [(3, 1, 1), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 2, 0), (3, 1, 1)]


class NiNBlock(nn.Sequential):
    """A convolution followed by two 1x1 convolutions, each with a ReLU: an MLP slid over the image."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, init: str = "xavier", batch_norm: bool = False) -> None:
        layers: list[nn.Module] = []
        for cin, k, st, pad in ((in_channels, kernel_size, stride, padding), (out_channels, 1, 1, 0),
                                (out_channels, 1, 1, 0)):
            # BatchNorm's shift makes the convolution's bias redundant
            layers.append(nn.Conv2d(cin, out_channels, k, st, pad, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(out_channels))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                if init == "kaiming":
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                else:
                    nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class NiN(ZooModel):
    """Three NiN blocks with max-pools, and a NiN block per class read out by global average pooling."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, *,
                 dropout: float = DROPOUT, init: str = "xavier", batch_norm: bool = False,
                 small_input: bool | None = None) -> None:
        if init not in ("xavier", "kaiming"):
            raise ModelError(f"NiN init must be 'xavier' or 'kaiming', got {init!r}")
        paper_min = smallest_input(_PAPER_STEPS, at_least=32)
        small = wants_small_input(image_size, small_input, paper_min)
        min_size = smallest_input(_SMALL_STEPS, at_least=8) if small else paper_min
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)
        self.small_input, self.init, self.batch_norm = small, init, batch_norm
        first = (3, 1, 1) if small else (11, 4, 0)
        self.features = nn.Sequential(
            NiNBlock(in_channels, 96, *first, init, batch_norm), nn.MaxPool2d(3, 2),
            NiNBlock(96, 256, 5, 1, 2, init, batch_norm), nn.MaxPool2d(3, 2),
            NiNBlock(256, 384, 3, 1, 1, init, batch_norm), nn.MaxPool2d(3, 2),
        )
        self.num_features = 384
        self.dropout = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        self.pool = nn.AdaptiveAvgPool2d(1)

    def make_classifier(self, num_classes: int) -> nn.Module:
        # The classifier is a whole NiN block whose channels are the classes.
        return NiNBlock(self.num_features, num_classes, 3, 1, 1, self.init, self.batch_norm)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return torch.flatten(self.pool(x), 1)
        return torch.flatten(self.pool(self.classifier(self.dropout(x))), 1)


register_model("nin", NiN, family="nin", paper=PAPER,
               doc="Network in Network: NiN blocks (a conv and two 1x1 convs) and a global-average-pooling head.")
