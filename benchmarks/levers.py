"""What each speed lever gives on this machine: prediction (written before measuring) vs outcome.

    python benchmarks/levers.py [--model resnet18] [--rounds 3] [--steps 6] [--only GROUP ...]
                                [--no-compile]

Every group is a set of variants of cnnzoo's training step (TrainBench: the trainer's own setup
and step) that differ in one setting, alternated in one process (A B C, C B A, ...), each window
``--steps`` steps after a warm-up; the table gives the median images/s and the ratio to the
group's baseline (the default setting, marked *). The data is Fashion-MNIST from disk, shared by
all variants. Writes benchmarks/results/levers.json; ``benchmarks/run_all.py`` renders it.

Levers that change accuracy rather than speed (one-cycle schedule, label smoothing, flip TTA,
EMA) are measured here only for their time cost; their effect on accuracy belongs to the
time-to-accuracy recipes (configs/, benchmarks/time_to_accuracy.py).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import torch

from _common import (
    TORCH_DEFAULT_THREADS,
    command,
    interleave,
    loadavg,
    log,
    machine,
    others_summary,
    read_result,
    robust_rates,
    wait_for_quiet,
    with_threads,
    write_result,
)

# Written before the measurements were taken (a quick probe of the small `cnn` model had shown bf16 +
# channels_last ~2.7x over fp32 NCHW, and both half-measures, fp32 NHWC and bf16 NCHW, far slower).
PREDICTIONS = {
    "precision_layout": "bf16 + channels_last (the CPU default) ~2x fp32 NCHW: the same FLOPs at the bf16 "
                        "matmul rate (~2.3x fp32's) minus layer overheads. channels_last alone in fp32: "
                        "slower (oneDNN's fp32 NHWC path reorders). bf16 on NCHW: slower than bf16 NHWC by "
                        ">=10% (runtime.py's note says 7-15%). The classic loop (fp32 NCHW, for-loop SGD, "
                        "DataLoader) a few % below cnnzoo fp32 NCHW: the model dominates a resnet18 step.",
    "optimizer": "foreach SGD vs the per-parameter loop: <= 2% of a resnet18 step (62 tensors, 11M "
                 "parameters: a few ms of a step of ~1 s).",
    "threads": "1 thread ~0.55x of 2 (two physical cores); 4 threads on 2 cores 5-20% slower than 2 "
               "(oversubscribed OpenMP barriers).",
    "threads_one_core_busy": "with another process keeping one of the two cores busy, 1 thread at least as fast "
                             "as 2: every parallel region of the 2-thread step waits for the thread that shares "
                             "its core (written after seeing, uncontrolled, 1 thread run 2.3x faster than 2 while "
                             "others' tests loaded the machine).",
    "host_sync": "an extra .item() per step costs ~0 on the CPU: every op already runs synchronously "
                 "(it matters on a GPU, where it drains the launch queue).",
    "batch_size": "images/s within +-10% from 64 to 256 at 28x28 (resnet18's convolutions are already big "
                  "enough to fill two cores at 64); 256 slightly ahead.",
    "ema": "EMA of the weights (one foreach lerp over 11M parameters per step): <= 2% slower.",
    "compile": "torch.compile (inductor, CPU): steps 10-30% faster (BatchNorm/ReLU fused into fewer passes "
               "over memory), but 1-3 minutes of compilation on two cores: not worth it for runs of a few "
               "minutes, hence off by default.",
    "tta_flip": "flip test-time augmentation doubles the evaluation forward passes: evaluation ~2x slower "
                "(a few seconds per pass over 10,000 images); accuracy +0.1-0.4% (see the recipes).",
}

# Levers that act on accuracy, not on the speed of a step: predicted here, measured by the
# time-to-accuracy recipes (benchmarks/time_to_accuracy.py), not by this script.
ACCURACY_PREDICTIONS = {
    "one-cycle schedule": "reaches a given accuracy in fewer epochs than a constant or step schedule at the same "
                          "peak rate (~+0.3-0.5% test accuracy for a short run); no cost per step",
    "label smoothing 0.1": "+0.1-0.3% test accuracy on Fashion-MNIST's confusable classes (shirt/T-shirt/pullover); "
                           "no measurable cost per step",
    "flip TTA": "+0.1-0.4% test accuracy; doubles the evaluation time (timed in the group above)",
    "EMA of weights": "+0.1-0.3% for short runs that end at a still-noisy point; useless with a schedule that "
                      "already anneals to zero (one-cycle); ~1% per step (timed in the group above)",
}

# The same predictions as numbers: (variant, reference variant, lowest, highest) for the ratio of
# their median images/s; ("compile_s", None, lo, hi) for the compilation time. run_all.py renders
# each as "as predicted" or "not as predicted" from the measured ratio.
CHECKS = {
    "precision_layout": [("bf16_cl", "fp32_nchw", 1.6, 2.4), ("fp32_cl", "fp32_nchw", 0.0, 1.0),
                         ("bf16_nchw", "bf16_cl", 0.0, 0.91), ("classic_4_workers", "fp32_nchw", 0.85, 1.0)],
    "optimizer": [("for_loop", "foreach", 0.98, 1.02)],
    "threads": [("1_threads", "2_threads", 0.5, 0.65), ("4_threads", "2_threads", 0.8, 0.95)],
    "threads_one_core_busy": [("1_threads", "2_threads", 1.0, float("inf"))],
    "host_sync": [("item_each_step", "no_sync", 0.98, 1.02)],
    "batch_size": [("batch_64", "batch_128", 0.9, 1.1), ("batch_256", "batch_128", 1.0, 1.1)],
    "ema": [("ema_0.999", "no_ema", 0.98, 1.0)],
    "compile": [("compiled", "eager", 1.1, 1.3), ("compile_s", None, 60.0, 180.0)],
    "tta_flip": [("flip_tta", "plain", 0.45, 0.55)],
}


def _bench(cfg: Any, ds: Any, sets: list[str]) -> Any:
    """A TrainBench of ``cfg``'s model with ``--set``-style changes, on the shared dataset."""
    from cnnzoo.config import load_config
    from cnnzoo.engine.bench import TrainBench

    return TrainBench(load_config(model=cfg.model.name, overrides={"data.offline": True}, sets=sets), dataset=ds)


