"""``cnnzoo train``, ``cnnzoo lr-find`` and ``cnnzoo eval`` (``predict`` and ``export`` live in deploy.py)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path
from typing import Any

from .common import format_table, print_json

TRAIN_EPILOG = """\
examples:
  cnnzoo train                                  the default job: ResNet on Fashion-MNIST
  cnnzoo train --model vgg --epochs 3           another model's recipe, shorter
  cnnzoo train --config my.yaml --set optim.lr=0.05 train.label_smoothing=0.1
  cnnzoo train --dataset folder --data-dir ./my_images --image-size 64
  cnnzoo train -c configs/finetune.yaml --pretrained torchvision --data-dir ./my_images
  cnnzoo train --resume runs/20261127-101500-resnet20-fashion-mnist
  cnnzoo train --resume RUN --out RUN2 --epochs 20   continue in a copy, RUN stays as it was
  cnnzoo train --config runs/<run>/config.yaml  reproduce a run

Recipes live in configs/ (one per model); every key is listed in docs/configuration.md.
"""

LR_FIND_EPILOG = """\
examples:
  cnnzoo lr-find                                the default job's recipe
  cnnzoo lr-find --model vgg --batch-size 64    another recipe, another batch size
  cnnzoo lr-find --set optim.name=adamw --plot adamw.png

