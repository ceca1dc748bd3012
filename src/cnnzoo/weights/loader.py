"""Putting a set of published weights into a cnnzoo network.

:func:`load_pretrained` reads the file (never unpickling anything but tensors), renames the
library's keys to cnnzoo's (:mod:`cnnzoo.weights.mapping`), and copies every tensor whose shape
fits. What does not fit is handled the way fine-tuning users expect, and reported:

- another class count: the classifier keeps its fresh initialization (``strict_head=True`` makes
  that an error instead);
- another input channel count: the stem's filters are adapted as timm's ``adapt_input_conv`` does
  (1 channel: the sum over the RGB filters; C channels: the RGB filters repeated and scaled by 3/C);
- auxiliary heads in the file that the network was built without: left unused.

Any other difference (a missing tensor, a tensor of another shape) means the weights belong to
another network: a :class:`~cnnzoo.errors.CheckpointError` naming the file, before any weight is
copied.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from ..errors import CheckpointError, did_you_mean
from .catalog import (
    LIBRARIES,
    WeightsMeta,
    find_published,
    is_named_source,
    locate_weights,
    published_weights,
)
from .files import WeightFile, read_weights
from .mapping import Conversion, conversion

# Final layers: the classifier and the auxiliary classifiers (GoogLeNet's aux1, aux2; Inception-v3's aux).
_HEAD = re.compile(r"^(classifier|aux\d*\.classifier)\.")
_AUX = re.compile(r"^aux\d*\.")


@dataclass
class WeightsInfo:
    """What :func:`load_pretrained` loaded, from where, and what it left as it was."""

    model: str
    path: Path
    format: str  # "pickle" (.pth / .bin), "safetensors" or "cnnzoo"
    library: str | None  # "torchvision", "timm", or None for cnnzoo's own checkpoints
    meta: WeightsMeta | None  # the published set's facts, when the file is a known published one
    loaded: list[str] = field(default_factory=list)
    adapted: list[str] = field(default_factory=list)  # stem filters adapted to another channel count
    fresh: list[str] = field(default_factory=list)  # left freshly initialized (another class count)
    unused: list[str] = field(default_factory=list)  # in the file, not in this network (aux heads)
    notes: list[str] = field(default_factory=list)  # one line each, for the user

    @property
    def exact(self) -> bool:
        """Whether the network now computes what the library's computes with these weights."""
        conv = conversion(self.model) if self.library else None
        return not (conv and conv.differs)

    @property
    def transform_input(self) -> bool:
        return bool(self.meta and self.meta.transform_input)

    def summary(self) -> str:
        where = self.meta.source if self.meta else self.format
        text = f"loaded {len(self.loaded)} tensors into {self.model} from {self.path} ({where})"
        return "; ".join([text, *self.notes])


