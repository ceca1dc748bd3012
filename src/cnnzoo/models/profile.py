"""Count what a model costs: parameters, and multiply-accumulates (MACs) layer by layer.

``profile(model, (C, H, W))`` runs one image through the model with a forward hook on every
leaf module and records each layer's output shape, parameters and MACs. MACs are counted where
almost all of a CNN's arithmetic is, in convolutions and linear layers (one MAC = one multiply
and one add); normalization, activations and pooling are left out, as in torchvision's and timm's
published figures. FLOPs are reported as 2 x MACs, the usual convention.

The model is left as it was: the pass runs under ``torch.no_grad()`` in eval mode (so BatchNorm
running statistics do not move and dropout is off), and every submodule's train/eval mode is
restored afterwards. Build the model on the meta device (``with torch.device("meta"):``) to
profile an ImageNet-size network without allocating its weights.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class LayerProfile:
    """One call of a leaf module: its name in the model, type, output shape (no batch), cost."""

    name: str
    type: str
    output_shape: tuple[int, ...]
    params: int
    macs: int


@dataclass(frozen=True)
class Profile:
    """Totals and per-layer rows for one input shape (batch of one)."""

    input_shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    output_shape: tuple[int, ...]
    layers: list[LayerProfile] = field(default_factory=list)

    @property
    def flops(self) -> int:
        """Floating-point operations, counted as 2 x MACs (a multiply and an add each)."""
        return 2 * self.macs

    def to_dict(self) -> dict:
        out = asdict(self)
        out["flops"] = self.flops
        return out


@contextlib.contextmanager
def _skip_init() -> Iterator[None]:
    """Make torch.nn.init's in-place initializers no-ops for a while (not thread-safe)."""
    names = [n for n in dir(nn.init) if n.endswith("_") and not n.startswith("_")]
    saved = {n: getattr(nn.init, n) for n in names}
    try:
        for n in names:
            setattr(nn.init, n, lambda tensor, *args, **kwargs: tensor)
        yield
    finally:
        for n, fn in saved.items():
            setattr(nn.init, n, fn)


def meta_model(name: str, num_classes: int = 10, in_channels: int = 1, image_size: int = 28,
               **kwargs: Any) -> nn.Module:
    """``create_model(...)`` on the meta device, weights left uninitialized: shapes without storage.

    For counting and profiling only (``count_params``, ``profile``): building VGG-16 this way takes
    milliseconds instead of a second and allocates nothing. Initialization is skipped by briefly
    replacing ``torch.nn.init``'s functions, so do not build real models in other threads meanwhile.
    """
    from .registry import create_model

    with torch.device("meta"), _skip_init():
        return create_model(name, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                            **kwargs)


def count_params(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (shared tensors counted once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def layer_macs(module: nn.Module, output: torch.Tensor) -> int:
    """MACs of one call of ``module`` that produced ``output`` (per image: batch dimension excluded)."""
    per_image = output.numel() // output.shape[0] if output.dim() else 0
    if isinstance(module, nn.modules.conv._ConvNd) and not module.transposed:
        # Each output value sums in_channels/groups x kernel products.
        return per_image * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return per_image * module.in_features
    return 0


def _first_tensor(value: object) -> torch.Tensor | None:
    if isinstance(value, torch.Tensor):
        return value
    if isinstance(value, (tuple, list)):
        for item in value:
            found = _first_tensor(item)
            if found is not None:
                return found
    return None


def profile(model: nn.Module, input_shape: Sequence[int] = (1, 28, 28)) -> Profile:
    """Parameters and per-layer MACs of ``model`` for one ``(C, H, W)`` input (see module docstring)."""
    input_shape = tuple(int(d) for d in input_shape)
    reference = next(model.parameters(), None)
    device = reference.device if reference is not None else torch.device("cpu")
    dtype = reference.dtype if reference is not None and reference.is_floating_point() else torch.float32
    rows: list[LayerProfile] = []

    def hook(name: str):
        def record(module: nn.Module, inputs: tuple, output: object) -> None:
            out = _first_tensor(output)
            if out is None:
                return
            own = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append(LayerProfile(name, type(module).__name__, tuple(out.shape[1:]), own,
                                     layer_macs(module, out)))
        return record

    modes = {m: m.training for m in model.modules()}
    # Hook the leaves (and any module holding parameters of its own); Identity placeholders add nothing.
    handles = [m.register_forward_hook(hook(name)) for name, m in model.named_modules()
               if name and not isinstance(m, nn.Identity)
               and (not any(True for _ in m.children()) or any(True for _ in m.parameters(recurse=False)))]
    try:
        model.eval()
        with torch.no_grad():
            output = _first_tensor(model(torch.zeros((1, *input_shape), device=device, dtype=dtype)))
    finally:
        for handle in handles:
            handle.remove()
        for module, mode in modes.items():
            module.training = mode
    return Profile(input_shape=input_shape, params=count_params(model),
                   trainable_params=count_params(model, trainable_only=True),
                   macs=sum(r.macs for r in rows),
                   output_shape=tuple(output.shape[1:]) if output is not None else (),
                   layers=rows)
