"""Squeeze-and-Excitation: let a network reweigh its own channels (Hu, Shen, Sun, 2017).

The problem. A convolution mixes channels only inside its small spatial window, so no layer
ever looks at the whole image before deciding which of its features matter. Yet "this is a
picture of water" is exactly the global context that should turn some features up and others down.

The idea. A tiny side branch that recalibrates the channels of a feature map ``U`` (C x H x W):

1. *Squeeze*: global average pooling turns each channel into one number, ``z`` (C values), a
   summary of the whole image.
2. *Excite*: two fully connected layers, ``C -> C/r -> C`` with a ReLU between and a sigmoid at
   the end (``r = 16``, the reduction ratio), turn ``z`` into one gate in (0, 1) per channel.
3. *Scale*: multiply each channel of ``U`` by its gate.

The block (:class:`SqueezeExcite`) costs about 2C^2/r parameters and almost no compute, and it
fits anywhere a feature map flows. In a ResNet it sits on the residual branch, after the last
BatchNorm and before the addition, in every block; SE-ResNet-50 gains about 1.5 points of
ImageNet accuracy over ResNet-50 for 10% more parameters and 0.3% more compute. SENets won
ImageNet 2017, the last edition of the challenge. The block is reused by MobileNetV3 (with a
hard sigmoid and a reduction of 4), so its code lives in layers.py, which both families import.

What we changed, and why:

- Nothing in the SE block: an SE in *every* residual block, the last one included (the seed's
  SENet built one for the last block and never called it), with reduction 16 and biased linear
  layers: SE-ResNet-50 has 28,088,024 parameters at 3x224x224 and 1000 classes, as timm's.
- The ResNets underneath are ours (resnet.py): the v1.5 stride placement, and the 3x3 stride-1
  stem without max-pool for images under 64 px.
- Initialization: the ResNet's, and PyTorch's default for the SE's linear layers.

Ablation switch (docs/ablations.md; ``cnnzoo ablate senet``): ``attention=False`` is the SE-ResNet with
its gate off, every SE block left out: the ResNet of the same depth, parameter for parameter.
"""

from __future__ import annotations

from .layers import SqueezeExcite
from .registry import Paper, Reference, register_model
from .resnet import RESNET_LAYERS, ResNet

# An SE-ResNet is the ResNet network with an SE block on every residual branch: the same class and
# the same layer table (resnet.py's), not a network of its own, so it imports them rather than copy.

PAPER = Paper("Squeeze-and-Excitation Networks", "Hu, Shen, Sun", 2017, "https://arxiv.org/abs/1709.01507")

def _se(depth: int) -> dict:
    """ResNet-``depth``'s blocks, each with an SE block (the paper's reduction, 16) on its residual branch."""
    return dict(RESNET_LAYERS[depth], attn_layer=SqueezeExcite)


register_model("seresnet18", ResNet, _se(18), family="senet", paper=PAPER, aliases=("senet",),
               doc="SE-ResNet-18: ResNet-18 with a Squeeze-and-Excitation block in every BasicBlock.")
register_model("seresnet34", ResNet, _se(34), family="senet", paper=PAPER,
               doc="SE-ResNet-34: ResNet-34 with a Squeeze-and-Excitation block in every BasicBlock.")
register_model("seresnet50", ResNet, _se(50), family="senet", paper=PAPER,
               reference=Reference(28_088_024, 4.11e9, "timm"),
               doc="SE-ResNet-50: ResNet-50 with a Squeeze-and-Excitation block in every Bottleneck.")
register_model("seresnet101", ResNet, _se(101), family="senet", paper=PAPER,
               doc="SE-ResNet-101: ResNet-101 with a Squeeze-and-Excitation block in every Bottleneck.")
register_model("seresnet152", ResNet, _se(152), family="senet", paper=PAPER,
               doc="SE-ResNet-152: ResNet-152 with a Squeeze-and-Excitation block in every Bottleneck.")
