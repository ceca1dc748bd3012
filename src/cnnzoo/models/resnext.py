"""ResNeXt: more paths instead of more width or depth (Xie, Girshick, Dollar, Tu, He, 2016).

The problem. By 2016 a better ResNet meant a deeper one (ResNet-152) or a wider one, and both
cost parameters and compute in proportion. Inception networks had shown a third way, splitting a
layer into several parallel branches, but each branch was hand-designed and the designs did not
transfer from one dataset to another.

The idea. Split-transform-merge with *identical* branches. A ResNeXt block runs ``C`` copies
(the *cardinality*) of the same small bottleneck path and sums them; with identical paths that is
exactly one Bottleneck whose 3x3 convolution is a *grouped* convolution with ``C`` groups (paper
Figure 3c): each group sees only its own slice of the channels. A grouped 3x3 costs ``1/C`` of a
dense one, so at the same budget the block can be much wider inside. The paper's finding:
increasing cardinality helps more than going deeper or wider at the same complexity
(ResNeXt-50 32x4d: 22.2% top-1 error against ResNet-50's 23.9%, for the same 4 GFLOPs).

The block: resnet.py's :class:`~cnnzoo.models.resnet.Bottleneck` with ``groups`` (the
cardinality C) and ``base_width`` (d, the channels of each path at the first stage): the inner
width is ``planes * d / 64 * C``, so "32x4d" is 32 paths of 4 channels, 128 in all at the first
stage where ResNet-50 has 64. The network is ResNet's (same stem, stages, pooling and head), so
this file only states the variants, as senet.py does.

What we changed from the paper, and why:

- Nothing in the architecture: these are torchvision's ``resnext50_32x4d`` and
  ``resnext101_32x8d`` (stride on the 3x3 convolution, "v1.5", as our ResNets), and they load
  torchvision's weight files exactly (cnnzoo.weights).
- Small images (under 64 px): ResNet's 3x3 stride-1 stem without max-pool, so a 28x28 image
  reaches the four stages at 28, 14, 7, 4. The grouped paths do not depend on the input size.
"""

from __future__ import annotations

from .registry import Paper, Reference, register_model
from .resnet import RESNET_LAYERS, ResNet

PAPER = Paper("Aggregated Residual Transformations for Deep Neural Networks",
              "Xie, Girshick, Dollar, Tu, He", 2016, "https://arxiv.org/abs/1611.05431")


def _resnext(depth: int, cardinality: int, path_width: int) -> dict:
    """ResNet-``depth``'s Bottlenecks with ``cardinality`` grouped paths of ``path_width`` channels."""
    return dict(RESNET_LAYERS[depth], groups=cardinality, base_width=path_width)


register_model("resnext50_32x4d", ResNet, _resnext(50, 32, 4), family="resnext", paper=PAPER, aliases=("resnext",),
               reference=Reference(25_028_904, 4.23e9, "torchvision"),
               doc="ResNeXt-50 32x4d: ResNet-50 whose 3x3 convolutions are 32 grouped paths of 4 channels each.")
register_model("resnext101_32x8d", ResNet, _resnext(101, 32, 8), family="resnext", paper=PAPER,
               reference=Reference(88_791_336, 16.41e9, "torchvision"),
               doc="ResNeXt-101 32x8d: ResNet-101 whose 3x3 convolutions are 32 grouped paths of 8 channels each.")
