"""DenseNet: every layer sees every earlier layer's features (Huang, Liu, van der Maaten, Weinberger, 2016).

The problem. ResNet's shortcut *adds* a block's input to its output, so information from early
layers survives only mixed into a sum. Many of a deep ResNet's layers turn out to contribute
little, and the network relearns similar features again and again.

The idea. *Concatenate* instead of adding. Inside a *dense block*, layer ``l`` receives the
channel-wise concatenation of the block's input and the outputs of all ``l - 1`` layers before
it, and adds only ``k`` new channels of its own (the *growth rate*, 12 to 48). Features are
reused rather than recomputed, so each layer can be very narrow, and every layer has a short path
to the loss. Between dense blocks a *transition layer* (BN, ReLU, 1x1 conv, 2x2 average pool)
halves the resolution and, in the "-C" variants, compresses the channels by a factor theta.

The blocks (paper section 3):

- :class:`DenseLayer`: BN -> ReLU -> 1x1 conv to ``bn_size * k`` channels (the "-B" bottleneck)
  -> BN -> ReLU -> 3x3 conv to ``k`` channels. Pre-activation: normalization comes first.
- :class:`DenseBlock`: ``n`` dense layers, each fed the concatenation of everything before it.
- :class:`Transition`: BN -> ReLU -> 1x1 conv to ``theta x channels`` -> 2x2 average pool.

DenseNet-121/169/201/161 (paper Table 1) are DenseNet-BC (bottleneck and compression 0.5) with a
7x7 stride-2 stem and max-pool, four dense blocks and a final BatchNorm. ``densenet_bc_100`` is
the paper's CIFAR network: three dense blocks of 16 bottleneck layers, k=12, a single 3x3 stem
convolution to 2k channels (0.8M parameters). ``densenet_bc_40`` is the same network with 6
layers per block instead of 16 (0.18M parameters, a quarter of the compute), the CPU-sized one.

What we changed from the paper, and why:

- Small images (under 64 px): the ImageNet stem becomes one 3x3 stride-1 convolution, as in the
  paper's own CIFAR networks, so a 28x28 image reaches the four dense blocks at 28, 14, 7, 3.
  Conversely ``densenet_bc_100`` at 64 px or more gets the ImageNet stem.
- Initialization as torchvision: He normal (fan-in) for convolutions, BatchNorm at one and zero,
  zero bias in the classifier.

Ablation switch (docs/ablations.md; ``cnnzoo ablate densenet``): ``connection="add"`` replaces the
concatenation by addition, at equal width. "Equal width" means that every dense block hands on the
feature map its concatenating twin hands on, ``C_in + n*k`` channels, so the transitions, the final
BatchNorm and the classifier are unchanged: the block's input is zero-padded to ``C_in + n*k``
channels (ResNet's parameter-free option A) and each layer reads that whole map and *adds* its
output to it, ``x = x + layer(x)``. Its 1x1 bottleneck keeps ``4k`` channels but its 3x3 convolution
writes ``C_in + n*k`` channels instead of ``k``, so the additive network has more parameters (the
leaderboard states both counts): what is held equal is the width, not the cost.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("Densely Connected Convolutional Networks", "Huang, Liu, van der Maaten, Weinberger", 2016,
              "https://arxiv.org/abs/1608.06993")

# Paper section 3: the bottleneck 1x1 conv produces 4k channels; transitions keep half (theta).
BN_SIZE = 4
COMPRESSION = 0.5


class DenseLayer(nn.Module):
    """BN-ReLU-1x1 conv (4k channels) then BN-ReLU-3x3 conv (k channels), on the concatenated inputs."""

    def __init__(self, in_channels: int, growth_rate: int, bn_size: int = BN_SIZE, drop_rate: float = 0.0,
                 out_channels: int | None = None) -> None:
        super().__init__()
        inner = bn_size * growth_rate
        self.norm1 = nn.BatchNorm2d(in_channels)
        self.conv1 = nn.Conv2d(in_channels, inner, 1, bias=False)
        self.norm2 = nn.BatchNorm2d(inner)
        # k new channels; the additive ablation writes the block's whole width instead
        self.conv2 = nn.Conv2d(inner, out_channels or growth_rate, 3, padding=1, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.drop_rate = drop_rate

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        x = torch.cat(features, dim=1) if len(features) > 1 else features[0]
        x = self.conv1(self.relu(self.norm1(x)))
        x = self.conv2(self.relu(self.norm2(x)))
        return F.dropout(x, self.drop_rate, self.training) if self.drop_rate else x


class DenseBlock(nn.Module):
    """``num_layers`` dense layers; each adds ``growth_rate`` channels to everything seen so far.

    ``connection="add"`` is the ablation (module docstring): the same output width, reached by
    zero-padding the input, and each layer's output added to the running map instead of concatenated.
    """

    def __init__(self, num_layers: int, in_channels: int, growth_rate: int, bn_size: int = BN_SIZE,
                 drop_rate: float = 0.0, connection: str = "concat") -> None:
        super().__init__()
        self.out_channels = in_channels + num_layers * growth_rate
        self.connection = connection
        if connection == "add":
            self.layers = nn.ModuleList(
                DenseLayer(self.out_channels, growth_rate, bn_size, drop_rate, out_channels=self.out_channels)
                for _ in range(num_layers))
            return
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, bn_size, drop_rate) for i in range(num_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.connection == "add":
            x = F.pad(x, (0, 0, 0, 0, 0, self.out_channels - x.shape[1]))
            for layer in self.layers:
                x = x + layer([x])
            return x
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return torch.cat(features, dim=1)


class Transition(nn.Sequential):
    """BN -> ReLU -> 1x1 conv (compressing the channels) -> 2x2 average pool (halving the resolution)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True),
                         nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.AvgPool2d(2, 2))


