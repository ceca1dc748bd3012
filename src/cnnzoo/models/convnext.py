"""ConvNeXt: a ConvNet for the 2020s (Liu, Mao, Wu, Feichtenhofer, Darrell, Xie, 2022).

The problem. By 2021 hierarchical vision Transformers (Swin) beat ResNets on ImageNet and on
detection, and the credit went to attention. But the Transformers had also brought a new training
recipe (AdamW, 300 epochs, heavy augmentation, stochastic depth) and a dozen design choices that
ResNet never had. Which of them mattered?

The idea. "Modernize" a ResNet-50 one step at a time toward a Swin-T, keeping only convolutions,
and measure each step. The steps that helped, in the paper's order: the Transformer's training
recipe; Swin's stage ratio (3, 3, 9, 3 blocks) and a "patchify" stem (a 4x4 convolution of stride
4, like ViT's patches); depthwise convolution, widened to Swin's widths (96 channels first); the
*inverted bottleneck* (the block's MLP is 4x wider inside than outside, as a Transformer's); a
large 7x7 kernel, moved to the top of the block (as attention comes before the MLP); GELU instead
of ReLU, one activation and one normalization per block instead of three, LayerNorm instead of
BatchNorm; and separate downsampling layers (LayerNorm + 2x2 convolution of stride 2) between the
stages. The result, a pure ConvNet, matches Swin at the same cost: attention was not the reason.

The block (paper Figure 4, torchvision's ``CNBlock``):
``x + drop_path(gamma * pwconv2(GELU(pwconv1(LayerNorm(dwconv7x7(x))))))`` -- a depthwise 7x7
convolution mixes space per channel, then an MLP (1x1 convolutions, here linear layers on
channels-last tensors as in the official code) mixes channels, 4x wider inside. ``gamma`` is the
*layer scale* (Touvron et al., 2021, CaiT): a learned per-channel factor that starts at 1e-6, so
each block starts close to the identity. Stochastic depth (``drop_path``) drops a whole block's
branch per image in training, rising linearly to 0.1 (T) or 0.4 (S) at the last block.

The network: the patchify stem (4x4/4 convolution + LayerNorm), four stages of CNBlocks
(ConvNeXt-T: 3-3-9-3 blocks of 96-192-384-768 channels; ConvNeXt-S: 3-3-27-3) with a
:class:`Downsample` before each but the first, global average pooling, LayerNorm, one linear layer.

What we changed from the paper and the reference, and why:

- Nothing at ImageNet size: ``convnext_tiny`` and ``convnext_small`` are torchvision's (28.6M and
  50.2M parameters) and load its weight files exactly (cnnzoo.weights). The layers carry the
  official repository's names (``dwconv``, ``norm``, ``pwconv1``, ``pwconv2``; torchvision's
  ``layer_scale`` for gamma) and the stages timm's (``downsample``, ``blocks``).
  Initialization is torchvision's (truncated normal, std 0.02; zero biases).
- Small images (under 64 px): the patchify stem would leave a 28x28 image 7x7 before the first
  stage and nothing after the third downsampling. It becomes a 3x3 convolution of stride 1 (a
  CIFAR stem, as the other families'), so the stages see 28, 14, 7 and 3 pixels (total stride 8
  instead of 32).
- ``convnext_atto`` is the narrow ConvNeXt for 28 px and a CPU: timm's ConvNeXt-Atto widths
  (2-2-6-2 blocks of 40-80-160-320 channels; Wightman's smallest), in this file's network. timm's
  own atto computes its MLP with 1x1 convolutions on channels-first tensors (``conv_mlp``), the
  same function with other tensor shapes; no weights are loaded for it here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ModelError
from .base import ZooModel, wants_small_input
from .layers import DropPath, drop_path_rates
from .registry import Paper, Reference, register_model

PAPER = Paper("A ConvNet for the 2020s", "Liu, Mao, Wu, Feichtenhofer, Darrell, Xie", 2022,
              "https://arxiv.org/abs/2201.03545")

# LayerNorm epsilon of the official code and torchvision's.
LN_EPS = 1e-6
# Layer scale's initial value (paper section 3, after CaiT): each block starts near the identity.
LAYER_SCALE_INIT = 1e-6
# The inverted bottleneck: the MLP is 4x wider inside, as a Transformer's (paper section 2.4).
MLP_RATIO = 4


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of each pixel of a (B, C, H, W) map (the paper's "LN" on a feature map)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.layer_norm(x.permute(0, 2, 3, 1), self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class CNBlock(nn.Module):
    """The ConvNeXt block: depthwise 7x7 -> LayerNorm -> 1x1 expand 4x -> GELU -> 1x1 project ->
    layer scale -> stochastic depth -> add the input (paper Figure 4)."""

    def __init__(self, dim: int, drop_path: float = 0.0, layer_scale: float = LAYER_SCALE_INIT) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        # Channels-last from here on: the norm and the MLP act on each pixel's channel vector.
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.pwconv1 = nn.Linear(dim, MLP_RATIO * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(MLP_RATIO * dim, dim)
        self.layer_scale = nn.Parameter(torch.full((dim, 1, 1), layer_scale))  # gamma, one per channel
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (B, H, W, C)
        y = self.pwconv2(self.act(self.pwconv1(self.norm(y)))).permute(0, 3, 1, 2)
        return x + self.drop_path(self.layer_scale * y)


class Downsample(nn.Sequential):
    """Between stages: LayerNorm, then a 2x2 convolution of stride 2 that halves the map and widens it."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(LayerNorm2d(in_channels, eps=LN_EPS), nn.Conv2d(in_channels, out_channels, 2, stride=2))


