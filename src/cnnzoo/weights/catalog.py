"""The published weight sets, their facts, and where their files are found or fetched.

Every set torchvision and timm publish for a model with a cnnzoo counterpart is one
:class:`WeightsMeta` (torchvision's ``Weights.meta``, timm's ``pretrained_cfg``), read from
``published.json``, which ``scripts/make_weight_fixtures.py`` extracts from the libraries
themselves: nothing here is typed in by hand.

A *source* names a set of weights:

- a path: a ``.pth`` / ``pytorch_model.bin`` / ``.safetensors`` file, or a cnnzoo run directory;
- ``torchvision`` or ``timm`` (that library's default set for the model), or ``LIBRARY:TAG``
  (``torchvision:IMAGENET1K_V2``, ``timm:a1_in1k``).

A named set is looked for, first hit wins, in

1. ``$TORCH_HOME/hub/checkpoints/<file>`` (default ``${XDG_CACHE_HOME:-~/.cache}/torch``), where
   ``torch.hub`` and torchvision keep their downloads, for torchvision's sets;
2. the Hugging Face hub cache (``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, default
   ``${XDG_CACHE_HOME:-~/.cache}/huggingface/hub``): ``models--timm--<NAME>/snapshots/*/model.safetensors``
   (or ``pytorch_model.bin``), for timm's;
3. cnnzoo's cache, ``${XDG_CACHE_HOME:-~/.cache}/cnnzoo/weights/<library>/...``;

and otherwise downloaded (unless offline) from the official URL, or from the base URLs in
``$CNNZOO_WEIGHTS_MIRRORS`` (comma-separated), into the first place of that list for torchvision
and into cnnzoo's cache for timm, through the datasets' download machinery.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path
from typing import Any

from .. import env
from ..data import sources
from ..errors import CheckpointError, did_you_mean

LIBRARIES = ("torchvision", "timm")
ENV_MIRRORS = env.WEIGHTS_MIRRORS.name

# torchvision's GoogLeNet weights were trained (ported from TensorFlow) on inputs scaled to [-1, 1];
# torchvision's transforms still normalize with ImageNet's mean/std and `transform_input` converts.
TRANSFORM_INPUT_MEAN = (0.5, 0.5, 0.5)
TRANSFORM_INPUT_STD = (0.5, 0.5, 0.5)


@dataclass(frozen=True)
class WeightsMeta:
    """The facts of one published set of weights (see the module docstring)."""

    library: str  # "torchvision" or "timm"
    model: str  # the cnnzoo model it fits
    reference: str  # the library's model name
    tag: str  # IMAGENET1K_V1, a1_in1k, ...
    default: bool  # what `torchvision` / `timm` alone means for this model
    file_name: str  # as published (torchvision: NAME-<sha256 prefix>.pth)
    url: str
    sha256: str | None  # the full digest, where the library publishes one (neither does today)
    sha256_prefix: str | None  # torchvision: the digest's first hex digits, in the file name
    mean: tuple[float, ...]
    std: tuple[float, ...]
    input_size: tuple[int, int, int]  # (C, H, W) it was trained and evaluated at
    resize_size: int | None  # torchvision: resize the short side to this, then center-crop
    crop_pct: float | None  # crop / resize
    interpolation: str | None  # "bilinear", "bicubic"
    num_classes: int
    classes: str  # "imagenet1k" (the 1000 class names: imagenet_classes()) or another label set
    transform_input: bool  # torchvision GoogLeNet: inputs are rescaled from ImageNet's normalization to [-1, 1]
    acc1: float | None = None  # torchvision's published ImageNet-1K top-1 / top-5
    acc5: float | None = None
    num_params: int | None = None
    recipe: str | None = None
    license: str | None = None
    hf_hub_id: str | None = None  # timm: the Hugging Face repository of the file

    @property
    def source(self) -> str:
        return f"{self.library}:{self.tag}"

    @property
    def model_mean(self) -> tuple[float, ...]:
        """The normalization cnnzoo's network must be fed: ``mean`` unless ``transform_input``.

        torchvision's GoogLeNet takes ImageNet-normalized input and rescales it inside
        (``x * std / 0.5 + (mean - 0.5) / 0.5``), which is exactly normalizing the raw image with
        mean = std = 0.5; cnnzoo's GoogLeNet has no such step, so its input pipeline does it.
        """
        return TRANSFORM_INPUT_MEAN if self.transform_input else self.mean

    @property
    def model_std(self) -> tuple[float, ...]:
        return TRANSFORM_INPUT_STD if self.transform_input else self.std

    def relative_path(self) -> str:
        """Where the file lives below a cache or mirror root."""
        return self.file_name if self.library == "torchvision" else f"{self.hf_hub_id}/{self.file_name}"


@functools.cache
def _published() -> dict:
    text = resources.files("cnnzoo.weights").joinpath("published.json").read_text()
    return json.loads(text)


def published_weights(model: str | None = None, library: str | None = None) -> list[WeightsMeta]:
    """Every published set (for ``model`` / ``library`` when given), in the libraries' order."""
    names = {f.name for f in fields(WeightsMeta)}
    out = []
    for entry in _published()["weights"]:
        data: dict[str, Any] = {k: (tuple(v) if isinstance(v, list) else v) for k, v in entry.items() if k in names}
        meta = WeightsMeta(**data)
        if (model is None or meta.model == model) and (library is None or meta.library == library):
            out.append(meta)
    return out


