"""Block diagrams drawn from the models themselves (``cnnzoo draw``).

A diagram is not drawn by hand: :func:`trace` runs one image through the model on PyTorch's meta
device (shapes without storage, so VGG at 224 px costs milliseconds) with hooks on every module,
and records the calls: which module ran, inside which, in what order, with what output shape.
:func:`build` turns that call tree into a small picture language, recognising the paper's blocks
by their class (BasicBlock, Bottleneck, Inception, DenseBlock, DenseLayer, Transition,
SqueezeExcite, InvertedResidual, DepthwiseSeparable, MixerBlock, VGGBlock, NiNBlock, Fire,
ShuffleUnit, WideBasic, ...) and drawing the paths that make each family what it is: the skip and
the addition (ResNet, Wide ResNet, MobileNetV2, Mixer), the concatenation (DenseNet), the parallel
branches (Inception, SqueezeNet's Fire, ShuffleNet's split), the gate (SE), the groups (ResNeXt).
Consecutive blocks of one kind with one output shape collapse into one box with their count
(``Bottleneck ×6``); ``depth`` opens blocks to show their layers. The column on the right gives
the output shape after each step (``56×56×256``, height × width × channels) and its parameters.

The layout is computed here, in plain Python, and written twice from the same list of shapes:
as SVG by a direct writer (crisp, text stays searchable text, byte-for-byte deterministic, so the
lesson pages' pictures can be checked by a test) and as PNG by matplotlib (already a dependency).
No Graphviz binary is needed: a block diagram of a CNN is a column with side paths, which a layout
engine would not draw better.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CnnzooError, ModelError, OutputError

FORMATS = (".svg", ".png")
# What each opening level shows (see the --depth help).
MAX_DEPTH = 4

# --------------------------------------------------------------------------------------------------
# 1. The trace: which module ran inside which, in order, with its output shape


@dataclass
class Call:
    """One call of a module during the traced forward pass."""

    module: Any
    name: str
    in_shape: tuple[int, ...] | None = None
    out_shape: tuple[int, ...] | None = None
    children: list[Call] = field(default_factory=list)

    @property
    def cls(self) -> str:
        return type(self.module).__name__

    def params(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


def _shape(value: Any) -> tuple[int, ...] | None:
    import torch

    if isinstance(value, torch.Tensor):
        return tuple(value.shape[1:])
    if isinstance(value, (tuple, list)):
        for item in value:
            if (s := _shape(item)) is not None:
                return s
    return None


def trace(model: Any, input_shape: Sequence[int]) -> Call:
    """Run a zero image of ``input_shape`` (C, H, W) through ``model`` and return the call tree.

    The model runs in eval mode under ``no_grad`` on its own device (build it on the meta device
    to trace for free); its train/eval modes are restored afterwards. Identity modules are left out.
    """
    import torch
    from torch import nn

    names = {id(m): n for n, m in model.named_modules()}
    root = Call(model, "")
    stack = [root]

    def pre(module: nn.Module, args: tuple) -> None:
        call = Call(module, names.get(id(module), "?"), _shape(args))
        stack[-1].children.append(call)
        stack.append(call)

    def post(module: nn.Module, args: tuple, output: Any) -> None:
        call = stack.pop()
        call.out_shape = _shape(output)

    handles = []
    for name, m in model.named_modules():
        if name and not isinstance(m, nn.Identity):
            handles.append(m.register_forward_pre_hook(pre))
            handles.append(m.register_forward_hook(post))
    modes = {m: m.training for m in model.modules()}
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    x = torch.zeros((1, *input_shape), device=device)
    try:
        model.eval()
        with torch.no_grad():
            root.out_shape = _shape(model(x))
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes.items():
            m.training = mode
    root.in_shape = tuple(input_shape)
    return root


# --------------------------------------------------------------------------------------------------
# 2. The picture language: boxes in a column, skips around them, branches beside each other


@dataclass
class Box:
    kind: str
    title: str
    lines: list[str] = field(default_factory=list)
    shape: str | None = None          # the output shape column (None: no row there)
    params: int | None = None
    key: str = ""                     # the module path, to match rows across input sizes
    glyph: str | None = None          # a closed block's path: "add", "concat" or None


@dataclass
class Seq:
    items: list[Any]


@dataclass
class Skip:
    """``body`` on the main line and a second path beside it, joined by ``merge``."""

    body: Any
    merge: str                         # "add", "concat" or "mul"
    shortcut: Box | None = None        # None: the identity
    label: str = ""                    # written along the side path
    shape: str | None = None


@dataclass
class Branches:
    branches: list[Any]
    merge: str = "concat"
    shape: str | None = None
    params: int | None = None


@dataclass
class Frame:
    """A dashed frame around an opened block (or a run of them): its title and count."""

    kind: str
    title: str
    body: Any
    shape: str | None = None
    params: int | None = None
    key: str = ""


# -- labels ------------------------------------------------------------------------------------------


def fmt_shape(shape: tuple[int, ...] | None) -> str:
    """(C, H, W) -> ``H×W×C``; (N, C) tokens -> ``N×C``; (D,) -> ``D``."""
    if not shape:
        return "?"
    if len(shape) == 3:
        c, h, w = shape
        return f"{h}×{w}×{c}"
    if len(shape) == 2:
        return f"{shape[0]} tokens × {shape[1]}"
    return "×".join(map(str, shape))


def fmt_params(n: int | None) -> str:
    if not n:
        return ""
    if n < 1000:
        return f"{n}"
    if n < 1_000_000:
        return f"{n / 1e3:.1f}K"
    return f"{n / 1e6:.2f}M"


def _pair(v: Any) -> int:
    return v[0] if isinstance(v, (tuple, list)) else v


ACTS = {"ReLU": "ReLU", "ReLU6": "ReLU6", "GELU": "GELU", "Sigmoid": "sigmoid", "Hardswish": "h-swish",
        "Hardsigmoid": "h-sigmoid", "Tanh": "tanh", "SiLU": "SiLU"}
NORMS = {"BatchNorm2d": "BN", "BatchNorm1d": "BN", "LayerNorm": "LayerNorm", "LocalResponseNorm": "LRN"}


def layer_label(m: Any) -> str:
    """A leaf layer in the words of the papers: ``3×3 conv, 64, stride 2``, ``2×2 max-pool``."""
    cls = type(m).__name__
    if cls == "Conv2d":
        s = _pair(m.stride)
        kh, kw = m.kernel_size  # rectangular in Inception-v3's factorized 1×7 and 7×1
        if m.groups > 1 and m.groups == m.in_channels == m.out_channels:
            text = f"{kh}×{kw} depthwise conv"
        elif m.groups > 1:          # ResNeXt's cardinality, AlexNet's two GPUs
            text = f"{kh}×{kw} conv, {m.out_channels}, {m.groups} groups"
        else:
            text = f"{kh}×{kw} conv, {m.out_channels}"
        return text + (f", stride {s}" if s > 1 else "")
    if cls == "SeparableConv2d":  # Xception's: depthwise 3×3, then pointwise 1×1
        kh, kw = m.conv1.kernel_size
        return f"{kh}×{kw} separable conv, {m.pointwise.out_channels}"
    if cls == "Linear":
        return f"linear {m.in_features}→{m.out_features}"
    if cls in ("MaxPool2d", "AvgPool2d"):
        k, s = _pair(m.kernel_size), _pair(m.stride or m.kernel_size)
        kind = "max" if cls == "MaxPool2d" else "avg"
        return f"{k}×{k} {kind}-pool" + (f", stride {s}" if s > 1 else "")
    if cls in ("AdaptiveAvgPool2d", "AdaptiveMaxPool2d"):
        size = _pair(m.output_size)
        kind = "average" if "Avg" in cls else "max"
        return f"global {kind} pool" if size == 1 else f"adaptive {kind} pool to {size}×{size}"
    if cls in ACTS:
        return ACTS[cls]
    if cls in NORMS:
        return NORMS[cls] if cls != "LayerNorm" else "LayerNorm"
    if cls == "Dropout":
        return f"dropout {m.p:g}"
    if cls == "Rearrange":
        pattern = getattr(m, "pattern", "")
        if "p1" in pattern:
            p = m.axes_lengths.get("p1", "?") if hasattr(m, "axes_lengths") else "?"
            return f"cut into {p}×{p} patches"
        return "transpose"
    if cls == "Flatten":
        return "flatten"
    if cls == "PadShortcut":
        return f"subsample ×{m.stride} + zero-pad channels"
    return cls


def _kind_of_layer(m: Any) -> str:
    cls = type(m).__name__
    if cls in ("Conv2d", *LAYER_UNITS):
        return "conv"
    if "Pool" in cls:
        return "pool"
    if cls == "Linear":
        return "linear"
    if cls == "Rearrange":
        return "pool"
    return "small"


def _fold(calls: list[Call]) -> list[tuple[list[Call], str]]:
    """Group leaf calls into steps: a conv or linear with the norms, activations after it, and a
    dropout before a linear; pools and the rest on their own. Returns (calls, label) pairs."""
    steps: list[tuple[list[Call], str]] = []
    pending_drop: Call | None = None
    for c in calls:
        cls = c.cls
        attachable = cls in ACTS or cls in NORMS or (cls == "Dropout" and steps
                                                     and steps[-1][0][0].cls == "Linear")
        after_norm = steps and steps[-1][0][-1].cls in NORMS and cls in ACTS
        if attachable and steps and (steps[-1][0][-1].cls in ("Conv2d", "Linear", *LAYER_UNITS) or after_norm
                                     or (steps[-1][0][-1].cls in ACTS or steps[-1][0][-1].cls in NORMS)
                                     and any(g.cls in ("Conv2d", "Linear") for g in steps[-1][0])) \
                and cls != "LayerNorm":
            group, label = steps[-1]
            steps[-1] = (group + [c], f"{label} · {layer_label(c.module)}")
            continue
        if cls == "Dropout":
            pending_drop = c
            continue
        if cls == "ConvBNAct":
            label = _convbnact_label(c)
        else:
            label = layer_label(c.module)
        group = [c]
        if pending_drop is not None:
            label = f"{layer_label(pending_drop.module)} · {label}"
            group = [pending_drop, c]
            pending_drop = None
        steps.append((group, label))
    if pending_drop is not None:
        steps.append(([pending_drop], layer_label(pending_drop.module)))
    return steps


def _convbnact_label(c: Call) -> str:
    m = c.module
    label = layer_label(m.conv)
    if type(m.act).__name__ == "Identity":
        return f"{label} · BN (linear)"
    return f"{label} · BN · {layer_label(m.act)}"


# -- recognising blocks ---------------------------------------------------------------------------

# Fill and stroke per kind of step: one colour per block family, the same in every diagram.
PALETTE = {
    "io": ("#f2f2f2", "#8c8c8c"),
    "stem": ("#dfe6ef", "#5a7394"),
    "conv": ("#dbe8f6", "#4a7db3"),
    "pool": ("#eeeeee", "#8a8a8a"),
    "linear": ("#e6e1f2", "#6f5ea8"),
    "small": ("#f7f7f7", "#a0a0a0"),
    "residual": ("#fde6cc", "#c77a22"),
    "se": ("#f6dbeb", "#a6487f"),
    "inception": ("#dcf0dc", "#4c9650"),
    "dense": ("#d3eeeb", "#2b8a80"),
    "transition": ("#ecf6f4", "#2b8a80"),
    "mixer": ("#fadede", "#b24c49"),
    "attention": ("#fbe3d3", "#b5613a"),
    "convnext": ("#e3eedc", "#5a8a3c"),
    "mobile": ("#fff0c4", "#b08a12"),
    "vgg": ("#dfe5fa", "#4a5fb0"),
    "nin": ("#e2f0fa", "#3a84a8"),
    "fire": ("#f9e0d9", "#b65b43"),
    "shuffle": ("#e5f2d4", "#5d8f2b"),
    "block": ("#eeeeee", "#777777"),
}

BLOCK_KINDS = {
    "BasicBlock": "residual", "Bottleneck": "residual", "Inception": "inception", "InceptionAux": "linear",
    "DenseBlock": "dense", "DenseLayer": "dense", "Transition": "transition", "SqueezeExcite": "se",
    "InvertedResidual": "mobile", "DepthwiseSeparable": "mobile", "MixerBlock": "mixer", "MlpBlock": "mixer",
    "VGGBlock": "vgg", "NiNBlock": "nin", "Fire": "fire", "ShuffleUnit": "shuffle", "WideBasic": "residual",
    "MBConv": "mobile", "FusedMBConv": "mobile", "EncoderBlock": "attention", "CNBlock": "convnext",
    "InceptionA": "inception", "InceptionB": "inception", "InceptionC": "inception", "InceptionD": "inception",
    "InceptionE": "inception", "Block": "residual",
    "DarkBlock": "residual", "ResMLPBlock": "mixer", "GMLPBlock": "mixer", "SpatialGatingUnit": "mixer",
}
INCEPTION_V3_BLOCKS = ("InceptionA", "InceptionB", "InceptionC", "InceptionD", "InceptionE")

# Modules with children that are drawn as one layer (their norm and activation attach to them).
LAYER_UNITS = ("ConvBNAct", "SeparableConv2d")

# Activations a model applies as functions in its forward (F.relu, torch.relu), which the trace of
# modules cannot see: (model class, module path) -> the activation after that module.
FUNCTIONAL_ACTS = {
    ("WideResNet", "norm"): "ReLU",            # F.relu(self.norm(...)): the last blocks' pre-activation
    ("SqueezeNet", "classifier"): "ReLU",      # torch.relu(self.classifier(...)) before the pooling
}
# MobileNetV2's inverted residual and EfficientNet's two forms of it: a `block` column and a shortcut
# where `use_residual`.
INVERTED_RESIDUALS = ("InvertedResidual", "MBConv", "FusedMBConv")

# Plain containers: their calls are spliced into the parent's column (a ConvNeXt stage is its
# Downsample and its CNBlocks, drawn in the column as the paper's figure has them).
CONTAINERS = ("Sequential", "ModuleList", "ConvNeXtStage")


def _is_container(c: Call) -> bool:
    return c.cls in CONTAINERS


def _leaves(call: Call) -> list[Call]:
    """The calls under ``call`` with no calls of their own (ConvBNAct counts as one)."""
    out: list[Call] = []
    for c in call.children:
        if c.children and c.cls not in LAYER_UNITS:
            out.extend(_leaves(c))
        else:
            out.append(c)
    return out


def _steps_text(call: Call, sep: str = " → ") -> str:
    return sep.join(label for _, label in _fold(_leaves(call)))


def _googlenet_name(name: str) -> str:
    """``inception4bcd.1`` -> ``4c``: the paper's names of the nine Inception blocks."""
    m = re.fullmatch(r"inception(\d)([a-z]*)(?:\.(\d+))?", name)
    if not m:
        return ""
    group, letters, idx = m.group(1), m.group(2), m.group(3)
    if idx is None:
        return group + letters
    return group + (letters or "abcdefgh")[int(idx)]


