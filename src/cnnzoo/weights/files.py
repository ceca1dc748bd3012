"""Reading weight files without ever running what is inside them.

Four formats, told apart by what the file is, not by trust:

- a cnnzoo run directory or checkpoint (``.safetensors`` with cnnzoo metadata): read by
  :mod:`cnnzoo.engine.checkpoint`'s own readers;
- timm's ``model.safetensors`` (or any safetensors file): a JSON header and raw tensor bytes,
  read by the same safetensors reader;
- torchvision's ``.pth`` and timm's ``pytorch_model.bin``: PyTorch's pickle-in-zip format, read with
  ``torch.load(weights_only=True)``, whose unpickler refuses any global but tensors and plain
  containers, so a file that would run code is refused before anything runs.

Whatever the format, what comes back is a flat ``{name: tensor}`` whose floating tensors are all
finite; anything else is one :class:`~cnnzoo.errors.CheckpointError` line naming the file.
"""

from __future__ import annotations

import pickle
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..engine import checkpoint as ck
from ..errors import CheckpointError

# Wrappers that training scripts put around a state dict (timm's train.py, Lightning, ...).
_WRAPPERS = ("state_dict", "model", "module")


@dataclass
class WeightFile:
    """The tensors of a weight file, and what is known of where they come from."""

    path: Path
    state: dict[str, torch.Tensor]
    format: str  # "cnnzoo", "safetensors" or "pickle"
    spec: ck.ModelSpec | None = None  # a cnnzoo checkpoint's model spec
    metadata: dict[str, str] = field(default_factory=dict)


def read_weights(source: str | Path) -> WeightFile:
    """The tensors of a weight file or run directory (see the module docstring)."""
    path = Path(source).expanduser()
    if path.is_dir():
        path = ck.find_checkpoint(path)  # a run directory: its best (else last) checkpoint
    if not path.exists():
        raise CheckpointError(f"weights file not found: {path}")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder, not a weights file")
    if _is_safetensors(path):
        state, meta = ck._read(path)
        spec = ck.ModelSpec.from_metadata(meta, path) if meta.get("format") == ck.FORMAT else None
        out = WeightFile(path, state, "cnnzoo" if spec else "safetensors", spec, meta)
    else:
        out = WeightFile(path, _read_pickle(path), "pickle")
    _check_finite(out)
    return out


def _is_safetensors(path: Path) -> bool:
    """A safetensors file starts with an 8-byte header length and a JSON object ('{')."""
    if path.suffix == ".safetensors":
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(9)
    except OSError as e:
        raise CheckpointError(f"cannot read weights file {path}: {e.strerror or e}") from None
    return len(head) == 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") < (1 << 32)


def _read_pickle(path: Path) -> dict[str, torch.Tensor]:
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if "Weights only load failed" in str(e) or "Unsupported" in str(e):
            raise CheckpointError(
                f"{path} holds Python objects besides tensors, which loading would have to run; "
                "refused (cnnzoo reads only plain state dicts; re-save it with "
                "torch.save(model.state_dict()) or as .safetensors)") from None
        raise CheckpointError(f"{path} is not a valid PyTorch weights file (damaged: {_line(e)})") from None
    except (RuntimeError, EOFError, ValueError, zipfile.BadZipFile, OSError, IndexError, KeyError) as e:
        raise CheckpointError(f"{path} is not a valid PyTorch weights file (truncated or damaged: "
                              f"{_line(e)})") from None
    for key in _WRAPPERS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict) and not isinstance(obj.get(key), torch.Tensor):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not obj:
        raise CheckpointError(f"{path} holds {type(obj).__name__}, not a state dict of named tensors")
    bad = [k for k, v in obj.items() if not isinstance(k, str) or not isinstance(v, torch.Tensor)]
    if bad:
        raise CheckpointError(f"{path} is not a plain state dict: entry {bad[0]!r} is not a named tensor")
    return obj


def _check_finite(wf: WeightFile) -> None:
    for key, t in wf.state.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise CheckpointError(f"{wf.path}: tensor '{key}' holds NaN or infinite values; the file "
                                  "is damaged (download it again)")


def _line(e: BaseException) -> str:
    text = " ".join(str(e).split())
    return text[:120] or type(e).__name__