def adapt_input_conv(in_channels: int, weight: torch.Tensor) -> torch.Tensor:
    """timm's ``adapt_input_conv``: RGB stem filters (O, 3, kH, kW) for ``in_channels`` inputs.

    One channel (grayscale): the sum over the RGB filters, so a gray image g gives what the RGB
    image (g, g, g) gave. Other counts: the RGB filters repeated to ``in_channels`` and scaled by
    3/in_channels, which keeps the response to an input of equal channels the same.
    """
    out_channels, rgb, kh, kw = weight.shape
    if in_channels == rgb:
        return weight
    if in_channels == 1:
        if rgb > 3:  # filters over stacked RGB frames (rgb = 3k): sum each RGB triple
            return weight.reshape(out_channels, rgb // 3, 3, kh, kw).sum(dim=2)
        return weight.sum(dim=1, keepdim=True)
    if rgb != 3:
        raise CheckpointError(f"cannot adapt a stem of {rgb} input channels to {in_channels}")
    repeat = math.ceil(in_channels / 3)
    return weight.repeat(1, repeat, 1, 1)[:, :in_channels] * (3 / in_channels)


def transform_input(x: torch.Tensor) -> torch.Tensor:
    """torchvision GoogLeNet's ``_transform_input``: ImageNet-normalized input -> the [-1, 1] scaling
    its pretrained weights expect (the same as normalizing the raw image with mean = std = 0.5)."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    return torch.cat([x[:, c:c + 1] * (std[c] / 0.5) + (mean[c] - 0.5) / 0.5 for c in range(3)], 1)


def resolve_source(model_name: str, source: str | Path, *, offline: bool = False,
                   progress: bool | None = None) -> tuple[Path, WeightsMeta | None]:
    """The file ``source`` names for ``model_name``, and its published facts when known."""
    if is_named_source(source):
        meta = find_published(model_name, str(source))
        return locate_weights(meta, offline=offline, progress=progress), meta
    path = Path(source).expanduser()
    text = str(source)
    if not path.exists() and "/" not in text and "." not in text.split(":", 1)[0]:
        hint = did_you_mean(text.split(":", 1)[0], LIBRARIES)
        raise CheckpointError(f"no weights file '{text}', nor a source name{hint}: "
                              "give a path, or torchvision, timm, torchvision:TAG or timm:TAG")
    return path, _recognize(model_name, path)


def _recognize(model_name: str, path: Path) -> WeightsMeta | None:
    """A published set's facts for a file given by path: by its published name (torchvision's carry
    their digest) or by the Hugging Face cache folder it sits in (timm's)."""
    text = path.as_posix()
    for meta in published_weights(model_name):
        if meta.library == "torchvision" and path.name == meta.file_name:
            return meta
        if meta.hf_hub_id and f"models--{meta.hf_hub_id.replace('/', '--')}/" in text:
            return meta
    return None


def load_pretrained(model: nn.Module, source: str | Path, *, model_name: str | None = None,
                    strict_head: bool = False, offline: bool = False,
                    progress: bool | None = None) -> WeightsInfo:
    """Load the weights ``source`` names into ``model`` (a cnnzoo network) and say what happened.

    ``source``: a file (``.pth``, ``pytorch_model.bin``, ``.safetensors``), a cnnzoo run directory,
    or a published set: ``torchvision``, ``timm``, ``torchvision:IMAGENET1K_V2``, ``timm:a1_in1k``
    (found in the caches or downloaded; see :mod:`cnnzoo.weights.catalog`). ``model_name``
    defaults to the name ``create_model`` gave the model. Returns a :class:`WeightsInfo`.
    """
    name = model_name or getattr(model, "model_name", None)
    if not name:
        raise CheckpointError("load_pretrained needs the model's registered name (model_name=...)")
    path, meta = resolve_source(name, source, offline=offline, progress=progress)
    return load_weight_file(model, read_weights(path), meta, model_name=name, strict_head=strict_head)


def load_weight_file(model: nn.Module, wf: WeightFile, meta: WeightsMeta | None, *, model_name: str,
                     strict_head: bool = False) -> WeightsInfo:
    """:func:`load_pretrained` for a file already read (``meta``: its published facts, if known)."""
    name = model_name
    conv, library, state = _to_cnnzoo_names(name, wf, model)
    info = WeightsInfo(name, wf.path, wf.format, library, meta)
    new_state = _fit(model, state, conv, info, strict_head)
    with torch.no_grad():
        own = model.state_dict()
        for key, tensor in new_state.items():
            own[key].copy_(tensor)
    return info


def _to_cnnzoo_names(name: str, wf: WeightFile, model: nn.Module
                     ) -> tuple[Conversion | None, str | None, dict[str, torch.Tensor]]:
    own = model.state_dict()
    conv = conversion(name)
    share = _share(wf.state, own)
    if wf.format == "cnnzoo" or share == 1.0:
        return None, None, wf.state
    # A library whose names are mostly ours already (torchvision SqueezeNet's `features`) still
    # needs the rename for the rest: the conversion wins when it names more of the model.
    if share >= 0.9 and (conv is None or _share(conv.convert(wf.state), own) <= share):
        return None, None, wf.state
    if conv is None:
        raise CheckpointError(f"{wf.path}: its tensors are not named as {name}'s, and {name} has no "
                              "torchvision or timm counterpart to rename them from (docs/transfer.md)")
    renamed = conv.convert(wf.state)
    if _share(renamed, own) < 0.9:
        raise CheckpointError(f"{wf.path} does not hold {conv.library}'s {conv.reference} weights "
                              f"(e.g. '{next(iter(wf.state))}' has no place in {name}); is it for another model?")
    return conv, conv.library, renamed


def _share(state: dict[str, torch.Tensor], own: dict[str, torch.Tensor]) -> float:
    """The share of ``own``'s keys (ignoring BatchNorm counters) that ``state`` names."""
    keys = [k for k in own if not k.endswith("num_batches_tracked")]
    return sum(k in state for k in keys) / max(len(keys), 1)


def _fit(model: nn.Module, state: dict[str, torch.Tensor], conv: Conversion | None, info: WeightsInfo,
         strict_head: bool) -> dict[str, torch.Tensor]:
    """The tensors to copy into ``model``; fills ``info``; raises before anything is copied."""
    own = model.state_dict()
    in_channels = getattr(model, "in_channels", None)
    out: dict[str, torch.Tensor] = {}
    head_note = None
    for key, target in own.items():
        if key not in state:
            if key.endswith("num_batches_tracked"):
                continue  # files saved before PyTorch 0.4.1 have none; the count is unused in eval
            raise CheckpointError(f"{info.path} has no tensor for '{key}' of {info.model}: it holds weights "
                                  "of another network (or another variant of it)")
        src = state[key]
        fitted = conv.reshape(key, src, target.shape) if conv else src
        if fitted.shape == target.shape:
            out[key] = fitted
            info.loaded.append(key)
            continue
        if (src.dim() == 4 and in_channels is not None and src.shape[1] != in_channels
                and src.shape[1] in (3, 6, 9)):
            # in the network's precision: a float32 file's filters summed in float32 would round
            adapted = adapt_input_conv(in_channels, src.to(target.dtype))
            adapted = conv.reshape(key, adapted, target.shape) if conv else adapted
            if adapted.shape == target.shape:
                out[key] = adapted
                info.adapted.append(key)
                continue
        if _HEAD.match(key) and not strict_head:
            info.fresh.append(key)
            head_note = (f"the weights' classifier has {src.shape[0]} classes and this model "
                         f"{target.shape[0]}: a new classifier, freshly initialized")
            continue
        why = f" ({conv.differs})" if conv and conv.differs else \
            " (strict_head: the class counts differ)" if _HEAD.match(key) else ""
        raise CheckpointError(f"{info.path}: '{key}' is {tuple(src.shape)} in the file but {tuple(target.shape)} "
                              f"in {info.model}; these weights do not fit it{why}")
    info.unused = [k for k in state if k not in own]
    stray = [k for k in info.unused if not _AUX.match(k) and not k.endswith("num_batches_tracked")]
    if stray:
        raise CheckpointError(f"{info.path} has {len(stray)} tensors {info.model} has no place for "
                              f"(e.g. '{stray[0]}'): it holds weights of another network")
    if conv and conv.differs:
        info.notes.append(f"{info.model} does not compute exactly what {conv.library}'s {conv.reference} does: "
                          f"{conv.differs}")
    if info.adapted:
        info.notes.append(f"the stem ({info.adapted[0]}) was adapted from RGB to {in_channels} input channels")
    if head_note:
        info.notes.append(head_note)
    if info.unused:
        info.notes.append(f"{len(info.unused)} tensors of auxiliary heads left unused (build the model "
                          "with aux_logits=True to load them)")
    if info.transform_input:
        info.notes.append("these weights expect inputs normalized with mean = std = 0.5 (torchvision's "
                          "transform_input), not ImageNet's statistics")
    return out