def _inception_v3_name(name: str) -> str:
    """``mixed6.2`` -> ``6c``: TensorFlow's names of Inception-v3's blocks (Mixed_5b ... Mixed_7c)."""
    m = re.fullmatch(r"mixed([567])\.(\d+)", name)
    if not m:
        return ""
    return m.group(1) + ("bcd" if m.group(1) == "5" else "abcde")[int(m.group(2))]


def _conv_words(conv: Any) -> str:
    """``1×7 128`` or ``3×3/2 384``: a branch step, as the paper's figures write it."""
    (kh, kw), s = conv.kernel_size, _pair(conv.stride)
    return f"{kh}×{kw}{f'/{s}' if s > 1 else ''} {conv.out_channels}"


def inception_v3_branches(block: Any) -> list[list[Any]]:
    """The parallel branches of an Inception-v3 block (A-E), each a list of its ConvBNAct layers in
    order, a ``(a, b)`` pair for two run side by side (InceptionE's 1×3 ; 3×1) and ``"avg-pool"`` /
    ``"max-pool"`` for the pooling the block does functionally. Read from the attribute names:
    ``branch7x7dbl_1`` .. ``_5`` are one branch, ``branch3x3_2a`` / ``_2b`` the pair."""
    branches: dict[str, list[Any]] = {}
    for attr, child in block.named_children():
        # branch7x7dbl_3 -> (branch7x7dbl, 3, ""); branch3x3_2b -> (branch3x3, 2, "b"); branch1x1 alone
        match = re.fullmatch(r"(branch\w*?)(?:_(\d+)([ab]?))?", attr)
        if match is None or not hasattr(child, "conv"):
            continue
        steps = branches.setdefault(match.group(1), [])
        if match.group(3) == "b":
            steps[-1] = (steps[-1], child)
        else:
            steps.append(child)
    if "branch_pool" in branches:  # 3×3 average pooling, stride 1, then a 1×1 projection
        branches["branch_pool"].insert(0, "avg-pool")
    else:  # the grid reductions (B, D): a stride-2 max-pool beside the convolutions
        branches["pool"] = ["max-pool"]
    return list(branches.values())


_INCEPTION_V3_POOLS = {"avg-pool": "3×3 avg-pool", "max-pool": "3×3/2 max-pool"}


def _inception_v3_box(step: Any) -> Any:
    """One step of an opened Inception-v3 branch (see inception_v3_branches)."""
    if step == "max-pool":
        return Box("pool", "3×3 max-pool, stride 2")
    if isinstance(step, str):
        return Box("pool", _INCEPTION_V3_POOLS[step])
    if isinstance(step, tuple):  # InceptionE's expanded filter bank: side by side, concatenated
        return Branches([Seq([_inception_v3_box(x)]) for x in step], "concat")
    return Box("conv", f"{layer_label(step.conv)} · BN · ReLU")


def _inception_v3_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """An Inception-v3 block (A-E): one line per parallel branch."""
    first, n = calls[0], len(calls)

    def words(step: Any) -> str:
        if isinstance(step, str):
            return _INCEPTION_V3_POOLS[step]
        if isinstance(step, tuple):
            return f"({_conv_words(step[0].conv)} ; {_conv_words(step[1].conv)})"
        return _conv_words(step.conv)

    lines = [" → ".join(words(s) for s in branch) for branch in inception_v3_branches(first.module)]
    names = [_inception_v3_name(c.name) for c in calls]
    tag = ""
    if all(names):
        tag = f" ({names[0]})" if n == 1 else f" ({names[0]}–{names[-1]})"
    count = f" ×{n}" if n > 1 else ""
    return f"{first.cls}{count}{tag}", [*lines, f"{len(lines)} parallel branches, concatenated"], None


def _xception_flow(name: str) -> str:
    """``block4`` -> ``middle flow``: where an Xception block sits (paper Figure 5)."""
    m = re.fullmatch(r"block(\d+)", name)
    if not m:
        return ""
    i = int(m.group(1))
    return "entry flow" if i <= 3 else "middle flow" if i <= 11 else "exit flow"


