"""ResNet: residual learning, the block that made 100-layer networks trainable (He et al., 2015).

The problem. Past about 20 layers, plain networks got *worse* as they got deeper, and not from
overfitting: the training error rose too. A deeper network could in principle copy a shallower
one and make its extra layers the identity, but gradient descent did not find that solution.

The idea. Make the identity the easy default. A *residual block* computes ``F(x)`` with two or
three convolutions and outputs ``relu(F(x) + x)``: the layers learn only the change to their
input, and a block that should do nothing just drives ``F`` to zero. The shortcut also gives the
gradient a direct path to the early layers. With it, a 152-layer network trained better than a
34-layer one and won ImageNet 2015.

The blocks (paper Figure 5):

- :class:`BasicBlock` (ResNet-18/34): 3x3 conv -> BN -> ReLU -> 3x3 conv -> BN, plus the shortcut.
- :class:`Bottleneck` (ResNet-50/101/152): 1x1 conv reduces the channels 4x, 3x3 conv, 1x1 conv
  expands them back, plus the shortcut; cheaper per layer, so the network can be deeper.

When a block halves the resolution or changes the width, the shortcut must too: a strided 1x1
convolution with BatchNorm (the paper's option B, used for ImageNet) or, in the CIFAR networks,
subsampling and zero-padding the extra channels (option A, no parameters).

The network: a stem (7x7 stride-2 conv and a 3x3 stride-2 max-pool), four stages of blocks at
64, 128, 256, 512 channels (x4 after a bottleneck), each stage after the first halving the
resolution, global average pooling and one linear layer.

What we changed from the paper, and why:

- The stride of a downsampling Bottleneck sits on its 3x3 convolution, not on the first 1x1 (the
  "ResNet v1.5" that torchvision and most later work use): same parameters, about 0.5% better
  accuracy, a little more compute (ResNet-50: 4.09 instead of 3.8 GMACs).
- ``zero_init_residual=True`` starts the last BatchNorm of every block at zero (Goyal et al.,
  2017), so each block begins as the identity; off by default, as in torchvision.
- Small images (under 64 px): the stem becomes one 3x3 stride-1 convolution without max-pool, as
  in the paper's own CIFAR networks, so a 28x28 image reaches the four stages at 28, 14, 7, 4.
- The CIFAR networks of section 4.2 (``resnet20`` ... ``resnet110``: 3 stages of 16, 32, 64
  channels, 6n+2 layers, option-A shortcuts) are registered with the paper's parameter counts.
- ``drop_path`` (off by default) adds stochastic depth (Huang et al., 2016): each block's residual
  branch is dropped for a whole image with a probability rising linearly to ``drop_path`` at the
  last block, a regularizer for long runs (timm's ``drop_path_rate``).
- Initialization as torchvision: He normal (fan-out) for convolutions, BatchNorm at one and zero,
  PyTorch's default for the linear layer.

Ablation switches (docs/ablations.md; ``cnnzoo ablate resnet``, ``cnnzoo ablate senet``):

- ``residual=False`` removes every shortcut: the plain network of the same depth that the paper
  compares against (its Figure 4). No addition is left, and no projection either, so it has the
  residual network's parameters less those of the projection shortcuts.
- ``attention=False`` leaves out the variant's attention layer (SENet's SqueezeExcite): an
  SE-ResNet with its gate off, which is the ResNet of the same depth, parameter for parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import DropPath, drop_path_rates, init_conv_bn, scaled_widths
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("Deep Residual Learning for Image Recognition", "He, Zhang, Ren, Sun", 2015,
              "https://arxiv.org/abs/1512.03385")

# An attention layer a block may apply to its residual branch before the addition
# (SqueezeExcite in senet.py); called with the branch's channel count.
AttnLayer = Callable[[int], nn.Module]


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, groups=groups, bias=False)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, 1, stride, bias=False)


class PadShortcut(nn.Module):
    """The paper's option A shortcut: subsample by the stride and zero-pad the new channels."""

    def __init__(self, out_channels: int, stride: int) -> None:
        super().__init__()
        self.out_channels, self.stride = out_channels, stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, ::self.stride, ::self.stride]
        extra = self.out_channels - x.shape[1]
        return F.pad(x, (0, 0, 0, 0, extra // 2, extra - extra // 2))


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BatchNorm, added to the (possibly projected) input, then ReLU."""

    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None,
                 attn_layer: AttnLayer | None = None, groups: int = 1, base_width: int = 64,
                 drop_path: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ModelError("BasicBlock has no grouped or widened form: use Bottleneck for groups/base_width")
        self.residual = residual  # False: a plain block, no shortcut (the ablation)
        self.conv1 = conv3x3(in_channels, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.attn = attn_layer(planes) if attn_layer else nn.Identity()
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.attn(self.bn2(self.conv2(out)))
        # residual=False (the ablation) has no addition, and no stochastic depth: dropping the only path zeroes it
        return self.relu(self.drop_path(out) + self.shortcut(x)) if self.residual else self.relu(out)


class Bottleneck(nn.Module):
    """1x1 reduce -> 3x3 (carrying the stride) -> 1x1 expand x4, added to the input, then ReLU.

    ``groups`` and ``base_width`` make it ResNeXt's and Wide ResNet's block: the inner width is
    ``planes * base_width / 64 * groups`` and the 3x3 convolution is split into ``groups``
    independent paths (defaults: ResNet's block, inner width ``planes``).
    """

    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, shortcut: nn.Module | None = None,
                 attn_layer: AttnLayer | None = None, groups: int = 1, base_width: int = 64,
                 drop_path: float = 0.0, residual: bool = True) -> None:
        super().__init__()
        self.residual = residual  # False: a plain block, no shortcut (the ablation)
        out_channels = planes * self.expansion
        width = int(planes * (base_width / 64.0)) * groups  # torchvision's formula, rounding included
        if width < 1:
            raise ModelError(f"Bottleneck of {planes} planes at base_width={base_width} has no channels: "
                             "use a larger width_mult")
        self.conv1 = conv1x1(in_channels, width)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = conv3x3(width, width, stride, groups)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = conv1x1(width, out_channels)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.attn = attn_layer(out_channels) if attn_layer else nn.Identity()
        self.shortcut = shortcut if shortcut is not None else nn.Identity()
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def zero_init_last(self) -> None:
        nn.init.zeros_(self.bn3.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.attn(self.bn3(self.conv3(out)))
        # residual=False (the ablation) has no addition, and no stochastic depth: dropping the only path zeroes it
        return self.relu(self.drop_path(out) + self.shortcut(x)) if self.residual else self.relu(out)


Block = type[BasicBlock] | type[Bottleneck]

# The paper's stage widths. `width_mult` scales them all (0.25 -> 16, 32, 64, 128), the knob that
# makes a ResNet-18 affordable on a laptop CPU; the reference counts hold at width_mult=1.
IMAGENET_WIDTHS = (64, 128, 256, 512)


class ResNet(ZooModel):
    """A stem, stages of residual blocks (the first at stride 1, the others halving), pooling, linear.

    ``block``, ``layers`` (blocks per stage), ``widths`` (channels per stage), ``shortcut``,
    ``attn_layer``, ``groups`` and ``base_width`` (the Bottleneck's paths and their width: ResNeXt,
    Wide ResNet) describe the architecture, and the registered variants fix them; the
    keyword-only arguments are the options a user may set, and the ablation switches ``residual``
    and ``attention`` (see the module docstring). ``drop_path`` is the stochastic depth rate of the
    last block (Huang et al., 2016), falling linearly to 0 at the first (0 = off).
    """

    ablation_switches = ("residual", "attention")

    def __init__(self, block: Block, layers: Sequence[int], num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224, widths: Sequence[int] = IMAGENET_WIDTHS, shortcut: str = "projection",
                 attn_layer: AttnLayer | None = None, groups: int = 1, base_width: int = 64, *,
                 zero_init_residual: bool = False, width_mult: float = 1.0, small_input: bool | None = None,
                 drop_path: float = 0.0, residual: bool = True, attention: bool = True) -> None:
        if shortcut not in ("projection", "pad"):
            raise ModelError(f"ResNet shortcut must be 'projection' or 'pad', got {shortcut!r}")
        if not attention and attn_layer is None:
            raise ModelError("attention=False switches off an attention layer, and this ResNet has none "
                             "(it is for the SE-ResNets, e.g. seresnet18)")
        attn_layer = attn_layer if attention else None
        widths = scaled_widths(widths, width_mult)
        small = wants_small_input(image_size, small_input)
        # Total stride: the stem's 4 (none when small) times 2 per stage after the first; the
        # last stage must see at least one pixel of the image.
        stride = (1 if small else 4) * 2 ** (len(layers) - 1)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=stride)
        self.small_input = small
        stem_width = widths[0]
        if small:
            self.stem = nn.Sequential(conv3x3(in_channels, stem_width), nn.BatchNorm2d(stem_width),
                                      nn.ReLU(inplace=True))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, stem_width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(stem_width), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        stages, channels = [], stem_width
        rates = iter(drop_path_rates(drop_path, sum(layers)))  # stochastic depth, rising with depth
        for i, (num_blocks, planes) in enumerate(zip(layers, widths, strict=True)):
            stage_stride = 1 if i == 0 else 2
            blocks = []
            for j in range(num_blocks):
                s = stage_stride if j == 0 else 1
                out = planes * block.expansion
                proj = None
                if residual and (s != 1 or channels != out):
                    proj = (PadShortcut(out, s) if shortcut == "pad"
                            else nn.Sequential(conv1x1(channels, out, s), nn.BatchNorm2d(out)))
                blocks.append(block(channels, planes, s, proj, attn_layer, groups, base_width,
                                    drop_path=next(rates), residual=residual))
                channels = out
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.num_features = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = self.make_classifier(num_classes)
        init_conv_bn(self)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    m.zero_init_last()

    def make_classifier(self, num_classes: int) -> nn.Module:
        return nn.Linear(self.num_features, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(x)


# -- ImageNet ResNets (paper Table 1; references: torchvision's published counts and GMACs) ------

# Paper Table 1: the block and the number of blocks per stage of each depth (SE-ResNets reuse it).
RESNET_LAYERS: dict[int, dict] = {
    18: dict(block=BasicBlock, layers=(2, 2, 2, 2)),
    34: dict(block=BasicBlock, layers=(3, 4, 6, 3)),
    50: dict(block=Bottleneck, layers=(3, 4, 6, 3)),
    101: dict(block=Bottleneck, layers=(3, 4, 23, 3)),
    152: dict(block=Bottleneck, layers=(3, 8, 36, 3)),
}

_TV = "torchvision"

register_model("resnet18", ResNet, RESNET_LAYERS[18], family="resnet", paper=PAPER, aliases=("resnet",),
               reference=Reference(11_689_512, 1.81e9, _TV), doc="ResNet-18: BasicBlocks, 2-2-2-2 per stage.")
register_model("resnet34", ResNet, RESNET_LAYERS[34], family="resnet", paper=PAPER,
               reference=Reference(21_797_672, 3.66e9, _TV), doc="ResNet-34: BasicBlocks, 3-4-6-3 per stage.")
register_model("resnet50", ResNet, RESNET_LAYERS[50], family="resnet", paper=PAPER,
               reference=Reference(25_557_032, 4.09e9, _TV), doc="ResNet-50: Bottlenecks, 3-4-6-3 per stage.")
register_model("resnet101", ResNet, RESNET_LAYERS[101], family="resnet", paper=PAPER,
               reference=Reference(44_549_160, 7.80e9, _TV), doc="ResNet-101: Bottlenecks, 3-4-23-3 per stage.")
register_model("resnet152", ResNet, RESNET_LAYERS[152], family="resnet", paper=PAPER,
               reference=Reference(60_192_808, 11.51e9, _TV), doc="ResNet-152: Bottlenecks, 3-8-36-3 per stage.")


# -- CIFAR ResNets (paper section 4.2 and Table 6: 6n+2 layers, 16-32-64 channels, option A) ------

def _cifar(n: int) -> dict:
    """3 stages of n BasicBlocks at the paper's widths with option-A shortcuts (width_mult is the ImageNet
    nets'). ``drop_path`` stays an option: stochastic depth was introduced on exactly these networks
    (Huang et al. 2016 trained ResNet-110 and deeper on CIFAR with it)."""
    return dict(block=BasicBlock, layers=(n, n, n), widths=(16, 32, 64), shortcut="pad", width_mult=1.0)


def _table6(params: int) -> Reference:
    return Reference(params, source="paper Table 6 (rounded)", exact=False)


register_model("resnet20", ResNet, _cifar(3), family="resnet", paper=PAPER, design=CIFAR10,
               reference=_table6(270_000),
               doc="ResNet-20 for CIFAR: 3 stages of 3 BasicBlocks at 16, 32, 64 channels (0.27M parameters).")
register_model("resnet32", ResNet, _cifar(5), family="resnet", paper=PAPER, design=CIFAR10,
               reference=_table6(460_000), doc="ResNet-32 for CIFAR: 3 stages of 5 BasicBlocks (0.46M parameters).")
register_model("resnet44", ResNet, _cifar(7), family="resnet", paper=PAPER, design=CIFAR10,
               reference=_table6(660_000), doc="ResNet-44 for CIFAR: 3 stages of 7 BasicBlocks (0.66M parameters).")
register_model("resnet56", ResNet, _cifar(9), family="resnet", paper=PAPER, design=CIFAR10,
               reference=_table6(850_000), doc="ResNet-56 for CIFAR: 3 stages of 9 BasicBlocks (0.85M parameters).")
register_model("resnet110", ResNet, _cifar(18), family="resnet", paper=PAPER, design=CIFAR10,
               reference=_table6(1_700_000), doc="ResNet-110 for CIFAR: 3 stages of 18 BasicBlocks (1.7M parameters).")
