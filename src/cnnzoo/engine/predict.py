"""``cnnzoo predict``: classify image files exactly as the model saw images in training.

Each file is decoded with Pillow to the dataset's channels and native size (the same conversion the
image-folder dataset uses: alpha composited on white, scaled to cover and centre-cropped), then goes
through the evaluation transform of the loader (normalization with the training mean/std, resize to
the model's input size).

Many files: paths may be files, folders (searched recursively for image files) and globs. Files are
decoded by a pool of threads (Pillow releases the GIL while it decodes) a batch or two ahead of the
model, which runs on whole batches. A file that cannot be read is skipped with one warning; only
when no file at all could be read is it an error.

What the conversion does to an image is said, not hidden: a non-square image loses its edges to the
centre crop (a warning names it), and a photo of a dark object on a light background, given to a
model trained on light objects on black (Fashion-MNIST, MNIST, KMNIST), gets a hint to ``--invert``
it. The two backends share everything but the forward pass: ``torch`` rebuilds the network from a
run's safetensors weights, ``onnxruntime`` runs a file written by ``cnnzoo export`` and takes the
preprocessing from the file's metadata.
"""

from __future__ import annotations

import glob
import logging
import os
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import ConfigError, DataError
from ..paths import describe
from .checkpoint import ModelSpec, build_model, find_checkpoint, load_weights

log = logging.getLogger("cnnzoo.predict")

BATCH = 64  # images per forward pass: bounded memory for long file lists
BACKENDS = ("auto", "torch", "onnxruntime")
# A model whose training images average below this brightness (mean of the normalization means)
# saw light objects on a dark background: Fashion-MNIST 0.29, KMNIST 0.19, MNIST 0.13; CIFAR 0.47.
DARK_TRAINING_MEAN = 0.35
# An image whose border averages above this (0-255) has a light background.
LIGHT_BORDER = 160
# Aspect ratios closer than this to the model's are not worth a warning (a pixel or two of crop).
ASPECT_TOLERANCE = 0.02


@dataclass
class Decoded:
    path: Path
    image: torch.Tensor | None = None  # uint8 (C, H, W) at the model's native size
    error: str | None = None
    notes: list[str] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Which files


def expand_paths(items: Sequence[str | Path]) -> list[Path]:
    """Files, folders (recursively: their image files, hidden ones left out) and globs, in the order
    given (a folder's files sorted), each once. A path that matches nothing stays in the list, so
    that reading it reports it. A folder's non-image files are skipped with one warning."""
    from ..data.formats import IMAGE_EXTENSIONS

    out: list[Path] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        if p in seen:
            return
        seen.add(p)
        out.append(p)

    def add_folder(p: Path) -> None:
        images, others = _folder_files(p, IMAGE_EXTENSIONS)
        if others:
            names = ", ".join(str(o) for o in others[:3]) + (f" and {len(others) - 3} more" if len(others) > 3 else "")
            log.warning(f"skipped {len(others)} file{'s' if len(others) > 1 else ''} in {p} that "
                        f"{'are not images' if len(others) > 1 else 'is not an image'} ({names}); "
                        f"image files end in {', '.join(IMAGE_EXTENSIONS)}")
        if not images:
            log.warning(f"no image files in {p}")
        for f in images:
            add(f)

    for item in items:
        text = str(item)
        p = Path(text)
        if p.is_dir():
            add_folder(p)
        elif not p.exists() and glob.has_magic(text):
            matches = sorted(glob.glob(text, recursive=True))
            if not matches:
                log.warning(f"no file matches {text}")
            for m in matches:
                (add_folder if Path(m).is_dir() else add)(Path(m))
        else:
            add(p)
    return out


def _folder_files(root: Path, extensions: tuple[str, ...]) -> tuple[list[Path], list[Path]]:
    images: list[Path] = []
    others: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            (images if name.lower().endswith(extensions) else others).append(Path(dirpath) / name)
    return images, others


# --------------------------------------------------------------------------------------------------
# Decoding


def read_image(image: str | Path, spec: ModelSpec) -> torch.Tensor:
    """One image file as the checkpoint's training images were stored: uint8 ``(C, H, W)`` in the
    dataset's channels and native size (a DataError when it is missing or unreadable)."""
    d = decode(Path(image), spec)
    if d.image is None:
        raise DataError(str(d.error))
    return d.image