class ConvNeXtStage(nn.Module):
    """A Downsample (none in the first stage: the stem has done it), then one CNBlock per drop-path rate."""

    def __init__(self, in_channels: int, out_channels: int, drop_paths: list[float], downsample: bool = True) -> None:
        super().__init__()
        self.downsample = Downsample(in_channels, out_channels) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*(CNBlock(out_channels, p) for p in drop_paths))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.downsample(x))


class ConvNeXt(ZooModel):
    """Patchify stem, four stages of CNBlocks with Downsample layers between, pooling, LayerNorm, linear."""

    def __init__(self, depths: tuple[int, ...], dims: tuple[int, ...], num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, *, drop_path: float = 0.0,
                 small_input: bool | None = None) -> None:
        if len(depths) != len(dims):
            raise ModelError(f"ConvNeXt needs one width per stage, got depths {depths} and dims {dims}")
        small = wants_small_input(image_size, small_input)
        stride = (1 if small else 4) * 2 ** (len(depths) - 1)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size, min_size=stride)
        self.small_input = small
        # The patchify stem: non-overlapping 4x4 patches (small images: a 3x3 convolution of stride 1).
        conv = nn.Conv2d(in_channels, dims[0], 3, padding=1) if small else nn.Conv2d(in_channels, dims[0], 4, stride=4)
        self.stem = nn.Sequential(conv, LayerNorm2d(dims[0], eps=LN_EPS))
        rates = drop_path_rates(drop_path, sum(depths))
        stages, start, channels = [], 0, dims[0]
        for i, (depth, dim) in enumerate(zip(depths, dims, strict=True)):
            stages.append(ConvNeXtStage(channels, dim, rates[start:start + depth], downsample=i > 0))
            start, channels = start + depth, dim
        self.stages = nn.Sequential(*stages)
        self.head_norm = nn.LayerNorm(channels, eps=LN_EPS)  # after pooling (torchvision's classifier.0)
        self.num_features = channels
        self.classifier = self.make_classifier(num_classes)
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.trunc_normal_(m.weight, std=0.02)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.trunc_normal_(fc.weight, std=0.02)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.stages(self.stem(x))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.head_norm(x.mean((2, 3)))
        return x if pre_logits else self.classifier(x)


def _convnext(depths: tuple[int, ...], dims: tuple[int, ...]) -> dict:
    return dict(depths=depths, dims=dims)


# Paper section 3: ConvNeXt-T (3-3-9-3, C = 96-768) and -S (3-3-27-3); stochastic depth 0.1 and 0.4
# at the last block (paper Table 5, torchvision's builders).
register_model("convnext_tiny", ConvNeXt, _convnext((3, 3, 9, 3), (96, 192, 384, 768)), family="convnext",
               paper=PAPER, aliases=("convnext",), defaults={"drop_path": 0.1},
               reference=Reference(28_589_128, 4.46e9, "torchvision"),
               doc="ConvNeXt-T: CNBlocks 3-3-9-3 at 96-192-384-768 channels.")
register_model("convnext_small", ConvNeXt, _convnext((3, 3, 27, 3), (96, 192, 384, 768)), family="convnext",
               paper=PAPER, defaults={"drop_path": 0.4}, reference=Reference(50_223_688, 8.68e9, "torchvision"),
               doc="ConvNeXt-S: CNBlocks 3-3-27-3 at 96-192-384-768 channels.")
register_model("convnext_atto", ConvNeXt, _convnext((2, 2, 6, 2), (40, 80, 160, 320)), family="convnext",
               paper=PAPER, reference=Reference(3_695_520, source="timm"),
               doc="ConvNeXt-Atto: timm's narrowest widths (2-2-6-2 blocks, 40-320 channels), for 28 px on a CPU.")
