"""Checkpoints that are safe to receive and safe to crash on.

Safe to receive: weights are stored as safetensors (a header of JSON and raw tensor bytes) and
everything else as JSON inside a companion safetensors file. Nothing is ever unpickled, so a
checkpoint from a stranger cannot run code on your machine.

Safe to crash on: every file is written to ``NAME.tmp``, flushed to disk (fsync) and renamed over
the old one; a rename is atomic, so a crash at any moment leaves the previous or the new file, never
a torn one. A checkpoint is two files (weights, and training state); both carry the same ``tag``
(the global step). They are written in full before either is renamed, the state file first: if a
crash falls between the two renames, the next load finds the finished ``.tmp`` weights with the
state's tag and completes the rename.

Layout of a run's ``checkpoints/``::

    last.safetensors         model weights + metadata (model name, classes, input, normalization)
    last.state.safetensors   optimizer tensors, RNG, EMA; metadata: loop state and optimizer groups
    best.safetensors         weights with the best validation accuracy so far
"""

from __future__ import annotations

import errno
import json
import math
import os
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from ..errors import CheckpointError, OutputError
from ..paths import describe

FORMAT = "cnnzoo-checkpoint/1"
STATE_FORMAT = "cnnzoo-state/1"


@dataclass
class ModelSpec:
    """What it takes to rebuild a model and feed it: stored in every weights file."""

    model: str
    num_classes: int
    in_channels: int
    input_size: list[int]  # (H, W) the network sees, after any resize
    native_size: list[int]  # (H, W) of the dataset's images before the resize
    classes: list[str]
    mean: list[float]
    std: list[float]
    dataset: str = ""
    model_kwargs: dict[str, Any] = field(default_factory=dict)

    def metadata(self) -> dict[str, str]:
        return {"format": FORMAT, "spec": json.dumps(asdict(self))}

    @classmethod
    def from_metadata(cls, meta: dict[str, str] | None, path: Path) -> ModelSpec:
        """The spec stored in a weights file, every field checked (see :func:`check_spec`)."""
        if not meta or meta.get("format") != FORMAT or "spec" not in meta:
            raise CheckpointError(f"{path} is a safetensors file but not a cnnzoo checkpoint "
                                  "(no cnnzoo metadata); use a file written by `cnnzoo train`")
        try:
            data = json.loads(meta["spec"])  # NaN and Infinity parse; check_spec names the field
        except (ValueError, RecursionError) as e:
            raise CheckpointError(f"{path}: checkpoint metadata is damaged (not JSON: {str(e)[:80]})") from None
        return check_spec(data, path)


# --------------------------------------------------------------------------------------------------
# Checking the metadata before anything is built from it
#
# A checkpoint may come from a stranger: its metadata decides how big a model is built, what size
# images are decoded to and which names are printed. Each field is checked here, by name, before
# anything is allocated; :func:`check_fits` then checks the weights against the model the spec
# describes, built on the "meta" device (shapes only, no memory).

MAX_SIDE = 4096  # pixels per side of input_size / native_size: 4096^2 x 3 is 48 MiB per decoded image
MAX_CLASSES = 100_000  # ImageNet-21k has 21,841
MAX_NAME = 1_000  # characters in a class, model or dataset name
CHANNELS = (1, 3)  # what the image decoder produces (grey or RGB; see cnnzoo.data.formats)


def _bad(path: Path, field_: str, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: checkpoint metadata field '{field_}' {why}; the file is damaged or was "
                           "not written by `cnnzoo train`")


def _int_field(data: dict[str, Any], key: str, path: Path, lo: int, hi: int) -> int:
    v = data[key]
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _bad(path, key, f"must be an integer in {lo}..{hi}, got {_short(v)}")
    return v


def _str_field(data: dict[str, Any], key: str, path: Path) -> str:
    v = data[key]
    if not isinstance(v, str) or len(v) > MAX_NAME:
        raise _bad(path, key, f"must be a string of at most {MAX_NAME} characters, got {_short(v)}")
    return v