def _xception_block_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """An Xception Block: its separable convolutions, the max-pool where the grid halves, the shortcut."""
    first, n = calls[0], len(calls)
    m = first.module
    units: list[str] = []  # "ReLU · sep 3×3 728 · BN" per separable convolution
    for layer in m.rep:
        kind = type(layer).__name__
        if kind == "SeparableConv2d":
            units.append(("ReLU · " if units and units[-1] == "ReLU" else "")
                         + f"sep 3×3 {layer.pointwise.out_channels}")
            if units[-2:-1] == ["ReLU"]:
                del units[-2]
        elif kind == "ReLU":
            units.append("ReLU")
        elif kind == "BatchNorm2d":
            units[-1] += " · BN"
    same = len(set(units)) == 1
    lines = [f"({units[0]}) ×{len(units)}" if same and len(units) > 1 else " → ".join(units)]
    pools = [x for x in m.rep if type(x).__name__ == "MaxPool2d"]
    if pools:
        lines.append(layer_label(pools[0]))
    lines.append("projection (1×1 conv + BN) shortcut" if m.skip is not None else "identity shortcut")
    flow = _xception_flow(first.name)
    count = f" ×{n}" if n > 1 else ""
    return f"Block{count}" + (f" ({flow})" if flow else ""), lines, "add"


def _residual_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A ResNet BasicBlock or Bottleneck (with its SE gate, if any)."""
    first, n = calls[0], len(calls)
    count = f" ×{n}" if n > 1 else ""
    convs = [layer_label(x.module).replace(" conv", "") for x in _leaves(first)
             if x.cls == "Conv2d" and ".shortcut" not in x.name]
    lines = [" → ".join(convs)]
    grouped = [x.module for x in _leaves(first) if x.cls == "Conv2d" and x.module.groups > 1]
    if grouped:
        g = grouped[0]
        lines.append(f"cardinality {g.groups}: {g.groups} paths of {g.out_channels // g.groups} channels in the 3×3")
    se = [x for x in first.children if x.cls == "SqueezeExcite"]
    if se:
        rd = se[0].module.fc1.out_features
        lines.append(f"+ SqueezeExcite gate ({se[0].module.fc1.in_features}→{rd}→"
                     f"{se[0].module.fc2.out_features})")
    sc = [x for x in first.children if ".shortcut" in "." + x.name.split(".", 1)[-1] or
          x.name.endswith("shortcut")]
    if sc:
        what = "projection (1×1 conv + BN)" if sc[0].cls != "PadShortcut" else "subsample + zero-pad"
        lines.append(f"{'first block: ' if n > 1 else ''}{what} shortcut")
    return f"{first.cls}{count}", lines, "add"


def _inverted_residual_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A MobileNet InvertedResidual, an EfficientNet MBConv or FusedMBConv."""
    first, n = calls[0], len(calls)
    count = f" ×{n}" if n > 1 else ""
    # the block's own steps (not _leaves: that would split the SqueezeExcite into its layers)
    steps = [x for c in first.children for x in (c.children if _is_container(c) else [c])]
    leaves = [x for x in steps if x.cls in ("ConvBNAct", "SqueezeExcite")]
    parts = []
    for i, x in enumerate(leaves):
        if x.cls == "SqueezeExcite":
            parts.append("SE")
            continue
        conv = x.module.conv
        k = _pair(conv.kernel_size)
        stride = f"/{_pair(conv.stride)}" if _pair(conv.stride) > 1 else ""
        if conv.groups > 1:
            parts.append(f"{k}×{k} depthwise{stride}")
        elif k > 1:   # FusedMBConv: one full convolution in place of expand + depthwise
            parts.append(f"{k}×{k} {'fused expand' if i < len(leaves) - 1 else 'conv'} {conv.out_channels}{stride}")
        elif i == len(leaves) - 1:
            parts.append(f"1×1 project {conv.out_channels}")
        else:
            parts.append(f"1×1 expand {conv.out_channels}")
    skips = sum(bool(c.module.use_residual) for c in calls)
    lines = [" → ".join(parts)]
    if skips:
        lines.append("skip + add" if skips == n else f"skip + add in {skips} of {n}")
    return f"{first.cls}{count}", lines, "add" if skips else None


def _fire_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """SqueezeNet's Fire: the squeeze, then the two expand branches side by side."""
    m, n = calls[0].module, len(calls)
    e1, e3 = m.expand1x1.out_channels, m.expand3x3.out_channels
    return (f"Fire{f' ×{n}' if n > 1 else ''}",
            [f"squeeze 1×1, {m.squeeze.out_channels} → expand 1×1, {e1} | 3×3, {e3}",
             f"the two expand branches concatenated: {e1 + e3} channels"], None)


def _shuffle_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A ShuffleNet V2 unit: the basic unit (split) or the downsampling unit (two branches)."""
    first, n = calls[0], len(calls)
    m = first.module
    half = m.branch2[-3].out_channels
    if m.stride > 1:
        title = f"ShuffleUnit, stride {m.stride}" + (f" ×{n}" if n > 1 else "")
        return title, [(f"3×3 depthwise/{m.stride} → 1×1, {half} | 1×1, {half} → 3×3 depthwise/{m.stride} → "
                        f"1×1, {half}"),
                       f"both branches see the whole input; concat ({2 * half}), channel shuffle"], None
    return (f"ShuffleUnit{f' ×{n}' if n > 1 else ''}",
            [f"channel split: identity | 1×1, {half} → 3×3 depthwise → 1×1, {half}",
             "concat, channel shuffle"], None)


def _wide_basic_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A Wide ResNet block: pre-activation, BN-ReLU before each 3×3 conv, the dropout between them."""
    first, n = calls[0], len(calls)
    m = first.module
    drop = f" → dropout {m.drop_rate:g}" if m.drop_rate else ""
    lines = [f"BN · ReLU → 3×3, {m.conv1.out_channels}" + (f"/{_pair(m.conv1.stride)}" if _pair(m.conv1.stride) > 1
                                                            else "")
             + f" → BN · ReLU{drop} → 3×3, {m.conv2.out_channels}"]
    if m.shortcut is not None:
        lines.append(f"{'first block: ' if n > 1 else ''}1×1 conv shortcut (of the pre-activated input)")
    return f"WideBasic{f' ×{n}' if n > 1 else ''}", lines, "add"


