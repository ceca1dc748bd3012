"""MLP-Mixer: an image classifier with no convolutions and no attention (Tolstikhin et al., 2021).

The problem. After Vision Transformers, it was unclear what actually made the modern vision
architectures work: convolutions? attention? or just the layout -- cut the image into patches,
then alternate between mixing information *across positions* and *across channels*?

The idea. Keep the layout, and use nothing but multi-layer perceptrons. Cut the image into
non-overlapping P x P patches and project each one linearly to C channels (the "per-patch fully
connected" stem): the image becomes a table of N patches (tokens) x C channels. Then repeat a
*Mixer block*, two MLPs with LayerNorm and a skip connection around each:

- *token mixing*: an MLP applied to each channel's column of N values, the same for every
  channel: it mixes positions (this is where the image's spatial structure is learned);
- *channel mixing*: an MLP applied to each token's row of C values, the same for every token: it
  mixes features, like a 1x1 convolution.

A final LayerNorm, global average pooling over the tokens and a linear head classify. Given
enough pre-training data it comes close to CNNs and Transformers, which says the layout and the
data matter at least as much as the kind of layer.

Names follow the paper: Mixer-S/16 is the Small width (C=512, 8 blocks, token MLP 256, channel
MLP 2048) with 16x16 patches; B is Base (768, 12 blocks, 384, 3072). ``mixer_s4`` and ``mixer_t4``
are small-image configurations (4x4 patches, 49 tokens at 28 px, 64 at 32 px); T ("tiny") is our
own quarter of S for fast lessons on a CPU.

What we changed from the paper, and why:

- Small images (under 64 px): 16x16 patches would leave one or two tokens of a 28x28 image, so
  the patch size becomes 4 (a stem choice, like the CNNs' small stems); ``patch_size`` overrides
  it. The patch size must divide the image size. Because the token-mixing MLP's weights are
  sized by the number of tokens, a Mixer takes exactly the image size it was built for.
- Initialization follows the official JAX implementation as timm reproduces it: Xavier uniform
  linear layers with tiny (std 1e-6) biases in the MLPs, LeCun normal for the patch projection,
  and a zero-initialized head. Mixer-B/16: 59,880,472 parameters at 3x224x224, 1000 classes.

Ablation switch (docs/ablations.md; ``cnnzoo ablate mixer``): ``token_mixing=False`` drops every
block's token-mixing MLP and the LayerNorm before it, so no layer looks across patches and each patch
is classified from its own pixels until the final average over tokens.
"""

from __future__ import annotations

import torch
from einops.layers.torch import Rearrange
from torch import nn

from .base import ZooModel
from .layers import MlpBlock, PatchEmbed, choose_patch
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("MLP-Mixer: An all-MLP Architecture for Vision", "Tolstikhin et al.", 2021,
              "https://arxiv.org/abs/2105.01601")

# LayerNorm epsilon of the official implementation (Flax's default).
LN_EPS = 1e-6


# MlpBlock (Linear -> GELU -> Linear, paper eq. 1), the MLP both mixing steps use, and the per-patch
# stem (PatchEmbed, with the small-image patch size SMALL_PATCH = 4) live in layers.py: ResMLP, gMLP
# and ViT share them.