def decode(path: Path, spec: ModelSpec) -> Decoded:
    """Decode one file (never raises for a bad file: the reason is in ``error``), with notes on
    what the conversion did to it."""
    from ..data.formats import decode_image, image_size_of

    kind = describe(path)  # stat, not open: a named pipe would block the decoder forever
    if kind != "is a file":
        return Decoded(path, error=(f"image not found: {path}" if kind == "does not exist"
                                    else f"{path} {kind}, not an image file"))
    native = (int(spec.native_size[0]), int(spec.native_size[1]))
    arr = decode_image(path, spec.in_channels, native)
    if arr is None:
        return Decoded(path, error=f"cannot read {path}: not an image Pillow can decode (or a damaged one)")
    d = Decoded(path, torch.from_numpy(arr))
    size = image_size_of(path)  # the header only: cheap next to the decode
    if size is not None:
        (h, w), (nh, nw) = size, native
        if abs((w / h) / (nw / nh) - 1) > ASPECT_TOLERANCE:
            d.notes.append(f"cropped: {w}x{h} is not {'square' if nw == nh else f'{nw}:{nh}'}, so it was scaled "
                           f"to cover {nw}x{nh} and its edges cut off (centre crop)")
    if _dark_training(spec):
        border = np.concatenate([arr[:, 0, :].ravel(), arr[:, -1, :].ravel(),
                                 arr[:, :, 0].ravel(), arr[:, :, -1].ravel()])
        if float(border.mean()) > LIGHT_BORDER:
            d.notes.append("light background: the model was trained on light objects on a dark background")
    return d


def _dark_training(spec: ModelSpec) -> bool:
    return sum(spec.mean) / max(len(spec.mean), 1) < DARK_TRAINING_MEAN


def decode_batches(paths: Sequence[Path], spec: ModelSpec, batch_size: int = BATCH,
                   workers: int | None = None) -> Iterator[list[Decoded]]:
    """Batches of decoded files in order, decoded by ``workers`` threads two batches ahead."""
    workers = workers or min(8, os.cpu_count() or 1)
    chunks = [paths[i:i + batch_size] for i in range(0, len(paths), batch_size)]
    if workers <= 1:
        for chunk in chunks:
            yield [decode(p, spec) for p in chunk]
        return
    with ThreadPoolExecutor(workers, thread_name_prefix="cnnzoo-decode") as pool:
        pending: deque[list[Future[Decoded]]] = deque()
        for chunk in chunks:
            pending.append([pool.submit(decode, p, spec) for p in chunk])
            if len(pending) > 2:
                yield [f.result() for f in pending.popleft()]
        while pending:
            yield [f.result() for f in pending.popleft()]


# --------------------------------------------------------------------------------------------------
# The model