class DenseNet(ZooModel):
    """Stem, dense blocks separated by transitions, final BN-ReLU, global average pooling, linear.

    ``connection`` is the ablation switch: ``"concat"`` (the paper) or ``"add"`` (module docstring).
    """

    ablation_switches = ("connection",)

    def __init__(self, block_config: Sequence[int], num_classes: int = 1000, in_channels: int = 3,
                 image_size: int = 224, num_init_features: int | None = None, bn_size: int = BN_SIZE, *,
                 growth_rate: int = 32, compression: float = COMPRESSION, drop_rate: float = 0.0,
                 small_input: bool | None = None, connection: str = "concat") -> None:
        if connection not in ("concat", "add"):
            raise ModelError(f"DenseNet connection must be 'concat' or 'add', got {connection!r}")
        # The paper's stem: 2k channels (64 for DenseNet-121's k=32, 24 for DenseNet-BC's k=12).
        if num_init_features is None:
            num_init_features = 2 * growth_rate
        if not 0 < compression <= 1:
            raise ModelError(f"DenseNet compression must be in (0, 1], got {compression}")
        small = wants_small_input(image_size, small_input)
        # Total stride: the stem's 4 (none when small), times 2 per transition.
        stride = (1 if small else 4) * 2 ** (len(block_config) - 1)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=stride)
        self.small_input = small
        if small:
            self.stem = nn.Sequential(nn.Conv2d(in_channels, num_init_features, 3, padding=1, bias=False))
        else:
            self.stem = nn.Sequential(
                nn.Conv2d(in_channels, num_init_features, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(num_init_features), nn.ReLU(inplace=True), nn.MaxPool2d(3, stride=2, padding=1))
        layers: list[nn.Module] = []
        channels = num_init_features
        for i, num_layers in enumerate(block_config):
            block = DenseBlock(num_layers, channels, growth_rate, bn_size, drop_rate, connection)
            layers.append(block)
            channels = block.out_channels
            if i < len(block_config) - 1:
                out = int(channels * compression)
                layers.append(Transition(channels, out))
                channels = out
        self.blocks = nn.Sequential(*layers)
        self.norm = nn.BatchNorm2d(channels)
        self.act = nn.ReLU(inplace=True)
        self.num_features = channels
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.classifier = self.make_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.act(self.norm(self.blocks(self.stem(x))))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(x)


# -- ImageNet DenseNets (paper Table 1; references: torchvision's published counts and GMACs) ------

# DenseNet-BC, bottleneck layers and compression 0.5, is the paper's choice for every ImageNet network.
_IMAGENET = dict(growth_rate=32, compression=COMPRESSION)
_TV = "torchvision"

register_model("densenet121", DenseNet, dict(_IMAGENET, block_config=(6, 12, 24, 16)), family="densenet",
               paper=PAPER, reference=Reference(7_978_856, 2.83e9, _TV),
               doc="DenseNet-121: k=32, dense blocks of 6-12-24-16 layers.")
register_model("densenet169", DenseNet, dict(_IMAGENET, block_config=(6, 12, 32, 32)), family="densenet",
               paper=PAPER, reference=Reference(14_149_480, 3.36e9, _TV),
               doc="DenseNet-169: k=32, dense blocks of 6-12-32-32 layers.")
register_model("densenet201", DenseNet, dict(_IMAGENET, block_config=(6, 12, 48, 32)), family="densenet",
               paper=PAPER, reference=Reference(20_013_928, 4.29e9, _TV),
               doc="DenseNet-201: k=32, dense blocks of 6-12-48-32 layers.")
register_model("densenet161", DenseNet, dict(_IMAGENET, block_config=(6, 12, 36, 24), growth_rate=48),
               family="densenet", paper=PAPER, reference=Reference(28_681_000, 7.73e9, _TV),
               doc="DenseNet-161: the wide one, k=48 and a 96-channel stem, dense blocks of 6-12-36-24 layers.")


# -- CIFAR DenseNet-BC (paper section 4 and Table 2): growth rate and compression stay options ------

def bc_block_config(depth: int) -> tuple[int, int, int]:
    """The paper's CIFAR DenseNet-BC of a given depth: three dense blocks of (depth - 4) / 6 bottleneck
    layers (each two convolutions; the stem, two transitions and the classifier make the other four)."""
    if depth < 10 or (depth - 4) % 6:
        raise ModelError(f"DenseNet-BC depth must be 6n + 4 with n >= 1 (10, 16, ..., 40, ..., 100), got {depth}")
    n = (depth - 4) // 6
    return (n, n, n)


def _densenet_bc(depth: int, num_classes: int = 10, in_channels: int = 3, image_size: int = 32,
                 growth_rate: int = 12, compression: float = COMPRESSION, drop_rate: float = 0.0,
                 small_input: bool | None = None) -> DenseNet:
    """A DenseNet-BC of any depth 6n + 4, for depths the zoo does not register (the paper's 190, 250)."""
    return DenseNet(bc_block_config(depth), num_classes, in_channels, image_size, growth_rate=growth_rate,
                    compression=compression, drop_rate=drop_rate, small_input=small_input)


# The paper's k=12 for both; a user may still change it (and the compression).
_BC = dict(growth_rate=12)

register_model("densenet_bc_100", DenseNet, dict(block_config=bc_block_config(100)), defaults=_BC,
               family="densenet", paper=PAPER, design=CIFAR10, aliases=("densenet",),
               reference=Reference(800_000, source="paper Table 2 (rounded)", exact=False),
               doc="""DenseNet-BC-100 for CIFAR: k=12, three dense blocks of 16 bottleneck layers, compression 0.5.

               The stem is one 3x3 convolution to 2k channels; 0.8M parameters.
               """)
register_model("densenet_bc_40", DenseNet, dict(block_config=bc_block_config(40)), defaults=_BC,
               family="densenet", paper=PAPER, design=CIFAR10,
               doc="""DenseNet-BC-40: DenseNet-BC-100 with three dense blocks of 6 bottleneck layers instead of 16.

               The paper's depth formula at its smallest common setting (the paper tabulates DenseNet-BC only
               from depth 100): 0.18M parameters and a quarter of DenseNet-BC-100's compute, a DenseNet that
               trains on a laptop CPU. No published parameter count to check against.
               """)
