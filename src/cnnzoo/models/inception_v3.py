"""Inception-v3: factorized convolutions and efficient grid reduction (Szegedy et al., 2015).

The problem. GoogLeNet's Inception block was cheap for its accuracy, but hard to scale: make it
wider and the 5x5 branches' cost grows quadratically; shrink the feature map with a max-pool
before a block and you throw information away, expand the channels before pooling and you pay
for it. There was no recipe for growing the network without its cost exploding.

The idea. *Factorize*. A 5x5 convolution sees what two stacked 3x3 convolutions see, at 18/25 of
the cost; an n x n convolution sees what a 1 x n followed by an n x 1 sees, at 2/n of the cost.
And reduce the grid in a block whose stride-2 convolution branches run *beside* a stride-2
pooling branch, concatenated: the channels grow as the grid shrinks, with no bottleneck. The
paper's blocks, as torchvision (and TensorFlow before it) names them:

    InceptionA (Figure 5, 35x35): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-1x1
    InceptionB (Figure 10, 35 -> 17): 3x3/2 | 1x1-3x3-3x3/2 | max-pool/2
    InceptionC (Figure 6, 17x17): 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg-pool-1x1
    InceptionD (Figure 10, 17 -> 8): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max-pool/2
    InceptionE (Figure 7, 8x8): 1x1 | 1x1-(1x3 ; 3x1) | 1x1-3x3-(1x3 ; 3x1) | avg-pool-1x1

(";" is the paper's "expanded filter bank": two convolutions side by side on one input, their
outputs concatenated, for a wider representation on the coarsest grid.) The network is a stem of
five plain convolutions and two max-pools, three InceptionA, InceptionB, four InceptionC,
InceptionD, two InceptionE, global average pooling and one fully connected layer: 42 layers deep,
2.5x GoogLeNet's cost, and 21.2% top-1 error on ImageNet. One *auxiliary classifier*
(:class:`InceptionAux`, Figure 8) sits on the last 17x17 grid; the paper argues it acts as a
regularizer rather than as GoogLeNet's gradient helper. The paper also introduced *label
smoothing* (section 7), which cnnzoo's trainer has as ``train.label_smoothing``.

What we changed from the paper, and why:

- Nothing at ImageNet size: this is torchvision's ``inception_v3`` (the port of TensorFlow's, whose
  weights it loads exactly, cnnzoo.weights): BatchNorm after every convolution (eps 1e-3),
  dropout 0.5 before the classifier. As there, InceptionA keeps a 5x5 branch beside the double
  3x3 one (Figure 5 draws only 3x3s). 23,834,568 parameters and 5.71 GMACs at 3x299x299 without
  the auxiliary head (27,161,264 with it, as torchvision's published count).
- The input: torchvision's pretrained builder sets ``transform_input=True``, which rescales
  ImageNet-normalized images to the [-1, 1] the TensorFlow weights were trained on. cnnzoo's
  network has no such step; a published weight set says so in its facts (``transform_input``)
  and the input pipeline normalizes with mean = std = 0.5 instead, which is the same thing.
- The auxiliary head is off by default (``aux_logits=False``, as GoogLeNet's), so ``forward``
  returns one tensor. With ``aux_logits=True`` a model in training mode returns
  ``InceptionOutputs(logits, aux)`` and owns its loss: ``model.training_loss(out, y, criterion)``
  is ``criterion(logits) + AUX_LOSS_WEIGHT * criterion(aux)``. The paper gives no weight; 0.4 is
  the one in TensorFlow-Slim's training script (train_image_classifier.py), TensorFlow's
  reference for this network.
- The auxiliary head pools 17x17 to 5x5 with the paper's 5x5/3 average pooling; on a smaller grid
  (small images) adaptive average pooling gives the same 5x5, so its 5x5 convolution still fits.
- Small images (under 75 px, the smallest the paper's network takes): the stem's convolutions
  keep the image's size (stride 1, padded) and its second max-pool goes (an identity in its place,
  so the parameter names stay the same), leaving one stride-2 max-pool, padded. A 28x28 image
  meets the InceptionA blocks at 14x14, InceptionC at 6x6 and InceptionE at 2x2 (32x32: 16, 7,
  3), the paper's ladder of 35, 17 and 8 at about a third of the resolution. The blocks are
  unchanged: their stride-2 reductions stay unpadded, as in the paper.
- Initialization as torchvision: truncated normal, std 0.1 for every convolution and linear layer
  (0.01 for the auxiliary head's 5x5 convolution, 0.001 for its classifier), BatchNorm at 1 and 0.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from .base import AuxLogitsModel, wants_small_input
from .layers import ConvBNAct, smallest_input
from .registry import Design, Paper, Reference, register_model

PAPER = Paper("Rethinking the Inception Architecture for Computer Vision",
              "Szegedy, Vanhoucke, Ioffe, Shlens, Wojna", 2015, "https://arxiv.org/abs/1512.00567")
DESIGN = Design(3, 299, 1000)  # paper section 6: 299x299 inputs

# TensorFlow-Slim's train_image_classifier.py adds the auxiliary loss with weight 0.4 (the paper gives none).
AUX_LOSS_WEIGHT = 0.4
# torchvision: dropout 0.5 before the classifier; BatchNorm epsilon 1e-3 (TensorFlow's).
DROPOUT = 0.5
BN_EPS = 1e-3
# The auxiliary head's pooling: 5x5 windows, stride 3, turn the 17x17 grid into 5x5 (paper Figure 8).
AUX_POOL, AUX_STRIDE, AUX_GRID = 5, 3, 5

Conv = partial(ConvBNAct, bn_eps=BN_EPS)


class InceptionOutputs(NamedTuple):
    """What an Inception-v3 with its auxiliary head returns in training mode (see the module docstring)."""

    logits: torch.Tensor
    aux: torch.Tensor


def _avg_pool_3x3(x: torch.Tensor) -> torch.Tensor:
    """The pooling branch of the blocks that keep the grid: 3x3 average, stride 1, padded."""
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1)


class InceptionA(nn.Module):
    """35x35 (Figure 5): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg-pool-1x1; 224 + ``pool_features`` channels out."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 64, 1)
        self.branch5x5_1 = Conv(in_channels, 48, 1)
        self.branch5x5_2 = Conv(48, 64, 5)
        self.branch3x3dbl_1 = Conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3)
        self.branch3x3dbl_3 = Conv(96, 96, 3)
        self.branch_pool = Conv(in_channels, pool_features, 1)
        self.out_channels = 64 + 64 + 96 + pool_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Figure 10): 3x3/2 | 1x1-3x3-3x3/2 | max-pool/2, side by side."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = Conv(in_channels, 384, 3, stride=2, padding=0)
        self.branch3x3dbl_1 = Conv(in_channels, 64, 1)
        self.branch3x3dbl_2 = Conv(64, 96, 3)
        self.branch3x3dbl_3 = Conv(96, 96, 3, stride=2, padding=0)
        self.out_channels = 384 + 96 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 (Figure 6): the 7x7 factorized into 1x7 and 7x1, once and twice; 768 channels out."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = Conv(in_channels, 192, 1)
        self.branch7x7_1 = Conv(in_channels, c7, 1)
        self.branch7x7_2 = Conv(c7, c7, (1, 7))
        self.branch7x7_3 = Conv(c7, 192, (7, 1))
        self.branch7x7dbl_1 = Conv(in_channels, c7, 1)
        self.branch7x7dbl_2 = Conv(c7, c7, (7, 1))
        self.branch7x7dbl_3 = Conv(c7, c7, (1, 7))
        self.branch7x7dbl_4 = Conv(c7, c7, (7, 1))
        self.branch7x7dbl_5 = Conv(c7, 192, (1, 7))
        self.branch_pool = Conv(in_channels, 192, 1)
        self.out_channels = 4 * 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b7dbl = x
        for conv in (self.branch7x7dbl_1, self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4,
                     self.branch7x7dbl_5):
            b7dbl = conv(b7dbl)
        return torch.cat([self.branch1x1(x), b7, b7dbl, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Figure 10): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max-pool/2."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = Conv(in_channels, 192, 1)
        self.branch3x3_2 = Conv(192, 320, 3, stride=2, padding=0)
        self.branch7x7x3_1 = Conv(in_channels, 192, 1)
        self.branch7x7x3_2 = Conv(192, 192, (1, 7))
        self.branch7x7x3_3 = Conv(192, 192, (7, 1))
        self.branch7x7x3_4 = Conv(192, 192, 3, stride=2, padding=0)
        self.out_channels = 320 + 192 + in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = self.branch7x7x3_4(self.branch7x7x3_3(self.branch7x7x3_2(self.branch7x7x3_1(x))))
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 (Figure 7): the expanded filter bank, 1x3 and 3x1 side by side; 2048 channels out."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch1x1 = Conv(in_channels, 320, 1)
        self.branch3x3_1 = Conv(in_channels, 384, 1)
        self.branch3x3_2a = Conv(384, 384, (1, 3))
        self.branch3x3_2b = Conv(384, 384, (3, 1))
        self.branch3x3dbl_1 = Conv(in_channels, 448, 1)
        self.branch3x3dbl_2 = Conv(448, 384, 3)
        self.branch3x3dbl_3a = Conv(384, 384, (1, 3))
        self.branch3x3dbl_3b = Conv(384, 384, (3, 1))
        self.branch_pool = Conv(in_channels, 192, 1)
        self.out_channels = 320 + 2 * 384 + 2 * 384 + 192

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(b3), self.branch3x3_2b(b3)], 1)
        b3dbl = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        b3dbl = torch.cat([self.branch3x3dbl_3a(b3dbl), self.branch3x3dbl_3b(b3dbl)], 1)
        return torch.cat([self.branch1x1(x), b3, b3dbl, self.branch_pool(_avg_pool_3x3(x))], 1)


