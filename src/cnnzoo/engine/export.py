"""``cnnzoo export``: a trained run as one file that serves without cnnzoo, checked against PyTorch.

Three formats, one contract. The file holds the network in eval mode (dropout off, BatchNorm on its
running statistics, GoogLeNet's auxiliary heads gone: eval mode returns the main logits only) and
takes what the PyTorch model takes: a float32 batch ``(N, C, H, W)`` with a dynamic ``N``, already
normalized (``(pixel / 255 - mean) / std``) and at the model's input size. It returns logits
``(N, num_classes)``. What a deployer needs to build that input and read that output travels in the
file (see :func:`export_metadata`): the class names, mean/std, input size, channels, model name and
cnnzoo version.

- ``onnx``: ``torch.onnx.export`` with the TorchScript-based exporter (``dynamo=False``), opset
  17; the metadata as ONNX ``metadata_props``. Tried on torch 2.13 with one model of each family
  at 1x28x28 (once, on the busy 2-core development machine): every family exported and passed the
  check, in 0.1-4 s per model; the torch.export-based exporter (``dynamo=True``) passed too but
  took 2-5 s per model and needs onnxscript. It stays available as ``exporter="dynamo"`` (tested)
  for when torch drops the older one.
- ``torchscript``: ``torch.jit.trace``; the metadata as the extra file ``cnnzoo.json``.
- ``pt2``: ``torch.export.export`` + ``torch.export.save``; the metadata as the extra file
  ``cnnzoo.json``.

After writing, :func:`export_run` runs the file (onnxruntime, ``torch.jit.load``,
``torch.export.load``) on a batch of the run's test images (a seeded random batch when the dataset
is not on disk) and on a single image, and compares with the PyTorch model: a relative difference
(largest absolute difference over the largest absolute PyTorch logit) above
:data:`TOLERANCE` deletes the file and is an error. The file is written under a temporary name
and renamed only once it passed, so a failed export never leaves or replaces a file.
"""

from __future__ import annotations

import contextlib
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import CheckpointError, ConfigError, ModelError, OutputError
from .checkpoint import ModelSpec, build_model, find_checkpoint, load_weights

FORMATS = ("onnx", "torchscript", "pt2")
SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt", "pt2": ".pt2"}
EXPORT_FORMAT = "cnnzoo-export/1"
META_FILE = "cnnzoo.json"  # the extra file carrying the metadata in TorchScript and pt2 files
TOLERANCE = 1e-4  # largest relative difference to PyTorch an exported file may show
CHECK_IMAGES = 16  # images in the verification batch: a batch other than the traced one (2)
ONNX_OPSET = 17  # supported by every onnxruntime since 1.15; enough for every layer in the zoo
INSTALL_HINT = "pip install 'cnnzoo[export]'"


@dataclass
class ExportResult:
    path: Path
    format: str
    checkpoint: Path
    check_data: str  # what the verification batch was
    check_images: int
    max_rel_diff: float
    metadata: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"], d["checkpoint"] = str(self.path), str(self.checkpoint)
        return d


def export_metadata(spec: ModelSpec, checkpoint: Path | None = None) -> dict[str, str]:
    """What a deployer needs, as strings (ONNX metadata_props take strings; lists are JSON)."""
    from .. import __version__

    meta = {
        "cnnzoo_format": EXPORT_FORMAT,
        "model": spec.model,
        "classes": json.dumps(list(spec.classes)),
        "num_classes": str(spec.num_classes),
        "channels": str(spec.in_channels),
        "input_size": json.dumps([int(s) for s in spec.input_size]),
        "mean": json.dumps([float(m) for m in spec.mean]),
        "std": json.dumps([float(s) for s in spec.std]),
        "input": "float32 (N, C, H, W): pixels / 255, minus mean, divided by std, per channel; "
                 "at input_size; grey images have C=1",
        "output": "logits (N, num_classes); softmax gives probabilities in the order of classes",
        "dataset": spec.dataset,
        "cnnzoo_version": __version__,
        "cnnzoo_spec": json.dumps(asdict(spec)),  # everything `cnnzoo predict` needs, in one key
    }
    if checkpoint is not None:
        meta["checkpoint"] = checkpoint.name
    return meta


def spec_from_metadata(meta: dict[str, str], path: Path) -> ModelSpec:
    """The ModelSpec an exported file was made from (a CheckpointError when it has none)."""
    if meta.get("cnnzoo_format") != EXPORT_FORMAT or "cnnzoo_spec" not in meta:
        raise CheckpointError(f"{path} has no cnnzoo metadata; use a file written by `cnnzoo export`")
    try:
        return ModelSpec(**json.loads(meta["cnnzoo_spec"]))
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path}: the cnnzoo metadata is damaged ({e})") from None


