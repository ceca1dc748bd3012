"""Building a network around a set of pretrained weights: the architecture and the input they expect.

Weights fix more than the tensors. ImageNet weights were trained through the ImageNet stem (a 7x7
stride-2 convolution and a max-pool for ResNet), at 224 px, on inputs normalized with ImageNet's
mean and std; a cnnzoo checkpoint was trained with its run's stem, size, options and statistics.
:class:`Pretrained` reads a source once and holds those facts, so that

- the network is built with the weights' architecture whatever the input size (``small_input``
  as the weights had it: False for ImageNet weights; a cnnzoo checkpoint's own options, such as
  ``width_mult``), and an input too small for it is a one-line error that suggests a size;
- the input pipeline feeds it what it was trained on (:meth:`Pretrained.mean_std`,
  :attr:`Pretrained.channels`, :attr:`Pretrained.image_size`).

``create_model(name, ..., pretrained=SOURCE)`` and ``cnnzoo train --pretrained SOURCE`` both come
through here.

Grayscale data and RGB weights. ``cnnzoo train`` replicates the gray channel (the data is loaded
as 3 channels), which is exact: the network computes on the image (g, g, g) normalized with
ImageNet's per-channel statistics what it computed in ImageNet training. Adapting the stem to one
channel instead (``data.channels: 1``, or ``create_model(..., in_channels=1)``) sums the RGB
filters as timm does; that is exact only when the three channels are normalized alike, which
ImageNet's statistics are not (mean 0.485/0.456/0.406): one channel is then normalized with the
average mean and std, an approximation that fine-tuning absorbs, at a third of the stem's cost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from ..errors import CheckpointError, ModelError
from ..models.base import ZooModel
from .catalog import WeightsMeta
from .files import WeightFile, read_weights
from .loader import WeightsInfo, load_weight_file, resolve_source

# ImageNet's statistics (torchvision's and timm's default): for a library's file that is not a known
# published set, the normalization nearly every ImageNet weight file was trained with.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class Pretrained:
    """A source read once: the file, its published facts or cnnzoo spec, and what it expects."""

    model: str  # the registered model the weights are for
    source: str  # as the user gave it
    file: WeightFile
    meta: WeightsMeta | None  # the published set's facts (torchvision / timm)
    model_kwargs: dict[str, Any] = field(default_factory=dict)  # the weights' architecture options

    @classmethod
    def read(cls, model: str, source: str | Path, *, offline: bool = False,
             progress: bool | None = None) -> Pretrained:
        """Find (or download) and read ``source``'s weights for registered model ``model``."""
        from ..models.registry import model_info, resolve_name

        name = resolve_name(model)
        path, meta = resolve_source(name, source, offline=offline, progress=progress)
        wf = read_weights(path)
        out = cls(name, str(source), wf, meta)
        options = model_info(name).options
        if wf.spec is not None:
            if wf.spec.model != name:
                raise CheckpointError(f"{wf.path} holds {wf.spec.model} weights, not {name}'s; "
                                      f"use --model {wf.spec.model} (or weights trained as {name})")
            out.model_kwargs = dict(wf.spec.model_kwargs)
            if "small_input" in options and out.model_kwargs.get("small_input") is None:
                out.model_kwargs["small_input"] = _source_small_input(wf)
        elif "small_input" in options:
            out.model_kwargs["small_input"] = False  # a library's weights: the ImageNet stem
        return out

    @property
    def label(self) -> str:
        return self.meta.source if self.meta else str(self.file.path)

    @property
    def channels(self) -> int:
        """The input channels the weights were trained on."""
        if self.file.spec is not None:
            return self.file.spec.in_channels
        return self.meta.input_size[0] if self.meta else 3

    @property
    def image_size(self) -> int | None:
        """The input side the weights were trained (and evaluated) at, when known."""
        if self.file.spec is not None:
            return int(self.file.spec.input_size[0])
        return int(self.meta.input_size[1]) if self.meta else None

    def mean_std(self, channels: int) -> tuple[list[float], list[float]]:
        """The normalization to feed the cnnzoo network ``channels``-channel images with.

        A published set's ``model_mean`` / ``model_std`` (0.5 for GoogLeNet's ``transform_input``),
        a cnnzoo checkpoint's own statistics, ImageNet's for a library file of unknown origin.
        Reduced to one channel by averaging (see the module docstring: exact only for equal channels);
        widened to three by repetition.
        """
        if self.file.spec is not None:
            mean, std = tuple(self.file.spec.mean), tuple(self.file.spec.std)
        elif self.meta is not None:
            mean, std = self.meta.model_mean, self.meta.model_std
        else:
            mean, std = IMAGENET_MEAN, IMAGENET_STD
        if len(mean) == channels:
            return [float(v) for v in mean], [float(v) for v in std]
        if channels == 1:
            return [sum(mean) / len(mean)], [sum(std) / len(std)]
        return [float(mean[0])] * channels, [float(std[0])] * channels

    def min_size(self, num_classes: int, in_channels: int, **kwargs: Any) -> int:
        """The smallest input side the weights' architecture accepts."""
        from ..models import meta_model

        big = max(self.image_size or 224, 224)
        model = cast(ZooModel, meta_model(self.model, num_classes, in_channels, big, **{**self.model_kwargs, **kwargs}))
        return model.min_size

    def build(self, num_classes: int, in_channels: int, image_size: int, *, strict_head: bool = False,
              **kwargs: Any) -> tuple[Any, WeightsInfo]:
        """The network with these weights loaded (new head, adapted stem as needed) and what happened."""
        from ..models.registry import create_model

        kwargs = {**self.model_kwargs, **kwargs}
        smallest = self.min_size(num_classes, in_channels, **kwargs)
        if image_size < smallest:
            trained = self.image_size
            hint = f"{trained} (the size the weights were trained at)" if trained and trained >= smallest else \
                f"at least {smallest}"
            raise ModelError(f"{self.model} with the pretrained weights of {self.label} keeps their architecture, "
                             f"which needs inputs of at least {smallest}x{smallest}, got {image_size}x{image_size}; "
                             f"resize the inputs to {hint} (--image-size)")
        model = create_model(self.model, num_classes=num_classes, in_channels=in_channels, image_size=image_size,
                             **kwargs)
        info = load_weight_file(model, self.file, self.meta, model_name=self.model, strict_head=strict_head)
        model.pretrained_info = info  # type: ignore[assignment]
        return model, info


def _source_small_input(wf: WeightFile) -> bool:
    """Whether the cnnzoo network that wrote ``wf`` was built in its small-image configuration."""
    from ..models import SMALL_INPUT_BELOW, meta_model

    spec = wf.spec
    assert spec is not None
    try:
        source = meta_model(spec.model, spec.num_classes, spec.in_channels, int(spec.input_size[0]),
                            **spec.model_kwargs)
    except ModelError as e:
        raise CheckpointError(f"{wf.path}: its model spec does not build ({e})") from None
    small = getattr(source, "small_input", None)
    return bool(small) if small is not None else int(spec.input_size[0]) < SMALL_INPUT_BELOW
