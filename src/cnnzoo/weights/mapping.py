"""From the reference libraries' state_dict keys to cnnzoo's: one rename table per family.

cnnzoo's networks compute what torchvision's and timm's compute (tests/weights prove it for each
model below); only the names of their parameters differ, e.g. torchvision's ResNet calls the stem
convolution ``conv1`` where cnnzoo's calls it ``stem.0``. A :class:`Conversion` says, for one
cnnzoo model, which library model it mirrors and how a key is renamed: a list of
``(pattern, replacement)`` regular expressions applied in order to every key (as timm's
``checkpoint_filter_fn`` does), and, for the few tensors stored in another layout, a reshape.

The rules are written for reading: each family's table is the answer to "where does this tensor
live in cnnzoo?". Indices that a regular expression cannot compute (torchvision's flat VGG
``features`` list, timm's per-stage MobileNet ``blocks``) come from the variant's layer counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch

Rule = tuple[str, str | Callable[[re.Match[str]], str]]


@dataclass(frozen=True)
class Conversion:
    """How the weights of ``library``'s ``reference`` model become cnnzoo ``model``'s."""

    model: str
    library: str  # "torchvision" or "timm"
    reference: str  # the library's model name
    rules: tuple[Rule, ...]
    # cnnzoo key pattern -> how a tensor stored in another layout becomes ours (given our shape)
    reshapes: tuple[tuple[str, Callable[[torch.Tensor, torch.Size], torch.Tensor]], ...] = ()
    # model options the weights need (a variant cnnzoo builds only when asked, e.g. aux heads)
    model_kwargs: dict = field(default_factory=dict)
    # Why cnnzoo's network does not compute what the library's does (measured; None: it does, to
    # float64 round-off). Loading then fails (shapes differ) or loads with a note (activations differ).
    differs: str | None = None

    def rename(self, key: str) -> str:
        for pattern, replacement in self.rules:
            key = re.sub(pattern, replacement, key)
        return key

    def reshape(self, key: str, tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """``tensor`` in our layout for ``key``; unchanged when no rule applies."""
        if tensor.shape == shape:
            return tensor
        for pattern, fn in self.reshapes:
            if re.search(pattern, key):
                return fn(tensor, shape)
        # A 1x1 convolution and a linear layer hold the same matrix: (O, I, 1, 1) <-> (O, I).
        if tensor.shape == (*shape, 1, 1) or (*tensor.shape, 1, 1) == tuple(shape):
            return tensor.reshape(shape)
        return tensor

    def convert(self, state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``state`` under cnnzoo's names (shapes are not checked here: the loader does that)."""
        return {self.rename(k): v for k, v in state.items()}


def _minus_one(group: int, template: str) -> Callable[[re.Match[str]], str]:
    """A replacement that writes ``template`` with the 1-based index in ``group`` made 0-based."""
    return lambda m: template.format(int(m.group(group)) - 1)


def _flat_index(depths: tuple[int, ...], offset: int, template: str) -> Callable[[re.Match[str]], str]:
    """``blocks.S.B`` (stage, block) -> ``template`` with the block's running index + ``offset``."""
    starts = [sum(depths[:s]) for s in range(len(depths))]
    return lambda m: template.format(starts[int(m.group(1))] + int(m.group(2)) + offset)


# ------------------------------------------------------------------------------------------------
# torchvision


# torchvision ResNet: conv1/bn1 -> stem.0/stem.1, layerN -> stages.N-1, downsample -> shortcut.
_RESNET: tuple[Rule, ...] = (
    (r"^conv1\.", "stem.0."),
    (r"^bn1\.", "stem.1."),
    (r"^layer(\d)\.", _minus_one(1, "stages.{}.")),
    (r"\.downsample\.", ".shortcut."),
    (r"^fc\.", "classifier."),
)

# VGG: convolutions per stage (the "D" in VGG16 is 2, 2, 3, 3, 3) ...
_VGG_DEPTHS = {11: (1, 1, 2, 2, 2), 13: (2, 2, 2, 2, 2), 16: (2, 2, 3, 3, 3), 19: (2, 2, 4, 4, 4)}


