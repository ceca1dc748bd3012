"""Predict throughput: images/s of ``cnnzoo predict`` on a folder of image files, PyTorch eager vs
onnxruntime, on this machine.

    python benchmarks/predict_speed.py [--images 10000] [--rounds 3] [--batch-size 64] [--model resnet18]

Makes a run of the default job's network (its recipe's model and width, Fashion-MNIST's 1x28x28 and
10 classes; the weights are the initialization: speed does not depend on them), exports it with
``cnnzoo export --format onnx`` (which checks the file against PyTorch), and writes ``--images``
28x28 grayscale PNG files into a folder (Fashion-MNIST test images when the dataset is on disk,
else seeded noise). Then it times what ``cnnzoo predict RUN FOLDER`` does after start-up -- list
the folder, decode every file in the thread pool, batch, forward, top-k -- once per backend per
round, alternating the order (torch, onnxruntime, onnxruntime, torch, ...). A third side decodes
and batches without a model, to show how much of the time is Pillow's. Writes
benchmarks/results/predict_speed.json; run_all.py renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import (
    command,
    interleave,
    loadavg,
    log,
    machine,
    others_summary,
    robust_rates,
    wait_for_quiet,
    write_result,
)


def make_run(folder: Path, model: str | None) -> tuple[Path, str, dict[str, Any]]:
    """A run directory of the default job's network (or ``model``) with initial weights."""
    import yaml

    from cnnzoo.config import load_config
    from cnnzoo.data.catalog import get_spec
    from cnnzoo.engine.checkpoint import ModelSpec, save_weights
    from cnnzoo.models.registry import create_model

    cfg = load_config(None, model=model)
    name, kwargs = cfg.model.name, dict(cfg.model.kwargs)
    torch.manual_seed(0)
    net = create_model(name, num_classes=10, in_channels=1, image_size=28, **kwargs).eval()
    # Fashion-MNIST's normalization (speed does not depend on it)
    spec = ModelSpec(model=net.model_name, num_classes=10, in_channels=1, input_size=[28, 28], native_size=[28, 28],
                     classes=list(get_spec("fashion-mnist").classes), mean=[0.2860], std=[0.3530],
                     dataset="fashion-mnist", model_kwargs=kwargs)
    (folder / "checkpoints").mkdir(parents=True, exist_ok=True)
    save_weights(folder / "checkpoints" / "best.safetensors", net.state_dict(), spec)
    (folder / "config.yaml").write_text(yaml.safe_dump(cfg.to_dict(), sort_keys=False))
    return folder, net.model_name, kwargs


def make_images(folder: Path, n: int) -> str:
    """``n`` 28x28 grayscale PNGs; returns what they are."""
    from PIL import Image

    images, what = None, "seeded noise (Fashion-MNIST not on disk)"
    try:
        from cnnzoo.data import load_dataset

        ds = load_dataset("fashion-mnist", offline=True, download=False, progress=False)
        test = ds.test.images[:, 0].numpy()
        images = test[np.arange(n) % len(test)]
        what = "Fashion-MNIST test images (repeated past 10,000)" if n > len(test) else "Fashion-MNIST test images"
    except Exception:  # noqa: BLE001 - any reason the dataset is not there: noise will do for speed
        images = np.random.default_rng(0).integers(0, 256, (n, 28, 28), dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for i, a in enumerate(images):
        Image.fromarray(a).save(folder / f"{i:05d}.png")
    return what


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--workers", type=int, default=None, help="decoding threads (default: predict's)")
    ap.add_argument("--model", default=None, help="a model or recipe name (default: the default job's)")
    ap.add_argument("--wait", type=float, default=0, help="wait up to this many seconds for a quiet machine")
    ap.add_argument("--max-busy", type=float, default=0.10)
    a = ap.parse_args()

    from cnnzoo.engine.export import export_run
    from cnnzoo.engine.predict import Predictor, decode_batches, expand_paths

    with tempfile.TemporaryDirectory(prefix="cnnzoo-predict-bench-") as tmp:
        run, model, kwargs = make_run(Path(tmp) / "run", a.model)
        exported = export_run(run, "onnx", run / "export" / "model.onnx")
        log(f"exported {exported.path}: max relative difference {exported.max_rel_diff:.1e} on {exported.check_data}")
        folder = Path(tmp) / "images"
        t0 = time.perf_counter()
        content = make_images(folder, a.images)
        log(f"wrote {a.images} PNG files in {time.perf_counter() - t0:.1f}s ({content})")

        sides = {"torch": Predictor(run, backend="torch"), "onnxruntime": Predictor(exported.path)}
        spec = sides["torch"].spec

        def timed(predictor: Predictor | None) -> float:
            t = time.perf_counter()
            paths = expand_paths([folder])
            if predictor is None:
                n = sum(len(b) for b in decode_batches(paths, spec, a.batch_size, a.workers))
            else:
                n = sum(1 for _ in predictor.predict_paths(paths, batch_size=a.batch_size, workers=a.workers))
            assert n == a.images, n
            return time.perf_counter() - t

        for p in sides.values():  # warm-up: oneDNN / onnxruntime pick their kernels, the files are cached
            timed(p)
        wait_for_quiet(a.max_busy, a.wait)
        load0 = loadavg()
        runs = {"torch": lambda: timed(sides["torch"]), "onnxruntime": lambda: timed(sides["onnxruntime"]),
                "decode_only": lambda: timed(None)}
        times = interleave(runs, a.rounds, log)
        rates = robust_rates(times, float(a.images))
    result = {
        "command": command(), "machine": machine(), "load_before": load0, "load_after": loadavg(),
        "others_cpu_share": others_summary(times),
        "settings": {"images": a.images, "content": content, "format": "PNG, 28x28 grayscale",
                     "model": model, "model_kwargs": kwargs, "batch_size": a.batch_size, "rounds": a.rounds,
                     "decode_threads": a.workers or min(8, os.cpu_count() or 1),
                     "torch_threads": torch.get_num_threads(), "onnxruntime": _ort_version(),
                     "export_check": exported.check_data, "export_max_rel_diff": exported.max_rel_diff},
        "images_per_s": rates,
        "ratio_onnxruntime_to_torch": rates["onnxruntime"]["median"] / rates["torch"]["median"],
    }
    path = write_result("predict_speed", result)
    log(f"torch {rates['torch']['median']:,.0f} images/s, onnxruntime {rates['onnxruntime']['median']:,.0f} images/s, "
        f"decoding alone {rates['decode_only']['median']:,.0f} images/s; wrote {path}")
    return 0


def _ort_version() -> str:
    import onnxruntime

    return onnxruntime.__version__


if __name__ == "__main__":
    raise SystemExit(main())