def imagenet_classes() -> list[str]:
    """The 1000 ImageNet-1k class names, in the order of the published classifiers (torchvision's)."""
    return list(_published()["imagenet1k_classes"])


def is_named_source(source: object) -> bool:
    """Whether ``source`` names a published set (``torchvision``, ``timm:TAG``) rather than a path."""
    return isinstance(source, str) and source.split(":", 1)[0].lower() in LIBRARIES and not Path(source).exists()


def find_published(model: str, source: str) -> WeightsMeta:
    """The published set ``source`` (``torchvision``, ``timm:a1_in1k``) names for ``model``."""
    library, _, tag = source.partition(":")
    library = library.lower()
    sets = published_weights(model, library)
    if not sets:
        others = sorted({m.source for m in published_weights(model)})
        where = f"; it has: {', '.join(others)}" if others else \
            "; it has no published counterpart (docs/transfer.md lists the models that do)"
        raise CheckpointError(f"{model} has no published {library} weights{where}")
    if not tag:
        return next(m for m in sets if m.default) if any(m.default for m in sets) else sets[0]
    for m in sets:
        if m.tag.lower() == tag.lower():
            return m
    tags = [m.tag for m in sets]
    raise CheckpointError(f"{model} has no {library} weights tagged '{tag}'{did_you_mean(tag, tags)}; "
                          f"it has: {', '.join(tags)}")


# ------------------------------------------------------------------------------------------------
# caches


def _cache_base() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"))