def _vgg_rules(depth: int, bn: bool) -> tuple[Rule, ...]:
    """torchvision's flat ``features.I`` (conv, [bn], relu, ..., maxpool per stage) -> our ``features.S.J``.

    Ours keeps the same layers per stage in a Sequential of its own, pool included, so within a
    stage the index is the same and only the stage's start moves.
    """
    per_conv = 3 if bn else 2  # conv, [bn], relu
    table: dict[int, str] = {}
    flat = 0
    for stage, convs in enumerate(_VGG_DEPTHS[depth]):
        for j in range(convs * per_conv + 1):  # + the max-pool
            table[flat + j] = f"features.{stage}.{j}."
        flat += convs * per_conv + 1
    return (
        (r"^features\.(\d+)\.", lambda m: table[int(m.group(1))]),
        (r"^classifier\.(0|3)\.", r"pre_logits.\1."),  # Linear, ReLU, Dropout, Linear, ReLU, Dropout
        (r"^classifier\.6\.", "classifier."),
    )


# GoogLeNet: conv1..3 -> stem (max-pool between conv1 and conv2), 3a/3b and 5a/5b as pairs, 4b-4d as
# a triple; each auxiliary head's fc1/fc2 -> fc/classifier.
_GOOGLENET: tuple[Rule, ...] = (
    (r"^conv1\.", "stem.0."),
    (r"^conv2\.", "stem.2."),
    (r"^conv3\.", "stem.3."),
    (r"^inception([35])([ab])\.", lambda m: f"inception{m.group(1)}.{'ab'.index(m.group(2))}."),
    (r"^inception4([bcd])\.", lambda m: f"inception4bcd.{'bcd'.index(m.group(1))}."),
    (r"^(aux[12])\.fc1\.", r"\1.fc."),
    (r"^(aux[12])\.fc2\.", r"\1.classifier."),
    (r"^fc\.", "classifier."),
)

# Inception-v3: TensorFlow's layer names. The stem's five convolutions (Conv2d_1a_3x3 .. Conv2d_4a_3x3)
# -> stem.0/1/2/4/5 (max-pools at 3 and 6); Mixed_5b-5d, 6a-6e, 7a-7c -> mixed5/6/7 in order (the
# blocks keep their branch names); AuxLogits -> aux, its fc and the network's fc -> classifier.
_INCEPTION_V3_STEM = {"1a": 0, "2a": 1, "2b": 2, "3b": 4, "4a": 5}
_INCEPTION_V3: tuple[Rule, ...] = (
    (r"^Conv2d_(1a|2a|2b|3b|4a)_\dx\d\.", lambda m: f"stem.{_INCEPTION_V3_STEM[m.group(1)]}."),
    (r"^Mixed_([567])([a-e])\.",
     lambda m: f"mixed{m.group(1)}.{'abcde'.index(m.group(2)) - (1 if m.group(1) == '5' else 0)}."),
    (r"^AuxLogits\.fc\.", "aux.classifier."),
    (r"^AuxLogits\.", "aux."),
    (r"^fc\.", "classifier."),
)

# DenseNet: denseblockK -> blocks.2(K-1), transitionK -> blocks.2K-1 (norm, relu, conv, pool).
# The published files keep the pre-0.4 names "norm.1"/"conv.2"; torchvision's own loader renames
# them first (densenet.py, _load_state_dict), and so does the first rule here.
_DENSENET: tuple[Rule, ...] = (
    (r"(denselayer\d+\.(?:norm|relu|conv))\.([12])\.", r"\1\2."),
    (r"^features\.conv0\.", "stem.0."),
    (r"^features\.norm0\.", "stem.1."),
    (r"^features\.denseblock(\d)\.denselayer(\d+)\.",
     lambda m: f"blocks.{2 * (int(m.group(1)) - 1)}.layers.{int(m.group(2)) - 1}."),
    (r"^features\.transition(\d)\.norm\.", lambda m: f"blocks.{2 * int(m.group(1)) - 1}.0."),
    (r"^features\.transition(\d)\.conv\.", lambda m: f"blocks.{2 * int(m.group(1)) - 1}.2."),
    (r"^features\.norm5\.", "norm."),
)

