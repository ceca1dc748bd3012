"""GoogLeNet: the Inception block, many filter sizes side by side (Szegedy et al., 2014).

The problem. Which filter size should a layer use, 1x1, 3x3 or 5x5? Objects appear at every
scale, so the right answer differs from place to place. And stacking ever wider layers, as VGG
does, makes the cost explode.

The idea. Use them all at once: the *Inception block* runs four branches in parallel on the same
input and concatenates their outputs along the channel axis:

    branch 1: 1x1 conv
    branch 2: 1x1 conv (reduce) -> 3x3 conv
    branch 3: 1x1 conv (reduce) -> 5x5 conv
    branch 4: 3x3 max-pool (stride 1) -> 1x1 conv (project)

The 1x1 "reduce" convolutions (NiN's idea) shrink the channel count before the expensive 3x3 and
5x5 filters, which is what keeps the block cheap. GoogLeNet is a stem of ordinary convolutions,
nine Inception blocks in three groups separated by max-pools, and NiN's global average pooling
head: 22 layers deep with 12x fewer parameters than AlexNet. It won ImageNet 2014. Two
*auxiliary classifiers* hang off the middle of the network during training, to push gradient
into the early layers; they are dropped at inference.

What we changed from the paper, and why:

- BatchNorm after every convolution (torchvision's GoogLeNet, a later refinement; the paper has
  LRN in the stem instead). Its BatchNorm uses eps=1e-3, kept here.
- The "5x5" branch uses a 3x3 convolution by default (``branch3_kernel=3``). This is a known
  slip in torchvision's implementation, kept there so its pretrained weights still load; the
  reference count of 6,624,904 parameters (no auxiliary heads, 3x224x224, 1000 classes) and
  1.50 GMACs depend on it. ``branch3_kernel=5`` builds the paper's 5x5 (7,005,832 parameters).
- Auxiliary heads are off by default (``aux_logits=False``), so ``forward`` returns one tensor.
  With ``aux_logits=True`` a model in training mode returns ``GoogLeNetOutputs(logits, aux1,
  aux2)``; the paper adds the auxiliary losses with weight 0.3 (``AUX_LOSS_WEIGHT``)::

      out = model(x)
      loss = F.cross_entropy(out.logits, y) + AUX_LOSS_WEIGHT * (
          F.cross_entropy(out.aux1, y) + F.cross_entropy(out.aux2, y))

  In eval mode the model returns the plain logits tensor either way. The model owns this loss:
  ``model.training_loss(out, y, criterion)`` returns ``(loss, logits)``, and the trainer uses it
  (with its label-smoothed cross-entropy as ``criterion``) for any model that defines one.
- Dropout 0.4 before the classifier and 0.7 in the auxiliary heads, as in the paper.
- Small images (under 64 px): the 7x7 stride-2 stem becomes a 3x3 stride-1 convolution and the
  max-pool after the stem's 3x3 convolution is dropped, so a 28x28 image meets the Inception
  blocks at 14x14, 7x7 and 4x4, the same ladder as 224 px at one quarter of the resolution.
- Initialization as torchvision: truncated normal (std 0.01, cut at 2) for convolution and linear
  weights, BatchNorm at one and zero.
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple, TypeVar, cast

import torch
from torch import nn

from ..errors import ModelError
from .base import AuxLogitsModel, wants_small_input
from .layers import ConvBNAct, smallest_input
from .registry import Paper, Reference, register_model

PAPER = Paper("Going Deeper with Convolutions", "Szegedy et al.", 2014, "https://arxiv.org/abs/1409.4842")

# Paper section 5: auxiliary losses are added to the total loss with a discount weight of 0.3.
AUX_LOSS_WEIGHT = 0.3
# Paper Table 1 / section 5: 40% dropout before the classifier, 70% in the auxiliary heads.
DROPOUT, AUX_DROPOUT = 0.4, 0.7
# torchvision's BatchNorm epsilon for this network.
BN_EPS = 1e-3

# Paper Table 1: (in, #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj) for each block.
INCEPTION_3 = {"3a": (192, 64, 96, 128, 16, 32, 32), "3b": (256, 128, 128, 192, 32, 96, 64)}
INCEPTION_4 = {"4a": (480, 192, 96, 208, 16, 48, 64), "4b": (512, 160, 112, 224, 24, 64, 64),
               "4c": (512, 128, 128, 256, 24, 64, 64), "4d": (512, 112, 144, 288, 32, 64, 64),
               "4e": (528, 256, 160, 320, 32, 128, 128)}
INCEPTION_5 = {"5a": (832, 256, 160, 320, 32, 128, 128), "5b": (832, 384, 192, 384, 48, 128, 128)}

Conv = partial(ConvBNAct, bn_eps=BN_EPS)


class GoogLeNetOutputs(NamedTuple):
    """What a GoogLeNet with auxiliary heads returns in training mode (see the module docstring)."""

    logits: torch.Tensor
    aux1: torch.Tensor
    aux2: torch.Tensor


class Inception(nn.Module):
    """Four parallel branches (1x1 | 1x1-3x3 | 1x1-5x5 | pool-1x1), concatenated on channels."""

    def __init__(self, in_channels: int, ch1x1: int, ch3x3red: int, ch3x3: int, ch5x5red: int, ch5x5: int,
                 pool_proj: int, branch3_kernel: int = 5) -> None:
        super().__init__()
        self.branch1 = Conv(in_channels, ch1x1, 1)
        self.branch2 = nn.Sequential(Conv(in_channels, ch3x3red, 1), Conv(ch3x3red, ch3x3, 3))
        self.branch3 = nn.Sequential(Conv(in_channels, ch5x5red, 1), Conv(ch5x5red, ch5x5, branch3_kernel))
        self.branch4 = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1, ceil_mode=True),
                                     Conv(in_channels, pool_proj, 1))
        self.out_channels = ch1x1 + ch3x3 + ch5x5 + pool_proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class InceptionAux(nn.Module):
    """An auxiliary classifier: pool to 4x4, 1x1 conv to 128 channels, fc 1024, dropout, fc classes."""

    def __init__(self, in_channels: int, num_classes: int) -> None:
        super().__init__()
        # Paper: 5x5/3 average pooling turns the 14x14 map into 4x4; adaptive pooling does so at any size.
        self.pool = nn.AdaptiveAvgPool2d(4)
        self.conv = Conv(in_channels, 128, 1)
        self.fc = nn.Linear(128 * 4 * 4, 1024)
        self.act = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(AUX_DROPOUT)
        self.classifier = nn.Linear(1024, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.conv(self.pool(x)), 1)
        return self.classifier(self.dropout(self.act(self.fc(x))))


M = TypeVar("M", bound=nn.Module)


def _init_weights(module: M) -> M:
    """torchvision's initialization: truncated normal (std 0.01, cut at +-2) weights, BatchNorm at 1 and 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class GoogLeNet(AuxLogitsModel):
    """Stem, Inception 3a-3b, 4a-4e, 5a-5b with max-pools between the groups, global average pooling."""

    outputs, aux_loss_weight = GoogLeNetOutputs, AUX_LOSS_WEIGHT

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224, *,
                 aux_logits: bool = False, branch3_kernel: int = 3, dropout: float = DROPOUT,
                 small_input: bool | None = None) -> None:
        if branch3_kernel not in (3, 5):
            raise ModelError(f"GoogLeNet branch3_kernel must be 3 or 5, got {branch3_kernel}")
        small = wants_small_input(image_size, small_input)
        pool = partial(nn.MaxPool2d, 3, 2, ceil_mode=True)
        if small:
            stem_steps = [(3, 1, 1), (3, 2, 0, True)]
        else:
            stem_steps = [(7, 2, 3), (3, 2, 0, True), (3, 2, 0, True)]
        # Total stride: 8 for the small stem, 32 for the paper's (5 halvings).
        steps = stem_steps + [(3, 2, 0, True), (2, 2, 0, True)]
        min_size = smallest_input(steps, at_least=8 if small else 32)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)
        self.small_input, self.aux_logits = small, aux_logits
        if small:
            self.stem = nn.Sequential(Conv(in_channels, 64, 3), pool(),
                                      Conv(64, 64, 1), Conv(64, 192, 3))
        else:
            self.stem = nn.Sequential(Conv(in_channels, 64, 7, stride=2), pool(),
                                      Conv(64, 64, 1), Conv(64, 192, 3), pool())
        inception = partial(Inception, branch3_kernel=branch3_kernel)
        self.inception3 = nn.Sequential(*(inception(*cfg) for cfg in INCEPTION_3.values()))
        self.pool3 = pool()
        self.inception4a = inception(*INCEPTION_4["4a"])
        self.inception4bcd = nn.Sequential(*(inception(*INCEPTION_4[k]) for k in ("4b", "4c", "4d")))
        self.inception4e = inception(*INCEPTION_4["4e"])
        self.pool4 = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.inception5 = nn.Sequential(*(inception(*cfg) for cfg in INCEPTION_5.values()))
        self.num_features = cast(int, self.inception5[-1].out_channels)  # 1024
        self.add_aux_heads(num_classes)  # aux1, aux2 (None without aux_logits)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.classifier = self.make_classifier(num_classes)
        _init_weights(self)

    def aux_heads(self, num_classes: int) -> dict[str, nn.Module]:
        # They read the outputs of 4a (512 channels) and 4d (528 channels).
        return {"aux1": InceptionAux(512, num_classes), "aux2": InceptionAux(528, num_classes)}

    def init_weights(self, module: nn.Module) -> nn.Module:
        return _init_weights(module)

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The feature map and the inputs of the two auxiliary heads (after 4a and after 4d)."""
        self.check_input(x)
        x = self.pool3(self.inception3(self.stem(x)))
        at_4a = self.inception4a(x)
        at_4d = self.inception4bcd(at_4a)
        x = self.inception5(self.pool4(self.inception4e(at_4d)))
        return x, at_4a, at_4d


register_model("googlenet", GoogLeNet, family="googlenet", paper=PAPER,
               reference=Reference(6_624_904, 1.50e9, "torchvision (with BatchNorm, no auxiliary heads)"),
               doc="""GoogLeNet (Inception v1): nine Inception blocks, BatchNorm, optional auxiliary classifiers.

               6,624,904 parameters at 3x224x224 and 1000 classes, without auxiliary heads, as torchvision.
               """)
