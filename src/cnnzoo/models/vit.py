"""Vision Transformer (ViT): an image is worth 16x16 words (Dosovitskiy et al., 2021).

The problem. In language, the Transformer (Vaswani et al., 2017) had replaced recurrent and
convolutional networks: self-attention lets every word look at every other word in one step, and
it keeps improving as models and data grow. Vision still ran on convolutions, whose built-in
priors (locality, translation equivariance) help on small data but fix in advance how far a layer
can look. Could a plain Transformer, with no convolution at all, classify images?

The idea. Treat an image as a sentence of patches. Cut it into non-overlapping P x P patches,
project each linearly to a D-dimensional token (the "patch embedding"), put a learned *class
token* in front of the sequence and add a learned *position embedding* to every token (attention
alone does not know where a patch came from). Then run the standard Transformer encoder: L
*encoder blocks*, each two residual steps on the (B, N + 1, D) sequence,

- ``x + MSA(LayerNorm(x))``: multi-head self-attention; every token takes a weighted average of
  all tokens' values, the weights given by the softmax of its query against their keys, in h
  heads of D/h dimensions each;
- ``x + MLP(LayerNorm(x))``: a two-layer perceptron (D -> 4D -> D, GELU) on each token alone,

and classify from the class token's final state after one more LayerNorm. The normalization sits
*before* each step (pre-norm), which keeps deep stacks trainable without warm-up tricks. With
little data ViT loses to ResNets (it has to learn locality); pre-trained on ImageNet-21k or JFT it
beats them, the first sign that attention plus scale can replace the convolutional prior.

The blocks: :class:`EncoderBlock` (torchvision's name; the paper's "Transformer encoder" layer,
its Figure 1), built from :class:`MultiHeadSelfAttention` and the shared
:class:`~cnnzoo.models.layers.MlpBlock`; the patch embedding is
:class:`~cnnzoo.models.layers.PatchEmbed`, shared with MLP-Mixer, which borrowed ViT's layout and
replaced attention by an MLP across the tokens. ViT-B/16 is the Base width (D = 768, 12 blocks,
12 heads, MLP 3072) on 16x16 patches: 196 tokens + the class token at 224 px.

What we changed from the paper and the reference, and why:

- Nothing at ImageNet size: ``vit_b_16`` is torchvision's (86,567,656 parameters) and loads its
  weight files (cnnzoo.weights; torchvision's ``conv_proj`` is our ``stem``, a P x P convolution
  of stride P being the same linear map as PatchEmbed's, its kernel reordered). Attention is
  written out (query-key products, softmax, weighted sum) instead of calling
  ``nn.MultiheadAttention``; it holds the same tensors (``in_proj`` = our ``qkv``) and computes
  the same function. Initialization follows torchvision's. The representation layer of the
  paper's ImageNet-21k pre-training (``representation_size``) is not built: torchvision's
  ImageNet-1K ViTs have none. Dropout (0 in torchvision's ViT-B/16) is left out.
- The position embedding holds one vector per token, so, as MLP-Mixer, a ViT takes exactly the
  image size it was built for (``fixed_input_size``): weights trained at 384 px
  (torchvision's ``IMAGENET1K_SWAG_E2E_V1``) need a model built with ``image_size=384``.
- Small images (under 64 px): 16x16 patches would leave one or two tokens of a 28x28 image, so the
  patch becomes 4x4 (49 tokens at 28 px, 64 at 32 px), as for MLP-Mixer; ``patch_size``
  overrides it and must divide the image size.
- ``vit_lite_7_4`` is the small-image ViT: ViT-Lite-7/4 of Hassani et al. (2021, "Escaping the Big
  Data Paradigm with Compact Transformers"), the ViT they scaled down for CIFAR: 7 blocks of
  D = 256, 4 heads, MLP ratio 2, 4x4 patches, class token; 3.72M parameters at CIFAR-10. We take
  it rather than a width of our own because it is the published point where a plain ViT trained
  from scratch on 32 px images was measured (their CVT and CCT variants change the tokenizer and
  pooling, which is another lesson), and because DeiT's "Tiny" (D = 192, 12 blocks) counts 1.44x
  its multiply-accumulates at 32 px (346M against 239M) for no published small-image result.

The multiply-accumulates counted by ``cnnzoo summary`` are those of the linear layers (see
models/profile.py); attention's two matrix products (2 x N^2 x D per block: 0.72 GMACs of
ViT-B/16's 17.6 at 224 px, 4%) are not among them.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .base import ZooModel
from .layers import MlpBlock, PatchEmbed, choose_patch
from .registry import CIFAR10, Paper, Reference, register_model

PAPER = Paper("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale",
              "Dosovitskiy et al.", 2021, "https://arxiv.org/abs/2010.11929")

# LayerNorm epsilon of the official (JAX) implementation and torchvision's ViT.
LN_EPS = 1e-6


class MultiHeadSelfAttention(nn.Module):
    """Every token attends to every token: softmax(Q K^T / sqrt(d)) V in ``num_heads`` heads of d = D/h.

    ``qkv`` projects each token to its query, key and value at once (torchvision's ``in_proj``:
    one (3D, D) matrix, the queries' rows first), ``proj`` mixes the heads' outputs back to D.
    """

    def __init__(self, dim: int, num_heads: int) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"the width {dim} must split evenly into {num_heads} heads")
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        # (B, N, 3D) -> three (B, heads, N, d)
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        weights = (q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)).softmax(dim=-1)  # (B, heads, N, N)
        out = (weights @ v).transpose(1, 2).reshape(b, n, d)  # the heads side by side again
        return self.proj(out)


class EncoderBlock(nn.Module):
    """The Transformer encoder layer, pre-norm: ``x + MSA(LN(x))``, then ``x + MLP(LN(x))``."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=LN_EPS)
        self.self_attention = MultiHeadSelfAttention(dim, num_heads)
        self.ln_2 = nn.LayerNorm(dim, eps=LN_EPS)
        self.mlp = MlpBlock(dim, mlp_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class VisionTransformer(ZooModel):
    """Patch embedding, class token, position embedding, encoder blocks, LayerNorm, head on the class token."""

    fixed_input_size = True

    def __init__(self, dim: int, depth: int, num_heads: int, mlp_dim: int, num_classes: int = 1000,
                 in_channels: int = 3, image_size: int = 224, paper_patch: int = 16, *,
                 patch_size: int | None = None) -> None:
        # The paper's patch from 64 px up, 4x4 below; it must divide the image (layers.choose_patch).
        patch_size = choose_patch("ViT", image_size, paper_patch, patch_size)
        super().__init__(num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                         min_size=patch_size)
        self.patch_size = patch_size
        self.num_patches = (image_size // patch_size) ** 2
        self.num_tokens = self.num_patches + 1  # what the encoder sees: the patches and the class token
        self.stem = PatchEmbed(in_channels, dim, patch_size)
        # The class token: a learned input whose final state is the image's representation (BERT's [CLS]).
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        # One learned vector per position, the class token's included (BERT's initialization).
        self.pos_embedding = nn.Parameter(torch.empty(1, self.num_tokens, dim).normal_(std=0.02))
        self.blocks = nn.Sequential(*(EncoderBlock(dim, num_heads, mlp_dim) for _ in range(depth)))
        self.norm = nn.LayerNorm(dim, eps=LN_EPS)
        self.num_features = dim
        self.classifier = self.make_classifier(num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        """torchvision's: Xavier uniform MLPs with tiny biases, the patch projection truncated normal
        with variance 1/fan_in, attention as nn.MultiheadAttention starts (Xavier uniform, zero biases)."""
        for block in self.blocks:
            assert isinstance(block, EncoderBlock)
            for m in block.mlp:
                if isinstance(m, nn.Linear):
                    nn.init.xavier_uniform_(m.weight)
                    nn.init.normal_(m.bias, std=1e-6)
            attn = block.self_attention
            nn.init.xavier_uniform_(attn.qkv.weight)
            nn.init.zeros_(attn.qkv.bias)
            nn.init.zeros_(attn.proj.bias)  # its weight keeps nn.Linear's default, as in nn.MultiheadAttention
        stem = self.stem[1]
        assert isinstance(stem, nn.Linear)
        nn.init.trunc_normal_(stem.weight, std=math.sqrt(1.0 / stem.in_features))
        nn.init.zeros_(stem.bias)

    def make_classifier(self, num_classes: int) -> nn.Module:
        fc = nn.Linear(self.num_features, num_classes)
        nn.init.zeros_(fc.weight)  # torchvision and the paper start the head at zero
        nn.init.zeros_(fc.bias)
        return fc

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The encoder's output: (B, 1 + N, D) tokens, the class token first."""
        self.check_input(x)
        x = self.stem(x)
        x = torch.cat([self.class_token.expand(x.shape[0], -1, -1), x], dim=1)
        return self.norm(self.blocks(x + self.pos_embedding))

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = x[:, 0]  # the class token
        return x if pre_logits else self.classifier(x)


def _vit(dim: int, depth: int, heads: int, mlp_ratio: int, patch: int) -> dict:
    return dict(dim=dim, depth=depth, num_heads=heads, mlp_dim=mlp_ratio * dim, paper_patch=patch)


# Paper Table 1: ViT-Base, D = 768, 12 layers, 12 heads, MLP 3072.
register_model("vit_b_16", VisionTransformer, _vit(768, 12, 12, 4, 16), family="vit", paper=PAPER,
               aliases=("vit",), reference=Reference(86_567_656, 17.56e9, "torchvision"),
               doc="ViT-B/16: 12 encoder blocks of width 768 and 12 heads on 16x16 patches (197 tokens at 224 px).")
register_model("vit_lite_7_4", VisionTransformer, _vit(256, 7, 4, 2, 4), family="vit", paper=PAPER,
               design=CIFAR10, reference=Reference(3_720_000, source="Hassani et al. 2021, Table 1 (3.72M)",
                                                   exact=False),
               doc="""ViT-Lite-7/4: the small-image ViT (7 blocks of width 256, 4 heads, MLP 512, 4x4 patches).

               Hassani et al.'s ViT scaled down for CIFAR ("Escaping the Big Data Paradigm with Compact
               Transformers", 2021): 65 tokens at 32 px, 50 at 28 px.
               """)