def torch_hub_dir() -> Path:
    """``$TORCH_HOME/hub/checkpoints``, as torch.hub computes it."""
    home = os.environ.get("TORCH_HOME") or str(_cache_base() / "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def hf_hub_dir() -> Path:
    """The Hugging Face hub cache, as huggingface_hub computes it."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or str(_cache_base() / "huggingface")
    return Path(home).expanduser() / "hub"


def cnnzoo_weights_dir(library: str) -> Path:
    return sources.cache_root() / "weights" / library


def cache_candidates(meta: WeightsMeta) -> list[Path]:
    """Every file that counts as ``meta``'s, in search order (globs expanded)."""
    if meta.library == "torchvision":
        return [torch_hub_dir() / meta.file_name, cnnzoo_weights_dir("torchvision") / meta.file_name]
    repo = hf_hub_dir() / ("models--" + (meta.hf_hub_id or "").replace("/", "--"))
    found = sorted((repo / "snapshots").glob(f"*/{meta.file_name}")) + \
        sorted((repo / "snapshots").glob("*/pytorch_model.bin"))
    return [*found, cnnzoo_weights_dir("timm") / meta.relative_path()]


def download_dir(meta: WeightsMeta) -> Path:
    if meta.library == "torchvision":
        return torch_hub_dir()
    return cnnzoo_weights_dir("timm") / (meta.hf_hub_id or meta.reference)


def fetch_command(meta: WeightsMeta) -> str:
    """The one command a user with internet runs to put ``meta``'s file where cnnzoo looks."""
    target = download_dir(meta) / meta.file_name
    return (f"python -c \"import torch, os; os.makedirs('{target.parent}', exist_ok=True); "
            f"torch.hub.download_url_to_file('{meta.url}', '{target}')\"")


def locate_weights(meta: WeightsMeta, *, offline: bool = False, progress: bool | None = None) -> Path:
    """The file of ``meta`` from the caches, else downloaded (see the module docstring)."""
    for path in cache_candidates(meta):
        if path.is_file():
            return path
    target = download_dir(meta) / meta.file_name
    if offline:
        raise CheckpointError(
            f"{meta.model} {meta.source} weights: offline and {meta.file_name} is not in the caches; "
            f"put it at {target}, or where there is internet run: {fetch_command(meta)}")
    return download_weights(meta, progress=progress)


def _mirrors(meta: WeightsMeta) -> list[str]:
    urls = env.WEIGHTS_MIRRORS.read()  # checked there: each entry a URL
    if urls is not None:
        bases = [m.rstrip("/") for m in urls]
        return [f"{b}/{meta.hf_hub_id}" if meta.library == "timm" else b for b in bases]
    return [meta.url.rsplit("/", 1)[0]]


def download_weights(meta: WeightsMeta, *, progress: bool | None = None) -> Path:
    """Download ``meta``'s file into :func:`download_dir`, verified, renamed into place atomically.

    A full sha256 goes through the datasets' :func:`cnnzoo.data.sources.download_file`. torchvision
    publishes only the digest's first hex digits (in the file name, as torch.hub checks them), and
    timm none: those are verified here by prefix, and every file then by parsing it (see loader).
    """
    dest = download_dir(meta)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CheckpointError(f"cannot create {dest}: {e.strerror or e}") from None
    mirrors = _mirrors(meta)
    try:
        if meta.sha256:
            return sources.download_file(meta.file_name, mirrors, dest, f"sha256:{meta.sha256}", progress=progress)
        return _download_prefix_verified(meta, mirrors, dest, progress)
    except CheckpointError:
        raise
    except sources.DataError as e:
        raise CheckpointError(f"{str(e).rstrip('.')}; or where there is internet run: {fetch_command(meta)}") from None


def _download_prefix_verified(meta: WeightsMeta, mirrors: list[str], dest: Path, progress: bool | None) -> Path:
    """Like sources.download_file, for a sha256 known only by its prefix (or not at all)."""
    target = dest / meta.file_name
    failures = []
    for base in mirrors:
        url = f"{base}/{meta.file_name}"
        fd, tmp_name = tempfile.mkstemp(dir=dest, prefix=f".{meta.file_name}.", suffix=".part")
        tmp = Path(tmp_name)
        try:
            request = urllib.request.Request(url, headers={"User-Agent": "cnnzoo (weights download)"})
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(request, timeout=sources.TIMEOUT_S) as resp:
                length = resp.headers.get("Content-Length")
                bar = sources.Progress(url, int(length) if length and length.isdigit() else None,
                                       enabled=None if progress is None else progress)
                h = hashlib.sha256()
                while chunk := resp.read(sources.CHUNK):
                    out.write(chunk)
                    h.update(chunk)
                    bar.update(len(chunk))
            digest = h.hexdigest()
            if meta.sha256_prefix and not digest.startswith(meta.sha256_prefix):
                bar.close("checksum mismatch")
                failures.append(f"{url}: checksum mismatch "
                                f"(expected sha256 {meta.sha256_prefix}..., got {digest[:16]}...)")
                continue
            os.replace(tmp, target)
            bar.close("sha256 prefix verified" if meta.sha256_prefix else "no published checksum; verified by loading")
            return target
        except urllib.error.HTTPError as e:
            failures.append(f"{url}: HTTP {e.code} {e.reason}")
            e.close()
        except urllib.error.URLError as e:
            failures.append(f"{url}: {e.reason}")
        except (OSError, ValueError) as e:
            failures.append(f"{url}: {type(e).__name__}: {e}")
        finally:
            tmp.unlink(missing_ok=True)
    raise CheckpointError(f"could not download {meta.file_name}: {'; '.join(failures)}; put it at {target}, "
                          f"or where there is internet run: {fetch_command(meta)}")
