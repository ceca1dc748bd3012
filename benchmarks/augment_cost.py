"""What each augmentation costs: images/s of the training loader with it, against crop and flip alone.

    python benchmarks/augment_cost.py [--batches 40] [--batch-size 256] [--rounds 3]

The loader is the trainer's own (``make_loader`` with an ``Augment``, device-resident batches, the
transform of cnnzoo.data.batching), iterated without a model: the numbers are the cost of the
augmentation and the batching, to set beside the training step's images/s (section 1). Two inputs:
Fashion-MNIST's training split (1x28x28; seeded noise of that shape when the dataset is not on
disk) and seeded 3x32x32 noise (colour, for the colour operations). Each side iterates
``--batches`` batches of an epoch it planned beforehand (the per-epoch draw of the parameters is
timed separately, once per side, as ``plan_s``); the sides alternate within each round. Writes
benchmarks/results/augment_cost.json; run_all.py renders it into docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

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

# side -> the Augment options on top of crop (padding 1/8 of the side) and flip
SIDES: dict[str, dict[str, Any]] = {
    "crop+flip": {},
    "randaugment (N=2, M=9)": {"policy": "randaugment"},
    "trivialaugment": {"policy": "trivialaugment"},
    "random erasing (p=0.25)": {"erasing": 0.25},
    "mixup (alpha=0.2)": {"mixup": 0.2},
    "cutmix (alpha=1)": {"cutmix": 1.0},
    "random-resized crop (0.35)": {"resized_crop": 0.35},
    "colour jitter (0.4)": {"color_jitter": 0.4},
    "trivialaugment + erasing + cutmix": {"policy": "trivialaugment", "erasing": 0.25, "cutmix": 1.0},
}


def inputs(n: int, data_dir: str | None) -> dict[str, Any]:
    from cnnzoo.data import Split, load_dataset

    g = torch.Generator().manual_seed(0)
    out = {}
    try:
        ds = load_dataset("fashion-mnist", data_dir=data_dir, offline=True)
        out["fashion-mnist 1x28x28"] = ds.train.subset(torch.arange(min(n, len(ds.train))))
    except Exception as e:  # noqa: BLE001 - any reason the files are not there: noise of the same shape
        log(f"no Fashion-MNIST ({e}); timing noise of its shape")
        out["noise 1x28x28"] = Split(torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=g),
                                     torch.randint(0, 10, (n,), generator=g))
    out["noise 3x32x32"] = Split(torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g),
                                 torch.randint(0, 10, (n,), generator=g))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batches", type=int, default=40, help="timed batches per window")
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--wait", type=float, default=0, help="wait up to this many seconds for a quiet machine")
    ap.add_argument("--max-busy", type=float, default=0.10)
    a = ap.parse_args()

    from cnnzoo.data import Augment, make_loader

    n = a.batches * a.batch_size
    results: dict[str, Any] = {}
    plan_s: dict[str, dict[str, float]] = {}
    all_times = []
    wait_for_quiet(a.max_busy, a.wait)
    load0 = loadavg()
    for data_name, split in inputs(n, a.data_dir).items():
        c, h, _ = split.images.shape[1:]
        loaders = {}
        plan_s[data_name] = {}
        for side, opts in SIDES.items():
            aug = Augment(crop_padding=max(1, round(h / 8)), flip=True, **opts)
            ld = make_loader(split, batch_size=a.batch_size, train=True, seed=0, device="cpu",
                             mean=(0.5,) * c, std=(0.25,) * c, augment=aug)
            t0 = time.perf_counter()
            ld.plan._plan()  # the per-epoch draw of every image's parameters
            plan_s[data_name][side] = round(time.perf_counter() - t0, 4)
            for _ in zip(range(2), ld, strict=False):  # warm-up
                pass
            loaders[side] = ld

        def timed(ld: Any) -> float:
            t0 = time.perf_counter()
            for _ in ld:
                pass
            return time.perf_counter() - t0

        log(f"{data_name}: {len(SIDES)} sides x {a.rounds} rounds of {a.batches} batches of {a.batch_size}")
        times = interleave({side: (lambda ld=ld: timed(ld)) for side, ld in loaders.items()}, a.rounds, log)
        all_times.append(times)
        results[data_name] = robust_rates(times, float(a.batches * a.batch_size))
    others = [others_summary(t) for t in all_times]
    others = [o for o in others if o]
    result = {
        "command": command(), "machine": machine(), "load_before": load0, "load_after": loadavg(),
        "others_cpu_share": {"median": max(o["median"] for o in others), "max": max(o["max"] for o in others)}
        if others else None,
        "settings": {"batches": a.batches, "batch_size": a.batch_size, "rounds": a.rounds, "device": "cpu",
                     "threads": torch.get_num_threads(), "sides": SIDES},
        "images_per_s": results, "plan_s": plan_s,
    }
    path = write_result("augment_cost", result)
    for data_name, rates in results.items():
        base = rates["crop+flip"]["median"]
        log(f"{data_name}: " + ", ".join(f"{k} {r['median']:,.0f} ({r['median'] / base:.2f}x)"
                                         for k, r in rates.items()))
    log(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
