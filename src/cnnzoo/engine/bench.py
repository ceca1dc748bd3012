"""``cnnzoo bench``: how fast the real training step (or inference) runs, and how well it uses the chip.

What is measured, and how:

* **train**: the trainer's own step, from the trainer's own setup. :class:`TrainBench` builds a
  :class:`~cnnzoo.engine.trainer.Trainer` (same recipe layering, runtime choices, model, loader,
  optimizer, schedule, EMA, compile) with its public ``setup()`` and drives it with
  ``run_steps(n)``. So a timed step is exactly a training step: batch gathered from the device-resident
  split, crop + flip + normalize, forward under autocast, loss, backward, optimizer, running
  statistics and the NaN check. Nothing is written to disk and there is no validation pass.
* **infer**: forward passes of the model in eval mode under ``torch.no_grad()`` and the same
  autocast, on batches from the evaluation loader (normalization included, no augmentation).
* **Timing**: ``warmup`` steps first (allocator, oneDNN primitive caches, ``torch.compile``), then
  windows of ``window`` steps, each closed by a device synchronization. The reported rate is the
  batch size times the window length over the *median* window time, which shrugs off the odd
  window slowed by another process on a shared machine.
* **FLOP/s**: ``cnnzoo.models.profile`` counts the multiply-accumulates of convolutions and linear
  layers for one image (FLOPs = 2 x MACs). A training step is counted as 3 x the forward FLOPs
  (forward, gradient w.r.t. activations, gradient w.r.t. weights: the usual convention; the first
  layer's input gradient is not actually computed, so this slightly over-counts).
  Normalization, activations, pooling and the optimizer are not counted: achieved FLOP/s is the
  useful arithmetic rate, not everything the chip did.
* **Peak memory**: on CUDA, ``torch.cuda.max_memory_allocated`` since just before setup. On the
  CPU, the growth of the process's resident set: its peak (Linux ``VmHWM``, reset through
  ``/proc/self/clear_refs`` before setup) minus its size before setup. Where the peak cannot be
  reset, the lifetime peak (``ru_maxrss``) is used and ``peak_mem_kind`` says so.

``--dataset synthetic`` trains on random uint8 images (Fashion-MNIST's 1x28x28 unless
``--channels`` / ``--image-size`` say otherwise) so the command works with no data on disk.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import time
from typing import Any

import torch

from .. import __version__
from ..config import Config
from ..errors import ConfigError
from .progress import Console
from .trainer import Trainer

SYNTHETIC = "synthetic"
# Synthetic splits hold a few batches (so epochs roll over as in real training) but stay small.
SYNTHETIC_MAX_BYTES = 256 * 2**20


# --------------------------------------------------------------------------------------------------
# Memory


def _proc_status_kb(field: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


class MemoryMeter:
    """Peak memory added by what runs between :meth:`start` and :meth:`peak_mb` (see module doc)."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.kind = ""
        self.base_kb = 0

    def start(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            self.base_bytes = torch.cuda.memory_allocated(self.device)
            self.kind = "cuda max_memory_allocated growth"
            return
        self.base_kb = _proc_status_kb("VmRSS") or 0
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as f:
                f.write("5")  # reset the peak resident set size (Linux >= 4.0)
            self.kind = "resident set growth (VmHWM - VmRSS before setup)"
        except OSError:
            self.kind = "resident set growth (lifetime ru_maxrss - VmRSS before setup)"

    def peak_mb(self) -> float:
        if self.device.type == "cuda":
            return (torch.cuda.max_memory_allocated(self.device) - self.base_bytes) / 2**20
        peak = _proc_status_kb("VmHWM") if "VmHWM" in self.kind else None
        if peak is None:
            import resource

            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
        return max(0.0, (peak - self.base_kb) / 1024)


# --------------------------------------------------------------------------------------------------
# Data


def synthetic_dataset(channels: int, size: int, batch_size: int, num_classes: int = 10, seed: int = 0) -> Any:
    """Random uint8 images and labels shaped like a real in-memory dataset (train = test)."""
    from ..data.dataset import Dataset, Split

    per_image = channels * size * size
    n = max(2 * batch_size, min(4096, SYNTHETIC_MAX_BYTES // per_image))
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, channels, size, size), dtype=torch.uint8, generator=g)
    labels = torch.randint(0, num_classes, (n,), generator=g)
    split = Split(images, labels)
    # uniform bytes: mean 127.5/255, standard deviation 73.9/255
    return Dataset(SYNTHETIC, [str(i) for i in range(num_classes)], split, None, split,
                   (0.5,) * channels, (0.29,) * channels, True, "random uint8 tensors", channels, (size, size))


# --------------------------------------------------------------------------------------------------
# The two benchmarks


class _Bench:
    """Shared setup: the trainer's setup, measured for memory."""

    mode = ""

    def __init__(self, cfg: Config, dataset: Any = None) -> None:
        """``dataset``: a loaded :class:`~cnnzoo.data.Dataset` to use instead of ``cfg.data``'s (so
        that several benchmarks in one process share one copy)."""
        if cfg.train.max_steps is not None:
            cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, max_steps=None))
        # output=False: a benchmark writes nothing (no run directory, no checkpoints)
        t = Trainer(cfg, console=Console(quiet=True, enabled=False), output=False)
        self.memory = MemoryMeter(t.rt.device)
        self.memory.start()
        d = cfg.data
        if dataset is None and d.dataset.strip().lower() == SYNTHETIC:
            dataset = synthetic_dataset(d.channels or 1, d.image_size or 28, max(d.batch_size, d.eval_batch_size),
                                        seed=cfg.train.seed)
        t.setup(dataset)  # as fit() does: data, model, optimizer, schedule, DDP/compile wrapping
        self.trainer = t
        self.cfg = cfg
        self.rt = t.rt
        self.steps_done = 0

    @property
    def batch_size(self) -> int:
        raise NotImplementedError

    def run(self, steps: int) -> float:
        """Run ``steps`` steps; return the wall time in seconds, device work included."""
        raise NotImplementedError

    def _own_threads(self) -> None:
        """Use this benchmark's thread count (another one in the same process may have changed it)."""
        n = self.rt.threads
        if n is not None and torch.get_num_threads() != n:
            torch.set_num_threads(n)

    def flops_per_image(self) -> float:
        raise NotImplementedError

    def forward_flops_per_image(self) -> float:
        return 2.0 * self.trainer.macs


