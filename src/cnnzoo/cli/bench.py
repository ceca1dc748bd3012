"""``cnnzoo bench train|infer``: images/s, achieved FLOP/s and peak memory of the real step."""

from __future__ import annotations

import argparse
from typing import Any

from .common import human, print_json

BENCH_EPILOG = """\
examples:
  cnnzoo bench train                                  the default job's training step (resnet18, Fashion-MNIST)
  cnnzoo bench train --model vgg11 --steps 20 --json
  cnnzoo bench infer --model resnet50 --dataset synthetic --channels 3 --image-size 224 --batch-size 64
  cnnzoo bench train --precision fp32 --set train.channels_last=false   without the levers

A training step is the trainer's own (data loading and augmentation included) with the settings
the model's recipe and the device give; FLOP/s count a training step as 3 x the forward FLOPs.
How it is measured: docs/benchmarks.md.
"""


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    from .train import _int

    p = sub.add_parser("bench", parents=parents, help="measure training or inference speed of a model",
                       description="Measure the training step (data loading and augmentation included) or "
                                   "inference: images/s, achieved FLOP/s, peak memory.",
                       epilog=BENCH_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("train", "infer"), help="what to measure")
    p.add_argument("--model", "-m", help="model name or alias (its recipe in configs/ is used)")
    p.add_argument("--config", "-c", help="a YAML recipe or a run's config.yaml")
    p.add_argument("--dataset", "-d", help="fashion-mnist (default), any `cnnzoo train` dataset, or synthetic "
                                           "(random images, no files needed)")
    p.add_argument("--data-dir", help="where the dataset files are")
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--image-size", type=_int, help="input size (resize; for synthetic, the stored size)")
    p.add_argument("--channels", type=_int, choices=(1, 3), help="image channels (synthetic: default 1)")
    p.add_argument("--batch-size", "-b", type=_int, help="images per step (default: the recipe's training "
                                                         "batch, or its evaluation batch for infer)")
    p.add_argument("--steps", type=_positive, default=30, help="timed steps (default 30)")
    p.add_argument("--warmup", type=_nonnegative, default=5, help="untimed steps first (default 5)")
    p.add_argument("--window", type=_positive, default=5,
                   help="steps per timed window; the median window gives the rate (default 5)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--precision", choices=("auto", "fp32", "bf16", "fp16"), help="default: the recipe's (auto)")
    p.add_argument("--threads", type=_positive, help="CPU threads (default: physical cores)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override any config key, e.g. --set train.channels_last=false")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(handler=run_bench)


def _positive(text: str) -> int:
    from .train import _int

    n = _int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"'{text}' must be at least 1")
    return n


def _nonnegative(text: str) -> int:
    from .train import _int

    n = _int(text)
    if n < 0:
        raise argparse.ArgumentTypeError(f"'{text}' must be 0 or more")
    return n


def bench_config(args: argparse.Namespace) -> Any:
    """The Config a `cnnzoo bench` command line asks for: `cnnzoo train`'s, plus bench's options."""
    from .train import resolve_train_config

    sets = list(args.sets)
    if args.precision:
        sets.append(f"train.precision={args.precision}")
    if args.channels:
        sets.append(f"data.channels={args.channels}")
    if args.threads:
        sets.append(f"train.threads={args.threads}")
    if args.compile:
        sets.append("train.compile=true")
    ns = argparse.Namespace(**vars(args))
    ns.sets = sets
    if args.mode == "infer" and args.batch_size is not None:
        sets.append(f"data.eval_batch_size={args.batch_size}")
        ns.batch_size = None  # the training batch is not used; leave the recipe's
    return resolve_train_config(ns)


def run_bench(args: argparse.Namespace) -> int:
    from ..engine.bench import bench

    cfg = bench_config(args)
    r = bench(args.mode, cfg, steps=args.steps, warmup=args.warmup, window=args.window)
    if args.json:
        print_json(r)
        return 0
    c, h, w = r["input"]
    print(f"{r['model']} {r['mode']} on {r['dataset']} at {c}x{h}x{w}, batch {r['batch_size']}, {r['device']}"
          f"{', compiled' if r['compile'] else ''}")
    print(f"  {r['images_per_s']:,.1f} images/s  ({r['step_ms']:.1f} ms/step, median of {r['windows']} windows, "
          f"{r['timed_steps']} steps after {r['warmup_steps']} warm-up)")
    print(f"  {human(r['flops_per_s'], 'FLOP/s')}  ({human(r['flops_per_image'], 'FLOP')} per image: "
          f"{r['flops_counted_as']})")
    print(f"  peak memory {r['peak_mem_mb']:,.0f} MB  ({r['peak_mem_kind']})")
    return 0