def format_of(path: Path, fmt: str | None) -> str:
    """The export format asked for, or the one the file name says."""
    if fmt is None:
        by_suffix = {v: k for k, v in SUFFIXES.items()}
        fmt = by_suffix.get(path.suffix.lower())
        if fmt is None:
            raise ConfigError(f"cannot tell the format from {path.name}; pass --format onnx, torchscript or pt2")
    if fmt not in FORMATS:
        from ..errors import did_you_mean

        raise ConfigError(f"unknown export format '{fmt}'" + (did_you_mean(fmt, FORMATS)
                                                             or f" (choose from {', '.join(FORMATS)})"))
    return fmt


def export_run(target: str | Path, fmt: str | None = None, out: str | Path | None = None, *,
               weights: str = "best", overwrite: bool = False, data_dir: str | None = None,
               exporter: str = "torchscript") -> ExportResult:
    """Export the ``weights`` (best or last) of a run, or a checkpoint file, and verify the file.

    ``out`` defaults to ``RUN/export/model.<suffix>``; ``fmt`` defaults to what ``out``'s suffix says.
    """
    if weights not in ("best", "last"):
        raise ConfigError(f"--weights must be best or last, got '{weights}'")
    path = find_checkpoint(target, prefer=weights)
    if Path(target).is_dir() and path.stem != weights:
        raise CheckpointError(f"run {target} has no {weights} weights (checkpoints/{weights}.safetensors)")
    if out is None:
        if fmt is None:
            raise ConfigError("pass --format onnx, torchscript or pt2 (or an --out file whose suffix says it)")
        fmt = format_of(Path("model"), fmt)
        from .evaluate import run_dir_of

        run = run_dir_of(path)
        out = (run or path.parent) / "export" / f"model{SUFFIXES[fmt]}"
    out = Path(out)
    fmt = format_of(out, fmt)
    if out.is_dir():
        raise OutputError(f"--out {out} is a folder; give a file name such as {out / ('model' + SUFFIXES[fmt])}")
    if out.exists() and not overwrite:
        raise OutputError(f"{out} already exists; pass --overwrite to replace it")
    if fmt == "onnx":
        _require_onnxruntime()
    state, spec = load_weights(path)
    model = build_model(spec, state, path).eval()
    x, check_data = check_batch(path, spec, data_dir)
    with torch.no_grad():
        expected = model(x)
    if not isinstance(expected, torch.Tensor):
        raise ModelError(f"{spec.model} returns {type(expected).__name__} in eval mode, not logits; cannot export it")
    meta = export_metadata(spec, path)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot create {out.parent}: {e.strerror or e}") from None
    tmp = out.with_name(f".{out.name}.tmp{out.suffix}")
    try:
        _WRITERS[fmt](model, x[:2], tmp, meta, exporter)
        got, one = run_exported(tmp, fmt, x, x[:1])
        rel = max(relative_difference(got, expected), relative_difference(one, expected[:1]))
        if not rel <= TOLERANCE:  # also catches NaN
            raise ModelError(f"the exported {fmt} file differs from PyTorch by {rel:.2e} (relative, more than "
                             f"{TOLERANCE:g}) on {check_data}; not written")
        os.replace(tmp, out)
    except OSError as e:
        raise OutputError(f"cannot write {out}: {e.strerror or e}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, fmt, path, check_data, int(x.shape[0]), rel, meta)


def relative_difference(got: torch.Tensor, expected: torch.Tensor) -> float:
    """max |got - expected| / max |expected| (the absolute difference when expected is all zeros)."""
    got, expected = got.detach().float(), expected.detach().float()
    if got.shape != expected.shape:
        return float("inf")
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    diff = float((got - expected).abs().max()) if expected.numel() else 0.0
    return diff / scale if scale > 0 else diff


# --------------------------------------------------------------------------------------------------
# The verification batch


def check_batch(checkpoint: Path, spec: ModelSpec, data_dir: str | None = None,
                n: int = CHECK_IMAGES) -> tuple[torch.Tensor, str]:
    """``n`` test images of the run's dataset, preprocessed as in evaluation, when the dataset is on
    disk (never downloaded); otherwise a seeded standard-normal batch. Returns it and what it is."""
    from .predict import input_transform

    images, where = _test_images(checkpoint, spec, data_dir, n)
    if images is not None:
        x = input_transform(spec, torch.device("cpu"))(images, None)
        return x.contiguous(), f"{len(images)} {where}"
    g = torch.Generator().manual_seed(0)
    h, w = (int(s) for s in spec.input_size)
    x = torch.randn(n, spec.in_channels, h, w, generator=g)
    return x, f"a seeded random batch of {n} ({where})"


def _test_images(checkpoint: Path, spec: ModelSpec, data_dir: str | None,
                 n: int) -> tuple[torch.Tensor | None, str]:
    from ..data import load_dataset
    from ..errors import CnnzooError
    from .evaluate import _run_config, run_dir_of

    if not spec.dataset:
        return None, "the checkpoint does not record its dataset"
    cfg = _run_config(run_dir_of(checkpoint))
    if data_dir is None and cfg is not None and cfg.data.dataset == spec.dataset:
        data_dir = cfg.data.data_dir
    folder = spec.dataset == "folder" or Path(spec.dataset).exists()
    try:
        ds = load_dataset(spec.dataset, data_dir=data_dir, offline=True, download=False,
                          channels=spec.in_channels, image_size=spec.native_size if folder else None,
                          progress=False)
    except CnnzooError:
        return None, f"{spec.dataset} is not on disk"
    split = ds.test if ds.test is not None else ds.val
    if split is None or len(split) == 0:
        return None, f"{spec.dataset} has no test images"
    which = "validation" if ds.test is None or getattr(ds, "test_is_val", False) else "test"
    if list(ds.image_size) != [int(s) for s in spec.native_size]:
        return None, f"{spec.dataset} on disk has another image size"
    k = min(n, len(split))
    if hasattr(split, "images"):
        return split.images[:k].contiguous(), f"{which} images of {ds.name}"
    from ..data.formats import decode_image

    native = (int(spec.native_size[0]), int(spec.native_size[1]))
    arrays = [decode_image(f, spec.in_channels, native) for f in split.files[:k]]
    if any(a is None for a in arrays):
        return None, f"some test images of {ds.name} are unreadable"
    return torch.stack([torch.from_numpy(a) for a in arrays if a is not None]), f"{which} images of {ds.name}"


# --------------------------------------------------------------------------------------------------
# Writers and runners


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """torch's exporters warn about their own deprecations and about the model's shape checks being
    traced as constants (they are: the input shape is fixed but for the batch); none is the user's."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _write_onnx(model: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict[str, str], exporter: str) -> None:
    import onnx

    with _quiet():
        if exporter == "dynamo":
            batch = torch.export.Dim("batch", min=1, max=1 << 16)
            program = torch.onnx.export(model, (x,), None, input_names=["input"], output_names=["logits"],
                                        dynamo=True, dynamic_shapes=({0: batch},), opset_version=18,
                                        verbose=False)
            assert program is not None  # dynamo=True returns the program
            program.save(str(path))
        else:
            torch.onnx.export(model, (x,), str(path), input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              opset_version=ONNX_OPSET, dynamo=False, do_constant_folding=True)
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    proto.doc_string = f"cnnzoo {meta['model']} trained on {meta['dataset']}; see the metadata_props"
    proto.producer_name = "cnnzoo"
    proto.producer_version = meta["cnnzoo_version"]
    onnx.save(proto, str(path))


def _write_torchscript(model: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict[str, str],
                       exporter: str) -> None:
    with _quiet():
        traced = torch.jit.trace(model, (x,), check_trace=False)
        traced.save(str(path), _extra_files={META_FILE: json.dumps(meta)})


def _write_pt2(model: torch.nn.Module, x: torch.Tensor, path: Path, meta: dict[str, str], exporter: str) -> None:
    with _quiet():
        batch = torch.export.Dim("batch", min=1, max=1 << 16)
        with torch.no_grad():
            program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
        torch.export.save(program, str(path), extra_files={META_FILE: json.dumps(meta)})


_WRITERS = {"onnx": _write_onnx, "torchscript": _write_torchscript, "pt2": _write_pt2}


def run_exported(path: Path, fmt: str, *inputs: torch.Tensor) -> list[torch.Tensor]:
    """Run an exported file on each input batch with the runtime its format is meant for."""
    if fmt == "onnx":
        session = onnx_session(path)
        name = session.get_inputs()[0].name
        return [torch.from_numpy(session.run(None, {name: x.numpy()})[0]) for x in inputs]
    with _quiet():
        if fmt == "torchscript":
            module = torch.jit.load(str(path), map_location="cpu")
        else:
            module = torch.export.load(str(path)).module()
        with torch.no_grad():
            return [module(x) for x in inputs]


def _require_onnxruntime() -> None:
    try:
        import onnx  # noqa: F401
        import onnxruntime  # type: ignore[import-untyped] # noqa: F401
    except ImportError as e:
        raise ConfigError(f"ONNX needs the onnx and onnxruntime packages ({e.name} is missing); "
                          f"{INSTALL_HINT}") from None


def onnx_session(path: Path, threads: int | None = None) -> Any:
    """An onnxruntime CPU session for ``path`` (a ConfigError saying how to install it when missing)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f"the onnxruntime backend needs the onnxruntime package; {INSTALL_HINT}") from None
    opts = ort.SessionOptions()
    opts.log_severity_level = 3  # errors only
    if threads:
        opts.intra_op_num_threads = threads
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own Fail/InvalidGraph types
        raise CheckpointError(f"{path} is not an ONNX model onnxruntime can load ({str(e).splitlines()[0][:160]})"
                              ) from None


def read_onnx_metadata(path: Path) -> dict[str, str]:
    """The metadata_props of an ONNX file (through onnxruntime: no onnx package needed)."""
    return dict(onnx_session(path).get_modelmeta().custom_metadata_map)