class MixerBlock(nn.Module):
    """Token mixing then channel mixing, each as ``x + MLP(LayerNorm(x))`` on a (B, N, C) table."""

    def __init__(self, num_tokens: int, dim: int, tokens_mlp_dim: int, channels_mlp_dim: int,
                 token_mixing: bool = True) -> None:
        super().__init__()
        self.norm1: nn.Module = nn.LayerNorm(dim, eps=LN_EPS)
        # Transpose so the MLP runs along the tokens, for each channel separately.
        self.token_mixing: nn.Module | None = nn.Sequential(Rearrange("b n c -> b c n"),
                                                            MlpBlock(num_tokens, tokens_mlp_dim),
                                                            Rearrange("b c n -> b n c"))
        if not token_mixing:  # the ablation: no step looks across patches (and LayerNorm 1 has nothing to feed)
            self.norm1, self.token_mixing = nn.Identity(), None
        self.norm2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.channel_mixing = MlpBlock(dim, channels_mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.token_mixing is not None:
            x = x + self.token_mixing(self.norm1(x))
        return x + self.channel_mixing(self.norm2(x))


class PatchMLPNet(ZooModel):
    """What the all-MLP networks (MLP-Mixer, ResMLP, gMLP) share around their blocks: a PatchEmbed
    stem makes (B, N, dim) tokens, the blocks and a final norm keep that shape, and the head averages
    the tokens and classifies them with a zero-initialized linear layer (the official codes' init)."""

    stem: PatchEmbed
    blocks: nn.Module
    norm: nn.Module
    num_features: int

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.zeros_(fc.weight)
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        return self.norm(self.blocks(self.stem(x)))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x.mean(dim=1)
        return x if pre_logits else self.classifier(x)


class MlpMixer(PatchMLPNet):
    """Per-patch linear stem, Mixer blocks, LayerNorm, average over tokens, linear head."""

    fixed_input_size = True
    # token_mixing=False: every block keeps only its channel-mixing MLP, so each patch is classified
    # from its own pixels until the final average (module docstring).
    ablation_switches = ("token_mixing",)

    def __init__(self, dim: int, depth: int, tokens_mlp_dim: int, channels_mlp_dim: int, num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, paper_patch: int = 16, *,
                 patch_size: int | None = None, token_mixing: bool = True) -> None:
        # The paper's patch from 64 px up, 4x4 below; it must divide the image (layers.choose_patch).
        patch_size = choose_patch("MLP-Mixer", image_size, paper_patch, patch_size)
        # One patch is the least a Mixer can take.
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=patch_size)
        self.patch_size = patch_size
        self.num_tokens = (image_size // patch_size) ** 2
        self.stem = PatchEmbed(in_channels, dim, patch_size)  # the per-patch fully connected stem
        self.blocks = nn.Sequential(*(MixerBlock(self.num_tokens, dim, tokens_mlp_dim, channels_mlp_dim,
                                                 token_mixing) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.num_features = dim
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        for m in self.blocks.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.normal_(m.bias, std=1e-6)
        self.stem.init_weights()  # LeCun normal



# Paper Table 1: the width, depth and MLP sizes of each size; T is our own quarter of S.
SIZES = {
    "T": dict(dim=128, depth=8, tokens_mlp_dim=64, channels_mlp_dim=512),
    "S": dict(dim=512, depth=8, tokens_mlp_dim=256, channels_mlp_dim=2048),
    "B": dict(dim=768, depth=12, tokens_mlp_dim=384, channels_mlp_dim=3072),
}


def _size(size: str, patch: int) -> dict:
    """Mixer-``size``/``patch``: the size's widths, and the patch it takes from 64 px up."""
    return dict(SIZES[size], paper_patch=patch)


def _table1(params: int) -> Reference:
    return Reference(params, source="paper Table 1 (rounded)", exact=False)


register_model("mixer_s32", MlpMixer, _size("S", 32), family="mixer", paper=PAPER, reference=_table1(19_000_000),
               doc="Mixer-S/32: C=512, 8 blocks, 32x32 patches (49 tokens at 224 px).")
register_model("mixer_s16", MlpMixer, _size("S", 16), family="mixer", paper=PAPER, reference=_table1(18_000_000),
               doc="Mixer-S/16: C=512, 8 blocks, 16x16 patches (196 tokens at 224 px).")
register_model("mixer_b32", MlpMixer, _size("B", 32), family="mixer", paper=PAPER, reference=_table1(60_000_000),
               doc="Mixer-B/32: C=768, 12 blocks, 32x32 patches.")
register_model("mixer_b16", MlpMixer, _size("B", 16), family="mixer", paper=PAPER,
               reference=Reference(59_880_472, 12.61e9, "timm"),
               doc="Mixer-B/16: C=768, 12 blocks, 16x16 patches; 59,880,472 parameters at 3x224x224.")
register_model("mixer_s4", MlpMixer, _size("S", 4), family="mixer", paper=PAPER, design=CIFAR10,
               doc="Mixer-S/4: the Small width with 4x4 patches, for 28-32 px images.")
register_model("mixer_t4", MlpMixer, _size("T", 4), family="mixer", paper=PAPER, design=CIFAR10,
               aliases=("mlpmixer",),
               doc="""Mixer-T/4: a tiny Mixer (C=128, 8 blocks, MLPs 64 and 512) with 4x4 patches, for a CPU.

               The seed's ``mlpmixer``.
               """)