The suggestion is a peak lr for optim.lr (see docs/configuration.md); with a one-cycle schedule
a value a few times higher often works too. The plot shows why.
"""

# shortcut option -> dotted config key
SHORTCUTS = {
    "dataset": "data.dataset",
    "data_dir": "data.data_dir",
    "epochs": "train.epochs",
    "batch_size": "data.batch_size",
    "lr": "optim.lr",
    "image_size": "data.image_size",
    "device": "train.device",
    "seed": "train.seed",
    "out": "output.dir",
    "pretrained": "model.pretrained",
}

# What may change when a run is resumed (anything else would make it another run).
RESUME_CHANGEABLE = {"train.epochs", "train.device", "data.data_dir", "data.offline", "data.num_workers",
                     "output.plots", "output.dir"}


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("train", parents=parents, help="train a model (the default job: ResNet on Fashion-MNIST)",
                       description="Train a model from a YAML recipe; every value can be overridden.",
                       epilog=TRAIN_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", "-m", help="model name or alias (its recipe in configs/ is used)")
    p.add_argument("--config", "-c", help="a YAML recipe or a run's config.yaml")
    p.add_argument("--pretrained", metavar="SOURCE", help="fine-tune from these weights: a .pth/.safetensors file, a "
                                                          "run directory, torchvision, timm or LIBRARY:TAG "
                                                          "(docs/transfer.md)")
    p.add_argument("--dataset", "-d", help="mnist, fashion-mnist, kmnist, cifar10, cifar100 or folder")
    p.add_argument("--data-dir", help="where the dataset files are (the image root for folder)")
    p.add_argument("--epochs", "-e", type=_int, help="number of epochs")
    p.add_argument("--batch-size", "-b", type=_int, help="training batch size (for all ranks together under torchrun)")
    p.add_argument("--lr", type=_float, help="peak learning rate")
    p.add_argument("--image-size", type=_int, help="resize inputs to this square size")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--seed", type=_int, help="random seed")
    p.add_argument("--out", "-o", help="run directory (default runs/<time>-<model>-<dataset>)")
    p.add_argument("--resume", metavar="RUN", help="continue the run in this directory from its last checkpoint "
                                                   "(with --out OTHER: continue in a copy, OTHER)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing non-empty --out")
    p.add_argument("--offline", action="store_true", help="never touch the network")
    p.add_argument("--quiet", "-q", action="store_true", help="print only errors and the final summary")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override any config key, e.g. --set train.epochs=3 optim.lr=0.1")
    p.add_argument("--print-config", action="store_true",
                   help="print the resolved configuration as YAML, each value with where it came from "
                        "(schema default, defaults.yaml, recipe, --config file, flag), and exit without training")
    p.set_defaults(handler=run_train)

    f = sub.add_parser("lr-find", parents=parents, help="suggest a learning rate (the lr range test)",
                       description="Train from the recipe's start with an exponentially rising learning rate "
                                   "until the loss explodes; plot loss against lr and suggest the lr of steepest "
                                   "descent. Writes only the plot (no run directory).",
                       epilog=LR_FIND_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("--model", "-m", help="model name or alias (its recipe in configs/ is used)")
    f.add_argument("--config", "-c", help="a YAML recipe or a run's config.yaml")
    f.add_argument("--dataset", "-d", help="mnist, fashion-mnist, kmnist, cifar10, cifar100 or folder")
    f.add_argument("--data-dir", help="where the dataset files are (the image root for folder)")
    f.add_argument("--batch-size", "-b", type=_int, help="training batch size")
    f.add_argument("--image-size", type=_int, help="resize inputs to this square size")
    f.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    f.add_argument("--seed", type=_int, help="random seed")
    f.add_argument("--offline", action="store_true", help="never touch the network")
    f.add_argument("--start-lr", type=_float, default=1e-7, help="first learning rate (default 1e-7)")
    f.add_argument("--end-lr", type=_float, default=10.0, help="last learning rate (default 10)")
    f.add_argument("--steps", type=_int, default=100, help="most steps (default 100; stops when the loss explodes)")
    f.add_argument("--plot", default="lr_find.png", help="where to write the plot (default ./lr_find.png)")
    f.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override any config key, e.g. --set optim.name=adamw")
    f.add_argument("--json", action="store_true", help="print the result as JSON")
    f.set_defaults(handler=run_lr_find)

    e = sub.add_parser("eval", parents=parents, help="evaluate a trained run or checkpoint",
                       description="Accuracy, per-class accuracy and confusion matrix of a trained model; "
                                   "writes eval.json into the run directory.")
    e.add_argument("target", metavar="RUN|CHECKPOINT")
    e.add_argument("--dataset", "-d", help="dataset to evaluate on (default: the one it was trained on)")
    e.add_argument("--data-dir", help="where the dataset files are")
    e.add_argument("--split", choices=("test", "val", "train"), default="test", help="which split (default test)")
    e.add_argument("--batch-size", "-b", type=_int, default=512)
    e.add_argument("--device", default="auto")
    e.add_argument("--offline", action="store_true", help="never touch the network")
    e.add_argument("--out", help="where to write eval.json (default: the run directory)")
    e.add_argument("--json", action="store_true", help="print the result as JSON")
    e.set_defaults(handler=run_eval)


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not an integer") from None


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number") from None


def resolve_train_config(args: argparse.Namespace, origins: dict[str, str] | None = None) -> Any:
    """The Config a `cnnzoo train` command line asks for (also used by `compare` and `bench`);
    ``origins`` is filled with where each value came from (see load_config)."""
    from ..config import load_config, parse_override
    from ..errors import ConfigError

    overrides = {key: getattr(args, name, None) for name, key in SHORTCUTS.items()}
    if getattr(args, "offline", False):
        overrides["data.offline"] = True
    if getattr(args, "resume", None):
        run = Path(args.resume)
        if args.model or args.config:
            raise ConfigError("--resume continues a run with its own configuration; drop --model/--config "
                              "(to start a new run from it: --config RUN/config.yaml)")
        changed = {k for k, v in overrides.items() if v is not None} | {parse_override(s)[0] for s in args.sets}
        bad = sorted(changed - RESUME_CHANGEABLE)
        if bad:
            raise ConfigError(f"--resume cannot change {', '.join(bad)} (only {', '.join(sorted(RESUME_CHANGEABLE))}); "
                              "start a new run with --config RUN/config.yaml instead")
        from ..env import under_torchrun
        from ..errors import CheckpointError
        from ..paths import describe

        kind = describe(run)
        if kind not in ("is a folder", "does not exist"):  # a file, a symlink loop, a named pipe...
            raise CheckpointError(f"--resume {run} {kind}, not a run directory: pass the folder `cnnzoo train` "
                                  "wrote (it holds config.yaml and checkpoints/)")
        if kind == "is a folder":
            from ..engine.rundir import refuse_unstarted

            refuse_unstarted(run)  # stopped before its first checkpoint: say how to start it again
        if not (run / "config.yaml").is_file():
            shared = under_torchrun()
            raise CheckpointError(f"--resume {run}: not a cnnzoo run directory (no config.yaml)" + (
                "; under torchrun every machine must see the run directory (put it on a shared filesystem)"
                if shared else ""))
        overrides["output.dir"] = None
        return load_config(run / "config.yaml", overrides=overrides, sets=args.sets, origins=origins)
    return load_config(args.config, model=args.model, overrides=overrides, sets=args.sets, origins=origins)


def run_train(args: argparse.Namespace) -> int:
    from ..engine.stop import Interrupted
    from ..training import train

    origins: dict[str, str] = {}
    cfg = resolve_train_config(args, origins)
    if args.print_config:
        from ..config import annotated_yaml

        print(annotated_yaml(cfg, origins), end="")
        return 0
    try:
        # With --resume, --out (or output.dir) names a folder to continue the run in, as a copy.
        train(cfg, run_dir=cfg.output.dir or args.out, resume=args.resume, overwrite=args.overwrite,
              quiet=args.quiet)
    except Interrupted:
        return 130
    return 0


def run_lr_find(args: argparse.Namespace) -> int:
    from ..engine.lr_find import lr_find
    from ..report.plots import lr_find as plot

    cfg = resolve_train_config(args)
    r = lr_find(cfg, start_lr=args.start_lr, end_lr=args.end_lr, steps=args.steps)
    path = Path(args.plot)
    plot(r.lrs, r.losses, r.smoothed, r.suggestion, path,
         title=f"lr range test: {r.info['model']} on {r.info['dataset']}, batch {r.info['batch_size']}, "
               f"{r.info['optimizer']}")
    if args.json:
        print_json({"suggested_lr": r.suggestion, "min_div_10": r.min_div_10, "steps": len(r.lrs),
                    "diverged": r.stopped_early, "lrs": r.lrs, "losses": r.losses, "plot": str(path), **r.info})
        return 0
    print(f"lr range test: {r.info['model']} on {r.info['dataset']}, batch {r.info['batch_size']}, "
          f"{r.info['optimizer']}, {r.info['device']}: {len(r.lrs)} steps from {r.lrs[0]:.3g} to {r.lrs[-1]:.3g}"
          + (" (stopped: the loss diverged)" if r.stopped_early else ""))
    print(f"  suggested lr: {r.suggestion:.3g}  (steepest descent of the smoothed loss; "
          f"min/10 rule: {r.min_div_10:.3g}; the recipe has {r.info['recipe_lr']:g})")
    print(f"  plot: {path}")
    print(f"  use it: cnnzoo train ... --lr {r.suggestion:.3g}")
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..engine.evaluate import evaluate_run
    from ..report.plots import eval_confusion

    result = evaluate_run(args.target, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                          batch_size=args.batch_size, device=args.device, offline=args.offline, out=args.out)
    picture = eval_confusion(result)
    result["confusion_png"] = str(picture)
    if args.json:
        print_json(result)
        return 0
    print(format_eval(result))
    print(f"wrote {result['eval_json']} and {picture}")
    return 0


def format_eval(result: dict[str, Any]) -> str:
    """What `cnnzoo eval` prints: accuracy (top-k), each class's precision/recall/F1, the confusion matrix."""
    def pct(v: float) -> str:
        return "-" if math.isnan(v) else f"{100 * v:.2f}%"

    split = result["split"]
    topk = ", ".join(f"top-{k} {pct(v)}" for k, v in result["topk_accuracy"].items() if k != "1")
    lines = [f"{result['model']} on {result['dataset']} ({split}, {result['n']} images): "
             f"accuracy {pct(result['accuracy'])}" + (f" ({topk})" if topk else "")
             + f", loss {result['loss']:.4f}, macro F1 {pct(result['macro_f1'])}"]
    if result.get("split_asked", split) != split:
        lines.append(f"the dataset has no {result['split_asked']} split: these are its {split} images, the ones "
                     "held out for validation during training")
    lines.append("")
    rows = [(name, n, pct(r), pct(p), pct(f)) for name, n, p, r, f in zip(
        result["classes"], result["per_class_n"], result["per_class_precision"], result["per_class_recall"],
        result["per_class_f1"], strict=True)]
    lines.append(format_table(rows, ("class", "images", "recall (accuracy)", "precision", "F1"), align="lrrrr"))
    lines.append("recall: the share of the class's images it found; precision: the share of the images it called "
                 "that class that are; F1: their harmonic mean")
    classes, m = result["classes"], result["confusion"]
    if len(classes) <= 20:
        width = max(4, *(len(str(v)) for row in m for v in row))
        labels = [str(i) for i in range(len(classes))]
        lines += ["", "confusion matrix (rows: true class, columns: predicted; counts of images):",
                  " " * 6 + " ".join(lab.rjust(width) for lab in labels)]
        for i, row in enumerate(m):
            lines.append(f"{i:>4}  " + " ".join((str(v) if v else ".").rjust(width) for v in row)
                         + f"   {classes[i]}")
    return "\n".join(lines)
