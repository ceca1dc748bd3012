"""Look inside a trained network: first-layer filters, feature maps, Grad-CAM.

``cnnzoo visualize RUN --what filters|features|cam`` writes a PNG into ``RUN/plots/``:

- ``filters``: the weights of the first layer, one tile per filter, beside the same layer at
  initialization (the run's seed rebuilds the exact weights training started from): what training
  changed. Each tile is scaled by its own largest magnitude with zero in the middle (white in the
  red-blue map of one-channel filters, mid-grey for colour ones), so the sign of a weight stays
  visible. This is the picture behind AlexNet's famous figure: trained on natural images,
  first-layer filters become oriented edge detectors and colour blobs, close to the Gabor filters
  of classical vision, out of the noise they started as. (MLP-Mixer has no convolution: its first layer is a
  linear map of each patch, whose rows are shown as patches.)
- ``features``: what one layer (``--layer NAME``; by default a block half-way through the network)
  outputs for one image: its most active channels, as heat maps beside the image.
- ``cam``: Grad-CAM (Selvaraju et al., 2017), where in the image the evidence for a class lies. The
  gradient of the class score with respect to the last feature map, averaged over each channel,
  weighs that channel; the rectified weighted sum is a coarse map of "what made it say so",
  upsampled over the image. For MLP-Mixer the last "feature map" is a sequence of patch tokens,
  reshaped here to the grid of patches they came from.

An image given with ``--image`` is converted exactly as ``cnnzoo predict`` converts it; without one,
a test image of the run's dataset is taken (``--index``).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from ..errors import ConfigError, DataError, did_you_mean
from .runs import RunRecord, read_run, tested_split

if TYPE_CHECKING:
    from ..models.base import ZooModel

WHAT = ("filters", "features", "cam")

# At most this many tiles in a grid: enough to see the pattern, few enough to see each tile.
MAX_FILTERS = 256
MAX_CHANNELS = 32


@dataclass
class Picture:
    path: Path
    caption: str


def visualize(target: str | Path, what: str, *, image: str | Path | None = None, index: int = 0,
              layer: str | None = None, class_: str | None = None, device: str = "cpu",
              data_dir: str | Path | None = None) -> Picture:
    """Draw one of :data:`WHAT` for the finished run ``target``; return the PNG written."""
    from ..engine.checkpoint import load_run
    from ..engine.runtime import resolve_device

    if what not in WHAT:
        raise ConfigError(f"--what '{what}' is not one of {', '.join(WHAT)}{did_you_mean(what, WHAT)}")
    run = read_run(target)
    dev = resolve_device(device)
    model, spec = load_run(run.path, device=str(dev))
    out = run.path / "plots"
    out.mkdir(exist_ok=True)
    if what == "filters":
        return draw_filters(model, spec, out / "filters.png", initial=initial_model(run, spec, dev))
    raw, x, tag, truth = _input(run, spec, image, index, data_dir, dev)
    if what == "features":
        return draw_features(model, spec, raw, x, tag, layer, out)
    return draw_cam(model, spec, raw, x, tag, truth, class_, out)


def initial_model(run: RunRecord, spec: Any, dev: torch.device) -> nn.Module:
    """The network as training started it: built under the run's seed, exactly as the trainer does."""
    from ..models.registry import create_model

    try:
        seed = int(run.summary.get("seed", run.config().train.seed))
    except (TypeError, ValueError):
        seed = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = create_model(spec.model, num_classes=spec.num_classes, in_channels=spec.in_channels,
                             image_size=int(spec.input_size[0]), **spec.model_kwargs)
    return model.to(dev).eval()


# --------------------------------------------------------------------------------------------------
# Inputs


def _input(run: RunRecord, spec: Any, image: str | Path | None, index: int, data_dir: Any,
           dev: torch.device) -> tuple[torch.Tensor, torch.Tensor, str, int | None]:
    """(uint8 image as stored, model input batch of one, a name for files, true class or None)."""
    from ..engine.predict import input_transform, read_image

    truth = None
    if image is not None:
        raw = read_image(image, spec)
        tag = _slug(Path(image).stem) or "image"
    else:
        try:
            split, _ = tested_split(run, data_dir)
        except DataError as e:
            raise DataError(f"{e} (or pass an image file with --image PATH)") from None
        if not 0 <= index < len(split):
            raise ConfigError(f"--index {index} is out of range: the test split has {len(split)} images "
                              f"(0 to {len(split) - 1})")
        raw = split.image(index)
        truth = int(split.labels[index])
        tag = f"test{index}"
    x = input_transform(spec, dev)(raw.unsqueeze(0).to(dev), None)
    return raw, x, tag, truth


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:60]