# MobileNetV2: ConvBNReLU (Sequential conv, bn, relu) -> ConvBNAct(conv, bn); each inverted residual's
# `conv` list -> `block`, its last plain conv + bn -> one more ConvBNAct (index 1 in features.1, which
# has no expansion layer, 2 elsewhere).
_MOBILENET_V2: tuple[Rule, ...] = (
    (r"^features\.(0|18)\.0\.", r"features.\1.conv."),
    (r"^features\.(0|18)\.1\.", r"features.\1.bn."),
    (r"\.conv\.(\d)\.0\.", r".block.\1.conv."),
    (r"\.conv\.(\d)\.1\.", r".block.\1.bn."),
    (r"^features\.1\.conv\.1\.", "features.1.block.1.conv."),
    (r"^features\.1\.conv\.2\.", "features.1.block.1.bn."),
    (r"\.conv\.2\.", ".block.2.conv."),
    (r"\.conv\.3\.", ".block.2.bn."),
    (r"^classifier\.1\.", "classifier."),  # Dropout, Linear
)

# MobileNetV3: Conv2dNormActivation (conv, bn, act) -> ConvBNAct(conv, bn); squeeze-excitation fc1/fc2
# keep their names (1x1 convolutions there, linear layers here: reshaped); the head's first linear
# layer -> pre_logits.0.
_MOBILENET_V3: tuple[Rule, ...] = (
    (r"^features\.(\d+)\.0\.", r"features.\1.conv."),
    (r"^features\.(\d+)\.1\.", r"features.\1.bn."),
    (r"\.block\.(\d)\.0\.", r".block.\1.conv."),
    (r"\.block\.(\d)\.1\.", r".block.\1.bn."),
    (r"^classifier\.0\.", "pre_logits.0."),
    (r"^classifier\.3\.", "classifier."),
)

# AlexNet "one weird trick" (Krizhevsky 2014), torchvision's `alexnet`: the five convolutions at
# features.0/3/6/8/10 -> cnnzoo's AlexNet layout (conv, relu, norm, pool per early stage: 0/4/8/10/12);
# the classifier's Dropout, Linear, ReLU, Dropout, Linear, ReLU, Linear -> pre_logits + classifier.
_ALEXNET_OWT: tuple[Rule, ...] = (
    (r"^features\.(0|3|6|8|10)\.", lambda m: f"features.{ {0: 0, 3: 4, 6: 8, 8: 10, 10: 12}[int(m.group(1))]}."),
    (r"^classifier\.(1|4)\.", r"pre_logits.\1."),
    (r"^classifier\.6\.", "classifier."),
)


# SqueezeNet: `features` is the same list (an Identity stands in for a skipped pool); the classifier's
# Dropout, Conv2d, ReLU, AdaptiveAvgPool2d -> the 1x1 convolution alone.
_SQUEEZENET: tuple[Rule, ...] = ((r"^classifier\.1\.", "classifier."),)


# ShuffleNet V2: conv1 (+ maxpool) -> stem, stage2..4 -> stages.0..2 (units keep branch1/branch2), fc -> classifier.
_SHUFFLENET_V2: tuple[Rule, ...] = (
    (r"^conv1\.", "stem."),
    (r"^stage(\d)\.", lambda m: f"stages.{int(m.group(1)) - 2}."),
    (r"^fc\.", "classifier."),
)


# EfficientNet (B0-B3, V2-S): torchvision's layout is ours; its Conv2dNormActivation (conv, bn, act) is our
# ConvBNAct(conv, bn), in the stem and head (features.0, features.-1) and inside each block's `block`; the
# squeeze-excitation fc1/fc2 keep their names (1x1 convolutions there, linear layers here: reshaped).
_EFFICIENTNET: tuple[Rule, ...] = (
    (r"^features\.(\d+)\.0\.([a-z_]+)$", r"features.\1.conv.\2"),
    (r"^features\.(\d+)\.1\.([a-z_]+)$", r"features.\1.bn.\2"),
    (r"\.block\.(\d)\.0\.", r".block.\1.conv."),
    (r"\.block\.(\d)\.1\.", r".block.\1.bn."),
    (r"^classifier\.1\.", "classifier."),  # Dropout, Linear
)


