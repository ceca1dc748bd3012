"""``cnnzoo compare``, ``cnnzoo report`` and ``cnnzoo visualize``: make the differences visible."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import format_table
from .train import SHORTCUTS, _int

COMPARE_EPILOG = """\
examples:
  cnnzoo compare runs/cnn runs/resnet runs/vgg --out cmp        leaderboard of finished runs
  cnnzoo compare --models cnn,resnet,mobilenet --epochs 3 --out cmp
                        train each (into cmp/runs/<model>) unless already there, then compare
  cnnzoo compare --models cnn,vgg --out cmp --set train.max_steps=50   a quick smoke test
  cnnzoo compare --models cnn,resnet --seeds 3 --out cmp   each model 3 times: mean, std, 95% interval

Writes leaderboard.md/.csv/.html and the plots acc_vs_params.png, acc_vs_macs.png, acc_vs_time.png,
curves.png into the folder. Run the same --models command again to continue an interrupted compare.
"""

VISUALIZE_EPILOG = """\
examples:
  cnnzoo visualize RUN --what filters                  first-layer filters as a grid
  cnnzoo visualize RUN --what features --layer features.2 --image shoe.png
  cnnzoo visualize RUN --what cam --index 7            Grad-CAM of the 8th test image
  cnnzoo visualize RUN --what cam --image shoe.png --class Sneaker

