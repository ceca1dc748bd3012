"""``cnnzoo train`` and ``cnnzoo eval`` (``predict`` and ``export`` live in deploy.py)."""

from __future__ import annotations

import argparse
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
    p.add_argument("--batch-size", "-b", type=_int, help="training batch size (per rank under torchrun)")
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
                   help="print the resolved configuration as YAML and exit without training")
    p.set_defaults(handler=run_train)

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


def resolve_train_config(args: argparse.Namespace) -> Any:
    """The Config a `cnnzoo train` command line asks for (also used by `compare` and `bench`)."""
    from pathlib import Path

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
        if not (run / "config.yaml").is_file():
            shared = under_torchrun()
            raise CheckpointError(f"--resume {run}: not a cnnzoo run directory (no config.yaml)" + (
                "; under torchrun every machine must see the run directory (put it on a shared filesystem)"
                if shared else ""))
        overrides["output.dir"] = None
        return load_config(run / "config.yaml", overrides=overrides, sets=args.sets)
    return load_config(args.config, model=args.model, overrides=overrides, sets=args.sets)


def run_train(args: argparse.Namespace) -> int:
    from ..engine.stop import Interrupted
    from ..training import train

    cfg = resolve_train_config(args)
    if args.print_config:
        import yaml

        print(yaml.safe_dump(cfg.to_dict(), sort_keys=False, default_flow_style=False, width=100), end="")
        return 0
    try:
        # With --resume, --out (or output.dir) names a folder to continue the run in, as a copy.
        train(cfg, run_dir=cfg.output.dir or args.out, resume=args.resume, overwrite=args.overwrite,
              quiet=args.quiet)
    except Interrupted:
        return 130
    return 0


def run_eval(args: argparse.Namespace) -> int:
    from ..engine.evaluate import evaluate_run

    result = evaluate_run(args.target, dataset=args.dataset, data_dir=args.data_dir, split=args.split,
                          batch_size=args.batch_size, device=args.device, offline=args.offline, out=args.out)
    if args.json:
        print_json(result)
        return 0
    rows = [(name, f"{100 * acc:.2f}%" if acc == acc else "-", n)
            for name, acc, n in zip(result["classes"], result["per_class_acc"], result["per_class_n"], strict=True)]
    print(f"{result['model']} on {result['dataset']} ({result['split']}, {result['n']} images): "
          f"accuracy {100 * result['accuracy']:.2f}%, loss {result['loss']:.4f}")
    print(format_table(rows, ("class", "accuracy", "images"), align="lrr"))
    print(f"wrote {result['eval_json']}")
    return 0

