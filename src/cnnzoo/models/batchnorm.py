"""Batch normalization, taught on LeNet-5 (Ioffe & Szegedy, 2015; LeCun et al., 1998).

The problem. Every layer's input is the previous layer's output, and those outputs drift while
the previous layers learn: the scale and offset a layer was tuned for keep changing under it.
Deep networks therefore needed small learning rates and careful initialization, and saturating
activations such as the sigmoid stalled easily.

The idea. Normalize each channel inside the network, per mini-batch: subtract the batch mean,
divide by the batch standard deviation, then let the network put back the scale (gamma) and
offset (beta) it wants. During training the statistics come from the current batch (a little
noise that also regularizes); a running average of them is kept for evaluation, when the layer
becomes a fixed affine map. With it, networks train with much larger learning rates and are far
less sensitive to initialization.

The network is d2l's lesson: LeNet-5, the 1998 digit recognizer, with a BatchNorm after every
convolution and every hidden linear layer, before the activation:

    conv 5x5, 6 -> BN -> sigmoid -> avg-pool 2x2 -> conv 5x5, 16 -> BN -> sigmoid -> avg-pool 2x2
    -> fc 120 -> BN -> sigmoid -> fc 84 -> BN -> sigmoid -> fc classes

``lenet5`` is the same network without BatchNorm, to compare against.

What we changed, and why:

- Sigmoid activations and average pooling, as d2l's version of LeNet (the 1998 paper used a
  scaled tanh, trainable subsampling layers, a sparse connection table between the two
  convolutions and an RBF output layer; none of those matter for the lesson). The layers that a
  BatchNorm follows drop their bias: BatchNorm's beta replaces it.
- Input size: LeNet-5 was designed for 32x32 images. Below 32 px the first convolution pads by 2
  (as d2l does for 28x28 Fashion-MNIST), so the second convolution still leaves a 5x5 map; the
  head reads a fixed 5x5 grid (adaptive average pooling) whatever the input size.
- Initialization: Xavier uniform, zero biases, as d2l.
"""

from __future__ import annotations

import torch
from torch import nn

from .base import ZooModel
from .layers import smallest_input
from .registry import Design, Paper, register_model

PAPER = Paper("Batch Normalization: Accelerating Deep Network Training by Reducing Internal Covariate Shift",
              "Ioffe, Szegedy", 2015, "https://arxiv.org/abs/1502.03167")
LENET_PAPER = Paper("Gradient-Based Learning Applied to Document Recognition",
                    "LeCun, Bottou, Bengio, Haffner", 1998, "https://doi.org/10.1109/5.726791")

# LeNet-5's design input is 32x32; its second convolution leaves 5x5 maps there.
DESIGN_SIZE, HEAD_GRID = 32, 5


class LeNet5(ZooModel):
    """LeNet-5 with sigmoid activations, optionally with BatchNorm before every activation."""

    def __init__(self, num_classes: int = 10, in_channels: int = 1, image_size: int = 28, *,
                 batch_norm: bool = True) -> None:
        # Pad the first convolution so that a 28x28 image behaves like LeNet's 32x32 one.
        pad = 2 if image_size < DESIGN_SIZE else 0
        min_size = smallest_input([(5, 1, pad), (2, 2, 0), (5, 1, 0), (2, 2, 0)], at_least=4)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)

        def norm(channels: int, dims: int) -> nn.Module:
            if not batch_norm:
                return nn.Identity()
            return nn.BatchNorm2d(channels) if dims == 2 else nn.BatchNorm1d(channels)

        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, 5, padding=pad, bias=not batch_norm), norm(6, 2), nn.Sigmoid(),
            nn.AvgPool2d(2, 2),
            nn.Conv2d(6, 16, 5, bias=not batch_norm), norm(16, 2), nn.Sigmoid(),
            nn.AvgPool2d(2, 2),
        )
        self.num_features = 16
        self.pool = nn.AdaptiveAvgPool2d(HEAD_GRID)
        self.pre_logits = nn.Sequential(
            nn.Linear(16 * HEAD_GRID * HEAD_GRID, 120, bias=not batch_norm), norm(120, 1), nn.Sigmoid(),
            nn.Linear(120, 84, bias=not batch_norm), norm(84, 1), nn.Sigmoid(),
        )
        self.classifier = self.make_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(84, num_classes)
        nn.init.xavier_uniform_(fc.weight)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.features(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pre_logits(torch.flatten(self.pool(x), 1))
        return x if pre_logits else self.classifier(x)


# d2l's lesson is the pair: the same LeNet-5 without and with BatchNorm, at LeNet's 1x32x32.
LENET_INPUT = Design(1, DESIGN_SIZE, 10)

register_model("lenet5", LeNet5, dict(batch_norm=False), family="batchnorm", paper=LENET_PAPER, design=LENET_INPUT,
               doc="LeNet-5 with sigmoid activations and average pooling, no BatchNorm: the baseline of the lesson.")
register_model("lenet5_bn", LeNet5, dict(batch_norm=True), family="batchnorm", paper=PAPER, design=LENET_INPUT,
               aliases=("batchnorm",),
               doc="""LeNet-5 with BatchNorm after every convolution and hidden linear layer (d2l's BN chapter).

               The seed's ``batchnorm``.
               """)
