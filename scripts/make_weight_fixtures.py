#!/usr/bin/env python
"""Make the CI fixtures that prove cnnzoo loads torchvision's and timm's published weights.

Run once, with a Python that has the real libraries (torchvision, timm) and no cnnzoo on the path:

    /tmp/ref/bin/python scripts/make_weight_fixtures.py

It writes two things, both committed:

- ``tests/fixtures/weights/reference.json.gz``: for every cnnzoo model with a counterpart, the
  library's state_dict key names and shapes, and the library's output logits (float64) for weights
  made by :func:`rule_tensor` (a deterministic rule, so no weight file is committed) on the input
  :func:`rule_input`. The CI test writes those weights in the library's exact file format, loads
  them through ``cnnzoo.weights`` and compares the logits.
- ``src/cnnzoo/weights/published.json``: the facts of every published weight set, read from the
  libraries themselves (torchvision's ``Weights`` enums and their ``meta``; timm's
  ``pretrained_cfg``): file name, URL, sha256 prefix, normalization, sizes, interpolation, class
  names, torchvision GoogLeNet's ``transform_input``.

Nothing is downloaded: the reference models are built with random initialization and then given
the rule's weights. The module's top level imports only torch, so that the CI test can import
:func:`rule_tensor` and :func:`rule_input` from here without torchvision or timm.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import sys
import zlib
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "weights" / "reference.json.gz"
PUBLISHED = ROOT / "src" / "cnnzoo" / "weights" / "published.json"

# cnnzoo name -> (library, the library's model name, constructor keyword arguments, input side).
# Inputs are small (64 px: the ImageNet configuration of every CNN here still takes it) to keep
# the CI test fast; MLP-Mixer and ViT take exactly 224 px (their token count is part of the weights).
COUNTERPARTS: dict[str, tuple[str, str, dict, int]] = {
    **{f"resnet{d}": ("torchvision", f"resnet{d}", {}, 64) for d in (18, 34, 50, 101, 152)},
    **{n: ("torchvision", n, {}, 64) for n in ("resnext50_32x4d", "resnext101_32x8d", "wide_resnet50_2")},
    **{f"vgg{d}{bn}": ("torchvision", f"vgg{d}{bn}", {}, 64) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    # aux_logits: the published file holds the auxiliary heads; transform_input: what the pretrained
    # builder sets (torchvision/models/googlenet.py: `_ovewrite_named_param(kwargs, "transform_input", True)`).
    "googlenet": ("torchvision", "googlenet", {"aux_logits": True, "transform_input": True, "init_weights": False}, 64),
    # The same for Inception-v3 (torchvision/models/inception.py); 75 px is the smallest it takes.
    "inception_v3": ("torchvision", "inception_v3",
                     {"aux_logits": True, "transform_input": True, "init_weights": False}, 75),
    **{f"densenet{d}": ("torchvision", f"densenet{d}", {}, 64) for d in (121, 161, 169, 201)},
    "mobilenet_v2": ("torchvision", "mobilenet_v2", {}, 64),
    "mobilenet_v3_large": ("torchvision", "mobilenet_v3_large", {}, 64),
    "mobilenet_v3_small": ("torchvision", "mobilenet_v3_small", {}, 64),
    # torchvision's alexnet is Krizhevsky 2014's "one weird trick" network (64-192-384-256-256), not
    # the paper's; its cnnzoo home is `alexnet_owt`.
    "alexnet_owt": ("torchvision", "alexnet", {}, 64),
    **{f"squeezenet1_{v}": ("torchvision", f"squeezenet1_{v}", {}, 64) for v in (0, 1)},
    **{f"shufflenet_v2_{w}": ("torchvision", f"shufflenet_v2_{w}", {}, 64) for w in ("x0_5", "x1_0")},
    **{f"efficientnet_{v}": ("torchvision", f"efficientnet_{v}", {}, 64) for v in ("b0", "b1", "b2", "b3", "v2_s")},
    # ViT's position embedding fixes the token count: 224 px, as for MLP-Mixer.
    "vit_b_16": ("torchvision", "vit_b_16", {}, 224),
    **{f"convnext_{s}": ("torchvision", f"convnext_{s}", {}, 64) for s in ("tiny", "small")},
    **{f"seresnet{d}": ("timm", f"seresnet{d}", {}, 64) for d in (18, 34, 50, 101, 152)},
    **{f"mixer_{v}": ("timm", f"mixer_{v}_224", {}, 224) for v in ("s16", "s32", "b16", "b32")},
    "mobilenet_v1": ("timm", "mobilenetv1_100", {}, 64),
    "mobilenet_v2_050": ("timm", "mobilenetv2_050", {}, 64),
    "xception": ("timm", "legacy_xception", {}, 64),
    # ResMLP and gMLP take exactly 224 px, as the Mixer; Darknet-53 any size (64 px here, as the CNNs).
    "resmlp_12": ("timm", "resmlp_12_224", {}, 224),
    **{f"gmlp_{v}": ("timm", f"gmlp_{v}_224", {}, 224) for v in ("ti16", "s16")},
    "darknet53": ("timm", "darknet53", {}, 64),
}

# How many leading logits the fixture stores, and how many fixed projections of all 1000 (a
# mismatch anywhere in the vector shows in the projections; storing all 1000 x 32 models would
# be ~700 KB of JSON).
HEAD_LOGITS = 16
PROJECTIONS = 8

# The rule's values are sin(2 pi u / P) for a quadratic sequence u of integers mod P: integer
# arithmetic is exact everywhere, so two machines compute the same weights, and a quadratic (unlike
# a linear) phase makes every weight matrix full rank, so that each input feature, hence each
# renamed tensor, shows in the output (a sin(a*i + b) rule gives rank-2 matrices).
PRIME = 1_000_003
CHUNK = 1 << 22  # elements per step: bounds the memory the int64 arithmetic takes for VGG's 100M


def _wave(n: int, key: str) -> torch.Tensor:
    """``sin(2 pi u_i / P)`` with ``u_i = (7919 i^2 + 104729 i + crc32(key)) mod P``, float64."""
    offset = zlib.crc32(key.encode()) % PRIME
    parts = []
    for start in range(0, n, CHUNK):
        i = torch.arange(start, min(n, start + CHUNK), dtype=torch.int64)
        u = ((i * i) % PRIME * 7919 + i * 104729 + offset) % PRIME
        parts.append(torch.sin(u.to(torch.float64) * (2 * math.pi / PRIME)))
    return torch.cat(parts) if parts else torch.zeros(0, dtype=torch.float64)


def rule_tensor(key: str, shape: list[int] | tuple[int, ...], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The fixture's weight for ``key`` (the library's name) of ``shape``, rounded to ``dtype``.

    He-scaled for weights of two or more dimensions (amplitude 2/sqrt(fan_in): the standard
    deviation of a sine is amplitude/sqrt(2)), near 1 for norm scales, small for biases and
    running means, and in [0.5, 1.5] for running variances (positive, as a variance must be).
    """
    if key.endswith("num_batches_tracked"):
        return torch.tensor(0, dtype=torch.int64)
    n = math.prod(shape)
    w = _wave(n, key).reshape(shape)
    if key.endswith("running_var"):
        w = 1.0 + 0.5 * w
    elif key.endswith("running_mean"):
        w = 0.1 * w
    elif len(shape) >= 2:
        w = w * (2.0 / math.sqrt(n // shape[0]))
    elif key.endswith("weight"):  # BatchNorm / LayerNorm scale
        w = 1.0 + 0.2 * w
    else:  # biases
        w = 0.1 * w
    return w.to(dtype)


def rule_state_dict(keys: list[tuple[str, list[int]]], dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    return {k: rule_tensor(k, shape, dtype) for k, shape in keys}


def rule_input(size: int) -> torch.Tensor:
    """The fixture's input: one 3 x size x size image, float64, roughly normalized."""
    return _wave(3 * size * size, "input").reshape(1, 3, size, size)


def projections(n: int = 1000) -> torch.Tensor:
    """``PROJECTIONS`` fixed vectors of length ``n`` the fixture projects the logits onto."""
    return torch.stack([_wave(n, f"projection{j}") for j in range(PROJECTIONS)])


def summarize(logits: torch.Tensor) -> dict[str, list[float]]:
    """What the fixture keeps of a (1, 1000) logit vector."""
    v = logits.reshape(-1).to(torch.float64)
    return {"head": v[:HEAD_LOGITS].tolist(), "projections": (projections(v.numel()) @ v).tolist(),
            "abs_max": [float(v.abs().max())]}


# ------------------------------------------------------------------------------------------------
# Reference side (needs torchvision and timm)


def build_reference(library: str, name: str, kwargs: dict) -> torch.nn.Module:
    if library == "torchvision":
        import torchvision

        return getattr(torchvision.models, name)(weights=None, **kwargs)
    import timm

    return timm.create_model(name, pretrained=False, **kwargs)


def reference_fixture(cnnzoo_name: str) -> dict:
    library, name, kwargs, size = COUNTERPARTS[cnnzoo_name]
    model = build_reference(library, name, kwargs)
    keys = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    state = rule_state_dict(keys)  # float32, as the published files are
    model.load_state_dict(state)
    model = model.double().eval()
    with torch.no_grad():
        out = model(rule_input(size))
    return {"library": library, "reference": name, "kwargs": kwargs, "input_size": size,
            "keys": keys, "logits": summarize(out)}


# ------------------------------------------------------------------------------------------------
# Published weight sets


def _torchvision_sets(cnnzoo_name: str, name: str) -> list[dict]:
    from torchvision.models import get_model_weights

    enum = get_model_weights(name)
    out = []
    for w in enum:
        if not w.meta.get("categories"):
            continue  # feature-extractor weights without a classifier (vgg16 IMAGENET1K_FEATURES)
        t = w.transforms()
        file_name = w.url.rsplit("/", 1)[-1]
        prefix = re.search(r"-([a-f0-9]+)\.", file_name)
        metrics = w.meta.get("_metrics", {}).get("ImageNet-1K", {})
        out.append({
            "library": "torchvision", "model": cnnzoo_name, "reference": name, "tag": w.name,
            "default": w == enum.DEFAULT, "file_name": file_name, "url": w.url,
            # torch.hub names a file after the first digits of its sha256 and checks that prefix
            # (check_hash=True); torchvision publishes no longer digest.
            "sha256": None, "sha256_prefix": prefix.group(1) if prefix else None,
            "mean": list(t.mean), "std": list(t.std), "input_size": [3, t.crop_size[0], t.crop_size[0]],
            "resize_size": t.resize_size[0], "crop_pct": round(t.crop_size[0] / t.resize_size[0], 4),
            "interpolation": t.interpolation.value, "num_classes": len(w.meta["categories"]),
            "classes": "imagenet1k", "transform_input": name in ("googlenet", "inception_v3"),
            "acc1": metrics.get("acc@1"), "acc5": metrics.get("acc@5"), "num_params": w.meta.get("num_params"),
            "recipe": w.meta.get("recipe"),
        })
    return out


def _timm_sets(cnnzoo_name: str, name: str) -> list[dict]:
    import timm

    out = []
    tags = timm.list_pretrained(f"{name}.*")
    default = timm.models.get_pretrained_cfg(name).tag  # the tag `pretrained=True` loads
    for full in tags:
        cfg = timm.models.get_pretrained_cfg(full).to_dict()
        hub = cfg.get("hf_hub_id")
        if not hub:
            continue
        num_classes = cfg.get("num_classes", 1000)
        out.append({
            "library": "timm", "model": cnnzoo_name, "reference": name, "tag": cfg["tag"],
            "default": cfg["tag"] == default,
            "file_name": "model.safetensors", "url": f"https://huggingface.co/{hub}/resolve/main/model.safetensors",
            "hf_hub_id": hub, "sha256": None, "sha256_prefix": None,
            "mean": list(cfg["mean"]), "std": list(cfg["std"]), "input_size": list(cfg["input_size"]),
            "resize_size": None, "crop_pct": cfg.get("crop_pct"), "interpolation": cfg.get("interpolation"),
            "num_classes": num_classes, "classes": "imagenet1k" if num_classes == 1000 else f"imagenet{num_classes}",
            "transform_input": False, "acc1": None, "acc5": None, "num_params": None,
            "recipe": cfg.get("origin_url"), "license": cfg.get("license"),
        })
    return out


def published() -> dict:
    from torchvision.models import get_model_weights

    sets: list[dict] = []
    for cnnzoo_name, (library, name, _, _) in COUNTERPARTS.items():
        sets += _torchvision_sets(cnnzoo_name, name) if library == "torchvision" else _timm_sets(cnnzoo_name, name)
    classes = get_model_weights("resnet50").DEFAULT.meta["categories"]
    return {"generated_by": "scripts/make_weight_fixtures.py", "versions": _versions(),
            "imagenet1k_classes": classes, "weights": sets}


def _versions() -> dict[str, str]:
    import timm
    import torchvision

    return {"torch": torch.__version__, "torchvision": torchvision.__version__, "timm": timm.__version__}


def main(argv: list[str]) -> int:
    """``make_weight_fixtures.py [MODEL ...]`` (default: all); ``--published`` only rewrites published.json."""
    args = [a for a in argv[1:] if a != "--published"]
    PUBLISHED.write_text(json.dumps(published(), indent=1) + "\n")
    if "--published" in argv:
        return 0
    only = args or list(COUNTERPARTS)
    torch.set_grad_enabled(False)
    fixtures = {}
    if FIXTURE.exists() and args:
        fixtures = json.loads(gzip.decompress(FIXTURE.read_bytes()))["models"]
    for name in only:
        print(f"{name} ...", file=sys.stderr, flush=True)
        fixtures[name] = reference_fixture(name)
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    doc = {"generated_by": "scripts/make_weight_fixtures.py", "versions": _versions(), "models": fixtures}
    # mtime=0: the same fixtures give the same bytes
    FIXTURE.write_bytes(gzip.compress(json.dumps(doc, separators=(",", ":")).encode(), 9, mtime=0))
    print(f"wrote {FIXTURE} ({FIXTURE.stat().st_size} bytes) and {PUBLISHED}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