# ViT: conv_proj (a P x P convolution of stride P) -> stem.1 (PatchEmbed's linear layer, kernel
# reordered: _patch_kernel); the encoder's position embedding and final LayerNorm move to the top;
# nn.MultiheadAttention's in_proj/out_proj -> qkv/proj; the MLP's second Linear is index 2 here
# (no Dropout modules) where torchvision's MLP has 3. Files written before torchvision 0.14 name the
# MLP's layers linear_1/linear_2; torchvision's own loader renames them (MLPBlock._load_from_state_dict),
# and so do the first two rules here.
_VIT: tuple[Rule, ...] = (
    (r"\.mlp\.linear_1\.", ".mlp.0."),
    (r"\.mlp\.linear_2\.", ".mlp.3."),
    (r"^conv_proj\.", "stem.1."),
    (r"^encoder\.pos_embedding$", "pos_embedding"),
    (r"^encoder\.layers\.encoder_layer_(\d+)\.", r"blocks.\1."),
    (r"\.self_attention\.in_proj_", ".self_attention.qkv."),
    (r"\.self_attention\.out_proj\.", ".self_attention.proj."),
    (r"\.mlp\.3\.", ".mlp.2."),
    (r"^encoder\.ln\.", "norm."),
    (r"^heads\.head\.", "classifier."),
)


def _convnext_features(m: re.Match[str]) -> str:
    """torchvision's flat ``features.K``: 0 the stem, odd K stage (K-1)/2's blocks, even K the
    downsampling before stage K/2."""
    k = int(m.group(1))
    if k == 0:
        return "stem."
    return f"stages.{(k - 1) // 2}.blocks." if k % 2 else f"stages.{k // 2}.downsample."


# ConvNeXt: features.K -> stem / stages.S.blocks / stages.S.downsample; each CNBlock's `block`
# Sequential (conv, Permute, LayerNorm, Linear, GELU, Linear, Permute) -> the official code's names;
# the head's LayerNorm2d (classifier.0) -> head_norm.
_CONVNEXT: tuple[Rule, ...] = (
    (r"^features\.(\d)\.", _convnext_features),
    (r"\.block\.0\.", ".dwconv."),
    (r"\.block\.2\.", ".norm."),
    (r"\.block\.3\.", ".pwconv1."),
    (r"\.block\.5\.", ".pwconv2."),
    (r"^classifier\.0\.", "head_norm."),
    (r"^classifier\.2\.", "classifier."),
)


# ------------------------------------------------------------------------------------------------
# timm

# timm's legacy_xception: cnnzoo keeps its names (conv1-4, bn1-4, block1-12 with rep/skip/skipbn); fc -> classifier.
_XCEPTION: tuple[Rule, ...] = ((r"^fc\.", "classifier."),)

# timm SE-ResNet: torchvision's ResNet names plus `se` (its fc1/fc2 are 1x1 convolutions) -> `attn`.
_SERESNET: tuple[Rule, ...] = (*_RESNET, (r"\.se\.", ".attn."))