def _short(v: Any) -> str:
    """A value for a message, never long (it may be huge or hostile)."""
    text = repr(v) if isinstance(v, (int, float, str, bool, type(None))) else type(v).__name__
    return text if len(text) <= 40 else text[:37] + "..."


def check_spec(data: Any, path: Path) -> ModelSpec:
    """A :class:`ModelSpec` from parsed metadata, each field checked for type and sane bounds, and the
    fields against each other; a CheckpointError naming ``path`` and the field otherwise."""
    from ..errors import ModelError
    from ..models.registry import check_options, resolve_name

    if not isinstance(data, dict):
        raise CheckpointError(f"{path}: checkpoint metadata is damaged (the spec is not a JSON object)")
    names = [f.name for f in fields(ModelSpec)]
    required = [f.name for f in fields(ModelSpec) if f.default is MISSING and f.default_factory is MISSING]
    unknown = [k for k in data if k not in names]
    if unknown:
        raise _bad(path, str(unknown[0])[:40], "is not a field of a cnnzoo checkpoint")
    absent = [k for k in required if k not in data]
    if absent:
        raise _bad(path, absent[0], "is missing")
    model = _str_field(data, "model", path)
    try:
        canonical = resolve_name(model)
    except ModelError:
        raise _bad(path, "model", f"names no model of this cnnzoo ({_short(model)}); 'cnnzoo models' lists "
                                  "them") from None
    num_classes = _int_field(data, "num_classes", path, 1, MAX_CLASSES)
    in_channels = data["in_channels"]
    if isinstance(in_channels, bool) or in_channels not in CHANNELS:
        raise _bad(path, "in_channels", f"must be one of {', '.join(map(str, CHANNELS))}, got {_short(in_channels)}")
    _check_sizes(data, path)
    classes = data["classes"]
    if not isinstance(classes, list) or not all(isinstance(c, str) and len(c) <= MAX_NAME for c in classes):
        raise _bad(path, "classes", f"must be a list of class names (strings), got {_short(classes)}")
    if len(classes) != num_classes:
        raise _bad(path, "classes", f"has {len(classes)} names for num_classes={num_classes}")
    _check_normalization(data, in_channels, path)
    if "dataset" in data:
        _str_field(data, "dataset", path)
    kwargs = data.get("model_kwargs", {})
    if not isinstance(kwargs, dict):
        raise _bad(path, "model_kwargs", f"must be a JSON object, got {_short(kwargs)}")
    try:
        check_options(canonical, kwargs)
    except ModelError as e:
        raise _bad(path, "model_kwargs", f"is not accepted by {canonical} ({e})") from None
    return ModelSpec(**{**data, "mean": [float(x) for x in data["mean"]], "std": [float(x) for x in data["std"]]})


def _check_sizes(data: dict[str, Any], path: Path) -> None:
    for key in ("input_size", "native_size"):
        v = data[key]
        if not (isinstance(v, list) and len(v) == 2 and all(
                isinstance(s, int) and not isinstance(s, bool) and 1 <= s <= MAX_SIDE for s in v)):
            raise _bad(path, key, f"must be [height, width], integers in 1..{MAX_SIDE}, got {_short(v)}")
    if data["input_size"][0] != data["input_size"][1]:
        raise _bad(path, "input_size", "must be square (the zoo's models take square inputs)")


def _check_normalization(data: dict[str, Any], in_channels: int, path: Path) -> None:
    for key in ("mean", "std"):
        v = data[key]
        if not (isinstance(v, list) and all(isinstance(x, (int, float)) and not isinstance(x, bool)
                                            and math.isfinite(x) for x in v)):
            raise _bad(path, key, f"must be a list of finite numbers, got {_short(v)}")
        if len(v) != in_channels:
            raise _bad(path, key, f"has {len(v)} values for in_channels={in_channels}")
    if any(x <= 0 for x in data["std"]):
        raise _bad(path, "std", "must be positive (images are divided by it)")


