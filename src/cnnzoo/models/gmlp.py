"""gMLP: "Pay Attention to MLPs", an MLP whose spatial mixing is a multiplicative gate (Liu et al., 2021).

The problem. MLP-Mixer (mixer.py) and ResMLP (resmlp.py) mix the patches with a plain linear map:
the same weighted sum of positions whatever the image. Self-attention mixes them with weights
computed *from the input*. Is that input-dependence needed, or can a static spatial projection do
as well if it is used the right way?

The idea. Put the spatial projection inside a *gate*. Widen each token's channels (a 6x linear
layer and GELU), split them into two halves ``U`` and ``V``, project ``V`` across the tokens, and
multiply: ``s(Z) = U * f_W,b(Norm(V))``. The product makes the mixing input-dependent (each
token's output is its own ``U`` times a spatial summary of ``V``): second-order interactions, like
attention's, without attention. ``W`` starts near zero and ``b`` at one, so at the start the gate
passes ``U`` through and every block is close to a plain channel MLP; the tokens learn to talk
during training.

The blocks (paper Figure 1): :class:`SpatialGatingUnit`, the split-norm-project-multiply above,
and :class:`GMLPBlock`, ``x + proj_out(SGU(GELU(proj_in(LayerNorm(x)))))``: one block does both the
token and the channel mixing, where a Mixer needs two MLPs. The network: the Mixer's per-patch
linear stem (:class:`~cnnzoo.models.layers.PatchEmbed`), 30 identical blocks, LayerNorm, the
average over the patches and a linear head. gMLP-S: width 256, channels 1536 inside,
19,422,656 parameters at 3x224x224 (196 patches); the paper reports 79.6% ImageNet top-1 for it,
DeiT-S's accuracy.

What we changed from the paper and the reference, and why:

- Nothing at ImageNet size: ``gmlp_s16`` and ``gmlp_ti16`` are timm's ``gmlp_s16_224`` and
  ``gmlp_ti16_224``, and load their weight files exactly (cnnzoo.weights). The names differ:
  timm's ``mlp_channels.fc1``/``fc2`` are our ``proj_in``/``proj_out``, its ``gate`` our ``sgu``
  and the gate's ``proj`` our ``spatial_proj``. The block's LayerNorm has epsilon 1e-6 and the
  gate's 1e-5, as timm's.
- Initialization as timm's: Xavier uniform linear layers with tiny biases, the spatial projection
  N(0, 1e-6) with bias 1 (the paper's near-identity gate), LeCun normal stem, zero head.
- Small images (under 64 px): the patches become 4x4 (49 tokens at 28 px, 64 at 32 px), as for the
  Mixer. The spatial projection is N x N, so the token count is part of the weights: a gMLP takes
  exactly the image size it was built for. ``gmlp_ti4`` is the paper's gMLP-Ti (width 128, 30
  blocks) on 4x4 patches, for a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import PatchEmbed, choose_patch
from .mixer import PatchMLPNet
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("Pay Attention to MLPs", "Liu, Dai, So, Le", 2021, "https://arxiv.org/abs/2105.08050")

# The channel projection widens 6x (paper Table 1: d_ffn = 6 d_model), half of it gated by the other half.
FFN_RATIO = 6
# LayerNorm epsilons of the reference: the block's is Flax's 1e-6, the gate's PyTorch's default 1e-5.
BLOCK_LN_EPS = 1e-6
GATE_LN_EPS = 1e-5


class SpatialGatingUnit(nn.Module):
    """Split the channels into U and V, normalize V, project it across the tokens, return U * V."""

    def __init__(self, channels: int, num_tokens: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels // 2, eps=GATE_LN_EPS)
        self.spatial_proj = nn.Linear(num_tokens, num_tokens)
        # Near-zero weights and unit biases: the gate starts as the identity on U (paper section 2.1).
        nn.init.normal_(self.spatial_proj.weight, std=1e-6)
        nn.init.ones_(self.spatial_proj.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=-1)
        # Transpose so the projection runs along the tokens, the same weights for every channel.
        v = self.spatial_proj(self.norm(v).transpose(-1, -2))
        return u * v.transpose(-1, -2)


class GMLPBlock(nn.Module):
    """``x + proj_out(SGU(GELU(proj_in(LayerNorm(x)))))`` on a (B, N, C) table: widen the channels, gate
    one half by a spatial projection of the other, project back."""

    def __init__(self, num_tokens: int, dim: int) -> None:
        super().__init__()
        hidden = FFN_RATIO * dim
        self.norm = nn.LayerNorm(dim, eps=BLOCK_LN_EPS)
        self.proj_in = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.sgu = SpatialGatingUnit(hidden, num_tokens)
        self.proj_out = nn.Linear(hidden // 2, dim)
        for fc in (self.proj_in, self.proj_out):
            nn.init.xavier_uniform_(fc.weight)
            nn.init.normal_(fc.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.proj_out(self.sgu(self.act(self.proj_in(self.norm(x)))))


class GMLP(PatchMLPNet):
    """Per-patch linear stem, gMLP blocks, LayerNorm, average over the patches, linear head."""

    fixed_input_size = True

    def __init__(self, dim: int, depth: int, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
                 paper_patch: int = 16, *, patch_size: int | None = None) -> None:
        patch_size = choose_patch("gMLP", image_size, paper_patch, patch_size)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=patch_size)
        self.patch_size = patch_size
        self.num_tokens = (image_size // patch_size) ** 2
        self.stem = PatchEmbed(in_channels, dim, patch_size)
        self.blocks = nn.Sequential(*(GMLPBlock(self.num_tokens, dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=BLOCK_LN_EPS)
        self.num_features = dim
        self.classifier = self.make_classifier(num_classes)
        self.stem.init_weights()



# Paper Table 1: gMLP-Ti (d_model 128), S (256), B (512); 30 blocks each, 16x16 patches.
register_model("gmlp_ti16", GMLP, dict(dim=128, depth=30), family="gmlp", paper=PAPER,
               reference=Reference(5_867_328, source="timm"),
               doc="gMLP-Ti/16: width 128, 30 blocks, 16x16 patches (196 at 224 px); timm's ``gmlp_ti16_224``.")
register_model("gmlp_s16", GMLP, dict(dim=256, depth=30), family="gmlp", paper=PAPER,
               reference=Reference(19_422_656, 4.4e9, "timm"),
               doc="""gMLP-S/16: width 256, 30 blocks, 16x16 patches (196 at 224 px).

               timm's ``gmlp_s16_224``; 19,422,656 parameters at 3x224x224.
               """)
register_model("gmlp_ti4", GMLP, dict(dim=128, depth=30, paper_patch=4), family="gmlp", paper=PAPER,
               design=CIFAR10,
               doc="gMLP-Ti/4: the paper's gMLP-Ti (width 128, 30 blocks) on 4x4 patches, for 28-32 px images.")