def _patch_kernel(tensor: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The libraries' patch embedding is a conv (D, C, p, p); ours (layers.PatchEmbed) a linear layer
    over (p1 p2 c) patches."""
    d, c, p1, p2 = tensor.shape
    return tensor.permute(0, 2, 3, 1).reshape(d, p1 * p2 * c)


# MLP-Mixer: stem.proj -> stem.1 (after the patch Rearrange), mlp_tokens -> token_mixing (between its
# two transposes), mlp_channels -> channel_mixing, head -> classifier.
_MIXER: tuple[Rule, ...] = (
    (r"^stem\.proj\.", "stem.1."),
    (r"\.mlp_tokens\.fc1\.", ".token_mixing.1.0."),
    (r"\.mlp_tokens\.fc2\.", ".token_mixing.1.2."),
    (r"\.mlp_channels\.fc1\.", ".channel_mixing.0."),
    (r"\.mlp_channels\.fc2\.", ".channel_mixing.2."),
    (r"^head\.", "classifier."),
)

# ResMLP: the Mixer's stem; linear_tokens -> cross_patch, mlp_channels -> cross_channel (an MlpBlock),
# the LayerScale vectors ls1/ls2 -> layer_scale1/layer_scale2, head -> classifier.
_RESMLP: tuple[Rule, ...] = (
    (r"^stem\.proj\.", "stem.1."),
    (r"\.linear_tokens\.", ".cross_patch."),
    (r"\.mlp_channels\.fc1\.", ".cross_channel.0."),
    (r"\.mlp_channels\.fc2\.", ".cross_channel.2."),
    (r"\.ls([12])$", r".layer_scale\1"),
    (r"^head\.", "classifier."),
)

# gMLP: the Mixer's stem; the gated MLP's fc1/fc2 -> proj_in/proj_out, its gate -> sgu (the gate's
# proj -> spatial_proj), head -> classifier.
_GMLP: tuple[Rule, ...] = (
    (r"^stem\.proj\.", "stem.1."),
    (r"\.mlp_channels\.fc1\.", ".proj_in."),
    (r"\.mlp_channels\.fc2\.", ".proj_out."),
    (r"\.mlp_channels\.gate\.proj\.", ".sgu.spatial_proj."),
    (r"\.mlp_channels\.gate\.", ".sgu."),
    (r"^head\.", "classifier."),
)

# timm's Darknet-53 (a CspNet with 'dark' stages): stem.conv1 -> stem (one ConvBNAct), each stage's
# conv_down -> stages.S.0 and its blocks.B -> stages.S.B+1 (one Sequential per stage), head.fc -> classifier.
_DARKNET: tuple[Rule, ...] = (
    (r"^stem\.conv1\.", "stem."),
    (r"^stages\.(\d)\.conv_down\.", r"stages.\1.0."),
    (r"^stages\.(\d)\.blocks\.(\d+)\.", lambda m: f"stages.{m.group(1)}.{int(m.group(2)) + 1}."),
    (r"^head\.fc\.", "classifier."),
)

# timm's MobileNetV1 (mobilenetv1_100): blocks.S.B (depthwise-separable: conv_dw, bn1, conv_pw, bn2)
# -> features.1..13, each a pair of ConvBNAct.
_MOBILENET_V1_DEPTHS = (1, 2, 2, 6, 2)
_MOBILENET_V1: tuple[Rule, ...] = (
    (r"^conv_stem\.", "features.0.conv."),
    (r"^bn1\.", "features.0.bn."),
    (r"^blocks\.(\d)\.(\d+)\.", _flat_index(_MOBILENET_V1_DEPTHS, 1, "features.{}.")),
    (r"\.conv_dw\.", ".0.conv."),
    (r"\.bn1\.", ".0.bn."),
    (r"\.conv_pw\.", ".1.conv."),
    (r"\.bn2\.", ".1.bn."),
)

# timm's MobileNetV2 (mobilenetv2_050): blocks.S.B -> features.1..17; the first block is depthwise-
# separable (conv_dw, bn1, conv_pw, bn2), the others inverted residuals (conv_pw, bn1, conv_dw, bn2,
# conv_pwl, bn3), each layer one ConvBNAct of `block`; conv_head/bn2 -> features.18.
_MOBILENET_V2_DEPTHS = (1, 2, 3, 4, 3, 3, 1)
_TIMM_MOBILENET_V2: tuple[Rule, ...] = (
    (r"^conv_stem\.", "features.0.conv."),
    (r"^bn1\.", "features.0.bn."),
    (r"^conv_head\.", "features.18.conv."),
    (r"^bn2\.", "features.18.bn."),
    (r"^blocks\.0\.0\.conv_dw\.", "features.1.block.0.conv."),
    (r"^blocks\.0\.0\.bn1\.", "features.1.block.0.bn."),
    (r"^blocks\.0\.0\.conv_pw\.", "features.1.block.1.conv."),
    (r"^blocks\.0\.0\.bn2\.", "features.1.block.1.bn."),
    (r"^blocks\.(\d)\.(\d+)\.", _flat_index(_MOBILENET_V2_DEPTHS, 1, "features.{}.")),
    (r"\.conv_pw\.", ".block.0.conv."),
    (r"\.bn1\.", ".block.0.bn."),
    (r"\.conv_dw\.", ".block.1.conv."),
    (r"\.bn2\.", ".block.1.bn."),
    (r"\.conv_pwl\.", ".block.2.conv."),
    (r"\.bn3\.", ".block.2.bn."),
)


def _table() -> dict[str, Conversion]:
    out: list[Conversion] = []
    tv, tm = "torchvision", "timm"
    out += [Conversion(f"resnet{d}", tv, f"resnet{d}", _RESNET) for d in (18, 34, 50, 101, 152)]
    # ResNeXt and Wide ResNet-50-2 are torchvision's ResNet class with other Bottleneck widths: same names.
    out += [Conversion(n, tv, n, _RESNET) for n in ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2")]
    out += [Conversion(f"vgg{d}{'_bn' if bn else ''}", tv, f"vgg{d}{'_bn' if bn else ''}", _vgg_rules(d, bn))
            for d in (11, 13, 16, 19) for bn in (False, True)]
    out.append(Conversion("googlenet", tv, "googlenet", _GOOGLENET, model_kwargs={"aux_logits": True}))
    # The published file holds the auxiliary head (torchvision's pretrained builder keeps it).
    out.append(Conversion("inception_v3", tv, "inception_v3", _INCEPTION_V3, model_kwargs={"aux_logits": True}))
    out += [Conversion(f"densenet{d}", tv, f"densenet{d}", _DENSENET) for d in (121, 161, 169, 201)]
    out.append(Conversion("mobilenet_v2", tv, "mobilenet_v2", _MOBILENET_V2))
    out += [Conversion(f"mobilenet_v3_{s}", tv, f"mobilenet_v3_{s}", _MOBILENET_V3) for s in ("large", "small")]
    out.append(Conversion("alexnet_owt", tv, "alexnet", _ALEXNET_OWT))
    out += [Conversion(f"squeezenet1_{v}", tv, f"squeezenet1_{v}", _SQUEEZENET) for v in (0, 1)]
    out += [Conversion(f"shufflenet_v2_{w}", tv, f"shufflenet_v2_{w}", _SHUFFLENET_V2) for w in ("x0_5", "x1_0")]
    out += [Conversion(n, tv, n, _EFFICIENTNET) for n in ("efficientnet_b0", "efficientnet_b1", "efficientnet_b2",
                                                           "efficientnet_b3", "efficientnet_v2_s")]
    out.append(Conversion("vit_b_16", tv, "vit_b_16", _VIT, reshapes=((r"^stem\.1\.weight$", _patch_kernel),)))
    out += [Conversion(f"convnext_{s}", tv, f"convnext_{s}", _CONVNEXT) for s in ("tiny", "small")]
    out += [Conversion(f"seresnet{d}", tm, f"seresnet{d}", _SERESNET) for d in (50, 101, 152)]
    # timm's SE width is make_divisible(C / 16, 8): 8 where C = 64 (the basic blocks' first stage);
    # cnnzoo's is the paper's C // 16 = 4. timm publishes no weights for these two.
    out += [Conversion(f"seresnet{d}", tm, f"seresnet{d}", _SERESNET,
                       differs="timm's squeeze-excitation in the 64-channel stage has 8 hidden units "
                               "(rounded up to a multiple of 8), cnnzoo's the paper's 64 // 16 = 4")
            for d in (18, 34)]
    out += [Conversion(f"mixer_{v}", tm, f"mixer_{v}_224", _MIXER, reshapes=((r"^stem\.1\.weight$", _patch_kernel),))
            for v in ("s16", "s32", "b16", "b32")]
    out.append(Conversion("mobilenet_v1", tm, "mobilenetv1_100", _MOBILENET_V1,
                          differs="timm's mobilenetv1_100 uses ReLU6, cnnzoo's mobilenet_v1 the paper's ReLU "
                                  "(the weights load; activations above 6 are not clipped)"))
    out.append(Conversion("xception", tm, "legacy_xception", _XCEPTION))
    out.append(Conversion("mobilenet_v2_050", tm, "mobilenetv2_050", _TIMM_MOBILENET_V2))
    # The patch embedding is a conv in timm, a linear layer here (as the Mixer's).
    out.append(Conversion("resmlp_12", tm, "resmlp_12_224", _RESMLP, reshapes=((r"^stem\.1\.weight$", _patch_kernel),)))
    out += [Conversion(f"gmlp_{v}", tm, f"gmlp_{v}_224", _GMLP, reshapes=((r"^stem\.1\.weight$", _patch_kernel),))
            for v in ("ti16", "s16")]
    out.append(Conversion("darknet53", tm, "darknet53", _DARKNET))
    return {c.model: c for c in out}


CONVERSIONS: dict[str, Conversion] = _table()


def conversion(model: str) -> Conversion | None:
    """The conversion for a registered cnnzoo model name, or None when it has no counterpart."""
    return CONVERSIONS.get(model)
