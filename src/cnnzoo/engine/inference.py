"""``cnnzoo.load_run(run)``: a trained model with the preprocessing it was trained with.

    >>> import cnnzoo                                            # doctest: +SKIP
    >>> run = cnnzoo.load_run("runs/my-run")                     # the best weights
    >>> run.predict("shoe.jpg")                                  # a path, a PIL image, or a list of them
    Prediction(label='Sneaker', index=7, prob=0.93, top=[('Sneaker', 0.93), ('Sandal', 0.05), ...])
    >>> model, spec = run                                        # still unpacks as before

An image is converted exactly as ``cnnzoo predict`` converts a file (:mod:`cnnzoo.engine.predict`):
decoded to the dataset's channels and native size (scaled to cover, centre-cropped, alpha on
white), normalized with the training mean and std, resized to the model's input size.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from .checkpoint import ModelSpec, build_model, find_checkpoint, load_weights
from .predict import BATCH, input_transform, read_image


@dataclass
class Prediction:
    """One image's answer: the most probable class (name and index), its probability, and the
    ``topk`` most probable classes with theirs."""

    label: str
    index: int
    prob: float
    top: list[tuple[str, float]] = field(default_factory=list)


@dataclass
class LoadedRun:
    """A trained network (in eval mode, on ``device``) and its :class:`ModelSpec`: classes, channels,
    sizes and the normalization of its training data. Unpacks as ``model, spec``."""

    model: torch.nn.Module
    spec: ModelSpec
    device: torch.device

    def __iter__(self) -> Iterator[Any]:  # `model, spec = cnnzoo.load_run(...)`, as before
        yield self.model
        yield self.spec

    @property
    def classes(self) -> list[str]:
        return list(self.spec.classes)

    def preprocess(self, images: Any) -> torch.Tensor:
        """The model's input batch for an image or a list of them: paths, PIL images, or uint8
        ``(C, H, W)`` tensors already at the dataset's channels and native size."""
        decoded = [self._decode(im) for im in _as_list(images)]
        if not decoded:
            return torch.empty(0, self.spec.in_channels, *map(int, self.spec.input_size), device=self.device)
        return input_transform(self.spec, self.device)(torch.stack(decoded).to(self.device), None)

    @torch.no_grad()
    def predict(self, images: Any, topk: int = 3) -> Prediction | list[Prediction]:
        """Classify one image (returns a :class:`Prediction`) or a list of them (returns a list)."""
        items = _as_list(images)
        k = max(1, min(topk, self.spec.num_classes))
        out: list[Prediction] = []
        for lo in range(0, len(items), BATCH):
            probs = self.model(self.preprocess(items[lo:lo + BATCH])).float().softmax(1).cpu()
            top = probs.topk(k, dim=1)
            for values, indices in zip(top.values, top.indices, strict=True):
                pairs = [(self.spec.classes[int(i)], round(float(v), 6)) for v, i in zip(values, indices, strict=True)]
                out.append(Prediction(pairs[0][0], int(indices[0]), pairs[0][1], pairs))
        return out if isinstance(images, (list, tuple)) else out[0]

    def _decode(self, image: Any) -> torch.Tensor:
        if isinstance(image, (str, Path)):
            return read_image(image, self.spec)
        if isinstance(image, torch.Tensor):
            want = (self.spec.in_channels, int(self.spec.native_size[0]), int(self.spec.native_size[1]))
            if image.dtype != torch.uint8 or tuple(image.shape) != want:
                raise DataError(f"a tensor image must be uint8 {'x'.join(map(str, want))} (the dataset's channels "
                                f"and size); got {image.dtype} {'x'.join(map(str, image.shape))}. Pass a path or a "
                                "PIL image to have it converted")
            return image
        from PIL import Image

        if isinstance(image, Image.Image):
            from ..data.formats import decode_pil

            size = (int(self.spec.native_size[0]), int(self.spec.native_size[1]))
            return torch.from_numpy(decode_pil(image, self.spec.in_channels, size))
        raise DataError(f"cannot predict on a {type(image).__name__}: pass a file path, a PIL image, or a list "
                        "of them")


def _as_list(images: Any) -> Sequence[Any]:
    return list(images) if isinstance(images, (list, tuple)) else [images]


def load_run(target: str | Path, device: str = "cpu") -> LoadedRun:
    """Public API: the trained model of a run directory (best weights) or checkpoint file, ready for
    :meth:`LoadedRun.predict`; ``model, spec = load_run(...)`` unpacks it as before."""
    from .runtime import resolve_device

    path = find_checkpoint(target)
    state, spec = load_weights(path)
    dev = resolve_device(device)
    model = build_model(spec, state, path).to(dev).eval()
    return LoadedRun(model, spec, dev)