class TrainBench(_Bench):
    """Whole training steps of :class:`Trainer`, resumable: ``run(k)`` continues where it stopped."""

    mode = "train"

    @property
    def batch_size(self) -> int:
        return self.cfg.data.batch_size

    def run(self, steps: int) -> float:
        self._own_threads()
        self.rt.synchronize()
        t0 = time.perf_counter()
        self.trainer.run_steps(steps)  # ends with the NaN check and a device synchronization
        elapsed = time.perf_counter() - t0
        self.steps_done += steps
        return elapsed

    def flops_per_image(self) -> float:
        return 3.0 * self.forward_flops_per_image()


class InferBench(_Bench):
    """Forward passes in eval mode under no_grad, on batches of the evaluation loader."""

    mode = "infer"

    def __init__(self, cfg: Config, dataset: Any = None) -> None:
        super().__init__(cfg, dataset)
        t = self.trainer
        split = next(s for s in (t.ds.test, t.ds.val, t.ds.train) if s is not None)
        if len(split) < self.batch_size:
            raise ConfigError(f"batch size {self.batch_size} is larger than the {len(split)} images of "
                              f"{t.ds.name}'s evaluation split; use a smaller --batch-size")
        self.loader = t.eval_loader(split)
        self._it = iter(self.loader)

    @property
    def batch_size(self) -> int:
        return self.cfg.data.eval_batch_size

    def _next(self) -> torch.Tensor:
        batch = next(self._it, None)
        if batch is None or batch[0].shape[0] != self.batch_size:  # every step is a full batch
            self._it = iter(self.loader)
            batch = next(self._it)
        return batch[0]

    def run(self, steps: int) -> float:
        net = self.trainer.net
        net.eval()
        self._own_threads()
        self.rt.synchronize()
        t0 = time.perf_counter()
        with torch.no_grad():
            for _ in range(steps):
                x = self._next()
                with self.rt.autocast():
                    net(x)
        self.rt.synchronize()
        self.steps_done += steps
        return time.perf_counter() - t0

    def flops_per_image(self) -> float:
        return self.forward_flops_per_image()


