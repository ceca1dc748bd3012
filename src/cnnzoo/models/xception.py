"""Xception: Inception taken to the extreme, with depthwise separable convolutions (Chollet, 2017).

The problem. An Inception block splits its input into a few channel groups (the 1x1 "reduce"
convolutions), looks at space in each group separately (3x3, 5x5), and concatenates. It works,
but why a few groups, and why those sizes? The block mixes two jobs, finding correlations across
channels and finding them across space, in a hand-tuned, hard-to-scale way.

The idea. Decouple the two jobs entirely. Push Inception's split to its extreme, one group per
channel, and the block becomes a *depthwise separable convolution*: a 3x3 convolution over each
channel on its own (depthwise), then a 1x1 convolution that mixes the channels (pointwise).
Xception ("Extreme Inception") is a linear stack of these, with residual connections as in
ResNet, organized in three flows (paper Figure 5):

- the *entry flow*: two plain 3x3 convolutions, then three :class:`Block`\\ s that each halve the
  grid (64 -> 128 -> 256 -> 728 channels);
- the *middle flow*: eight identical blocks of three separable convolutions at 728 channels
  (19x19 at 299 px);
- the *exit flow*: a last halving block (728 -> 1024), two separable convolutions (1536, 2048),
  global average pooling and the classifier.

The block (:class:`Block`): two or three times (ReLU, :class:`SeparableConv2d` 3x3, BatchNorm),
a stride-2 3x3 max-pool where the grid halves, and a shortcut added at the end: the identity, or a
strided 1x1 convolution with BatchNorm where the width or grid changes. With the same parameter
count as Inception-v3 (22.9M) it was slightly more accurate on ImageNet (79.0% top-1).

What we changed from the paper, and why:

- Nothing at ImageNet size: this is timm's ``legacy_xception`` (Cadene's port of the Keras
  weights), whose weight file it loads exactly (cnnzoo.weights), layer names included
  (``block1`` .. ``block12``, ``conv1`` .. ``conv4``). As there, the separable convolutions have
  no BatchNorm or ReLU between the depthwise and the pointwise step (the paper found that better),
  BatchNorm uses eps 1e-5, the first ReLU of a block does not overwrite its input (the shortcut
  still reads it), and there is no dropout before the classifier (the paper has 0.5;
  ``dropout=0.5`` restores it). 22,855,952 parameters and 8.4 GMACs at 3x299x299.
- The weights were trained on inputs scaled to [-1, 1] (mean = std = 0.5), which the published
  set's facts say.
- Small images (under 64 px): the first convolution has stride 1 and both stem convolutions are
  padded, so a 28x28 image keeps its size through the stem and the three entry blocks halve it to
  14, 7 and 4: the middle flow works on 4x4 (32x32: 4x4 too) and the exit flow on 2x2, the
  paper's 19x19 and 10x10 at about a fifth of the resolution. The blocks are unchanged.
- Initialization as timm: Kaiming normal (fan-out) convolutions, BatchNorm at 1 and 0, PyTorch's
  default for the classifier.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import smallest_input
from .registry import Design, Paper, Reference, register_model

PAPER = Paper("Xception: Deep Learning with Depthwise Separable Convolutions", "Chollet", 2017,
              "https://arxiv.org/abs/1610.02357")
DESIGN = Design(3, 299, 1000)  # paper section 4.3: 299x299 inputs, as Inception-v3

# Paper Figure 5 (timm's legacy_xception): (in, out, separable convs, stride, start with ReLU, grow first).
ENTRY_FLOW = ((64, 128, 2, 2, False, True), (128, 256, 2, 2, True, True), (256, 728, 2, 2, True, True))
MIDDLE_FLOW = ((728, 728, 3, 1, True, True),) * 8
EXIT_BLOCK = (728, 1024, 2, 2, True, False)
EXIT_WIDTHS = (1536, 2048)  # the two separable convolutions after the last block


class SeparableConv2d(nn.Module):
    """A depthwise separable convolution: a 3x3 convolution per channel, then a 1x1 across channels."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 padding: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, in_channels, kernel_size, stride, padding, groups=in_channels,
                               bias=False)  # depthwise (timm's name)
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))


