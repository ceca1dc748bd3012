"""``cnnzoo sweep`` and ``cnnzoo ablate``: experiments with seeds and error bars (report/seeds.py)."""

from __future__ import annotations

import argparse
from typing import Any

from .report import _compare_overrides, print_seeds_result
from .train import _int

SWEEP_EPILOG = """\
examples:
  cnnzoo sweep --model resnet --set optim.lr=0.05,0.1,0.2 data.batch_size=64,128 --out sw
                        the 3x2 grid, one run per point; a plot of accuracy against each key
  cnnzoo sweep --model cnn --set optim.lr=0.01,0.1 --seeds 3 --epochs 2 --out sw   each point 3 times
  cnnzoo sweep --model resnet --set optim.lr=0.01:0.3:log optim.weight_decay=1e-5:1e-3:log --trials 20 --out sw
                        Optuna (pip install 'cnnzoo[sweep]'): 20 trials, the study in sw/optuna.db

A --set value with commas is swept, one without is fixed; lo:hi (lo:hi:log) is a range for --trials.
Run the same command again to continue an interrupted sweep.
"""

ABLATE_EPILOG = """\
examples:
  cnnzoo ablate --list                       every family's switch and the claim it tests
  cnnzoo ablate resnet --out abl/resnet      ResNet with and without its shortcut, 3 seeds each
  cnnzoo ablate vgg --epochs 1 --seeds 2 --out abl/vgg --set train.max_steps=50   a quick look

Each pair trains under the family's recipe (configs/<recipe>.yaml) with the paper's network and with
the idea switched off, and reports the difference of the means with its 95% interval.
"""

SHORTCUTS = ("dataset", "data_dir", "epochs", "batch_size", "device", "seed")


def _experiment_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", "-o", help="the folder (default runs/<command>-<time>)")
    p.add_argument("--seeds", type=_int, default=None, metavar="N", help="seeds per point (default: sweep 1, ablate 3)")
    p.add_argument("--dataset", "-d", help="dataset to train on")
    p.add_argument("--data-dir", help="where the dataset files are")
    p.add_argument("--epochs", "-e", type=_int, help="epochs of every run")
    p.add_argument("--batch-size", "-b", type=_int, help="training batch size")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_int, help="the first seed (the others follow it)")
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--quiet", "-q", action="store_true", help="print only each run's final summary")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    s = sub.add_parser("sweep", parents=parents, help="train a recipe over a grid of --set values (or Optuna trials)",
                       description="Train one recipe at every point of a grid of --set values (or at --trials "
                                   "points Optuna chooses), each with its seeds; a leaderboard of means and a "
                                   "plot of accuracy against each swept key.",
                       epilog=SWEEP_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--model", "-m", required=True, help="the model or recipe to sweep")
    s.add_argument("--set", nargs="+", default=[], metavar="KEY=V1,V2", dest="sets", action="extend",
                   help="a key to sweep (values with commas, or lo:hi for --trials) or to fix (one value)")
    s.add_argument("--trials", type=_int, metavar="N", help="let Optuna choose N points instead of the grid")
    _experiment_args(s)
    s.set_defaults(handler=run_sweep)

    a = sub.add_parser("ablate", parents=parents, help="train a family with and without its paper's key idea",
                       description="Run a family's ablation: its recipe with the paper's network and with the "
                                   "key idea switched off, each with seeds; the difference and its 95% interval.",
                       epilog=ABLATE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    a.add_argument("family", nargs="?", metavar="FAMILY", help="resnet, senet, densenet, vgg, nin, googlenet, "
                                                                "mobilenet or mixer")
    a.add_argument("--switch", metavar="NAME", help="one of the family's ablations (default: all of them)")
    a.add_argument("--list", action="store_true", help="list the ablations and exit")
    a.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override a config key of every run, e.g. --set train.max_steps=100")
    _experiment_args(a)
    a.set_defaults(handler=run_ablate)


def _out(args: argparse.Namespace, kind: str) -> Any:
    from datetime import datetime
    from pathlib import Path

    return Path(args.out) if args.out else Path("runs") / f"{kind}-{datetime.now():%Y%m%d-%H%M%S}"


def run_sweep(args: argparse.Namespace) -> int:
    from ..engine.stop import Interrupted
    from ..report.sweep import sweep

    out = _out(args, "sweep")
    print(f"sweep folder: {out}")
    try:
        result = sweep(args.model, args.sets, out, seeds=args.seeds or 1, trials=args.trials,
                       overrides=_compare_overrides(args), quiet=args.quiet)
    except Interrupted:
        print("sweep interrupted; continue it with the same command (and the same --out)")
        return 130
    print_seeds_result(result)
    return 0


def run_ablate(args: argparse.Namespace) -> int:
    from ..engine.stop import Interrupted
    from ..report.ablations import ABLATIONS, ablate, ablations_of, describe_difference
    from .common import format_table

    if args.list or not args.family:
        rows = [(a.family, a.name, a.recipe, a.paper_setting, a.ablated_setting, a.claim) for a in ABLATIONS]
        print(format_table(rows, ("family", "ablation", "recipe", "paper", "ablated", "claim tested"),
                           align="llllll"))
        return 0
    chosen = ablations_of(args.family, args.switch)
    out = _out(args, f"ablate-{args.family}")
    print(f"ablation folder: {out}")
    try:
        results = ablate(chosen, out, seeds=args.seeds or 3, overrides=_compare_overrides(args), sets=args.sets,
                         quiet=args.quiet)
    except Interrupted:
        print("ablation interrupted; continue it with the same command (and the same --out)")
        return 130
    for abl, result in results:
        print(f"\n{abl.family} / {abl.name}: {abl.claim}")
        print_seeds_result(result)
        print(describe_difference(abl, result.groups))
    return 0
