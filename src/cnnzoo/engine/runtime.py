"""Where and how the computation runs: device, precision, memory layout, threads, determinism.

`Runtime.resolve(cfg.train)` (or `Runtime.resolve(device="cpu")` where there is no run config) turns
the user's wishes ("auto", "cuda", "bf16", ...) into concrete choices once, at the start of a run,
and says what it chose so the run directory can record it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from .. import env
from ..config.schema import TrainConfig
from ..errors import DeviceError


def physical_cores() -> int:
    """Physical cores this process may use (hyper-threads share a core's arithmetic units, and
    BLAS-heavy training runs best with one thread per physical core)."""
    try:
        allowed = sorted(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return max(1, (os.cpu_count() or 2) // 2)
    cores = set()
    for cpu in allowed:
        p = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology/thread_siblings_list")
        try:
            cores.add(p.read_text().strip())
        except OSError:
            cores.add(str(cpu))
    return max(1, len(cores))


def env_threads() -> int | None:
    """``CNNZOO_THREADS``: the CPU thread count when the config leaves ``train.threads`` unset
    (for shared machines and parallel test workers); a value that is not one is a ConfigError."""
    return env.THREADS.read()


def cpu_has_bf16() -> bool:
    """True where the CPU computes bf16 natively (AVX512-BF16 or AMX): there bf16 autocast is
    about 2x faster than fp32; elsewhere it is emulated and slower."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", torch.cuda.current_device())
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DeviceError(f"--device {name}: no CUDA GPU is available here (torch {torch.__version__}, "
                              f"CUDA build: {torch.version.cuda or 'no'}); use --device cpu or auto")
        dev = torch.device(name)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) visible "
                              f"(cuda:0..cuda:{torch.cuda.device_count() - 1})")
        return dev if dev.index is not None else torch.device("cuda", torch.cuda.current_device())
    if name == "mps":
        if not (getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()):
            raise DeviceError("--device mps: Apple's Metal backend is not available here; use --device cpu")
        return torch.device("mps")
    return torch.device("cpu")


@dataclass
class Runtime:
    device: torch.device
    precision: str  # fp32 | bf16 | fp16
    channels_last: bool
    threads: int | None
    deterministic: bool

    @classmethod
    def resolve(cls, train_cfg: TrainConfig | None = None, local_world_size: int = 1, *,
                device: str | None = None) -> Runtime:
        """Concrete choices for ``train_cfg`` (default: a TrainConfig's defaults, every choice auto);
        ``device`` replaces its ``device`` (evaluation and prediction choose only that)."""
        train_cfg = train_cfg if train_cfg is not None else TrainConfig()
        if device is not None:
            train_cfg = dataclasses.replace(train_cfg, device=device)
        dev = resolve_device(train_cfg.device)
        precision = train_cfg.precision
        if precision == "auto":
            if dev.type == "cuda":
                precision = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
            elif dev.type == "cpu":
                precision = "bf16" if cpu_has_bf16() else "fp32"
            else:
                precision = "fp32"
        if precision == "fp16" and dev.type != "cuda":
            raise DeviceError("precision fp16 needs a CUDA GPU (it relies on a gradient scaler); use bf16 or fp32")
        channels_last = train_cfg.channels_last
        if channels_last == "auto":
            # NHWC lets oneDNN (CPU) and cuDNN (tensor cores) skip layout conversions: resnet18 at
            # 28x28 on the 2-core CPU trained 11% faster in bf16 and 10% in fp32 (docs/benchmarks.md).
            channels_last = dev.type in ("cpu", "cuda")
        threads = None
        if dev.type == "cpu" or train_cfg.threads is not None:
            threads = train_cfg.threads or env_threads() or max(1, physical_cores() // max(1, local_world_size))
        return cls(dev, precision, bool(channels_last), threads, bool(train_cfg.deterministic))

    def apply(self, seed: int) -> None:
        """Set threads, determinism and seeds for this process."""
        if self.threads is not None and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if self.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True)
            torch.backends.cudnn.benchmark = False
        elif self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        seed_everything(seed)

    @property
    def amp_dtype(self) -> torch.dtype | None:
        return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(self.precision)

    def autocast(self) -> contextlib.AbstractContextManager:
        dtype = self.amp_dtype
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=dtype)

    def grad_scaler(self) -> Any:
        """A gradient scaler for fp16 (bf16 and fp32 need none)."""
        if self.precision != "fp16":
            return None
        return torch.amp.GradScaler("cuda")

    def synchronize(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def describe(self) -> str:
        name = str(self.device)
        if self.device.type == "cuda":
            name += f" ({torch.cuda.get_device_name(self.device)})"
        elif self.device.type == "cpu":
            name += f" ({self.threads} threads)"
        return f"{name}, {self.precision}" + (", channels_last" if self.channels_last else "")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # numpy is a dependency, but seeding must never be the reason a run fails
        pass


def peak_memory_mb(device: torch.device) -> float:
    """Peak memory of this process: GPU allocator peak on CUDA, resident set peak on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    try:
        import resource

        kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return kb / 1024 if os.uname().sysname == "Linux" else kb / 2**20
    except (ImportError, AttributeError):
        return float("nan")
