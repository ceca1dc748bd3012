"""ResMLP: an all-MLP image classifier trained like a data-efficient transformer (Touvron et al., 2021).

The problem. MLP-Mixer (mixer.py) showed that patches, token mixing and channel mixing are enough,
but only with hundreds of millions of pre-training images, and its LayerNorms and token-mixing MLPs
still made it look like a transformer with the attention taken out. How simple can such a network
be, and can it learn from ImageNet alone?

The idea. Strip the Mixer's block down to a *residual* network of linear layers, and train it with
the recipe that made vision transformers data-efficient (DeiT: heavy augmentation, long training,
distillation). Published in the same month as MLP-Mixer, ResMLP makes three simplifications:

- *Affine* instead of LayerNorm: ``Aff(x) = alpha * x + beta``, one learned scale and shift per
  channel, no statistics at all. It is enough because the blocks are kept close to the identity
  (next item), and it costs nothing at inference (it folds into the next linear layer).
- *Cross-patch sublayer*: a single linear layer across the N patches (N x N weights, shared by
  every channel) where the Mixer has a two-layer token MLP. Trained, its weights look like
  convolution kernels: each patch learns to read its neighbours.
- *LayerScale*: each residual branch is multiplied by a learned per-channel factor initialized
  small (0.1 for 12 blocks), so every block starts near the identity and deep stacks train.

The block (paper eq. 1-2): :class:`ResMLPBlock`, ``Z = X + diag(a1) A^T Aff(X)`` (the cross-patch
sublayer, ``A`` the N x N linear layer) then ``Y = Z + diag(a2) MLP(Aff(Z))`` (the cross-channel
sublayer, Linear -> GELU -> Linear, 4x wide). The network: the Mixer's per-patch linear stem
(:class:`~cnnzoo.models.layers.PatchEmbed`), 12 blocks of width 384, a last Affine, the average
over the patches and a linear head. ResMLP-12: 15,350,872 parameters at 3x224x224 (196 patches of
16x16); the paper reports 76.6% ImageNet top-1 for it, trained on ImageNet alone.

What we changed from the paper and the reference, and why:

- Nothing at ImageNet size: ``resmlp_12`` is timm's ``resmlp_12_224`` and loads its weight files
  exactly (cnnzoo.weights). The names differ: timm's ``linear_tokens`` is our ``cross_patch``,
  ``mlp_channels`` our ``cross_channel``, ``ls1``/``ls2`` our ``layer_scale1``/``layer_scale2``.
- Initialization as timm's ResMLP (Xavier uniform linear layers, tiny biases in the MLP, LeCun
  normal stem, zero head) except LayerScale, which starts at the paper's 0.1 for 12 blocks (the
  official code's ``init_scale``; timm starts every depth at 1e-4). Loaded weights replace it.
- Small images (under 64 px): the patches become 4x4 (49 tokens at 28 px, 64 at 32 px), as for the
  Mixer. The cross-patch layer is N x N, so the token count is part of the weights: a ResMLP takes
  exactly the image size it was built for. ``resmlp_t4`` is our own tiny ResMLP (width 128, 12
  blocks, 4x4 patches) for a CPU.
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import MlpBlock, PatchEmbed, choose_patch
from .mixer import PatchMLPNet
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("ResMLP: Feedforward networks for image classification with data-efficient training",
              "Touvron et al.",
              2021, "https://arxiv.org/abs/2105.03404")

# The cross-channel MLP is 4x as wide as the network (paper section 2).
MLP_RATIO = 4
# LayerScale's initial value for 12 blocks (paper section 2: 0.1 for depth 12, 1e-5 for 24, 1e-6 for 36).
LAYER_SCALE_12 = 0.1


class Affine(nn.Module):
    """``alpha * x + beta`` per channel: ResMLP's replacement for LayerNorm (no statistics).

    The (1, 1, dim) shapes are the reference's, so its weight files load unchanged.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(1, 1, dim))
        self.beta = nn.Parameter(torch.zeros(1, 1, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, self.alpha, x)


class ResMLPBlock(nn.Module):
    """The cross-patch sublayer (Affine, one N x N linear layer across the patches, LayerScale, add), then
    the cross-channel sublayer (Affine, Linear -> GELU -> Linear, LayerScale, add) on a (B, N, C) table."""

    def __init__(self, num_tokens: int, dim: int, layer_scale: float) -> None:
        super().__init__()
        self.norm1 = Affine(dim)
        self.cross_patch = nn.Linear(num_tokens, num_tokens)
        self.layer_scale1 = nn.Parameter(torch.full((dim,), layer_scale))
        self.norm2 = Affine(dim)
        self.cross_channel = MlpBlock(dim, MLP_RATIO * dim)
        self.layer_scale2 = nn.Parameter(torch.full((dim,), layer_scale))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Transpose so the linear layer runs along the patches, the same weights for every channel.
        x = x + self.layer_scale1 * self.cross_patch(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        return x + self.layer_scale2 * self.cross_channel(self.norm2(x))


class ResMLP(PatchMLPNet):
    """Per-patch linear stem, ResMLP blocks, Affine, average over the patches, linear head."""

    fixed_input_size = True

    def __init__(self, dim: int, depth: int, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
                 paper_patch: int = 16, layer_scale: float = LAYER_SCALE_12, *,
                 patch_size: int | None = None) -> None:
        patch_size = choose_patch("ResMLP", image_size, paper_patch, patch_size)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=patch_size)
        self.patch_size = patch_size
        self.num_tokens = (image_size // patch_size) ** 2
        self.stem = PatchEmbed(in_channels, dim, patch_size)
        self.blocks = nn.Sequential(*(ResMLPBlock(self.num_tokens, dim, layer_scale) for _ in range(depth)))
        self.norm = Affine(dim)
        self.num_features = dim
        self.classifier = self.make_classifier(num_classes)
        for block in self.blocks:
            assert isinstance(block, ResMLPBlock)
            nn.init.xavier_uniform_(block.cross_patch.weight)
            nn.init.zeros_(block.cross_patch.bias)
            for m in block.cross_channel:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.normal_(m.bias, std=1e-6)
        self.stem.init_weights()



register_model("resmlp_12", ResMLP, dict(dim=384, depth=12), family="resmlp", paper=PAPER,
               reference=Reference(15_350_872, 3.0e9, "timm"),
               doc="""ResMLP-12 (S12): width 384, 12 blocks, 16x16 patches (196 at 224 px).

               timm's ``resmlp_12_224``; 15,350,872 parameters at 3x224x224.
               """)
register_model("resmlp_t4", ResMLP, dict(dim=128, depth=12, paper_patch=4), family="resmlp", paper=PAPER,
               design=CIFAR10,
               doc="ResMLP-T/4: our tiny ResMLP-12 (width 128) on 4x4 patches, for 28-32 px images on a CPU.")