def _transformer_era_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A ViT EncoderBlock or a ConvNeXt CNBlock: two or one residual steps, summed to the input."""
    first, n = calls[0], len(calls)
    m, count = first.module, f" ×{n}" if n > 1 else ""
    if first.cls == "EncoderBlock":
        attn, mlp = m.self_attention, m.mlp
        return (f"EncoderBlock{count}",
                [f"LayerNorm → multi-head self-attention, {attn.num_heads} heads × {attn.head_dim}",
                 f"LayerNorm → MLP {mlp[0].in_features}→{mlp[0].out_features}→{mlp[2].out_features} · GELU"],
                "add")
    dim, k = m.dwconv.out_channels, _pair(m.dwconv.kernel_size)
    dropped = any(type(c.module.drop_path).__name__ == "DropPath" for c in calls)
    return (f"CNBlock{count}",
            [f"{k}×{k} depthwise → LayerNorm → 1×1 {dim}→{m.pwconv1.out_features} · GELU → 1×1 → {dim}",
             "× layer scale γ" + (" · stochastic depth" if dropped else "")], "add")




def _dark_block_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """A Darknet-53 DarkBlock: 1x1 halving, 3x3 restoring convolution, the input added back."""
    first, n = calls[0], len(calls)
    m = first.module
    convs = " → ".join(layer_label(c.conv) for c in (m.conv1, m.conv2))
    return f"DarkBlock{' ×' + str(n) if n > 1 else ''}", [convs, f"each · BN · {layer_label(m.conv1.act)}"], "add"


def _mlp_token_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """ResMLP's and gMLP's blocks: how they mix the tokens and the channels."""
    first, n = calls[0], len(calls)
    m = first.module
    count = f" ×{n}" if n > 1 else ""
    if first.cls == "ResMLPBlock":
        tok, ch = m.cross_patch, m.cross_channel
        return (f"ResMLPBlock{count}",
                [f"cross-patch linear {tok.in_features}→{tok.out_features} (per channel)",
                 f"cross-channel MLP {ch[0].in_features}→{ch[0].out_features}→{ch[2].out_features}",
                 "Affine before, LayerScale after each"], "add")
    proj = m.sgu.spatial_proj
    return (f"GMLPBlock{count}",
            [f"linear {m.proj_in.in_features}→{m.proj_in.out_features} · GELU → spatial gating unit → "
             f"linear {m.proj_out.in_features}→{m.proj_out.out_features}",
             f"gate: one half × spatial linear {proj.in_features}→{proj.out_features} of the other"], "add")


def _sgu_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    proj = calls[0].module.spatial_proj
    return "SpatialGatingUnit", [f"U × spatial linear {proj.in_features}→{proj.out_features} of LayerNorm(V)"], None


# The blocks whose summary has a function of its own.
SUMMARIES = {"BasicBlock": _residual_summary, "Bottleneck": _residual_summary,
             **dict.fromkeys(INVERTED_RESIDUALS, _inverted_residual_summary), "Fire": _fire_summary,
             "ShuffleUnit": _shuffle_summary, "WideBasic": _wide_basic_summary,
             "EncoderBlock": _transformer_era_summary, "CNBlock": _transformer_era_summary,
             "Block": _xception_block_summary, **dict.fromkeys(INCEPTION_V3_BLOCKS, _inception_v3_summary),
             "DarkBlock": _dark_block_summary, "ResMLPBlock": _mlp_token_summary, "GMLPBlock": _mlp_token_summary,
             "SpatialGatingUnit": _sgu_summary}


def _block_summary(calls: list[Call]) -> tuple[str, list[str], str | None]:
    """Title, detail lines and path glyph of a closed block (or a run of them)."""
    first, n = calls[0], len(calls)
    cls, m = first.cls, first.module
    count = f" ×{n}" if n > 1 else ""
    if cls in SUMMARIES and (cls != "Block" or hasattr(m, "rep")):  # "Block": Xception's (timm's name)
        return SUMMARIES[cls](calls)
    if cls == "Inception":
        names = [_googlenet_name(c.name) for c in calls]
        tag = ""
        if all(names):
            tag = f" ({names[0]})" if n == 1 else f" ({names[0]}–{names[-1]})"
        branches = [" → ".join(lbl.split(",")[0].replace(" conv", "").replace(", stride 1", "")
                               for _, lbl in _fold(_leaves(b))) for b in first.children]
        return f"Inception{count}{tag}", [" | ".join(branches), "4 parallel branches, concatenated"], None
    if cls == "DenseBlock":
        layers = len(m.layers)
        k = m.layers[0].conv2.out_channels
        inner = m.layers[0].conv1.out_channels
        return (f"DenseBlock: DenseLayer ×{layers}",
                [f"each: BN-ReLU-1×1 conv {inner} → BN-ReLU-3×3 conv {k}",
                 f"concatenated: +{k} channels per layer"], "concat")
    if cls == "DenseLayer":
        return f"DenseLayer{count}", [_steps_text(first)], None
    if cls == "Transition":
        return f"Transition{count}", [_steps_text(first)], None
    if cls == "DepthwiseSeparable":
        a, b = m[0].conv, m[1].conv
        st = f", stride {_pair(a.stride)}" if _pair(a.stride) > 1 else ""
        return (f"DepthwiseSeparable{count}",
                [f"3×3 depthwise{st} → 1×1 pointwise, {b.out_channels}"], None)
    if cls == "MixerBlock":
        tok = m.token_mixing[1]
        ch = m.channel_mixing
        return (f"MixerBlock{count}",
                [f"token-mixing MLP {tok[0].in_features}→{tok[0].out_features}→{tok[2].out_features}",
                 f"channel-mixing MLP {ch[0].in_features}→{ch[0].out_features}→{ch[2].out_features}"], "add")
    if cls == "VGGBlock":
        conv_calls = [x for x in first.children if x.cls == "Conv2d"]
        pool = [x for x in first.children if "Pool" in x.cls]
        lines = [f"{layer_label(conv_calls[0].module)}"
                 + (" · BN" if any(x.cls == "BatchNorm2d" for x in first.children) else "") + " · ReLU"
                 + (f", {len(conv_calls)} times" if len(conv_calls) > 1 else "")]
        if pool:
            lines.append(layer_label(pool[0].module))
        return f"VGG block{count}", lines, None
    if cls == "NiNBlock":
        convs = [layer_label(x.module) for x in first.children if x.cls == "Conv2d"]
        return f"NiN block{count}", [" → ".join(convs), "each conv · ReLU"], None
    if cls == "SqueezeExcite":
        return "SqueezeExcite", [f"gate {m.fc1.in_features}→{m.fc1.out_features}→{m.fc2.out_features}"], None
    if cls == "MlpBlock":
        return f"MLP{count}", [_steps_text(first)], None
    return f"{cls}{count}", [_steps_text(first)] if first.children else [], None


def _run_key(c: Call) -> tuple:
    """Blocks with equal keys in a row are drawn as one box with their count."""
    if c.cls == "Inception" or c.cls in INCEPTION_V3_BLOCKS:  # own widths each; group them by resolution
        return (c.cls, c.out_shape[1:] if c.out_shape else None)
    if c.cls in ("BasicBlock", "Bottleneck", *INVERTED_RESIDUALS, "WideBasic", "CNBlock"):
        return (c.cls, c.out_shape)   # the first of a stage differs only in its stride and shortcut
    # otherwise the layers must match too (VGG's last small-image block has no pool)
    return (c.cls, c.out_shape, tuple(x.cls for x in c.children))


class _Builder:
    """Turns a call tree into the picture language, opening blocks down to ``depth``."""

    def __init__(self, depth: int, small: bool = False, model_cls: str = "", class_token: bool = False) -> None:
        self.depth = depth
        self.small = small
        self.model_cls = model_cls
        self.class_token = class_token  # a ViT: the head reads the class token instead of averaging
        self.paper_names: dict[str, str] = {}   # module path -> the paper's name of the block (fire2 ... fire9)

    # A column of calls: collapse runs of one block kind, fold layers into steps.
    def column(self, calls: list[Call], level: int, annotate: bool = True) -> list[Any]:
        flat = self._splice(calls)
        items: list[Any] = []
        i = 0
        prev_out: tuple[int, ...] | None = None
        while i < len(flat):
            c = flat[i]
            if c.cls in BLOCK_KINDS or (c.children and c.cls not in LAYER_UNITS):
                gap = self._gap_step(prev_out, c.in_shape, annotate)
                if gap is not None:
                    items.append(gap)
                j = i + 1
                if c.cls in BLOCK_KINDS:
                    while j < len(flat) and flat[j].cls == c.cls and _run_key(flat[j]) == _run_key(c):
                        j += 1
                items.append(self.block(flat[i:j], level, annotate))
                prev_out = flat[j - 1].out_shape
                i = j
                continue
            j = i
            while j < len(flat) and not (flat[j].cls in BLOCK_KINDS or (flat[j].children
                                                                           and flat[j].cls not in LAYER_UNITS)):
                j += 1
            for group, label in _fold(flat[i:j]):
                gap = self._gap_step(prev_out, group[0].in_shape, annotate)
                if gap is not None:
                    items.append(gap)
                last = group[-1]
                main = next((g for g in group if g.cls != "Dropout"), group[0])
                if (act := FUNCTIONAL_ACTS.get((self.model_cls, main.name))) is not None:
                    label = f"{label} · {act}"
                items.append(Box(_kind_of_layer(main.module), label,
                                 shape=fmt_shape(last.out_shape) if annotate else None,
                                 params=sum(g.params() for g in group), key=main.name))
                prev_out = last.out_shape
            i = j
        return items

    def _splice(self, calls: list[Call]) -> list[Call]:
        out: list[Call] = []
        for c in calls:
            if _is_container(c) and c.name.split(".")[-1] != "stem":
                out.extend(self._splice(c.children))
            else:
                out.append(c)
        return out

    def _gap_step(self, prev: tuple[int, ...] | None, cur: tuple[int, ...] | None, annotate: bool) -> Box | None:
        """A step done by a function rather than a module (flatten, averaging, taking the class token)."""
        if prev is None or cur is None or prev == cur:
            return None
        shape = fmt_shape(cur) if annotate else None
        if self.class_token and len(prev) == len(cur) == 2 and cur[0] == prev[0] + 1:
            return Box("small", "prepend the class token · add the position embedding", shape=shape)
        if len(prev) == 2 and len(cur) == 1:
            if self.class_token:
                return Box("pool", "take the class token", shape=shape)
            return Box("pool", "average over the tokens", shape=shape)
        if len(prev) == 3 and len(cur) == 1 and prev[1] * prev[2] > 1:
            if cur[0] == prev[0]:  # the channels kept: a mean over the map (x.mean((2, 3)) in forward_head)
                return Box("pool", "global average pool", shape=shape)
            return Box("small", "flatten", shape=shape)
        return None

    def block(self, calls: list[Call], level: int, annotate: bool) -> Any:
        first = calls[0]
        kind = BLOCK_KINDS.get(first.cls, "block")
        params = sum(c.params() for c in calls)
        shape = fmt_shape(calls[-1].out_shape)
        name = first.name.split(".")[-1]
        if name == "stem" or (_is_container(first)):
            return self.stem(first, annotate)
        title, lines, glyph = _block_summary(calls)
        names = [self.paper_names.get(c.name, "") for c in calls]
        if all(names):
            title += f" ({names[0]})" if len(names) == 1 else f" ({names[0]}–{names[-1]})"
        if level >= self.depth:
            box = Box(kind, title, lines, shape=shape if annotate else None, params=params, key=first.name,
                      glyph=glyph)
            if glyph == "add":
                return Skip(box, "add", shape=None)
            if glyph == "concat":
                # A dense block: every layer's output is concatenated to its input.
                return Skip(box, "concat", label="each layer's input", shape=None)
            return box
        # Open it: one representative drawn inside a frame that carries the count.
        rep = first
        if first.cls in INVERTED_RESIDUALS:
            rep = next((c for c in calls if c.module.use_residual), first)
        inner_annotate = annotate and len(calls) == 1
        body = self.open(rep, level + 1, inner_annotate, calls)
        frame_title = title if len(calls) == 1 else f"{title}  (one drawn)"
        if first.cls == "DenseBlock":
            frame_title += f", each +{first.module.layers[0].conv2.out_channels} channels"
        return Frame(kind, frame_title, body, shape=shape if annotate else None, params=params, key=first.name)

    def stem(self, call: Call, annotate: bool) -> Box:
        steps = [label for _, label in _fold(_leaves(call))]
        title = "Stem (small-image)" if self.small else "Stem"
        return Box("stem", title, steps, shape=fmt_shape(call.out_shape) if annotate else None,
                   params=call.params(), key=call.name)

    def open(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """The inside of one block, with its paths."""
        cls, m = c.cls, c.module
        kids = {x.name.split(".")[-1]: x for x in c.children}
        if cls in ("BasicBlock", "Bottleneck"):
            main = [x for x in c.children if x.name.split(".")[-1] != "shortcut"]
            # the last ReLU runs after the addition
            post = main[-1] if main and main[-1].cls == "ReLU" else None
            if post is not None:
                main = main[:-1]
            body = Seq(self.column(main, level, annotate))
            shortcut, label = None, "identity"
            if "shortcut" in kids:
                sc = kids["shortcut"]
                others = sum(1 for r in run[1:] if "shortcut" in {x.name.split(".")[-1] for x in r.children})
                note = ["first block only"] if len(run) > 1 and not others else []
                if sc.cls == "PadShortcut":
                    shortcut = Box("small", layer_label(sc.module), note)
                else:
                    shortcut = Box("conv", " · ".join(lbl for _, lbl in _fold(_leaves(sc))), note)
                label = ""
            skip = Skip(body, "add", shortcut, label, shape=fmt_shape(c.out_shape) if annotate else None)
            if post is None:
                return skip
            return Seq([skip, Box("small", "ReLU")])
        opener = {"SqueezeExcite": self._open_se, "Fire": self._open_fire, "ShuffleUnit": self._open_shuffle,
                  "WideBasic": self._open_wide_basic, "EncoderBlock": self._open_transformer_era,
                  "CNBlock": self._open_transformer_era,
                  **dict.fromkeys(INCEPTION_V3_BLOCKS, lambda c, level, annotate, run: self._open_inception_v3(
                      c, annotate)),
                  **dict.fromkeys(("DarkBlock", "ResMLPBlock", "GMLPBlock"),
                                  lambda c, level, annotate, run: self._open_successor(c, level, annotate))}.get(cls)
        if cls == "Block" and hasattr(m, "rep"):  # "Block": Xception's (timm's name)
            return self._open_xception(c, level, annotate)
        if opener is not None:
            return opener(c, level, annotate, run)
        if cls == "Inception":
            branches = [Seq(self.column([b], level, annotate=False) if not _is_container(b)
                            else self.column(b.children, level, annotate=False)) for b in c.children]
            return Branches(branches, "concat", shape=fmt_shape(c.out_shape) if annotate else None)
        if cls == "DenseBlock":
            layers = c.children
            unit = self.block([layers[0]], level, annotate=False) if level < self.depth else \
                Box("dense", *_block_summary([layers[0]])[:2])
            return Skip(unit, "concat", label="the layer's input")
        if cls in INVERTED_RESIDUALS:
            inner = kids.get("block")
            col = self.column(inner.children if inner else c.children, level, annotate)
            self._rename_mobile(col)
            if m.use_residual:
                partial = sum(bool(r.module.use_residual) for r in run)
                label = "identity" if partial == len(run) else f"identity ({partial} of {len(run)} blocks)"
                return Skip(Seq(col), "add", label=label, shape=fmt_shape(c.out_shape) if annotate else None)
            return Seq(col)
        if cls == "DepthwiseSeparable":
            col = self.column(c.children, level, annotate)
            self._rename_mobile(col)
            return Seq(col)
        if cls == "MixerBlock":
            t = m.token_mixing[1]
            ch = m.channel_mixing
            tok_calls = [x for x in kids["token_mixing"].children if x.cls == "MlpBlock"]
            if level < self.depth and tok_calls:
                tok_body: Any = Frame("mixer", "token-mixing MLP (across the tokens, per channel)",
                                      Seq(self.column(tok_calls[0].children, level + 1, annotate=False)))
                ch_body: Any = Frame("mixer", "channel-mixing MLP (across the channels, per token)",
                                     Seq(self.column(kids["channel_mixing"].children, level + 1, annotate=False)))
            else:
                tok_body = Box("mixer", "token-mixing MLP", [(f"{t[0].in_features} tokens → {t[0].out_features} → "
                                                             f"{t[2].out_features}, per channel")])
                ch_body = Box("mixer", "channel-mixing MLP", [(f"{ch[0].in_features} channels → "
                                                              f"{ch[0].out_features} → {ch[2].out_features}, "
                                                              "per token")])
            shape = fmt_shape(c.out_shape) if annotate else None
            return Seq([Skip(Seq([Box("small", "LayerNorm"), tok_body]), "add", shape=shape),
                        Skip(Seq([Box("small", "LayerNorm"), ch_body]), "add", shape=shape)])
        # Everything else (VGGBlock, NiNBlock, Transition, DenseLayer, MlpBlock, ...) is a column.
        return Seq(self.column(c.children, level, annotate))

    def _open_se(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """The SE gate: squeeze, excite, and the multiplication that scales each channel."""
        m = c.module
        fc1, act, fc2, gate = m.fc1, m.act, m.fc2, m.gate
        body = Seq([Box("pool", "squeeze: global average pool"),
                    Box("linear", f"excite: {layer_label(fc1)} · {layer_label(act)}"),
                    Box("linear", f"{layer_label(fc2)} · {layer_label(gate)}")])
        return Skip(body, "mul", label="scale each channel", shape=fmt_shape(c.out_shape) if annotate else None)

    def _open_fire(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """SqueezeNet's Fire: the squeeze, then the 1×1 and 3×3 expand branches, concatenated."""
        m = c.module
        expand = [Seq([Box("conv", f"expand: {layer_label(conv)} · ReLU")]) for conv in (m.expand1x1, m.expand3x3)]
        return Seq([Box("conv", f"squeeze: {layer_label(m.squeeze)} · ReLU"),
                    Branches(expand, "concat", shape=fmt_shape(c.out_shape) if annotate else None)])

    def _open_shuffle(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """ShuffleNet V2's unit: split, one half transformed, concat, shuffle; or two strided branches."""
        m, kids = c.module, {x.name.split(".")[-1]: x for x in c.children}
        shape = fmt_shape(c.out_shape) if annotate else None
        branch2 = Seq(self.column(kids["branch2"].children, level, annotate=False))
        shuffle = Box("small", "channel shuffle (2 groups)", shape=shape)
        if m.stride > 1:
            branch1 = Seq(self.column(kids["branch1"].children, level, annotate=False))
            return Seq([Branches([branch1, branch2], "concat"), shuffle])
        half = m.branch2[0].in_channels
        return Seq([Box("small", f"channel split: 2 halves of {half}"),
                    Branches([Seq([Box("small", "identity")]), branch2], "concat"), shuffle])

    def _open_wide_basic(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """Wide ResNet's pre-activation block; a projection reads the pre-activated input."""
        m = c.module
        shape = fmt_shape(c.out_shape) if annotate else None
        convs = [Box("conv", layer_label(m.conv1)),
                 Box("small", "BN · ReLU" + (f" · dropout {m.drop_rate:g}" if m.drop_rate else "")),
                 Box("conv", layer_label(m.conv2))]
        if m.shortcut is None:
            return Skip(Seq([Box("small", "BN · ReLU"), *convs]), "add", label="identity", shape=shape)
        others = sum(1 for r in run[1:] if r.module.shortcut is not None)
        note = ["first block only"] if len(run) > 1 and not others else []
        # the projection reads the pre-activated input: the side path starts after BN · ReLU
        return Seq([Box("small", "BN · ReLU"),
                    Skip(Seq(convs), "add", Box("conv", layer_label(m.shortcut), note), shape=shape)])

    def _open_transformer_era(self, c: Call, level: int, annotate: bool, run: list[Call]) -> Any:
        """An opened EncoderBlock (two pre-norm residual steps) or CNBlock (one residual step)."""
        m = c.module
        kids = {x.name.split(".")[-1]: x for x in c.children}
        if c.cls == "EncoderBlock":
            shape = fmt_shape(c.out_shape) if annotate else None
            attn = m.self_attention
            attn_box = Box("attention", "multi-head self-attention",
                           [f"{attn.num_heads} heads × {attn.head_dim}: softmax(QKᵀ/√{attn.head_dim}) V",
                            "every token attends to every token"])
            mlp = kids["mlp"]
            mlp_body: Any = Frame("attention", "MLP (per token)",
                                  Seq(self.column(mlp.children, level + 1, annotate=False))) \
                if level < self.depth else \
                Box("attention", "MLP (per token)", [f"{m.mlp[0].in_features} → {m.mlp[0].out_features} · GELU → "
                                                     f"{m.mlp[2].out_features}"])
            return Seq([Skip(Seq([Box("small", "LayerNorm"), attn_box]), "add", shape=shape),
                        Skip(Seq([Box("small", "LayerNorm"), mlp_body]), "add", shape=shape)])
        # A CNBlock. No shapes inside: from the LayerNorm on, the block works channels-last (B, H, W, C).
        inner = [x for x in c.children if x.cls not in ("Identity", "DropPath")]
        col = self.column(inner, level, annotate=False)
        col.append(Box("small", "× layer scale γ (per channel)"))
        dropped = [r for r in run if type(r.module.drop_path).__name__ == "DropPath"]
        if dropped:
            col.append(Box("small", "stochastic depth" + (f" ({len(dropped)} of {len(run)} blocks)"
                                                          if len(dropped) < len(run) else "")))
        return Skip(Seq(col), "add", label="identity", shape=fmt_shape(c.out_shape) if annotate else None)

    @staticmethod
    def _open_inception_v3(c: Call, annotate: bool) -> Branches:
        """The parallel branches of an Inception-v3 block (the paper's Figures 5-7 and 10)."""
        return Branches([Seq([_inception_v3_box(x) for x in branch]) for branch in inception_v3_branches(c.module)],
                        "concat", shape=fmt_shape(c.out_shape) if annotate else None)

    def _open_xception(self, c: Call, level: int, annotate: bool) -> Skip:
        """An Xception Block: its separable convolutions (and max-pool) beside the shortcut."""
        rep = next(x for x in c.children if x.name.split(".")[-1] == "rep")
        body = Seq(self.column(rep.children, level, annotate))
        skip = c.module.skip
        shortcut = Box("conv", f"{layer_label(skip)} · BN") if skip is not None else None
        return Skip(body, "add", shortcut, "" if shortcut else "identity",
                    shape=fmt_shape(c.out_shape) if annotate else None)

    def _open_successor(self, c: Call, level: int, annotate: bool) -> Any:
        """The inside of Darknet's DarkBlock and of the Mixer's successors' blocks (ResMLP, gMLP)."""
        cls, m = c.cls, c.module
        shape = fmt_shape(c.out_shape) if annotate else None
        if cls == "DarkBlock":
            return Skip(Seq(self.column(c.children, level, annotate)), "add", label="identity", shape=shape)
        if cls == "ResMLPBlock":
            tok, ch = m.cross_patch, m.cross_channel
            tok_box = Box("mixer", "cross-patch linear", [f"{tok.in_features} patches → {tok.out_features}, "
                                                          "per channel"])
            ch_box = Box("mixer", "cross-channel MLP", [f"{ch[0].in_features} channels → {ch[0].out_features} "
                                                        f"· GELU → {ch[2].out_features}, per patch"])
            return Seq([Skip(Seq([Box("small", "Affine"), tok_box, Box("small", "LayerScale")]), "add", shape=shape),
                        Skip(Seq([Box("small", "Affine"), ch_box, Box("small", "LayerScale")]), "add", shape=shape)])
        # GMLPBlock: the Spatial Gating Unit multiplies one half of the channels by a projection of the other.
        proj = m.sgu.spatial_proj
        gate = Skip(Seq([Box("small", f"V: channels {m.sgu.norm.normalized_shape[0] + 1}–"
                                      f"{2 * m.sgu.norm.normalized_shape[0]}"),
                         Box("small", "LayerNorm"),
                         Box("mixer", "spatial linear", [f"{proj.in_features} tokens → {proj.out_features}, "
                                                         "per channel"])]),
                    "mul", label=f"U: channels 1–{m.sgu.norm.normalized_shape[0]}")
        sgu = Frame("mixer", "Spatial Gating Unit", gate)
        return Skip(Seq([Box("small", "LayerNorm"),
                         Box("linear", f"linear {m.proj_in.in_features}→{m.proj_in.out_features} · GELU"),
                         sgu, Box("linear", f"linear {m.proj_out.in_features}→{m.proj_out.out_features}")]),
                    "add", shape=shape)

    @staticmethod
    def _rename_mobile(col: list[Any]) -> None:
        convs = [b for b in col if isinstance(b, Box) and b.kind == "conv"]
        for i, b in enumerate(convs):
            if "depthwise" in b.title:
                continue
            if b.title.startswith("1×1 conv"):
                role = "project" if (i == len(convs) - 1 and "linear" in b.title) else \
                    ("pointwise" if i == len(convs) - 1 else "expand")
                b.title = b.title.replace("1×1 conv", f"1×1 {role} conv", 1)


def _info_lines(model: Any) -> list[str]:
    out = []
    if getattr(model, "small_input", None):
        out.append("small-image configuration (input under 64 px): see docs/models.md")
    if hasattr(model, "patch_size"):
        out.append(f"{model.patch_size}×{model.patch_size} patches: {getattr(model, 'num_patches', model.num_tokens)} "
                   "tokens")
    if hasattr(model, "class_token"):
        out.append(f"+ a class token and a learned position embedding ({model.num_tokens} positions); "
                   "the head reads the class token")
    return out


@dataclass
class Diagram:
    """A laid-out diagram: the shapes to draw, and its size in pixels."""

    title: str
    subtitle: list[str]
    root: Any
    rows: list[Any] = field(default_factory=list)   # the top-level steps (the shape walk-through)

    def svg(self, inline: bool = False) -> str:
        """The SVG document; ``inline=True`` for inside an HTML page (scales to the page's width)."""
        return to_svg(*self._laid_out(), inline=inline)

    def png(self) -> bytes:
        return to_png(*self._laid_out())

    def _laid_out(self) -> tuple[list[tuple], float, float]:
        return layout(self)

    def write(self, path: str | Path) -> Path:
        return write(self, path)


def build(model: Any, input_shape: Sequence[int], depth: int = 1, block: str | None = None,
          title: str | None = None) -> Diagram:
    """The diagram of ``model`` at ``input_shape`` (C, H, W), blocks opened down to ``depth``.

    ``block`` draws only the first block of that class (``"Bottleneck"``), opened.
    """
    if depth < 1:
        raise ModelError(f"--depth must be at least 1, got {depth}")
    input_shape = tuple(int(d) for d in input_shape)
    root = trace(model, input_shape)
    name = getattr(model, "model_name", None) or type(model).__name__
    if block is not None:
        found = _find(root, block)
        if found is None:
            present = sorted({c.cls for c in _walk(root) if c.cls in BLOCK_KINDS})
            from ..errors import did_you_mean

            raise ModelError(f"{name} has no block '{block}'{did_you_mean(block, present)}; "
                             f"its blocks are: {', '.join(present) or 'none'}")
        b = _Builder(depth + 1, model_cls=type(model).__name__)
        body = b.open(found, 1, True, [found])
        title_text = _block_summary([found])[0]
        items = [Box("io", "input", shape=fmt_shape(found.in_shape)),
                 Frame(BLOCK_KINDS.get(found.cls, "block"), title_text, body, shape=fmt_shape(found.out_shape),
                       params=found.params())]
        which = "the first" if found is _find_all(root, found.cls)[0] else ("an" if found.cls[0] in "AEIOU" else "a")
        sub = [(f"{which} {found.cls} of {name} (module {found.name}) at input {'×'.join(map(str, input_shape))}: "
               f"{found.params():,} parameters")]
        return Diagram(title or f"{found.cls}, in {name}", sub, Seq(items))
    b = _Builder(depth, small=bool(getattr(model, "small_input", False)), model_cls=type(model).__name__,
                 class_token=hasattr(model, "class_token"))
    # SqueezeNet's paper numbers its Fire modules after conv1: fire2 ... fire9
    b.paper_names = {c.name: f"fire{i + 2}" for i, c in enumerate(_find_all(root, "Fire"))}
    items = b.column(root.children, 1)
    head = Box("io", "input", shape=fmt_shape(input_shape), key="input")
    out = Box("io", f"{root.out_shape[0] if root.out_shape else '?'} class scores", key="output")
    from ..models import count_params

    params = count_params(model)
    macs = _macs(model, input_shape)
    sub = [(f"input {'×'.join(map(str, input_shape))} · {getattr(model, 'num_classes', '?')} classes · "
           f"{params:,} parameters · {macs / 1e6:,.1f}M MACs")]
    sub += _info_lines(model)
    return Diagram(title or name, sub, Seq([head, *items, out]), rows=list(items))


def _macs(model: Any, input_shape: Sequence[int]) -> int:
    from ..models import profile

    return profile(model, input_shape).macs


def _walk(call: Call):
    yield call
    for c in call.children:
        yield from _walk(c)


def _find_all(root: Call, cls: str) -> list[Call]:
    return [c for c in _walk(root) if c.cls == cls]


def _find(root: Call, cls: str) -> Call | None:
    """The first block of class ``cls``; of the inverted residuals, the first with its skip; of the Wide
    ResNet blocks, the first with the identity (the pre-activation block of the paper's figure); of the
    ShuffleNet units, the first basic unit (the channel split of the paper's Figure 3c)."""
    found = [c for c in _walk(root) if c.cls.lower() == cls.lower()]
    with_skip = [c for c in found if getattr(c.module, "use_residual", False)
                 or (c.cls == "WideBasic" and c.module.shortcut is None)
                 or (c.cls == "ShuffleUnit" and c.module.stride == 1)]
    return (with_skip or found or [None])[0]


# --------------------------------------------------------------------------------------------------
# 3. Layout: every figure has an axis (the main line) and extents left and right of it

FONT = "DejaVu Sans, Verdana, Arial, Helvetica, sans-serif"
TITLE_PX, LINE_PX, SMALL_PX = 13.0, 11.0, 11.0
GAP = 16.0           # vertical gap between steps (the arrow)
LANE = 18.0          # distance of a side path from what it goes around
PAD = 7.0

# DejaVu Sans advance widths (units of 1/2048 em) for the characters the diagrams use; others
# get the width of 'n'. Text is measured with these, so boxes fit in the browsers' fonts too.
_W = {**dict.fromkeys("0123456789", 1303), " ": 651, "a": 1255, "b": 1300, "c": 1126, "d": 1300, "e": 1260,
      "f": 721, "g": 1300, "h": 1298, "i": 569, "j": 569, "k": 1186, "l": 569, "m": 1995, "n": 1298, "o": 1253,
      "p": 1300, "q": 1300, "r": 842, "s": 1067, "t": 803, "u": 1298, "v": 1212, "w": 1675, "x": 1212,
      "y": 1212, "z": 1075, "A": 1401, "B": 1405, "C": 1430, "D": 1577, "E": 1294, "F": 1178, "G": 1587,
      "H": 1540, "I": 604, "J": 604, "K": 1343, "L": 1141, "M": 1767, "N": 1532, "O": 1612, "P": 1235,
      "Q": 1612, "R": 1423, "S": 1300, "T": 1251, "U": 1499, "V": 1401, "W": 2025, "X": 1403, "Y": 1251,
      "Z": 1403, ",": 651, ".": 651, ":": 690, ";": 690, "-": 739, "×": 1716, "→": 1716, "(": 799, ")": 799,
      "|": 690, "/": 690, "·": 651, "+": 1716, "–": 1024, "_": 1024, "'": 563, "=": 1716, "%": 1946}


def text_width(text: str, size: float, bold: bool = False) -> float:
    units = sum(_W.get(ch, 1298) for ch in text)
    return units / 2048 * size * (1.1 if bold else 1.0) * 1.04


@dataclass
class Fig:
    lw: float
    rw: float
    h: float
    prims: list[tuple] = field(default_factory=list)
    notes: list[tuple] = field(default_factory=list)   # (y, x_right, shape, params)
    fork: bool = False     # starts with a fork dot: the line into it carries no arrowhead

    def at(self, dx: float, dy: float) -> tuple[list[tuple], list[tuple]]:
        return [_move(p, dx, dy) for p in self.prims], [(y + dy, x + dx, s, p) for y, x, s, p in self.notes]


def _move(p: tuple, dx: float, dy: float) -> tuple:
    kind = p[0]
    if kind == "rect":
        _, x, y, w, h, *rest = p
        return ("rect", x + dx, y + dy, w, h, *rest)
    if kind == "text":
        _, x, y, *rest = p
        return ("text", x + dx, y + dy, *rest)
    if kind in ("line", "arrow"):
        _, pts, *rest = p
        return (kind, [(x + dx, y + dy) for x, y in pts], *rest)
    if kind == "circle":
        _, x, y, *rest = p
        return ("circle", x + dx, y + dy, *rest)
    if kind == "dot":
        _, x, y, *rest = p
        return ("dot", x + dx, y + dy, *rest)
    raise AssertionError(kind)


LINE = "#555555"


def _fig_box(b: Box) -> Fig:
    fill, stroke = PALETTE.get(b.kind, PALETTE["block"])
    layer = b.kind in ("small", "io", "pool", "conv", "linear")
    tsize = LINE_PX + 1 if layer else TITLE_PX
    bold = not layer
    w = max([text_width(b.title, tsize, bold)] + [text_width(t, LINE_PX) for t in b.lines]) + 2 * PAD + 4
    w = max(w, 96.0)
    h = PAD + tsize + 2 + len(b.lines) * (LINE_PX + 4) + PAD - 1
    prims: list[tuple] = [("rect", -w / 2, 0, w, h, fill, stroke, 5, False)]
    y = PAD + tsize - 2
    prims.append(("text", 0, y, b.title, tsize, bold, "middle", "#1d232b"))
    for t in b.lines:
        y += LINE_PX + 4
        prims.append(("text", 0, y, t, LINE_PX, False, "middle", "#3d4650"))
    notes = [(h / 2, w / 2, b.shape, b.params)] if b.shape is not None else []
    return Fig(w / 2, w / 2, h, prims, notes)


def _op(merge: str) -> tuple[Fig, float]:
    """The merge operator: a circle with + or ×, or a 'concat' pill. Returns its figure and half-width."""
    if merge == "concat":
        w, h = 56.0, 20.0
        return Fig(w / 2, w / 2, h, [("rect", -w / 2, 0, w, h, "#ffffff", "#333333", 10, False),
                                     ("text", 0, 14, "concat", 11, True, "middle", "#1d232b")]), w / 2
    r = 10.0
    sym = "+" if merge == "add" else "×"
    return Fig(r, r, 2 * r, [("circle", 0, r, r, "#ffffff", "#333333"),
                             ("text", 0, r + 5.5, sym, 16, True, "middle", "#1d232b")]), r


def _arrow(x: float, y0: float, y1: float) -> tuple:
    return ("arrow", [(x, y0), (x, y1)], LINE)


def fig(node: Any) -> Fig:
    if isinstance(node, Box):
        return _fig_box(node)
    if isinstance(node, Seq):
        figs = [fig(n) for n in node.items]
        if not figs:
            return Fig(0, 0, 0)
        lw, rw = max(f.lw for f in figs), max(f.rw for f in figs)
        prims: list[tuple] = []
        notes: list[tuple] = []
        y = 0.0
        for i, f in enumerate(figs):
            if i:
                prims.append(("line", [(0, y), (0, y + GAP)], LINE) if f.fork else _arrow(0, y, y + GAP))
                y += GAP
            p, n = f.at(0, y)
            prims += p
            notes += n
            y += f.h
        return Fig(lw, rw, y, prims, notes)
    if isinstance(node, Skip):
        return _fig_skip(node)
    if isinstance(node, Branches):
        figs = [fig(n) for n in node.branches]
        sep = 14.0
        total = sum(f.lw + f.rw for f in figs) + sep * (len(figs) - 1)
        xs, x = [], -total / 2
        for f in figs:
            xs.append(x + f.lw)
            x += f.lw + f.rw + sep
        prims = [("line", [(0, 0), (0, 10)], LINE), ("line", [(xs[0], 10), (xs[-1], 10)], LINE),
                              ("dot", 0, 10)]
        top = 10 + GAP
        bottom = top + max(f.h for f in figs)
        join = bottom + 10
        for f, bx in zip(figs, xs, strict=True):
            prims.append(_arrow(bx, 10, top))
            p, _ = f.at(bx, top)
            prims += p
            prims.append(("line", [(bx, top + f.h), (bx, join)], LINE))
        prims.append(("line", [(xs[0], join), (xs[-1], join)], LINE))
        op, _ = _op(node.merge)
        oy = join + GAP
        prims.append(_arrow(0, join, oy))
        po, _ = op.at(0, oy)
        prims += po
        notes = [(oy + op.h / 2, op.rw, node.shape, node.params)] if node.shape is not None else []
        return Fig(total / 2, total / 2, oy + op.h, prims, notes, fork=True)
    if isinstance(node, Frame):
        body = fig(node.body)
        fill, stroke = PALETTE.get(node.kind, PALETTE["block"])
        head = TITLE_PX + 10
        tw = text_width(node.title, TITLE_PX, True) + 2 * PAD
        lw = body.lw + 12
        rw = body.rw + 12
        if lw + rw < tw:
            extra = (tw - lw - rw) / 2
            lw, rw = lw + extra, rw + extra
        h = head + body.h + 12
        prims = [("rect", -lw, 0, lw + rw, h, _tint(fill), stroke, 8, True),
                              ("text", -lw + PAD, TITLE_PX + 3, node.title, TITLE_PX, True, "start", "#1d232b")]
        p, notes = body.at(0, head)
        prims += p
        if node.shape is not None:
            notes = [n for n in notes] + [(h - 6, rw, node.shape, node.params)]
        return Fig(lw, rw, h, prims, notes)
    raise AssertionError(type(node))


def _fig_skip(node: Skip) -> Fig:
    body = fig(node.body)
    op, orad = _op(node.merge)
    top = 8.0
    prims: list[tuple] = [("dot", 0, 0)]
    prims.append(_arrow(0, 0, top + GAP - 4))
    by = top + GAP - 4
    p, notes = body.at(0, by)
    prims += p
    oy = by + body.h + GAP
    prims.append(_arrow(0, by + body.h, oy))
    po, _ = op.at(0, oy)
    mid = oy + op.h / 2
    sc = fig(node.shortcut) if node.shortcut is not None else None
    scw = (sc.lw + sc.rw) if sc else 0.0
    lane_x = -(body.lw + LANE + scw / 2)
    path = [(0, 0), (lane_x, 0), (lane_x, mid), (-orad, mid)]
    prims.insert(0, ("arrow", path, LINE))
    if sc is not None:
        sy = (by + body.h / 2) - sc.h / 2
        p2, _ = sc.at(lane_x, sy)
        prims += p2
    elif node.label:
        prims.append(("text", lane_x - 4, (by + oy) / 2, node.label, SMALL_PX - 1, False, "vertical",
                      "#5b6775"))
    prims += po
    h = oy + op.h
    if node.shape is not None:
        notes = notes + [(mid, orad, node.shape, None)]
    lw = max(body.lw, -lane_x + scw / 2 + (0 if sc else 14))
    return Fig(lw, max(body.rw, op.rw), h, prims, notes, fork=True)


def _tint(color: str) -> str:
    """A lighter version of a fill, for frames."""
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return "#" + "".join(f"{round(v + (255 - v) * 0.6):02x}" for v in (r, g, b))


def layout(d: Diagram) -> tuple[list[tuple], float, float]:
    """Place the diagram on a canvas: title, the column, the shape column, the legend."""
    body = fig(d.root)
    margin = 20.0
    title_h = 24 + 16 * len(d.subtitle) + 14
    col_gap = 28.0
    shape_w = max([text_width(s or "", LINE_PX + 1) for _, _, s, _ in body.notes] + [70.0])
    param_w = max([text_width(fmt_params(p), LINE_PX + 1) for _, _, _, p in body.notes] + [50.0])
    axis = margin + body.lw
    col_x = axis + body.rw + col_gap
    width = col_x + shape_w + 18 + param_w + margin
    width = max(width, margin * 2 + max([text_width(d.title, 18, True)] +
                                         [text_width(s, 12) for s in d.subtitle]))
    prims: list[tuple] = [("text", margin, 26, d.title, 18, True, "start", "#1d232b")]
    for i, s in enumerate(d.subtitle):
        prims.append(("text", margin, 26 + 18 * (i + 1), s, 12, False, "start", "#5b6775"))
    top = title_h + 16
    if body.notes:
        prims.append(("text", col_x, top - 8, "output", 11, True, "start", "#5b6775"))
        prims.append(("text", col_x + shape_w + 18 + param_w, top - 8, "params", 11, True, "end", "#5b6775"))
    p, notes = body.at(axis, top)
    prims += p
    for y, xr, s, par in _merge_notes(notes):
        prims.append(("line", [(xr + 4, y), (col_x - 6, y)], "#c9ced6", True))
        prims.append(("text", col_x, y + 4, s, LINE_PX + 1, False, "start", "#1d232b"))
        if par:
            prims.append(("text", col_x + shape_w + 18 + param_w, y + 4, fmt_params(par), LINE_PX + 1, False,
                          "end", "#5b6775"))
    height = top + body.h
    legend = _legend(prims)
    if legend:
        y = height + 26
        x = margin
        for sym, text in legend:
            if sym == "concat":
                op, half = _op("concat")
            else:
                op, half = _op(sym)
            pp, _ = op.at(x + half, y - op.h / 2 - 4)
            prims += pp
            prims.append(("text", x + 2 * half + 6, y, text, 11, False, "start", "#3d4650"))
            x += 2 * half + 12 + text_width(text, 11) + 18
        width = max(width, x + margin)
        height = y + 6
    return prims, math.ceil(width), math.ceil(height + margin)


def _merge_notes(notes: list[tuple]) -> list[tuple]:
    """Drop a note that repeats the shape of the one just below it (a merge, then its frame)."""
    notes = sorted(notes, key=lambda n: n[0])
    out: list[tuple] = []
    for n in notes:
        if out and out[-1][2] == n[2] and n[0] - out[-1][0] < 30:
            if n[3] and not out[-1][3]:     # keep the one that also says the parameters
                out[-1] = n
            continue
        out.append(n)
    return out


def _legend(prims: list[tuple]) -> list[tuple[str, str]]:
    texts = {p[3] for p in prims if p[0] == "text" and p[4] in (16, 11) and p[5]}
    out = []
    if "+" in texts:
        out.append(("add", "add: the skip connection"))
    if "×" in texts:
        out.append(("mul", "multiply: the gate scales each channel"))
    if "concat" in texts:
        out.append(("concat", "stack the channels"))
    return out


# --------------------------------------------------------------------------------------------------
# 4. Writers: SVG (direct) and PNG (matplotlib), from the same primitives


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _n(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _arrowhead(pts: list[tuple[float, float]]) -> tuple[list[tuple[float, float]], list[tuple[float, float]]]:
    """The line shortened to the arrowhead's base, and the head's triangle."""
    (x0, y0), (x1, y1) = pts[-2], pts[-1]
    dx, dy = x1 - x0, y1 - y0
    d = math.hypot(dx, dy) or 1.0
    ux, uy = dx / d, dy / d
    size = min(7.0, d)
    bx, by = x1 - ux * size, y1 - uy * size
    head = [(x1, y1), (bx - uy * 3.5, by + ux * 3.5), (bx + uy * 3.5, by - ux * 3.5)]
    return pts[:-1] + [(bx, by)], head


def to_svg(prims: list[tuple], width: float, height: float, inline: bool = False) -> str:
    style = ' style="max-width:100%;height:auto"' if inline else ""
    decl = "" if inline else '<?xml version="1.0" encoding="UTF-8"?>\n'
    out = [(f'{decl}<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="{FONT}" role="img"{style}>'),
           f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>']
    for p in prims:
        kind = p[0]
        if kind == "rect":
            _, x, y, w, h, fill, stroke, rx, dashed = p
            dash = ' stroke-dasharray="5 3"' if dashed else ""
            out.append(f'<rect x="{_n(x)}" y="{_n(y)}" width="{_n(w)}" height="{_n(h)}" rx="{rx}" '
                       f'fill="{fill}" stroke="{stroke}" stroke-width="1.2"{dash}/>')
        elif kind == "text":
            _, x, y, s, size, bold, anchor, color = p
            weight = ' font-weight="bold"' if bold else ""
            if anchor == "vertical":
                out.append(f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}" fill="{color}" '
                           f'text-anchor="middle" transform="rotate(-90 {_n(x)} {_n(y)})">{_esc(s)}</text>')
                continue
            out.append(f'<text x="{_n(x)}" y="{_n(y)}" font-size="{_n(size)}"{weight} fill="{color}" '
                       f'text-anchor="{anchor}">{_esc(s)}</text>')
        elif kind in ("line", "arrow"):
            pts, color = p[1], p[2]
            dashed = len(p) > 3 and p[3]
            head: list[tuple[float, float]] | None = None
            if kind == "arrow":
                pts, head = _arrowhead(pts)
            d = " ".join(f"{_n(x)},{_n(y)}" for x, y in pts)
            dash = ' stroke-dasharray="2 3"' if dashed else ""
            out.append(f'<polyline points="{d}" fill="none" stroke="{color}" stroke-width="1.3"{dash}/>')
            if head:
                out.append(f'<polygon points="{" ".join(f"{_n(x)},{_n(y)}" for x, y in head)}" fill="{color}"/>')
        elif kind == "circle":
            _, x, y, r, fill, stroke = p
            out.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="{_n(r)}" fill="{fill}" stroke="{stroke}" '
                       f'stroke-width="1.3"/>')
        elif kind == "dot":
            _, x, y = p
            out.append(f'<circle cx="{_n(x)}" cy="{_n(y)}" r="2.5" fill="{LINE}"/>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def to_png(prims: list[tuple], width: float, height: float, scale: float = 2.0) -> bytes:
    """The same drawing as a PNG, ``scale`` pixels per SVG pixel (2: sharp on slides)."""
    try:
        import matplotlib

        matplotlib.use("Agg", force=True)
        from matplotlib.figure import Figure
        from matplotlib.patches import Circle, FancyBboxPatch, Polygon
    except ImportError:
        raise CnnzooError("PNG output needs matplotlib: pip install matplotlib "
                          "(or write an .svg, which needs nothing)") from None
    dpi = 72.0 * scale
    figure = Figure(figsize=(width / 72.0, height / 72.0), dpi=dpi)
    ax = figure.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    for z, p in enumerate(prims):   # drawn in order, as in the SVG (matplotlib would put lines on top)
        kind = p[0]
        if kind == "rect":
            _, x, y, w, h, fill, stroke, rx, dashed = p
            ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle=f"round,pad=0,rounding_size={rx}",
                                        facecolor=fill, edgecolor=stroke, linewidth=1.2,
                                        linestyle=(0, (5, 3)) if dashed else "-", zorder=z))
        elif kind == "text":
            _, x, y, s, size, bold, anchor, color = p
            if anchor == "vertical":
                ax.text(x, y, s, fontsize=size, color=color, ha="center", va="baseline", rotation=90,
                        rotation_mode="anchor", family="DejaVu Sans", zorder=z)
                continue
            ax.text(x, y, s, fontsize=size, color=color, ha={"start": "left", "end": "right"}.get(anchor, "center"),
                    va="baseline", fontweight="bold" if bold else "normal", family="DejaVu Sans", zorder=z)
        elif kind in ("line", "arrow"):
            pts, color = p[1], p[2]
            dashed = len(p) > 3 and p[3]
            arrow_head: list[tuple[float, float]] | None = None
            if kind == "arrow":
                pts, arrow_head = _arrowhead(pts)
            ax.plot([q[0] for q in pts], [q[1] for q in pts], color=color, linewidth=1.3,
                    linestyle=(0, (2, 3)) if dashed else "-", solid_capstyle="butt", zorder=z)
            if arrow_head:
                ax.add_patch(Polygon(arrow_head, closed=True, facecolor=color, edgecolor="none", zorder=z))
        elif kind == "circle":
            _, x, y, r, fill, stroke = p
            ax.add_patch(Circle((x, y), r, facecolor=fill, edgecolor=stroke, linewidth=1.3, zorder=z))
        elif kind == "dot":
            _, x, y = p
            ax.add_patch(Circle((x, y), 2.5, facecolor=LINE, edgecolor="none", zorder=z))
    buf = io.BytesIO()
    figure.savefig(buf, format="png", dpi=dpi, facecolor="white")
    return buf.getvalue()


# --------------------------------------------------------------------------------------------------
# 5. The entry points


def diagram(name: str, input_shape: Sequence[int] | None = None, num_classes: int | None = None,
            depth: int = 1, block: str | None = None, **kwargs: Any) -> Diagram:
    """The diagram of the registered model ``name`` (its design input and classes by default)."""
    from ..models import meta_model, model_info

    info = model_info(name)
    shape = tuple(input_shape) if input_shape is not None else info.default_input
    if len(shape) != 3 or min(shape) < 1:
        raise ModelError(f"an input shape is C,H,W (three positive integers), got {shape}")
    classes = num_classes if num_classes is not None else info.default_num_classes
    model = meta_model(info.name, num_classes=classes, in_channels=shape[0], image_size=min(shape[1:]), **kwargs)
    return build(model, shape, depth=depth, block=block)


def write(d: Diagram, path: str | Path) -> Path:
    """Write ``d`` to ``path``: SVG or PNG by the extension."""
    from ..engine.checkpoint import atomic_write

    path = Path(path)
    ext = path.suffix.lower()
    if ext not in FORMATS:
        raise OutputError(f"cannot draw to '{path}': unknown extension '{ext or '(none)'}'; "
                          f"use .svg (the default) or .png")
    data = d.svg().encode("utf-8") if ext == ".svg" else d.png()
    try:
        if path.parent and not path.parent.is_dir():
            raise OutputError(f"cannot write {path}: the folder {path.parent} does not exist")
        atomic_write(path, data)
    except OSError as e:
        raise OutputError(f"cannot write {path}: {e.strerror or e}") from None
    return path