class Predictor:
    """A trained model and its preprocessing, ready for uint8 batches.

    ``target``: a run directory or checkpoint (backend ``torch``), or an ONNX file written by
    ``cnnzoo export`` (backend ``onnxruntime``; a run directory means its ``export/model.onnx``).
    """

    def __init__(self, target: str | Path, *, backend: str = "auto", device: str = "cpu",
                 weights: str = "best") -> None:
        if backend not in BACKENDS:
            from ..errors import did_you_mean

            raise ConfigError(f"unknown backend '{backend}'" + (did_you_mean(backend, BACKENDS)
                                                               or f" (choose from {', '.join(BACKENDS)})"))
        target = Path(target)
        if backend == "auto":
            backend = "onnxruntime" if target.suffix.lower() == ".onnx" else "torch"
        self.backend = backend
        if backend == "onnxruntime":
            from .export import onnx_session, spec_from_metadata

            if target.is_dir():
                target = target / "export" / "model.onnx"
                if not target.is_file():
                    raise ConfigError(f"no {target}: export the run first (cnnzoo export {target.parent.parent} "
                                      "--format onnx) or give the .onnx file")
            if not target.is_file():
                raise ConfigError(f"no ONNX file at {target}")
            if device not in ("cpu", "auto"):
                raise ConfigError(f"the onnxruntime backend runs on the CPU; drop --device {device}")
            self.session = onnx_session(target)
            meta = dict(self.session.get_modelmeta().custom_metadata_map)
            self.spec = spec_from_metadata(meta, target)
            self.input_name = self.session.get_inputs()[0].name
            self.device = torch.device("cpu")
        else:
            from .runtime import resolve_device

            if target.suffix.lower() == ".onnx":
                raise ConfigError(f"{target} is an ONNX file; the torch backend reads a run or a .safetensors "
                                  "checkpoint (drop --backend torch to run it with onnxruntime)")
            path = find_checkpoint(target, prefer=weights)
            state, self.spec = load_weights(path)
            self.device = resolve_device(device)
            self.model = build_model(self.spec, state, path).to(self.device).eval()
        self.transform = input_transform(self.spec, self.device)

    def probabilities(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, C, H, W)`` at the native size -> class probabilities ``(N, num_classes)`` (CPU)."""
        x = self.transform(images.to(self.device), None)
        if self.backend == "onnxruntime":
            logits = torch.from_numpy(self.session.run(None, {self.input_name: x.numpy()})[0])
        else:
            with torch.no_grad():
                logits = self.model(x)
        return logits.float().softmax(1).cpu()

    def predict_paths(self, paths: Sequence[Path], *, topk: int = 3, batch_size: int = BATCH,
                      workers: int | None = None, invert: bool = False) -> Iterator[dict[str, Any]]:
        """One result per readable file, in order: ``{"path", "image", "predictions": [{"label",
        "index", "prob"}], "notes"}``; unreadable files are logged and skipped (see module doc)."""
        if topk < 1:
            raise DataError(f"--topk must be at least 1, got {topk}")
        if batch_size < 1:
            raise DataError(f"--batch-size must be at least 1, got {batch_size}")
        k = min(topk, self.spec.num_classes)
        failed: list[str] = []  # held back until a file succeeds: one bad file alone is an error
        done = 0
        cropped: list[Decoded] = []
        light: list[Decoded] = []
        for batch in decode_batches(paths, self.spec, batch_size, workers):
            good = [d for d in batch if d.image is not None]
            for d in batch:
                if d.image is None:
                    failed.append(str(d.error))
                    if done:
                        log.warning(f"{d.error}; skipped")
            if not good:
                continue
            if not done:
                for e in failed:
                    log.warning(f"{e}; skipped")
            x = torch.stack([d.image for d in good])  # type: ignore[misc]
            if invert:
                x = 255 - x
            probs = self.probabilities(x)
            top = probs.topk(k, dim=1)
            for j, d in enumerate(good):
                done += 1
                cropped += [d] if any(n.startswith("cropped") for n in d.notes) else []
                light += [d] if any(n.startswith("light") for n in d.notes) and not invert else []
                yield {
                    "path": str(d.path), "image": str(d.path),
                    "predictions": [{"label": self.spec.classes[int(i)], "index": int(i), "prob": round(float(p), 6)}
                                    for p, i in zip(top.values[j], top.indices[j], strict=True)],
                    "notes": [n for n in d.notes if not (invert and n.startswith("light"))],
                }
        if not done:
            if len(failed) == 1:
                raise DataError(failed[0])
            if not failed:
                raise DataError("no image files to classify")
            raise DataError(f"none of the {len(failed)} files could be read (first: {failed[0]})")
        self._say(cropped, light)

    def _say(self, cropped: list[Decoded], light: list[Decoded]) -> None:
        nh, nw = (int(s) for s in self.spec.native_size)
        if cropped:
            one = len(cropped) == 1
            what = f"{cropped[0].path} is" if one else f"{len(cropped)} images (e.g. {cropped[0].path}) are"
            log.warning(f"{what} not {'square' if nh == nw else f'{nw}:{nh}'}: scaled to cover {nw}x{nh} and "
                        f"centre-cropped, so {'its' if one else 'their'} edges were not seen; crop "
                        f"{'it' if one else 'them'} yourself to choose what the model sees")
        if light:
            what = f"{light[0].path} has" if len(light) == 1 else f"{len(light)} images (e.g. {light[0].path}) have"
            log.warning(f"{what} a light background, but {self.spec.model} was trained on light objects on a dark "
                        f"background ({self.spec.dataset or 'its dataset'}); try --invert")


def predict_files(target: str | Path, images: Iterable[str | Path], *, topk: int = 3, device: str = "cpu",
                  batch_size: int = BATCH, workers: int | None = None, backend: str = "auto",
                  invert: bool = False) -> list[dict[str, Any]]:
    """Top-k classes for each readable image among files, folders and globs (see :class:`Predictor`)."""
    predictor = Predictor(target, backend=backend, device=device)
    paths = expand_paths(list(images))
    return list(predictor.predict_paths(paths, topk=topk, batch_size=batch_size, workers=workers, invert=invert))


def input_transform(spec: ModelSpec, device: torch.device) -> Any:
    """The loader's evaluation transform for a checkpoint: uint8 batch -> normalized with the training
    mean/std and resized to the model's input size."""
    from ..data.loader import BatchTransform

    native = (int(spec.native_size[0]), int(spec.native_size[1]))
    size = (int(spec.input_size[0]), int(spec.input_size[1]))
    return BatchTransform(spec.mean, spec.std, spec.in_channels, device, None,
                          size if size != native else None, channels_last=False)
