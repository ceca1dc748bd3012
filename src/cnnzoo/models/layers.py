"""Pieces several families share: the conv-BN-activation unit, the Squeeze-and-Excitation block,
stochastic depth (DropPath), MobileNetV2's inverted residual, channel rounding, the patch embedding
and MLP of the patch-based networks (MLP-Mixer, ResMLP, gMLP, ViT), and the arithmetic of feature-map
sizes and widths.

Only what more than one family uses lives here, and a family imports it from here, never from
another family's file. A block that belongs to one paper (Inception, DenseBlock, ...) lives in that
paper's file, where it is the lesson; SqueezeExcite is SENet's lesson (see senet.py's docstring)
and lives here because MobileNetV3 builds on it too, and InvertedResidual is MobileNetV2's lesson
(mobilenet.py) and lives here because EfficientNet's MBConv is one (efficientnet.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import partial

import torch
from einops.layers.torch import Rearrange
from torch import nn

from ..errors import ModelError


class ConvBNAct(nn.Sequential):
    """Convolution -> BatchNorm -> activation: the unit most CNNs since 2015 are built from.

    The convolution has no bias: the BatchNorm right after it subtracts the mean (which would
    cancel any bias) and adds its own learned shift. ``padding=None`` keeps the spatial size at
    stride 1 ("same" padding for odd kernels; per axis for a rectangular kernel such as
    Inception-v3's 1x7). ``act=None`` leaves the activation out (a linear layer, as MobileNetV2's
    projection).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 stride: int = 1, padding: int | tuple[int, int] | None = None, groups: int = 1,
                 act: Callable[..., nn.Module] | None = nn.ReLU,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1) -> None:
        if padding is None:
            padding = ((kernel_size - 1) // 2 if isinstance(kernel_size, int)
                       else ((kernel_size[0] - 1) // 2, (kernel_size[1] - 1) // 2))
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels, eps=bn_eps, momentum=bn_momentum)
        self.act = act(inplace=True) if act is not None else nn.Identity()


# SENet paper section 6.1: reduction ratio r = 16 balances accuracy and cost.
SE_REDUCTION = 16


class SqueezeExcite(nn.Module):
    """Squeeze (global average pool) -> excite (FC C->C/r, ReLU, FC C/r->C, gate) -> scale the channels.

    ``rd_channels`` overrides ``channels // reduction``; ``gate`` is the sigmoid of the paper,
    or the hard sigmoid of MobileNetV3.
    """

    def __init__(self, channels: int, reduction: int = SE_REDUCTION, rd_channels: int | None = None,
                 act: Callable[..., nn.Module] = nn.ReLU, gate: Callable[..., nn.Module] = nn.Sigmoid) -> None:
        super().__init__()
        rd_channels = rd_channels or max(1, channels // reduction)
        self.fc1 = nn.Linear(channels, rd_channels)
        self.act = act(inplace=True)
        self.fc2 = nn.Linear(rd_channels, channels)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.mean(dim=(2, 3))                              # squeeze: (B, C)
        s = self.gate(self.fc2(self.act(self.fc1(z))))      # excite: one gate per channel
        return x * s[:, :, None, None]                      # scale


class DropPath(nn.Module):
    """Stochastic depth (Huang et al., 2016, "Deep Networks with Stochastic Depth"): in training,
    drop a residual branch for a whole image with probability ``p``, and scale the kept branches by
    ``1 / (1 - p)`` so that the expected output is unchanged; at evaluation, the identity. Put on
    a residual branch before the addition (``x + drop_path(f(x))``), as timm does.
    """

    def __init__(self, p: float = 0.0) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"drop path rate must be in [0, 1), got {p}")
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = 1.0 - self.p
        mask = x.new_empty((x.shape[0],) + (1,) * (x.ndim - 1)).bernoulli_(keep)
        return x * mask.div_(keep)

    def extra_repr(self) -> str:
        return f"p={self.p:.3g}"


def drop_path_rates(rate: float, blocks: int) -> list[float]:
    """The paper's linear decay rule: block ``i`` of ``blocks`` drops with ``rate * i / (blocks - 1)``,
    from 0 at the input to ``rate`` at the last block (timm's ``drop_path_rate``)."""
    if not 0.0 <= rate < 1.0:
        raise ModelError(f"drop_path must be in [0, 1), got {rate}")
    return [rate * i / max(1, blocks - 1) for i in range(blocks)]


# Channel counts are rounded to multiples of 8, which hardware handles efficiently.
DIVISOR = 8


def make_divisible(value: float, divisor: int = DIVISOR) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never more than 10% below it
    (torchvision's ``_make_divisible``: MobileNetV2/V3's and EfficientNet's channel rounding)."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


class InvertedResidual(nn.Module):
    """Expand (1x1) -> depthwise (k x k) [-> SE] -> project (1x1, linear), residual if shapes allow.

    MobileNetV2's block (see mobilenet.py's docstring). v2 passes ``expanded = 6 x in_channels``,
    ``kernel_size=3``, ReLU6, no SE; v3 gives each block its own expansion, kernel, activation and
    SE; EfficientNet's MBConv is this block with SiLU and an SE in every block. ``se`` builds the
    squeeze-and-excitation module for the expanded width (None: no SE).
    """

    def __init__(self, in_channels: int, expanded: int, out_channels: int, kernel_size: int = 3, stride: int = 1,
                 act: Callable[..., nn.Module] = nn.ReLU6, se: Callable[[int], nn.Module] | None = None,
                 bn_eps: float = 1e-5, bn_momentum: float = 0.1, drop_path: float = 0.0,
                 depthwise: bool = True) -> None:
        super().__init__()
        conv = partial(ConvBNAct, bn_eps=bn_eps, bn_momentum=bn_momentum)
        layers: list[nn.Module] = []
        if expanded != in_channels:
            layers.append(conv(in_channels, expanded, 1, act=act))
        # depthwise=False (the ablation): a full k x k convolution across all expanded channels
        layers.append(conv(expanded, expanded, kernel_size, stride, groups=expanded if depthwise else 1, act=act))
        if se is not None:
            layers.append(se(expanded))
        layers.append(conv(expanded, out_channels, 1, act=None))   # linear bottleneck: no activation
        self.block = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_channels == out_channels
        # stochastic depth acts on the residual branch only, so only where there is a shortcut
        self.drop_path = DropPath(drop_path) if drop_path > 0 and self.use_residual else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.block(x)
        return x + self.drop_path(out) if self.use_residual else out
# -- patch-based networks (MLP-Mixer, ViT) ------------------------------------------------------

# The patch size for images under SMALL_INPUT_BELOW px (base.py): 28 and 32 both divide by 4, and
# 4x4 patches leave 49 tokens of a 28x28 image (64 of a 32x32) where 16x16 would leave one or two.
SMALL_PATCH = 4


def choose_patch(family: str, image_size: int, paper_patch: int, patch_size: int | None) -> int:
    """The patch side for ``image_size``: the paper's from 64 px up, :data:`SMALL_PATCH` below,
    ``patch_size`` when given; a ModelError (suggesting the nearest fit) unless it divides the image."""
    from ..errors import ModelError
    from .base import SMALL_INPUT_BELOW

    if patch_size is None:
        patch_size = paper_patch if image_size >= SMALL_INPUT_BELOW else min(paper_patch, SMALL_PATCH)
    if image_size >= patch_size and image_size % patch_size:
        divisors = sorted((p for p in range(2, image_size + 1) if image_size % p == 0),
                          key=lambda p: abs(p - patch_size))
        raise ModelError(f"{family} cuts the image into {patch_size}x{patch_size} patches, so image_size "
                         f"must be a multiple of {patch_size}, got {image_size}"
                         + (f" (patch_size={divisors[0]} would fit)" if divisors else ""))
    return patch_size


class PatchEmbed(nn.Sequential):
    """Cut the image into non-overlapping P x P patches and project each linearly to ``dim`` channels.

    (B, C, H, W) -> (B, N, dim) with N = (H/P)(W/P) tokens in reading order. The same computation as
    a P x P convolution of stride P (the form torchvision's ViT and timm's Mixer store: a
    ``(dim, C, P, P)`` kernel), written as what it is: one linear layer applied to every patch.
    """

    def __init__(self, in_channels: int, dim: int, patch_size: int) -> None:
        super().__init__(Rearrange("b c (h p1) (w p2) -> b (h w) (p1 p2 c)", p1=patch_size, p2=patch_size),
                         nn.Linear(patch_size * patch_size * in_channels, dim))
        self.patch_size = patch_size

    def init_weights(self) -> None:
        """The official all-MLP initialization of the projection: LeCun normal, zero bias."""
        proj = self[1]
        assert isinstance(proj, nn.Linear)
        lecun_normal_(proj.weight)
        nn.init.zeros_(proj.bias)


class MlpBlock(nn.Sequential):
    """Linear -> GELU -> Linear: the two-layer perceptron of MLP-Mixer's mixing steps (its eq. 1), of
    ResMLP's cross-channel sublayer and of every Transformer block (ViT's "MLP"), on the last dimension."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__(nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim))


# A spatial step: (kernel, stride, padding) or (kernel, stride, padding, ceil_mode).
Step = tuple


def conv_out(size: int, kernel: int, stride: int = 1, padding: int = 0, ceil_mode: bool = False) -> int:
    """Output size of a convolution or pooling along one axis (PyTorch's rule, ceil_mode included)."""
    span = size + 2 * padding - kernel
    out = (math.ceil(span / stride) if ceil_mode else span // stride) + 1
    # In ceil mode PyTorch drops a last window that would start entirely in the right padding.
    if ceil_mode and (out - 1) * stride >= size + padding:
        out -= 1
    return out


def smallest_input(steps: Sequence[Step], at_least: int = 1) -> int:
    """The smallest square input that leaves every spatial step with at least one pixel.

    ``at_least`` raises the floor; families pass their total stride, so that the last stage
    still sees one pixel of the image rather than only the padding around it.
    """
    size = 1
    while True:
        out = size
        for step in steps:
            out = conv_out(out, *step)
            if out < 1:
                break
        else:
            return max(size, at_least)
        size += 1


def init_conv_bn(model: nn.Module) -> None:
    """He (Kaiming) normal initialization of every convolution (fan-out, for ReLU) and BatchNorm set to
    the identity: how torchvision's ResNet starts, and the Wide ResNets after it (He et al. 2015)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def init_mobile(model: nn.Module, linear_std: float | None = None) -> None:
    """torchvision's MobileNetV2/V3 and EfficientNet initialization, in one pass over the modules:
    He normal (fan-out) for every convolution and for the squeeze-excitation layers (1x1 convolutions
    in torchvision), zero biases, BatchNorm as the identity, and N(0, ``linear_std``) for the other
    linear layers where given (MobileNet's classifier; EfficientNet initializes its own)."""
    se_layers = {id(layer) for se in model.modules() if isinstance(se, SqueezeExcite) for layer in (se.fc1, se.fc2)}
    for m in model.modules():
        if isinstance(m, nn.Conv2d) or id(m) in se_layers:
            assert isinstance(m, (nn.Conv2d, nn.Linear))
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear) and linear_std is not None:
            nn.init.normal_(m.weight, 0.0, linear_std)
            nn.init.zeros_(m.bias)


def scaled_widths(widths: Sequence[int], width_mult: float) -> tuple[int, ...]:
    """``widths`` times ``width_mult``, rounded, at least 4 channels each (ResNet's and Darknet's
    ``width_mult``: the knob that makes an ImageNet network affordable on a laptop CPU)."""
    if not 0 < width_mult <= 8:
        raise ModelError(f"width_mult must be in (0, 8], got {width_mult}")
    return tuple(max(4, int(round(w * width_mult))) for w in widths)


# -- the all-MLP networks' initialization -----------------------------------------------------

def lecun_normal_(weight: torch.Tensor) -> torch.Tensor:
    """LeCun normal (JAX's ``lecun_normal``): truncated at 2 std, rescaled so the variance is 1/fan_in."""
    std = math.sqrt(1.0 / weight.shape[1]) / 0.87962566103423978
    return nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)