def _loop_sgd(b: Any) -> Any:
    """Replace the bench's optimizer with the same SGD on the per-parameter (for-loop) path."""
    from cnnzoo.engine.optim import param_groups

    t, o = b.trainer, b.trainer.cfg.optim
    t.optimizer = torch.optim.SGD(param_groups(t.model, o.weight_decay, o.decay_norm_and_bias), lr=o.lr,
                                  momentum=o.momentum, nesterov=o.nesterov, foreach=False)
    return b


def _sync_each_step(b: Any) -> Any:
    """Add a host read of the loss every step (what `.item()` in a classic loop does)."""
    t = b.trainer
    inner = t._loss

    def loss(out: Any, y: torch.Tensor) -> Any:
        value, logits = inner(out, y)
        value.item()
        return value, logits

    t._loss = loss
    return b


def _timed(b: Any, steps: int) -> Callable[[], float]:
    return lambda: b.run(steps)


def _rates(times: Any, batch: dict[str, int], steps: int) -> dict[str, dict[str, Any]]:
    return robust_rates(times, {k: batch[k] * steps for k in times})


def group_precision_layout(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    from classic_loop import ClassicBench

    variants = {"fp32_nchw": ["train.precision=fp32", "train.channels_last=false"],
                "fp32_cl": ["train.precision=fp32", "train.channels_last=true"],
                "bf16_nchw": ["train.precision=bf16", "train.channels_last=false"],
                "bf16_cl": ["train.precision=bf16", "train.channels_last=true"]}
    benches = {k: _bench(cfg, ds, v) for k, v in variants.items()}
    for b in benches.values():
        b.run(a.warmup)
    runs = {k: _timed(b, a.steps) for k, b in benches.items()}
    batch = {k: cfg.data.batch_size for k in runs}
    if a.classic:
        c = ClassicBench(cfg.model.name, batch_size=cfg.data.batch_size, workers=4, warmup=a.warmup, data=ds,
                         crop_padding=cfg.data.augment.crop_padding, lr=cfg.optim.lr)
        runs["classic_4_workers"] = with_threads(TORCH_DEFAULT_THREADS, lambda: c.run(a.steps))
        batch["classic_4_workers"] = cfg.data.batch_size
    times = interleave(runs, a.rounds, log)
    return {"baseline": "bf16_cl", "variants": variants, "rates": _rates(times, batch, a.steps),
            "others_cpu_share": others_summary(times)}


def group_optimizer(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    benches = {"foreach": _bench(cfg, ds, []), "for_loop": _loop_sgd(_bench(cfg, ds, []))}
    return _simple(benches, "foreach", cfg, a)


def group_threads(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    from cnnzoo.engine.runtime import physical_cores

    p = physical_cores()
    counts = sorted({1, p, 2 * p})
    benches = {f"{n}_threads": _bench(cfg, ds, [f"train.threads={n}"]) for n in counts}
    return _simple(benches, f"{p}_threads", cfg, a)


def group_threads_one_core_busy(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    """1 vs all-cores threads while another process keeps one core busy (a shared machine, or the
    test suite running beside a training run)."""
    import subprocess
    import sys

    from cnnzoo.engine.runtime import physical_cores

    p = physical_cores()
    benches = {f"{n}_threads": _bench(cfg, ds, [f"train.threads={n}"]) for n in sorted({1, p})}
    for b in benches.values():
        b.run(a.warmup)
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(1.0)
        out = _simple(benches, f"{p}_threads", cfg, a, warm=False)
    finally:
        spinner.kill()
        spinner.wait()
    out["competitor"] = "one Python busy loop (one core's worth of CPU) running throughout, by design"
    return out


def group_host_sync(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    benches = {"no_sync": _bench(cfg, ds, []), "item_each_step": _sync_each_step(_bench(cfg, ds, []))}
    return _simple(benches, "no_sync", cfg, a)


def group_batch_size(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    base = cfg.data.batch_size
    sizes = sorted({base // 2, base, base * 2})
    benches = {f"batch_{n}": _bench(cfg, ds, [f"data.batch_size={n}"]) for n in sizes}
    return _simple(benches, f"batch_{base}", cfg, a)


def group_ema(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    benches = {"no_ema": _bench(cfg, ds, ["train.ema_decay=null"]),
               "ema_0.999": _bench(cfg, ds, ["train.ema_decay=0.999"])}
    return _simple(benches, "no_ema", cfg, a)


def group_compile(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    eager = _bench(cfg, ds, ["train.compile=false"])
    compiled = _bench(cfg, ds, ["train.compile=true"])
    t0 = time.perf_counter()
    compiled.run(1)  # compilation happens in the first step
    compile_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    eager.run(1)
    eager_first = time.perf_counter() - t0
    out = _simple({"eager": eager, "compiled": compiled}, "eager", cfg, a)
    out["compile_s"] = compile_s - eager_first
    return out


def group_tta_flip(cfg: Any, ds: Any, a: Any) -> dict[str, Any]:
    """Evaluation time with and without flip TTA, on (a slice of) the test split."""
    from cnnzoo.data.dataset import Split
    from cnnzoo.engine.metrics import evaluate

    b = _bench(cfg, ds, [])
    t = b.trainer
    n = min(len(ds.test), a.eval_images)
    split = Split(ds.test.images[:n], ds.test.labels[:n])

    def run(tta: bool) -> Callable[[], float]:
        def go() -> float:
            b._own_threads()
            t0 = time.perf_counter()
            evaluate(t.model, t.eval_loader(split), len(ds.classes), t.rt.autocast, tta_flip=tta)
            return time.perf_counter() - t0
        return go

    run(False)()  # warm-up
    times = interleave({"plain": run(False), "flip_tta": run(True)}, a.rounds, log)
    rates = robust_rates(times, n)
    return {"baseline": "plain", "rates": rates, "unit": "evaluated images/s", "eval_images": n,
            "others_cpu_share": others_summary(times)}


def _simple(benches: dict[str, Any], baseline: str, cfg: Any, a: Any, warm: bool = True) -> dict[str, Any]:
    if warm:
        for b in benches.values():
            b.run(a.warmup)
    times = interleave({k: _timed(b, a.steps) for k, b in benches.items()}, a.rounds, log)
    batch = {k: b.batch_size for k, b in benches.items()}
    return {"baseline": baseline, "rates": _rates(times, batch, a.steps), "others_cpu_share": others_summary(times)}


GROUPS = {
    "precision_layout": group_precision_layout,
    "optimizer": group_optimizer,
    "threads": group_threads,
    "threads_one_core_busy": group_threads_one_core_busy,
    "host_sync": group_host_sync,
    "batch_size": group_batch_size,
    "ema": group_ema,
    "tta_flip": group_tta_flip,
    "compile": group_compile,
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=6, help="timed steps per window")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--eval-images", type=int, default=2048, help="test images per TTA timing")
    ap.add_argument("--only", nargs="+", choices=list(GROUPS), help="run only these groups")
    ap.add_argument("--no-compile", action="store_true", help="skip torch.compile (minutes of compilation)")
    ap.add_argument("--wait", type=float, default=0, help="before each group, wait up to this many seconds "
                    "for other processes to use at most --max-busy of the CPUs")
    ap.add_argument("--max-busy", type=float, default=0.10)
    ap.add_argument("--no-classic", dest="classic", action="store_false",
                    help="leave the classic loop out of the precision/layout group")
    args = ap.parse_args()

    from cnnzoo.config import load_config
    from cnnzoo.data import load_dataset

    cfg = load_config(model=args.model, overrides={"data.offline": True})
    ds = load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir, offline=True, channels=cfg.data.channels,
                      val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)
    groups = args.only or [g for g in GROUPS if not (g == "compile" and args.no_compile)]
    result: dict[str, Any] = {"command": command(), "machine": machine(), "load_before": loadavg(),
                              "settings": {"model": args.model, "rounds": args.rounds, "steps": args.steps,
                                           "warmup": args.warmup, "batch_size": cfg.data.batch_size,
                                           "dataset": ds.name},
                              "predictions": PREDICTIONS, "checks": CHECKS,
                              "accuracy_predictions": ACCURACY_PREDICTIONS, "groups": {}}
    log(f"load average before: {result['load_before']}")
    for g in groups:
        if args.wait:
            wait_for_quiet(args.max_busy, args.wait)
        log(f"{g} (load {loadavg()})")
        load0 = loadavg()
        out = GROUPS[g](cfg, ds, args)
        out["load_before"], out["load_after"] = load0, loadavg()
        out["date"] = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        base = out["rates"][out["baseline"]]["median"]
        out["ratio_to_baseline"] = {k: v["median"] / base for k, v in out["rates"].items()}
        log(f"  {g}: " + ", ".join(f"{k} {v['median']:.1f} ({out['ratio_to_baseline'][k]:.2f}x)"
                                   for k, v in out["rates"].items()))
        result["groups"][g] = out
    result["load_after"] = loadavg()
    log(f"load average after: {result['load_after']}")
    if args.only:  # re-measured groups replace their old results; the others are kept as they were
        old = read_result("levers")
        if old is not None and old.get("settings", {}).get("model") == args.model:
            for out in result["groups"].values():
                out["command"] = result["command"]
            # the page's header keeps describing the full run; each re-measured group names its own
            header = {k: old[k] for k in ("command", "machine", "load_before", "load_after") if k in old}
            result = {**result, **header, "groups": {**old.get("groups", {}), **result["groups"]}}
    log(f"wrote {write_result('levers', result)}")


if __name__ == "__main__":
    main()
