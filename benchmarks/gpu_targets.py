"""GPU targets of the performance issue, in one command for a machine with a CUDA GPU.

    python benchmarks/gpu_targets.py [--recipe fashion-mnist-gpu] [--rounds 5] [--steps 20]
                                     [--batch-size 128] [--compile] [--skip-recipe]

1. Time to 94% test accuracy on Fashion-MNIST: ``cnnzoo train --config configs/<recipe>.yaml
   --device cuda`` (benchmarks/time_to_accuracy.py's runner: wall time from the command's start,
   and the trainer's own times). Target: at most 10 s on one H100. Skipped, and said so, when the
   recipe does not exist yet.
2. The classic-loop ratio on the GPU: cnnzoo's training step (TrainBench, the trainer's defaults
   for CUDA) against benchmarks/classic_loop.py (DataLoader with 4 and 0 workers, fp32, NCHW,
   ``.item()`` per step), resnet18 at 1x28x28, batch 128, same optimizer, alternated.
3. ResNet-50 at 3x224x224: cnnzoo's training step on synthetic 224 px images (data resident on the
   GPU, augmentation included) against torchvision's ``resnet50`` in a plain loop on a fixed batch
   already on the GPU: (a) plain fp32 with PyTorch's default flags, (b) the same loop with bf16
   autocast and channels_last (what a careful user of torchvision would write). Target: cnnzoo at
   least (a). torchvision exists only on the GPU image, so it is imported here, guarded.

Writes benchmarks/results/gpu_targets.json; ``benchmarks/run_all.py`` renders it (and runs this
script itself when a GPU is present).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from _common import command, interleave, loadavg, log, machine, median, others_summary, robust_rates, write_result


def _cuda_flags(benchmark: bool, matmul_tf32: bool) -> tuple[bool, bool, bool]:
    old = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cudnn.benchmark = benchmark
    torch.backends.cuda.matmul.allow_tf32 = matmul_tf32
    torch.backends.cudnn.allow_tf32 = True  # PyTorch's default for convolutions
    return old


def with_flags(flags: tuple[bool, bool], fn: Callable[[], float]) -> Callable[[], float]:
    """Run ``fn`` under given cuDNN benchmark / TF32 flags (cnnzoo's Runtime sets its own globally)."""
    def run() -> float:
        old = _cuda_flags(*flags)
        try:
            return fn()
        finally:
            torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old

    return run


class TorchvisionPlain:
    """torchvision's resnet50 in a plain training loop on one fixed batch resident on the GPU."""

    def __init__(self, batch_size: int, num_classes: int, *, amp: bool, channels_last: bool, lr: float = 0.1,
                 device: str = "cuda", size: int = 224):
        import torchvision  # only on the GPU image

        self.device = torch.device(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self.net = torchvision.models.resnet50(num_classes=num_classes).to(self.device, memory_format=fmt)
        self.opt = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9, weight_decay=5e-4)
        self.x = torch.randn(batch_size, 3, size, size, device=self.device).contiguous(memory_format=fmt)
        self.y = torch.randint(0, num_classes, (batch_size,), device=self.device)
        self.amp = amp
        self.params = sum(p.numel() for p in self.net.parameters())

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def step(self) -> None:
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            loss = F.cross_entropy(self.net(self.x), self.y)
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()

    def run(self, steps: int) -> float:
        self._sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            self.step()
        self._sync()
        return time.perf_counter() - t0


def rates(times: Any, batch: int, steps: int) -> dict[str, Any]:
    return robust_rates(times, batch * steps)


def classic_ratio(a: Any) -> dict[str, Any]:
    from classic_loop import ClassicBench

    from cnnzoo.config import load_config
    from cnnzoo.engine.bench import TrainBench

    cfg = load_config(model="resnet18", overrides={"data.offline": True, "train.device": a.device})
    zoo = TrainBench(cfg)
    ds = zoo.trainer.ds
    classic = {w: ClassicBench("resnet18", batch_size=cfg.data.batch_size, workers=w, warmup=a.warmup, data=ds,
                               device=a.device, crop_padding=cfg.data.augment.crop_padding, lr=cfg.optim.lr)
               for w in (4, 0)}
    zoo.run(a.warmup)
    plain = (False, False)  # PyTorch's defaults: no cuDNN autotuning, no TF32 matmuls
    runs = {"cnnzoo": lambda: zoo.run(a.steps)}
    for w, c in classic.items():
        runs[f"classic_{w}w"] = with_flags(plain, lambda c=c: c.run(a.steps))
    times = interleave(runs, a.rounds, log)
    r = rates(times, cfg.data.batch_size, a.steps)
    return {"device": zoo.rt.describe(), "rates": r, "others_cpu_share": others_summary(times),
            "ratio": {k: r["cnnzoo"]["median"] / v["median"] for k, v in r.items() if k != "cnnzoo"}}


def resnet50_vs_torchvision(a: Any) -> dict[str, Any]:
    from cnnzoo.config import load_config
    from cnnzoo.engine.bench import TrainBench

    sets = ["data.dataset=synthetic", "data.channels=3", f"data.image_size={a.image_size}",
            f"data.batch_size={a.batch_size}", f"train.device={a.device}"]
    zoo = {"cnnzoo": TrainBench(load_config(model="resnet50", sets=sets))}
    if a.compile:
        zoo["cnnzoo_compiled"] = TrainBench(load_config(model="resnet50", sets=[*sets, "train.compile=true"]))
    ncls = len(zoo["cnnzoo"].trainer.ds.classes)
    try:
        import torchvision  # noqa: F401 - present on the GPU image only
    except ImportError:
        if a.device.startswith("cuda"):
            raise SystemExit("torchvision is not installed: the ResNet-50 comparison needs it") from None
        log("  torchvision is not installed: smoke run without the torchvision sides")
        tv = {}
    else:
        tv = {"torchvision_fp32": TorchvisionPlain(a.batch_size, ncls, amp=False, channels_last=False,
                                                   device=a.device, size=a.image_size),
              "torchvision_bf16_cl": TorchvisionPlain(a.batch_size, ncls, amp=True, channels_last=True,
                                                      device=a.device, size=a.image_size)}
    plain = (False, False)
    runs: dict[str, Callable[[], float]] = {}
    for k, b in zoo.items():
        t0 = time.perf_counter()
        b.run(a.warmup)
        log(f"  {k} warm-up {time.perf_counter() - t0:.1f}s")
        runs[k] = lambda b=b: b.run(a.steps)
    for k, b in tv.items():
        with_flags(plain, lambda b=b: b.run(a.warmup))()
        runs[k] = with_flags(plain, lambda b=b: b.run(a.steps))
    times = interleave(runs, a.rounds, log)
    r = rates(times, a.batch_size, a.steps)
    return {"batch_size": a.batch_size, "device": zoo["cnnzoo"].rt.describe(),
            "params": {"cnnzoo": zoo["cnnzoo"].trainer.params,
                       "torchvision": tv["torchvision_fp32"].params if tv else None},
            "rates": r, "ratio": {k: r["cnnzoo"]["median"] / v["median"] for k, v in r.items() if k != "cnnzoo"},
            "others_cpu_share": others_summary(times),
            "image_size": a.image_size,
            "peak_mem_mb_all": torch.cuda.max_memory_allocated() / 2**20 if a.device.startswith("cuda") else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--recipe", default="fashion-mnist-gpu", help="the configs/ recipe for 94%% in 10 s")
    ap.add_argument("--repeats", type=int, default=3, help="runs of the recipe")
    ap.add_argument("--skip-recipe", action="store_true")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=128, help="ResNet-50 batch")
    ap.add_argument("--compile", action="store_true", help="also time cnnzoo's ResNet-50 compiled")
    ap.add_argument("--image-size", type=int, default=224, help="ResNet-50 input size")
    ap.add_argument("--device", default="cuda",
                    help="cuda; 'cpu' only checks that the script runs (results go to gpu_targets_smoke.json)")
    a = ap.parse_args()
    if a.device.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit("no CUDA GPU here: the GPU targets need one (nothing written)")
    result: dict[str, Any] = {"command": command(), "machine": machine(), "load_before": loadavg()}
    if not a.skip_recipe:
        from time_to_accuracy import ROOT, run_recipe

        if (ROOT / "configs" / f"{a.recipe}.yaml").is_file():
            runs = [run_recipe(a.recipe, device=a.device) for _ in range(a.repeats)]
            result["time_to_94"] = {"recipe": a.recipe, "runs": runs,
                                    "median_wall_s": median([r["wall_s"] for r in runs]),
                                    "median_test_acc": median([r["test_acc"] for r in runs])}
        else:
            result["time_to_94"] = {"recipe": a.recipe, "skipped": f"configs/{a.recipe}.yaml does not exist"}
        log(f"time to 94%: {result['time_to_94']}")
    log("classic loop vs cnnzoo on the GPU")
    result["classic"] = classic_ratio(a)
    log(f"  {result['classic']['ratio']}")
    log("ResNet-50 at 224 vs torchvision")
    result["resnet50"] = resnet50_vs_torchvision(a)
    log(f"  {result['resnet50']['ratio']}")
    result["load_after"] = loadavg()
    name = "gpu_targets" if a.device.startswith("cuda") else "gpu_targets_smoke"
    log(f"wrote {write_result(name, result)}")


if __name__ == "__main__":
    main()