class InceptionAux(nn.Module):
    """The auxiliary classifier (Figure 8): pool to 5x5, 1x1 conv to 128, 5x5 conv to 768, fc classes."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        self.conv0 = Conv(in_channels, 128, 1)
        self.conv1 = Conv(128, 768, AUX_GRID, padding=0)  # 5x5 -> 1x1
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if min(x.shape[-2:]) >= AUX_GRID + (AUX_GRID - 1) * AUX_STRIDE:  # the paper's 17x17 (or larger)
            x = F.avg_pool2d(x, kernel_size=AUX_POOL, stride=AUX_STRIDE)
        else:  # a small image's grid: the same 5x5 by adaptive pooling
            x = F.adaptive_avg_pool2d(x, AUX_GRID)
        x = F.adaptive_avg_pool2d(self.conv1(self.conv0(x)), 1)
        return self.classifier(torch.flatten(x, 1))


M = TypeVar("M", bound=nn.Module)


def _init_weights(module: M) -> M:
    """torchvision's initialization: truncated normal (std 0.1, cut at +-2) convolution and linear
    weights, except the auxiliary head's 5x5 convolution (0.01) and classifier (0.001); BatchNorm 1, 0."""
    special: dict[nn.Module, float] = {}
    for m in module.modules():
        if isinstance(m, InceptionAux):
            special[m.conv1.conv] = 0.01
            special[m.classifier] = 0.001
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=special.get(m, 0.1), a=-2, b=2)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class InceptionV3(AuxLogitsModel):
    """Stem; InceptionA x3 (35x35), B, C x4 (17x17), D, E x2 (8x8); global average pooling; fc."""

    outputs, aux_loss_weight = InceptionOutputs, AUX_LOSS_WEIGHT

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 299, *,
                 aux_logits: bool = False, dropout: float = DROPOUT, small_input: bool | None = None) -> None:
        reductions = [(3, 2, 0), (3, 2, 0)]  # InceptionB's and InceptionD's unpadded stride-2 steps
        paper_steps = [(3, 2, 0), (3, 1, 0), (3, 1, 1), (3, 2, 0), (3, 1, 0), (3, 2, 0), *reductions]
        paper_min = smallest_input(paper_steps, at_least=32)  # 75, as torchvision says
        small = wants_small_input(image_size, small_input, paper_min_size=paper_min)
        min_size = smallest_input([(3, 2, 1), *reductions], at_least=8) if small else paper_min
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)
        self.small_input, self.aux_logits = small, aux_logits
        # Paper Table 1's stem: conv 3x3/2, conv 3x3, conv 3x3 padded, pool, conv 1x1, conv 3x3, pool
        # (TensorFlow's Conv2d_1a_3x3 ... Conv2d_4a_3x3). Small images: padded, stride 1, one pool.
        same = None if small else 0  # padding: "same" (keep the size) or the paper's none
        self.stem = nn.Sequential(
            Conv(in_channels, 32, 3, stride=1 if small else 2, padding=same),
            Conv(32, 32, 3, padding=same),
            Conv(32, 64, 3),
            nn.MaxPool2d(3, 2, padding=1) if small else nn.MaxPool2d(3, 2),
            Conv(64, 80, 1),
            Conv(80, 192, 3, padding=same),
            nn.Identity() if small else nn.MaxPool2d(3, 2),
        )
        # The three grids, named as TensorFlow's Mixed_5b-5d, Mixed_6a-6e and Mixed_7a-7c.
        self.mixed5 = nn.Sequential(InceptionA(192, 32), InceptionA(256, 64), InceptionA(288, 64))
        self.mixed6 = nn.Sequential(InceptionB(288), *(InceptionC(768, c7) for c7 in (128, 160, 160, 192)))
        self.mixed7 = nn.Sequential(InceptionD(768), InceptionE(1280), InceptionE(2048))
        self.num_features = 2048
        self.add_aux_heads(num_classes)  # aux (None without aux_logits)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        _init_weights(self)

    def aux_heads(self, num_classes: int) -> dict[str, nn.Module]:
        return {"aux": InceptionAux(768, num_classes)}  # reads the last 17x17 grid

    def init_weights(self, module: nn.Module) -> nn.Module:
        return _init_weights(module)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The feature map, and the last 17x17 grid that the auxiliary head reads."""
        self.check_input(x)
        at_6e = self.mixed6(self.mixed5(self.stem(x)))
        return self.mixed7(at_6e), at_6e


register_model("inception_v3", InceptionV3, family="inception_v3", paper=PAPER, design=DESIGN,
               reference=Reference(23_834_568, 5.71e9, "torchvision (without the auxiliary head)"),
               doc="""Inception-v3: factorized Inception blocks A-E, grid reduction, an optional auxiliary head.

               23,834,568 parameters at 3x299x299 and 1000 classes, without the auxiliary head
               (27,161,264 with it, torchvision's published count).
               """)