def _show(ax: Any, raw: torch.Tensor) -> None:
    arr = raw.cpu().numpy()
    if arr.shape[0] == 1:
        ax.imshow(arr[0], cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(arr.transpose(1, 2, 0))
    ax.axis("off")


def _minmax(t: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    lo = t.amin(dim=dims, keepdim=True)
    hi = t.amax(dim=dims, keepdim=True)
    return (t - lo) / (hi - lo).clamp(min=1e-12)


# --------------------------------------------------------------------------------------------------
# First-layer filters


def first_layer(model: nn.Module, spec: Any) -> tuple[str, torch.Tensor, str]:
    """(name, weights as (N, C, kh, kw), what they are) of the first layer that sees the image."""
    order: list[tuple[str, nn.Module]] = []
    hooks = [m.register_forward_hook(lambda mod, i, o, n=n: order.append((n, mod)))
             for n, m in model.named_modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    ref = next(model.parameters())
    try:
        with torch.no_grad():
            model(torch.zeros(1, spec.in_channels, *map(int, spec.input_size), device=ref.device))
    finally:
        for h in hooks:
            h.remove()
    if not order:
        raise ConfigError(f"{spec.model} has no convolution or linear layer to show")
    name, mod = order[0]
    w = cast(torch.Tensor, mod.weight).detach().float().cpu()
    if isinstance(mod, nn.Conv2d):
        kh, kw = mod.kernel_size
        return name, w, f"{w.shape[0]} filters {kh}x{kw} over {w.shape[1]} channel{'s' if w.shape[1] != 1 else ''}"
    p, c = getattr(model, "patch_size", None), spec.in_channels
    if p and mod.in_features == p * p * c:
        # MLP-Mixer's stem flattens each patch as "(p1 p2 c)": each row of the weight is a patch.
        return name, w.view(-1, p, p, c).permute(0, 3, 1, 2), (
            f"{w.shape[0]} rows of the patch embedding, each a {p}x{p} patch (MLP-Mixer has no convolution)")
    raise ConfigError(f"the first layer of {spec.model} ({name}) is a linear layer over the whole input; "
                      "it has no filters to show")


def signed_tiles(w: torch.Tensor) -> torch.Tensor:
    """Filters (N, C, kh, kw) divided by each filter's largest magnitude: values in [-1, 1], zero
    stays zero, so positive and negative weights keep their meaning (unlike a min-max scaling)."""
    return w / w.abs().amax(dim=(1, 2, 3), keepdim=True).clamp(min=1e-12)


def _height(fig: Any) -> float:
    """Height in inches of the figure a (sub)figure belongs to."""
    root = getattr(fig, "figure", None) or fig
    return float((root if hasattr(root, "get_figheight") else fig).get_figheight())


def _filter_grid(fig: Any, w: torch.Tensor, title: str) -> Any:
    """One grid of filter tiles in the (sub)figure ``fig``; returns the last image drawn (for a colour bar)."""
    tiles = signed_tiles(w)
    if tiles.shape[1] not in (1, 3):  # grouped first layers: show the mean over the input channels
        tiles = tiles.mean(1, keepdim=True)
    cols = math.ceil(math.sqrt(len(tiles)))
    rows = math.ceil(len(tiles) / cols)
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw={"wspace": 0.1, "hspace": 0.1})
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.02, top=1 - 0.45 / _height(fig))
    for ax in axes.flat:
        ax.axis("off")
    im = None
    for ax, t in zip(axes.flat, tiles, strict=False):
        if t.shape[0] == 1:
            im = ax.imshow(t[0].numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        else:  # colour filters: zero is mid-grey, a positive weight on a channel adds that colour
            im = ax.imshow((0.5 + 0.5 * t).clamp(0, 1).permute(1, 2, 0).numpy(), interpolation="nearest")
    fig.suptitle(title, fontsize=9, y=1 - 0.08 / _height(fig), va="top")
    return im, list(axes.flat)


def draw_filters(model: nn.Module, spec: Any, path: Path, initial: nn.Module | None = None) -> Picture:
    """The first layer's filters after training, beside the same filters at initialization."""
    from .plots import _plt, _save

    name, w, what = first_layer(model, spec)
    n = w.shape[0]
    w = w[:MAX_FILTERS]
    panels = [("trained", w)]
    if initial is not None:
        panels.insert(0, ("at initialization (the run's seed)", first_layer(initial, spec)[1][:MAX_FILTERS]))
    cols = math.ceil(math.sqrt(len(w)))
    rows = math.ceil(len(w) / cols)
    size = max(0.3, min(0.7, 6 / cols))  # inches per tile
    grey = w.shape[1] == 1 or w.shape[1] not in (1, 3)
    plt = _plt()
    panel_w, bar_w = cols * size * 1.1 + 0.3, 1.1 if grey else 0.0
    fig = plt.figure(figsize=(len(panels) * panel_w + bar_w, rows * size * 1.1 + 0.5))
    subs = fig.subfigures(1, len(panels), wspace=0.02, width_ratios=[panel_w] * (len(panels) - 1)
                          + [panel_w + bar_w]) if len(panels) > 1 else [fig]
    im, axes, last = None, [], fig
    for sub, (label, weights) in zip(subs, panels, strict=True):
        im, axes = _filter_grid(sub, weights, label)
        last = sub
    shown = f"the first {len(w)} of {n}" if n > len(w) else f"all {n}"
    scale = ("each tile divided by its largest |weight|: red positive, blue negative, white zero"
             if grey else "each tile divided by its largest |weight|: mid-grey is zero, a colour is a "
             "positive weight on that channel, its complement a negative one")
    fig.suptitle(f"{spec.model}: first layer {name}, {what}; {shown}\n{scale}", fontsize=9, y=1.0, va="bottom")
    if grey and im is not None:
        last.colorbar(im, ax=axes, fraction=0.04, pad=0.03, shrink=0.8, label="weight / max |weight|")
    _save(fig, path)
    return Picture(path, f"{name}: {what}" + (", beside the initial weights" if initial is not None else ""))


# --------------------------------------------------------------------------------------------------
# Feature maps


def _as_map(t: torch.Tensor, model: nn.Module) -> torch.Tensor | None:
    """A layer output as (B, C, H, W): feature maps as they are, Mixer tokens on their patch grid."""
    if t.dim() == 4:
        return t
    n = getattr(model, "num_tokens", None)
    if t.dim() == 3 and n and t.shape[1] == n and math.isqrt(n) ** 2 == n:
        g = math.isqrt(n)
        return t.transpose(1, 2).reshape(t.shape[0], t.shape[2], g, g)
    return None


def feature_layers(model: nn.Module, x: torch.Tensor) -> dict[str, tuple[str, ...]]:
    """Every module (in call order) whose output is a feature map: name -> (type, shape text)."""
    found: dict[str, tuple[str, ...]] = {}

    def hook(name: str) -> Any:
        def record(mod: nn.Module, inputs: Any, output: Any) -> None:
            if name not in found and isinstance(output, torch.Tensor):
                m = _as_map(output, model)
                if m is not None:
                    found[name] = (type(mod).__name__, "x".join(map(str, m.shape[1:])))
        return record

    hooks = [m.register_forward_hook(hook(n)) for n, m in model.named_modules() if n]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return found


def blocks(model: nn.Module, names: list[str]) -> list[str]:
    """The outermost building blocks among ``names``: modules with children of their own that are not
    plain containers (a ConvBNAct, a residual block, an Inception module, a Mixer block)."""
    mods = dict(model.named_modules())
    cand = [n for n in names if any(True for _ in mods[n].children())
            and type(mods[n]) not in (nn.Sequential, nn.ModuleList, nn.ModuleDict)]
    return [n for n in cand if not any(n.startswith(o + ".") for o in cand if o != n)]


def default_layer(model: nn.Module, names: list[str]) -> str:
    """A block half-way through the network; else the middle activation; else the middle layer."""
    outer = blocks(model, names)
    if outer:
        return outer[len(outer) // 2]
    mods = dict(model.named_modules())
    acts = [n for n in names if isinstance(mods[n], (nn.ReLU, nn.ReLU6, nn.GELU, nn.SiLU, nn.Hardswish))]
    pick = acts or names
    return pick[len(pick) // 2]


def draw_features(model: nn.Module, spec: Any, raw: torch.Tensor, x: torch.Tensor, tag: str,
                  layer: str | None, out: Path) -> Picture:
    from .plots import _plt, _save

    layers = feature_layers(model, x)
    names = list(layers)
    if not names:
        raise ConfigError(f"{spec.model} has no layer with a feature map to show")
    if layer is None:
        layer = default_layer(model, names)
    elif layer not in layers:
        outer = blocks(model, names) or names
        listed = ", ".join(outer[:20]) + (", ..." if len(outer) > 20 else "")
        raise ConfigError(f"--layer '{layer}' is not a layer of {spec.model} with a feature map"
                          f"{did_you_mean(layer, names)}; its blocks are: {listed} ({len(names)} layers in all, "
                          "inner ones by their dotted names, as in `cnnzoo summary`)")
    captured: list[torch.Tensor] = []
    mod = dict(model.named_modules())[layer]
    h = mod.register_forward_hook(lambda m, i, o: captured.append(o.detach().clone()) if not captured else None)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    as_map = _as_map(captured[0], model)
    assert as_map is not None  # `layer` is one of feature_layers(): its output is a feature map
    fmap = as_map[0].float().cpu()  # (C, H, W)
    tokens = captured[0].dim() == 3
    c = fmap.shape[0]
    top = fmap.mean((1, 2)).argsort(descending=True)[:MAX_CHANNELS]
    maps = _minmax(fmap[top], (1, 2))
    cols = 11  # the image and 32 channels fill three rows
    rows = math.ceil((len(top) + 1) / cols)
    plt = _plt()
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.3, rows * 1.45 + 0.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    _show(axes.flat[0], raw)
    axes.flat[0].set_title("input", fontsize=7)
    im = None
    for ax, ch, m in zip(list(axes.flat)[1:], top.tolist(), maps, strict=False):
        im = ax.imshow(m.numpy(), cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(f"ch {ch}", fontsize=7)
    if im is not None:
        fig.colorbar(im, ax=list(axes.flat), fraction=0.015, pad=0.01,
                     label="activation (0 = channel min, 1 = channel max)")
    grid = " (patch tokens shown on their patch grid)" if tokens else ""
    fig.suptitle(f"{spec.model}: {layer} ({layers[layer][0]}) output {c}x{fmap.shape[1]}x{fmap.shape[2]} for "
                 f"{tag}{grid}\nthe {len(top)} most active of {c} channels, each scaled to its own min-max",
                 fontsize=9)
    path = out / f"features-{_slug(layer)}-{tag}.png"
    _save(fig, path)
    return Picture(path, f"{layer}: {len(top)} of {c} channels at {fmap.shape[1]}x{fmap.shape[2]}{grid}")


# --------------------------------------------------------------------------------------------------
# Grad-CAM


def grad_cam(model: nn.Module, x: torch.Tensor, cls: int | None = None
             ) -> tuple[torch.Tensor, torch.Tensor, int, bool]:
    """(CAM over the last feature map in [0, 1] as (h, w), class probabilities, the class explained,
    whether the feature map was a token sequence reshaped to its patch grid)."""
    zoo = cast("ZooModel", model)
    with torch.enable_grad():
        feats = zoo.forward_features(x)
        logits = zoo.forward_head(feats)
        if isinstance(logits, (tuple, list)):
            logits = logits[0]
        probs = logits.detach().float().softmax(1)[0]
        if cls is None:
            cls = int(probs.argmax())
        (grad,) = torch.autograd.grad(logits[0, cls], feats)
    fmap, gmap = _as_map(feats.detach(), model), _as_map(grad, model)
    if fmap is None or gmap is None:  # the gradient has the feature map's shape: both or neither
        raise ConfigError(f"the last feature map of {type(model).__name__} has shape {tuple(feats.shape)}, "
                          "not (B, C, H, W); Grad-CAM needs a spatial map")
    weights = gmap.float().mean((2, 3), keepdim=True)
    cam = torch.relu((weights * fmap.float()).sum(1))[0]
    cam = cam / cam.max() if cam.max() > 0 else cam
    return cam.cpu(), probs.cpu(), cls, feats.dim() == 3


def _class_index(text: str, classes: list[str]) -> int:
    if text.isdigit() and int(text) < len(classes):
        return int(text)
    lowered = [c.lower() for c in classes]
    if text.lower() in lowered:
        return lowered.index(text.lower())
    raise ConfigError(f"--class '{text}' is not a class of this run{did_you_mean(text, classes)}; "
                      f"classes: {', '.join(classes)} (or an index 0 to {len(classes) - 1})")


CAM_CLASS = "cnnzoo-cam-class"  # the PNG text chunk naming the class a CAM explains


def cam_path(out: Path, tag: str, class_name: str) -> Path:
    """``cam-<image>.png``; when that file already explains another class (the predicted one, say,
    and now ``--class`` asks for a second), ``cam-<image>-<class>.png``: no CAM replaces the CAM
    of another class."""
    from PIL import Image

    path = out / f"cam-{tag}.png"
    if path.is_file():
        try:
            with Image.open(path) as im:
                explained = getattr(im, "text", {}).get(CAM_CLASS)
        except OSError:
            explained = None
        if explained != class_name:
            return out / f"cam-{tag}-{_slug(class_name) or 'class'}.png"
    return path


def draw_cam(model: nn.Module, spec: Any, raw: torch.Tensor, x: torch.Tensor, tag: str, truth: int | None,
             class_: str | None, out: Path) -> Picture:
    import torch.nn.functional as F

    from .plots import _plt, _save

    classes = list(spec.classes)
    cls = _class_index(class_, classes) if class_ is not None else None
    cam, probs, cls, tokens = grad_cam(model, x, cls)
    pred = int(probs.argmax())
    h, w = raw.shape[-2:]
    up = F.interpolate(cam[None, None], size=(h, w), mode="bilinear", align_corners=False)[0, 0].clamp(0, 1)
    plt = _plt()
    fig, (a0, a1, a2) = plt.subplots(1, 3, figsize=(9, 3.6))
    _show(a0, raw)
    a0.set_title("input" + (f" (true: {classes[truth]})" if truth is not None else ""), fontsize=8)
    im = a1.imshow(cam.numpy(), cmap="jet", vmin=0, vmax=1, interpolation="nearest")
    a1.set_title(f"Grad-CAM at {cam.shape[0]}x{cam.shape[1]}" + (" patch grid" if tokens else ""), fontsize=8)
    a1.axis("off")
    _show(a2, raw)
    a2.imshow(up.numpy(), cmap="jet", alpha=0.45, vmin=0, vmax=1)
    a2.set_title("overlay", fontsize=8)
    fig.colorbar(im, ax=[a0, a1, a2], fraction=0.02, pad=0.02,
                 label="evidence (1 = strongest, 0 = none)")
    which = "predicted" if cls == pred else f"asked; predicted {classes[pred]} {100 * float(probs[pred]):.1f}%"
    grid = "; MLP-Mixer tokens reshaped to the patch grid" if tokens else ""
    fig.suptitle(f"{spec.model}: evidence for '{classes[cls]}' ({which}, p={100 * float(probs[cls]):.1f}%) "
                 f"in {tag}\nlast feature map ({'x'.join(map(str, cam.shape))}{grid})", fontsize=9)
    path = cam_path(out, tag, classes[cls])
    _save(fig, path, metadata={CAM_CLASS: classes[cls]})
    caption = f"'{classes[cls]}' {100 * float(probs[cls]):.1f}%" + (" (predicted)" if cls == pred else
                                                                     f" (predicted: {classes[pred]})")
    if truth is not None:
        caption += f", true: {classes[truth]}"
    return Picture(path, caption + grid)
