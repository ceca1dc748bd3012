"""``cnnzoo predict``: classify image files exactly as the model saw images in training.

Each file is decoded with Pillow to the dataset's channels and native size (the same function the
image-folder dataset uses: alpha composited on white, scaled to cover and centre-cropped), then goes
through the evaluation transform of the loader (normalization with the training mean/std, resize to
the model's input size). Fashion-MNIST and MNIST images are light objects on a black background:
photos of dark objects on white need inverting to look like the training data.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch

from ..errors import DataError
from ..paths import describe
from .checkpoint import ModelSpec, build_model, find_checkpoint, load_weights

BATCH = 64  # images per forward pass: bounded memory for long file lists


def predict_files(target: str | Path, images: Sequence[str | Path], *, topk: int = 3,
                  device: str = "cpu") -> list[dict[str, Any]]:
    """Top-k classes for each image file: ``[{"image", "predictions": [{"label", "index", "prob"}]}]``."""
    from .runtime import resolve_device

    if topk < 1:
        raise DataError(f"--topk must be at least 1, got {topk}")
    path = find_checkpoint(target)
    state, spec = load_weights(path)
    dev = resolve_device(device)
    model = build_model(spec, state, path).to(dev).eval()
    transform = input_transform(spec, dev)
    decoded = [read_image(img, spec) for img in images]
    k = min(topk, spec.num_classes)
    results = []
    for lo in range(0, len(decoded), BATCH):
        x = transform(torch.stack(decoded[lo:lo + BATCH]).to(dev), None)
        with torch.no_grad():
            probs = model(x).float().softmax(1)
        top = probs.topk(k, dim=1)
        for j in range(x.shape[0]):
            results.append({
                "image": str(images[lo + j]),
                "predictions": [{"label": spec.classes[int(i)], "index": int(i), "prob": round(float(pr), 6)}
                                for pr, i in zip(top.values[j], top.indices[j])],
            })
    return results


def read_image(image: str | Path, spec: ModelSpec) -> torch.Tensor:
    """One image file as the checkpoint's training images were stored: uint8 ``(C, H, W)`` in the
    dataset's channels and native size (a DataError when it is missing or unreadable)."""
    from ..data.formats import decode_image

    p = Path(image)
    kind = describe(p)  # stat, not open: a named pipe would block the decoder forever
    if kind != "is a file":
        raise DataError(f"image not found: {p}" if kind == "does not exist" else f"{p} {kind}, not an image file")
    arr = decode_image(p, spec.in_channels, (int(spec.native_size[0]), int(spec.native_size[1])))
    if arr is None:
        raise DataError(f"cannot read {p}: not an image Pillow can decode (or a damaged one)")
    return torch.from_numpy(arr)


def input_transform(spec: ModelSpec, device: torch.device) -> Any:
    """The loader's evaluation transform for a checkpoint: uint8 batch -> normalized with the training
    mean/std and resized to the model's input size."""
    from ..data.loader import BatchTransform

    native = (int(spec.native_size[0]), int(spec.native_size[1]))
    size = (int(spec.input_size[0]), int(spec.input_size[1]))
    return BatchTransform(spec.mean, spec.std, spec.in_channels, device, None,
                          size if size != native else None, channels_last=False)