class Block(nn.Module):
    """``reps`` x (ReLU, separable 3x3, BatchNorm), a stride-``stride`` max-pool, plus a shortcut.

    The shortcut is the identity, or a strided 1x1 convolution and BatchNorm where the width or the
    grid changes. ``grow_first``: the first separable convolution widens to ``out_channels`` (else
    the last does, as in the exit flow's block). ``start_with_relu=False`` for the first block,
    whose input has just been through a ReLU.
    """

    def __init__(self, in_channels: int, out_channels: int, reps: int, stride: int = 1,
                 start_with_relu: bool = True, grow_first: bool = True) -> None:
        super().__init__()
        if out_channels != in_channels or stride != 1:
            self.skip: nn.Module | None = nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False)
            self.skipbn = nn.BatchNorm2d(out_channels)
        else:
            self.skip = None
        widths = ([in_channels] + [out_channels] * reps if grow_first
                  else [in_channels] * reps + [out_channels])
        rep: list[nn.Module] = []
        for i in range(reps):
            # The first ReLU must not overwrite the block's input: the shortcut reads it after.
            rep += [nn.ReLU(inplace=i > 0), SeparableConv2d(widths[i], widths[i + 1]), nn.BatchNorm2d(widths[i + 1])]
        if not start_with_relu:
            rep = rep[1:]
        if stride != 1:
            rep.append(nn.MaxPool2d(3, stride, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = self.skipbn(self.skip(x)) if self.skip is not None else x
        return self.rep(x) + shortcut


class Xception(ZooModel):
    """Entry flow (two convolutions, three halving blocks), middle flow (8 blocks), exit flow, pool, fc."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, image_size: int = 299, *,
                 dropout: float = 0.0, small_input: bool | None = None) -> None:
        if not 0.0 <= dropout < 1.0:
            raise ModelError(f"Xception dropout must be in [0, 1), got {dropout}")
        small = wants_small_input(image_size, small_input)
        pools = [(3, 2, 1)] * 4  # the four halving blocks' max-pools (and their strided shortcuts)
        min_size = (smallest_input(pools, at_least=16) if small
                    else smallest_input([(3, 2, 0), (3, 1, 0), *pools], at_least=32))
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=min_size)
        self.small_input = small
        pad = 1 if small else 0  # the paper's stem convolutions are unpadded
        # Entry flow's stem: conv 32 3x3/2, conv 64 3x3 (timm's conv1/bn1/act1, conv2/bn2/act2).
        self.conv1 = nn.Conv2d(in_channels, 32, 3, 1 if small else 2, pad, bias=False)
        self.bn1 = nn.BatchNorm2d(32)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(32, 64, 3, 1, pad, bias=False)
        self.bn2 = nn.BatchNorm2d(64)
        self.act2 = nn.ReLU(inplace=True)
        # block1-3 (entry flow), block4-11 (middle flow), block12 (exit flow), as timm names them.
        for i, cfg in enumerate((*ENTRY_FLOW, *MIDDLE_FLOW, EXIT_BLOCK), start=1):
            self.add_module(f"block{i}", Block(*cfg))
        self.num_blocks = i
        self.conv3 = SeparableConv2d(EXIT_BLOCK[1], EXIT_WIDTHS[0])
        self.bn3 = nn.BatchNorm2d(EXIT_WIDTHS[0])
        self.act3 = nn.ReLU(inplace=True)
        self.conv4 = SeparableConv2d(EXIT_WIDTHS[0], EXIT_WIDTHS[1])
        self.bn4 = nn.BatchNorm2d(EXIT_WIDTHS[1])
        self.act4 = nn.ReLU(inplace=True)
        self.num_features = EXIT_WIDTHS[1]
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.pool = nn.AdaptiveAvgPool2d(1)
        # timm's legacy_xception has no dropout: nothing is drawn or run unless asked for.
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = self.make_classifier(num_classes)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes)  # PyTorch's default initialization, as timm

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        x = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        for i in range(1, self.num_blocks + 1):
            x = getattr(self, f"block{i}")(x)
        x = self.act3(self.bn3(self.conv3(x)))
        return self.act4(self.bn4(self.conv4(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(self.dropout(x))


register_model("xception", Xception, family="xception", paper=PAPER, design=DESIGN,
               reference=Reference(22_855_952, 8.4e9, "timm (legacy_xception)"),
               doc="""Xception: depthwise separable convolutions and residual shortcuts in entry, middle, exit flows.

               22,855,952 parameters at 3x299x299 and 1000 classes, as timm's legacy_xception.
               """)