def check_fits(spec: ModelSpec, state: dict[str, torch.Tensor], path: Path) -> None:
    """Do the weights fit the model ``spec`` describes? Checked on a model built on the "meta" device
    (shapes, no memory), so that a spec that promises a huge model allocates nothing."""
    with torch.device("meta"):
        skeleton = _create(spec, path)
    _compare(skeleton.state_dict(), state, spec, path)


def _create(spec: ModelSpec, path: Path) -> torch.nn.Module:
    from ..errors import ModelError
    from ..models.registry import create_model

    try:
        return create_model(spec.model, num_classes=spec.num_classes, in_channels=spec.in_channels,
                            image_size=spec.input_size[0], **spec.model_kwargs)
    except ModelError as e:  # e.g. an input size below the model's minimum
        raise _bad(path, "input_size" if "input" in str(e) else "model_kwargs", f"does not fit the model ({e})"
                   ) from None


# --------------------------------------------------------------------------------------------------
# Atomic writes


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_tmp(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path.tmp`` and flush it to disk; the caller renames it into place."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _output_error(e, path) from None
    return tmp


def _rename(tmp: Path, path: Path) -> None:
    try:
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise _output_error(e, path) from None


def atomic_write(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so that readers (and crashes) see the old or the new file."""
    tmp = write_tmp(path, data)
    _rename(tmp, path)
    _fsync_dir(path.parent)


def _output_error(e: OSError, path: Path) -> OutputError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return OutputError(f"disk full while writing {path}; the previous checkpoint is intact — "
                           "free some space and resume")
    if e.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
        return OutputError(f"cannot write {path}: the folder is read-only; choose another --out")
    return OutputError(f"cannot write {path}: {e.strerror or e}")


# --------------------------------------------------------------------------------------------------
# Optimizer state <-> tensors + JSON (no pickle)


def _optimizer_to_flat(sd: dict[str, Any]) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for k, v in state.items():
            if isinstance(v, torch.Tensor):
                tensors[f"optim.{idx}.{k}"] = v.detach().contiguous()
            else:
                scalars.setdefault(str(idx), {})[k] = v
    groups = json.loads(json.dumps(sd["param_groups"], default=_jsonable))
    return tensors, {"scalars": scalars, "param_groups": groups}


def _jsonable(v: Any) -> Any:
    if isinstance(v, torch.Tensor):
        return v.item()
    if isinstance(v, tuple):
        return list(v)
    raise TypeError(f"not JSON-serializable: {type(v).__name__}")


def _optimizer_from_flat(tensors: dict[str, torch.Tensor], meta: Any, path: Path) -> dict[str, Any]:
    """The optimizer's state_dict from the state file's tensors and JSON, its structure checked (that it
    fits the optimizer is :func:`check_optimizer_fits`'s job)."""
    if not isinstance(meta, dict) or not isinstance(meta.get("param_groups"), list) \
            or not isinstance(meta.get("scalars", {}), dict):
        raise _bad_state(path, "optimizer", "must be an object with a list of param_groups")
    state: dict[int, dict[str, Any]] = {}
    for key, t in tensors.items():
        if key.startswith("optim."):
            parts = key.split(".", 2)
            if len(parts) != 3 or not parts[1].isdigit():
                raise _bad_state(path, key[:60], "is not an optimizer tensor name (optim.<index>.<name>)")
            state.setdefault(int(parts[1]), {})[parts[2]] = t
    for idx, values in meta.get("scalars", {}).items():
        if not str(idx).isdigit() or not isinstance(values, dict):
            raise _bad_state(path, f"optimizer.scalars.{str(idx)[:20]}", "must map a parameter index to values")
        state.setdefault(int(idx), {}).update(values)
    groups = meta["param_groups"]
    for g in groups:
        if not isinstance(g, dict) or not isinstance(g.get("params"), list):
            raise _bad_state(path, "optimizer.param_groups", "must be a list of objects with params")
        if "betas" in g and isinstance(g["betas"], list):
            g["betas"] = tuple(g["betas"])
    return {"state": state, "param_groups": groups}


def _bad_state(path: Path, field_: str, why: str) -> CheckpointError:
    return CheckpointError(f"{path}: training state field '{field_}' {why}; the file is damaged or was not "
                           "written by `cnnzoo train` (start a new run with --config RUN/config.yaml)")


def check_optimizer_fits(saved: dict[str, Any], optimizer: torch.optim.Optimizer, path: Path) -> None:
    """Does a saved optimizer state fit ``optimizer``? torch's ``load_state_dict`` checks only the
    number of parameters per group: a buffer of another shape or a hyper-parameter of another type
    would load and then fail, as a traceback, at the first step. Checked here, field by field."""
    own = optimizer.state_dict()
    if len(saved["param_groups"]) != len(own["param_groups"]):
        raise _bad_state(path, "optimizer.param_groups", f"has {len(saved['param_groups'])} groups, this "
                                                          f"optimizer {len(own['param_groups'])}")
    for i, (g, mine) in enumerate(zip(saved["param_groups"], own["param_groups"], strict=True)):
        if len(g["params"]) != len(mine["params"]):
            raise _bad_state(path, f"optimizer.param_groups.{i}.params", f"has {len(g['params'])} parameters, "
                                                                         f"this optimizer {len(mine['params'])}")
        for key, want in mine.items():
            if key != "params" and key in g and not _same_kind(g[key], want):  # absent: torch's default
                raise _bad_state(path, f"optimizer.param_groups.{i}.{key}", f"must be like {_short(want)}, got "
                                                                            f"{_short(g[key])}")
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for idx, values in saved["state"].items():
        if not 0 <= idx < len(params):
            raise _bad_state(path, f"optim.{idx}", f"names no parameter (the optimizer has {len(params)})")
        for name, v in values.items():
            where = f"optim.{idx}.{name}"
            if isinstance(v, torch.Tensor):
                want = () if name == "step" else tuple(params[idx].shape)
                if tuple(v.shape) != want or not v.is_floating_point():
                    raise _bad_state(path, where, f"has shape {tuple(v.shape)} {v.dtype}, the parameter needs "
                                                  f"floating point {want}")
            elif not _same_kind(v, 0.0):
                raise _bad_state(path, where, f"must be a number, got {_short(v)}")


def _same_kind(v: Any, want: Any) -> bool:
    """``v`` (from JSON) can stand where ``want`` (an optimizer's own hyper-parameter) stands."""
    if isinstance(want, bool) or want is None:  # flags such as foreach/fused differ between devices
        return isinstance(v, bool) or v is None
    if isinstance(want, (int, float, torch.Tensor)):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
    if isinstance(want, (tuple, list)):
        return isinstance(v, (tuple, list)) and len(v) == len(want) and all(
            _same_kind(a, b) for a, b in zip(v, want, strict=True))
    return type(v) is type(want)


# --------------------------------------------------------------------------------------------------
# Saving


def weights_bytes(model_state: dict[str, torch.Tensor], spec: ModelSpec, tag: int | None = None) -> bytes:
    meta = spec.metadata()
    if tag is not None:
        meta["tag"] = str(tag)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model_state.items()}
    return st_save(tensors, metadata=meta)


def save_weights(path: Path, model_state: dict[str, torch.Tensor], spec: ModelSpec) -> None:
    atomic_write(path, weights_bytes(model_state, spec))


def save_checkpoint(
    folder: Path,
    name: str,
    *,
    model_state: dict[str, torch.Tensor],
    spec: ModelSpec,
    tag: int,
    optimizer_state: dict[str, Any],
    loop: dict[str, Any],
    extra_tensors: dict[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``NAME.safetensors`` and ``NAME.state.safetensors`` crash-safely (see module doc)."""
    folder.mkdir(parents=True, exist_ok=True)
    weights_path = folder / f"{name}.safetensors"
    state_path = folder / f"{name}.state.safetensors"
    opt_tensors, opt_meta = _optimizer_to_flat(optimizer_state)
    tensors = {**opt_tensors, **{k: v.detach().to("cpu").contiguous() for k, v in (extra_tensors or {}).items()}}
    state_meta = {"format": STATE_FORMAT, "tag": str(tag), "loop": json.dumps(loop),
                  "optimizer": json.dumps(opt_meta)}
    w_tmp = write_tmp(weights_path, weights_bytes(model_state, spec, tag))
    try:
        s_tmp = write_tmp(state_path, st_save(tensors, metadata=state_meta))
    except OutputError:
        w_tmp.unlink(missing_ok=True)
        raise
    _rename(s_tmp, state_path)
    _rename(w_tmp, weights_path)
    _fsync_dir(folder)
    return weights_path


# --------------------------------------------------------------------------------------------------
# Loading


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    kind = describe(path)  # stat, not open: reading a named pipe would wait forever
    if kind not in ("is a file", "is a folder", "does not exist"):
        raise CheckpointError(f"{path} {kind}, not a checkpoint file; pass a run directory or a .safetensors file")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint not found: {path}") from None
    except IsADirectoryError:
        raise CheckpointError(f"{path} is a folder, not a checkpoint file") from None
    except OSError as e:
        raise CheckpointError(f"cannot read checkpoint {path}: {e.strerror or e}") from None
    try:
        meta = _header_metadata(data)
        tensors = st_load(data)
    except (SafetensorError, ValueError, RuntimeError, OverflowError, RecursionError) as e:
        if path.suffix in (".pt", ".pth", ".pkl", ".ckpt") or data[:1] == b"\x80" or data[:4] == b"PK\x03\x04":
            raise CheckpointError(f"{path} looks like a pickled PyTorch file; cnnzoo never unpickles files "
                                  "(they can run code). Use a .safetensors checkpoint written by `cnnzoo train`"
                                  ) from None
        raise CheckpointError(f"{path} is not a valid checkpoint (truncated or damaged: {str(e)[:120]})") from None
    return tensors, meta


def _header_metadata(data: bytes) -> dict[str, str]:
    if len(data) < 8:
        raise ValueError("file shorter than its header")
    n = int.from_bytes(data[:8], "little")
    if n > len(data) - 8:
        raise ValueError("header longer than the file")
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a mapping")
    meta = header.get("__metadata__") or {}
    if not isinstance(meta, dict):
        raise ValueError("metadata is not a mapping")
    return {str(k): str(v) for k, v in meta.items()}


def load_weights(path: Path) -> tuple[dict[str, torch.Tensor], ModelSpec]:
    tensors, meta = _read(path)
    return tensors, ModelSpec.from_metadata(meta, path)


def find_checkpoint(target: str | Path, prefer: str = "best") -> Path:
    """A checkpoint file from a run directory (best, else last) or a file path."""
    p = Path(target)
    if p.is_dir():
        ck = p / "checkpoints"
        order = [prefer, "last" if prefer == "best" else "best"]
        for name in order:
            f = ck / f"{name}.safetensors"
            if f.is_file():
                return f
        if (p / "config.yaml").is_file():
            raise CheckpointError(f"run {p} has no checkpoint yet (checkpoints/last.safetensors is missing); "
                                  "it may have stopped before its first epoch ended")
        raise CheckpointError(f"{p} is not a cnnzoo run directory (no checkpoints/ or config.yaml)")
    kind = describe(p)
    if kind == "does not exist":
        raise CheckpointError(f"no run or checkpoint at {p}")
    if kind != "is a file":
        raise CheckpointError(f"{p} {kind}, not a run directory or a checkpoint file; pass the folder "
                              "`cnnzoo train` wrote or a .safetensors file in it")
    return p


def build_model(spec: ModelSpec, state: dict[str, torch.Tensor], path: Path) -> torch.nn.Module:
    """Rebuild the network a checkpoint was trained as and load its weights (checked to fit first,
    on shapes alone, so that nothing is allocated for a spec the weights contradict)."""
    check_fits(spec, state, path)
    model = _create(spec, path)
    load_state(model, state, spec, path)
    return model


def load_state(model: torch.nn.Module, state: dict[str, torch.Tensor], spec: ModelSpec, path: Path) -> None:
    _compare(model.state_dict(), state, spec, path)
    model.load_state_dict(state)


def _compare(own: dict[str, torch.Tensor], state: dict[str, torch.Tensor], spec: ModelSpec, path: Path) -> None:
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape_bad = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shape_bad:
        what = []
        if missing:
            what.append(f"{len(missing)} missing (e.g. {missing[0]})")
        if unexpected:
            what.append(f"{len(unexpected)} unexpected (e.g. {unexpected[0]})")
        if shape_bad:
            k = shape_bad[0]
            what.append(f"{len(shape_bad)} of another shape "
                        f"(e.g. {k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)})")
        raise CheckpointError(f"{path} does not fit this model ({spec.model}, {spec.num_classes} classes): "
                              + "; ".join(what))


@dataclass
class TrainingState:
    tag: int
    loop: dict[str, Any]
    optimizer: dict[str, Any]
    tensors: dict[str, torch.Tensor]


def load_training_state(folder: Path, name: str = "last", *, repair: bool = True
                        ) -> tuple[dict[str, torch.Tensor], ModelSpec, TrainingState]:
    """The weights and training state of checkpoint ``name``. A crash between the two renames of a
    save is completed: with ``repair`` the finished ``.tmp`` weights are renamed into place, without
    it they are only read (a resume that may still fail changes nothing on disk)."""
    weights_path = folder / f"{name}.safetensors"
    state_path = folder / f"{name}.state.safetensors"
    if not state_path.is_file():
        raise CheckpointError(f"{state_path} is missing: cannot resume without the training state")
    s_tensors, s_meta = _read(state_path)
    if s_meta.get("format") != STATE_FORMAT:
        raise CheckpointError(f"{state_path} is not a cnnzoo training-state file")
    tag = s_meta.get("tag")
    if tag is None or not tag.isdigit():
        raise _bad_state(state_path, "tag", f"must be the step number, got {_short(tag)}")
    w_tmp = weights_path.with_name(weights_path.name + ".tmp")
    found = None
    if w_tmp.is_file():
        try:
            tmp_weights, tmp_meta = _read(w_tmp)
            if tmp_meta.get("tag") == tag:
                found = tmp_weights, tmp_meta
                if repair:
                    os.replace(w_tmp, weights_path)  # finish the rename a crash interrupted
        except CheckpointError:
            pass  # a torn temporary file: the committed pair is intact
    weights, w_meta = found if found is not None else _read(weights_path)
    if w_meta.get("tag") != tag:
        raise CheckpointError(f"{weights_path} (step {w_meta.get('tag')}) and {state_path} (step {tag}) "
                              "do not belong together; the run folder was modified by hand")
    spec = ModelSpec.from_metadata(w_meta, weights_path)
    try:
        step = int(s_meta["tag"])
        loop = json.loads(s_meta["loop"])
        opt_meta = json.loads(s_meta["optimizer"])
    except (KeyError, ValueError, RecursionError) as e:
        raise CheckpointError(f"{state_path}: training state is damaged ({str(e)[:80]})") from None
    optimizer = _optimizer_from_flat(s_tensors, opt_meta, state_path)
    extra = {k: v for k, v in s_tensors.items() if not k.startswith("optim.")}
    return weights, spec, TrainingState(step, loop, optimizer, extra)


def load_run(target: str | Path, device: str = "cpu") -> Any:
    """The trained model of a run: see :func:`cnnzoo.engine.inference.load_run` (kept here for imports)."""
    from .inference import load_run as _load_run

    return _load_run(target, device)