PNGs are written into RUN/plots/. Without --image a test image of the run's dataset is used.
"""

# `compare --models` accepts the train shortcuts that describe the experiment, not the run folder.
COMPARE_SHORTCUTS = ("dataset", "data_dir", "epochs", "batch_size", "device", "seed")


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("compare", parents=parents, help="leaderboard and trade-off plots of several runs",
                       description="Compare finished runs (or train --models first): a leaderboard sorted by "
                                   "test accuracy with params, MACs and time, the Pareto front, and plots.",
                       epilog=COMPARE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("runs", nargs="*", metavar="RUN", help="finished run directories")
    c.add_argument("--models", "-m", metavar="A,B,C", help="train these models (unless already in --out) and compare")
    c.add_argument("--out", "-o", help="the compare folder (default runs/compare-<time>)")
    c.add_argument("--dataset", "-d", help="dataset to train --models on")
    c.add_argument("--data-dir", help="where the dataset files are")
    c.add_argument("--epochs", "-e", type=_int, help="epochs for each of --models")
    c.add_argument("--batch-size", "-b", type=_int, help="training batch size")
    c.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    c.add_argument("--seed", type=_int, help="random seed (with --seeds: the first of them)")
    c.add_argument("--seeds", type=_int, metavar="N",
                   help="train each of --models N times (seeds s..s+N-1) and report mean, std and 95%% interval")
    c.add_argument("--offline", action="store_true", help="never touch the network")
    c.add_argument("--quiet", "-q", action="store_true", help="print only each run's final summary")
    c.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override any config key of every trained model, e.g. --set train.max_steps=100")
    c.set_defaults(handler=run_compare)

    r = sub.add_parser("report", parents=parents, help="write a run's self-contained report.html",
                       description="One HTML file (no network, images inline): summary, configuration, curves, "
                                   "confusion matrix, per-class accuracy, the most confident mistakes, layers.")
    r.add_argument("run", metavar="RUN", help="a finished run directory")
    r.add_argument("--out", "-o", help="where to write it (default RUN/report.html)")
    r.add_argument("--data-dir", help="where the run's dataset is, for the pictures of mistakes")
    r.set_defaults(handler=run_report)

    v = sub.add_parser("visualize", parents=parents, help="first-layer filters, feature maps, Grad-CAM",
                       description="Look inside a trained network; writes PNGs into RUN/plots/.",
                       epilog=VISUALIZE_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("run", metavar="RUN", help="a finished run directory")
    v.add_argument("--what", "-w", required=True, choices=("filters", "features", "cam"),
                   help="filters, features or cam")
    v.add_argument("--image", "-i", metavar="PATH", help="an image file (default: a test image of the dataset)")
    v.add_argument("--index", type=_int, default=0, help="which test image when there is no --image (default 0)")
    v.add_argument("--layer", "-l", metavar="NAME", help="features: the layer (default: a block half-way through)")
    v.add_argument("--class", dest="class_", metavar="NAME|INDEX",
                   help="cam: the class to explain (default: the predicted one)")
    v.add_argument("--device", default="cpu")
    v.add_argument("--data-dir", help="where the run's dataset is")
    v.set_defaults(handler=run_visualize)


def run_compare(args: argparse.Namespace) -> int:
    from datetime import datetime

    from ..engine.stop import Interrupted
    from ..report.compare import TABLE_ALIGN, TABLE_HEADER, compare, parse_models, table_rows, train_models

    if not args.runs and not args.models:
        from ..errors import ConfigError

        raise ConfigError("nothing to compare: name at least one run directory, or --models a,b,c to train "
                          "them (see 'cnnzoo compare --help')")
    out = Path(args.out) if args.out else Path("runs") / f"compare-{datetime.now():%Y%m%d-%H%M%S}"
    if args.seeds is not None:
        return _run_compare_seeds(args, out)
    runs = list(args.runs)
    if args.models:
        models = parse_models(args.models)
        overrides = {SHORTCUTS[name]: getattr(args, name) for name in COMPARE_SHORTCUTS}
        if args.offline:
            overrides["data.offline"] = True
        print(f"compare folder: {out}")
        try:
            runs += [str(p) for p in train_models(models, out, overrides=overrides, sets=args.sets,
                                                  quiet=args.quiet)]
        except Interrupted:
            again = " ".join(["cnnzoo compare --models", ",".join(models), "--out", str(out)])
            print(f"compare interrupted; continue it with the same command:\n  {again} ...")
            return 130
    result = compare(runs, out)
    print(format_table(table_rows(result.rows), TABLE_HEADER, align=TABLE_ALIGN))
    for f in result.files:
        if f.suffix in (".md", ".csv", ".html"):
            print(f"wrote {f}")
    print(f"plots in {result.out}: " + ", ".join(f.name for f in result.files if f.suffix == ".png"))
    return 0


def _compare_overrides(args: argparse.Namespace) -> dict[str, Any]:
    overrides = {SHORTCUTS[name]: getattr(args, name) for name in COMPARE_SHORTCUTS}
    if getattr(args, "offline", False):
        overrides["data.offline"] = True
    return overrides


def print_seeds_result(result: Any) -> None:
    from ..report.seeds import SEEDS_ALIGN, SEEDS_HEADER, seeds_table_rows

    print(format_table(seeds_table_rows(result.groups), SEEDS_HEADER, align=SEEDS_ALIGN))
    for f in result.files:
        if f.suffix in (".md", ".csv", ".html", ".json") and f.name != "compare.json":
            print(f"wrote {f}")
    print(f"plots in {result.out}: " + ", ".join(f.name for f in result.files if f.suffix == ".png"))


def _run_compare_seeds(args: argparse.Namespace, out: Any) -> int:
    """``compare --models a,b --seeds N``: each model N times, the leaderboard of means (report/seeds.py)."""
    from ..engine.stop import Interrupted
    from ..errors import ConfigError
    from ..report.compare import parse_models
    from ..report.seeds import Arm, compare_seeds, folder_name

    if args.runs or not args.models:
        raise ConfigError("--seeds trains the models it compares: give --models a,b,c (not run directories)")
    models = parse_models(args.models)
    print(f"compare folder: {out}")
    try:
        result = compare_seeds([Arm(folder_name(m), m) for m in models], out, args.seeds,
                               overrides=_compare_overrides(args), sets=args.sets, quiet=args.quiet)
    except Interrupted:
        print(f"compare interrupted; continue it with the same command:\n  cnnzoo compare --models "
              f"{','.join(models)} --seeds {args.seeds} --out {out} ...")
        return 130
    print_seeds_result(result)
    return 0


def run_report(args: argparse.Namespace) -> int:
    from ..report.html import write_report

    path = write_report(args.run, out=args.out, data_dir=args.data_dir)
    print(f"wrote {path}")
    return 0


def run_visualize(args: argparse.Namespace) -> int:
    from ..report.visualize import visualize

    pic = visualize(args.run, args.what, image=args.image, index=args.index, layer=args.layer, class_=args.class_,
                    device=args.device, data_dir=args.data_dir)
    print(f"{pic.caption}\nwrote {pic.path}")
    return 0
