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
from .checkpoint import build_model, find_checkpoint, load_weights

BATCH = 64  # images per forward pass: bounded memory for long file lists


def predict_files(target: str | Path, images: Sequence[str | Path], *, topk: int = 3,
                  device: str = "cpu") -> list[dict[str, Any]]:
    """Top-k classes for each image file: ``[{"image", "predictions": [{"label", "index", "prob"}]}]``."""
    from ..data.formats import decode_image
    from ..data.loader import BatchTransform
    from .runtime import resolve_device

    if topk < 1:
        raise DataError(f"--topk must be at least 1, got {topk}")
    path = find_checkpoint(target)
    state, spec = load_weights(path)
    dev = resolve_device(device)
    model = build_model(spec, state, path).to(dev).eval()
    native = (int(spec.native_size[0]), int(spec.native_size[1]))
    size = (int(spec.input_size[0]), int(spec.input_size[1]))
    transform = BatchTransform(spec.mean, spec.std, spec.in_channels, dev, None,
                               size if size != native else None, channels_last=False)
    decoded = []
    for img in images:
        p = Path(img)
        if not p.is_file():
            raise DataError(f"image not found: {p}" if not p.exists() else f"{p} is a folder, not an image file")
        arr = decode_image(p, spec.in_channels, native)
        if arr is None:
            raise DataError(f"cannot read {p}: not an image Pillow can decode (or a damaged one)")
        decoded.append(torch.from_numpy(arr))
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