def make_bench(mode: str, cfg: Config) -> _Bench:
    if mode == "train":
        return TrainBench(cfg)
    if mode == "infer":
        return InferBench(cfg)
    raise ConfigError(f"unknown benchmark '{mode}' (choose train or infer)")


# --------------------------------------------------------------------------------------------------


def windows(steps: int, window: int) -> list[int]:
    """Split ``steps`` timed steps into windows of ``window`` (the last one may be longer)."""
    window = max(1, min(window, steps))
    n = max(1, steps // window)
    sizes = [window] * n
    sizes[-1] += steps - window * n
    return sizes


def summarize(b: _Bench, times: list[float], sizes: list[int], warmup: int) -> dict[str, Any]:
    """The result object of ``cnnzoo bench --json``."""
    rates = [b.batch_size * k / t for k, t in zip(sizes, times, strict=True)]
    per_step = [t / k for k, t in zip(sizes, times, strict=True)]
    images_per_s = statistics.median(rates)
    flops_img = b.flops_per_image()
    t, rt = b.trainer, b.rt
    return {
        "mode": b.mode,
        "model": t.model_name,
        "dataset": t.ds.name,
        "input": [t.ds.channels, *t.input_size],
        "batch_size": b.batch_size,
        "images_per_s": images_per_s,
        "step_ms": 1e3 * statistics.median(per_step),
        "flops_per_s": images_per_s * flops_img,
        "flops_per_image": flops_img,
        "flops_counted_as": ("3 x forward" if b.mode == "train" else "forward")
                            + " conv/linear FLOPs (2 x MACs, cnnzoo.models.profile)",
        "peak_mem_mb": b.memory.peak_mb(),
        "peak_mem_kind": b.memory.kind,
        "device": rt.describe(),
        "device_type": rt.device.type,
        "precision": rt.precision,
        "channels_last": rt.channels_last,
        "compile": bool(b.cfg.train.compile),
        "threads": torch.get_num_threads() if rt.device.type == "cpu" else None,
        "warmup_steps": warmup,
        "timed_steps": sum(sizes),
        "windows": len(sizes),
        "window_images_per_s": [round(r, 2) for r in rates],
        "params": t.params,
        "torch_version": torch.__version__,
        "cnnzoo_version": __version__,
        "pid": os.getpid(),
    }


def bench(mode: str, cfg: Config, *, steps: int = 30, warmup: int = 5, window: int = 5) -> dict[str, Any]:
    """Build the benchmark, warm it up, time ``steps`` steps in windows; return the summary dict.

    >>> from cnnzoo.config import load_config                                # doctest: +SKIP
    >>> bench("train", load_config(model="resnet18"))["images_per_s"]
    """
    if steps < 1 or warmup < 0 or window < 1:
        raise ConfigError(f"steps must be >= 1, warmup >= 0 and window >= 1 (got {steps}, {warmup}, {window})")
    b = make_bench(mode, cfg)
    if warmup:
        b.run(warmup)
    sizes = windows(steps, window)
    times = [b.run(k) for k in sizes]
    return summarize(b, times, sizes, warmup)
