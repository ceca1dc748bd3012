"""CPU targets 1, 2 and 4 of the performance issue, measured side by side in one process.

    python benchmarks/cpu_targets.py [--rounds 5] [--steps 8] [--model resnet18] [--skip-run]

1. Training throughput of cnnzoo's step (``cnnzoo bench train``'s TrainBench: the trainer's own
   setup and step with its default settings for the CPU) against the classic loop
   (benchmarks/classic_loop.py) with 4 DataLoader workers (d2l's default) and with 0, same model,
   batch size, optimizer and data. Ratio of medians, the three alternated in every round.
2. Achieved training FLOP/s of that cnnzoo step (3 x forward conv/linear FLOPs per image) against
   a large bf16 matrix multiply (2048^3 and 4096^3; the faster is the peak), in the same rounds.
   Also counts the step's FLOPs with torch.utils.flop_counter as a cross-check of the 3x rule.
4. ``cnnzoo --help`` wall time (median of fresh processes), and the peak resident memory of the
   default run ``cnnzoo train`` cut to ``--run-steps`` steps (validation and test included),
   as that process's VmHWM (see ``_vm_hwm_kb`` for why not its ``ru_maxrss``).

Writes benchmarks/results/cpu_targets.json; ``benchmarks/run_all.py`` renders it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from _common import (
    TORCH_DEFAULT_THREADS,
    command,
    interleave,
    loadavg,
    log,
    machine,
    matmul_flops,
    median,
    others_summary,
    robust_rates,
    spread,
    with_threads,
    write_result,
)
from classic_loop import D2L_WORKERS, ClassicBench


def counted_train_flops(model_name: str, input_shape: tuple[int, int, int], num_classes: int = 10) -> float:
    """FLOPs of one training step per image, counted by torch.utils.flop_counter (fwd + bwd)."""
    from torch.utils.flop_counter import FlopCounterMode

    from cnnzoo.models import create_model

    c, h, _ = input_shape
    net = create_model(model_name, num_classes=num_classes, in_channels=c, image_size=h)
    x = torch.randn(4, *input_shape)
    with FlopCounterMode(display=False) as fc:
        torch.nn.functional.cross_entropy(net(x), torch.zeros(4, dtype=torch.long)).backward()
    return fc.get_total_flops() / 4


def help_time(reps: int) -> dict:
    exe = Path(sys.executable).with_name("cnnzoo")
    cmd = [str(exe), "--help"] if exe.exists() else [sys.executable, "-m", "cnnzoo", "--help"]
    times = []
    for _ in range(reps + 1):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    times = times[1:]  # the first run may read files from disk for the first time
    return {"command": " ".join(["cnnzoo", "--help"]), "median_s": median(times), "range_s": spread(times),
            "runs": reps}


def default_run_memory(steps: int) -> dict:
    exe = Path(sys.executable).with_name("cnnzoo")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        args = ["train", "--offline", "--quiet", "--out", str(out), "--set", f"train.max_steps={steps}"]
        cmd = [str(exe), *args] if exe.exists() else [sys.executable, "-m", "cnnzoo", *args]
        env = {k: v for k, v in os.environ.items() if k != "CNNZOO_THREADS"}
        t0 = time.perf_counter()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)
            peak_kb = 0
            while proc.poll() is None:  # VmHWM only grows: the last reading is the peak to within 0.1 s
                peak_kb = max(peak_kb, _vm_hwm_kb(proc.pid))
                time.sleep(0.1)
            wall = time.perf_counter() - t0
            if proc.returncode != 0:
                err.seek(0)
                raise SystemExit(f"default run failed ({proc.returncode}):\n{err.read().decode(errors='replace')}")
        summary = json.loads((out / "summary.json").read_text())
    return {"command": "cnnzoo " + " ".join(a if a != str(out) else "<tmp>" for a in args),
            "peak_memory_mb": round(peak_kb / 1024, 1), "summary_peak_memory_mb": summary["peak_memory_mb"],
            "steps": summary["steps"], "wall_s": round(wall, 1), "device": summary["device"]}


def _vm_hwm_kb(pid: int) -> int:
    """The peak resident set of process ``pid`` since its exec (Linux), 0 if unreadable.

    Not ``ru_maxrss``: a child forked from this (large) benchmark process starts with our resident
    set in its own ``ru_maxrss``, while VmHWM belongs to the memory map created by exec."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def default_run_memories(steps: int, repeats: int) -> dict:
    """The largest peak of ``repeats`` default runs (the peak varies by tens of MiB from run to run
    with allocator fragmentation across threads)."""
    runs = [default_run_memory(steps) for _ in range(repeats)]
    worst = max(runs, key=lambda r: r["peak_memory_mb"])
    return {**worst, "runs": runs, "measured_as": "the training process's VmHWM (peak resident set of the "
            "whole process: Python, torch, data, model, optimizer, evaluation, plots), read from /proc every "
            "0.1 s until it exits; the largest of the runs"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--rounds", type=int, default=5, help="alternations of every side (default 5)")
    ap.add_argument("--steps", type=int, default=8, help="timed training steps per window (default 8)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps (cnnzoo once, classic per window)")
    ap.add_argument("--help-runs", type=int, default=10)
    ap.add_argument("--run-steps", type=int, default=50, help="steps of the default run for its peak memory")
    ap.add_argument("--run-repeats", type=int, default=3, help="default runs for the peak memory (largest kept)")
    ap.add_argument("--skip-run", action="store_true", help="skip target 4's default run")
    ap.add_argument("--workers", type=int, nargs="+", default=[D2L_WORKERS, 0])
    args = ap.parse_args()

    from cnnzoo.config import load_config
    from cnnzoo.engine.bench import TrainBench

    load_before = loadavg()
    log(f"load average before: {load_before}")
    cfg = load_config(model=args.model, overrides={"data.offline": True})
    zoo = TrainBench(cfg)
    ds, bs = zoo.trainer.ds, cfg.data.batch_size
    classic = {w: ClassicBench(args.model, batch_size=bs, workers=w, warmup=args.warmup, data=ds,
                               crop_padding=cfg.data.augment.crop_padding, lr=cfg.optim.lr)
               for w in args.workers}
    zoo.run(args.warmup)
    mm = {n: matmul_flops(n, torch.bfloat16) for n in (2048, 4096)}
    mm_fp32 = matmul_flops(2048, torch.float32)
    zoo_threads = zoo.rt.threads
    runs = {"cnnzoo": lambda: zoo.run(args.steps)}
    for w, c in classic.items():
        runs[f"classic_{w}w"] = with_threads(TORCH_DEFAULT_THREADS, lambda c=c: c.run(args.steps))
    for n, fn in mm.items():
        runs[f"matmul_bf16_{n}"] = with_threads(zoo_threads, fn)
    runs["matmul_fp32_2048"] = with_threads(zoo_threads, mm_fp32)
    times = interleave(runs, args.rounds, log)
    load_after = loadavg()
    log(f"load average after: {load_after}")

    work = {k: bs * args.steps if not k.startswith("matmul") else 2 * int(k.rsplit("_", 1)[1]) ** 3 * 3 / 1e9
            for k in times}
    measured = robust_rates(times, work)  # images/s, or GFLOP/s for the matmuls
    rate = {k: v for k, v in measured.items() if not k.startswith("matmul")}
    gflops = {k: v for k, v in measured.items() if k.startswith("matmul")}
    zoo_rate = rate["cnnzoo"]["median"]
    flops_img = zoo.flops_per_image()
    achieved = zoo_rate * flops_img / 1e9
    peak_name = max((k for k in gflops if "bf16" in k), key=lambda k: gflops[k]["median"])
    peak = gflops[peak_name]["median"]
    counted = counted_train_flops(args.model, (ds.channels, *zoo.trainer.input_size))
    result = {
        "command": command(), "machine": machine(), "load_before": load_before, "load_after": load_after,
        "others_cpu_share": others_summary(times),
        "settings": {"model": args.model, "input": [ds.channels, *zoo.trainer.input_size], "batch_size": bs,
                     "rounds": args.rounds, "steps_per_window": args.steps, "warmup": args.warmup,
                     "cnnzoo_device": zoo.rt.describe(), "cnnzoo_threads": zoo_threads,
                     "classic_threads": TORCH_DEFAULT_THREADS, "classic_workers": args.workers,
                     "optimizer": f"SGD lr {cfg.optim.lr} momentum {cfg.optim.momentum} nesterov "
                                  f"{cfg.optim.nesterov} weight_decay {cfg.optim.weight_decay}",
                     "crop_padding": cfg.data.augment.crop_padding},
        "images_per_s": rate,
        "matmul_gflops": gflops,
        "target1": {k: zoo_rate / v["median"] for k, v in rate.items() if k != "cnnzoo"},
        "target1_per_round": {k: [a / b for a, b in zip(rate["cnnzoo"]["all"], v["all"], strict=True)]
                              for k, v in rate.items()
                              if k != "cnnzoo"},
        "classic_gflops": {k: v["median"] * flops_img / 1e9 for k, v in rate.items() if k != "cnnzoo"},
        "target2": {"achieved_gflops": achieved, "peak_gflops": peak, "peak_from": peak_name,
                    "fraction": achieved / peak, "flops_per_image_3x": flops_img,
                    "flops_per_image_counted": counted,
                    "achieved_gflops_counted": zoo_rate * counted / 1e9},
    }
    log(f"cnnzoo {zoo_rate:.1f} img/s; " + ", ".join(f"{k} {v['median']:.1f} img/s" for k, v in rate.items()
                                                   if k != "cnnzoo"))
    log(f"target 1 ratios: {result['target1']}; target 2: {achieved:.1f} / {peak:.1f} GFLOP/s = "
        f"{achieved / peak:.1%}")
    result["target4"] = {"help": help_time(args.help_runs)}
    log(f"cnnzoo --help: {result['target4']['help']['median_s']:.3f}s")
    if not args.skip_run:
        del zoo, classic  # the default run gets the machine to itself
        result["target4"]["default_run"] = default_run_memories(args.run_steps, args.run_repeats)
        log(f"default run peak memory: {result['target4']['default_run']['peak_memory_mb']:.0f} MB")
    result["load_end"] = loadavg()
    path = write_result("cpu_targets", result)
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
