"""Transfer learning with what is on this machine: pretrain on five Fashion-MNIST classes, fine-tune on
few images of the other five, against the same network trained from scratch.

No ImageNet weights can be downloaded here, so the demonstration is in miniature and runs through
the same path a user takes with ImageNet weights and a folder of their own images:

1. the five *source* classes (T-shirt/top, Trouser, Pullover, Dress, Coat) are written as an image
   folder and a network is trained on them (`cnnzoo train --dataset folder`): the "pretrained" run;
2. the five *target* classes (Sandal, Shirt, Sneaker, Bag, Ankle boot) are written with only
   ``--per-class`` training images each (50 by default) and all 1,000 test images each;
3. for every seed, the target is trained with the same recipe and epochs from scratch and from the
   source run (``--pretrained SOURCE_RUN``: a fresh 5-class head), once per ``--finetune`` arm
   (``train.freeze_epochs``:``optim.backbone_lr_mult``; by default 1:0.1, the fine-tuning recipe's
   choice, and 0:1.0, plain fine-tuning of everything at the same rate).

It writes ``benchmarks/results/transfer_demo.json`` and the table between the markers in
docs/transfer.md. The full-size command (every source image, the default recipe's network)::

    python benchmarks/transfer_demo.py --model resnet18 --width-mult 0.25 --source-per-class 0 \\
        --source-epochs 5 --seeds 0 1 2

The defaults are the reduced size that fits a few minutes of a shared 2-core CPU.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import RESULTS, ROOT, loadavg, machine  # noqa: E402

DOC = ROOT / "docs" / "transfer.md"
SOURCE_CLASSES = (0, 1, 2, 3, 4)
TARGET_CLASSES = (5, 6, 7, 8, 9)


def write_folder(root: Path, images: np.ndarray, labels: np.ndarray, classes: list[str], keep: tuple[int, ...],
                 per_class: int | None, seed: int) -> None:
    """PNG files root/<class>/<i>.png for the classes ``keep``, at most ``per_class`` of each (a seeded draw)."""
    rng = np.random.default_rng(seed)
    for c in keep:
        idx = np.flatnonzero(labels == c)
        if per_class is not None:
            idx = np.sort(rng.choice(idx, size=min(per_class, len(idx)), replace=False))
        folder = root / classes[c].replace("/", "-")
        folder.mkdir(parents=True, exist_ok=True)
        for i in idx:
            Image.fromarray(images[i]).save(folder / f"{i}.png")


def make_folders(work: Path, source_per_class: int | None, per_class: int) -> tuple[Path, Path]:
    from cnnzoo import load_dataset

    ds = load_dataset("fashion-mnist", offline=True, val_fraction=0.0)
    train_x = ds.train.images[:, 0].numpy()
    train_y = ds.train.labels.numpy()
    test_x, test_y = ds.test.images[:, 0].numpy(), ds.test.labels.numpy()
    source, target = work / "source", work / "target"
    if not source.exists():
        write_folder(source / "train", train_x, train_y, ds.classes, SOURCE_CLASSES, source_per_class, 0)
        write_folder(source / "test", test_x, test_y, ds.classes, SOURCE_CLASSES, None, 0)
    if not target.exists():
        write_folder(target / "train", train_x, train_y, ds.classes, TARGET_CLASSES, per_class, 1)
        write_folder(target / "test", test_x, test_y, ds.classes, TARGET_CLASSES, None, 1)
    return source, target


def run(out: Path, data: Path, model: str, kwargs: dict[str, Any], epochs: int, seed: int, lr: float,
        batch_size: int, extra: dict[str, Any]) -> dict[str, Any]:
    from cnnzoo import load_config, train

    overrides = {"model.name": model, "model.kwargs": kwargs, "data.dataset": "folder", "data.data_dir": str(data),
                 "data.offline": True, "data.val_fraction": 0.0, "data.batch_size": batch_size,
                 "data.augment.crop_padding": 0, "train.epochs": epochs, "train.seed": seed,
                 "optim.lr": lr, "output.plots": False, **extra}
    cfg = load_config(model=model, overrides=overrides)
    t0 = time.perf_counter()
    result = train(cfg, run_dir=out, overwrite=True, quiet=True)
    return {"test_acc": result.summary["test_acc"], "seconds": round(time.perf_counter() - t0, 1)}


def arm_name(arm: str) -> str:
    freeze, mult = arm.split(":")
    return f"fine-tuned, freeze_epochs {freeze}, backbone_lr_mult {mult}"


def render(results: dict[str, Any]) -> str:
    a = results["args"]
    arms = a["finetune"]
    rows = ["| seed | from scratch | " + " | ".join(arm_name(x) for x in arms) + " |", "|---" * (2 + len(arms)) + "|"]

    def cells(get: Any) -> str:
        base = get("scratch")
        cells = [f"{100 * get(x):.2f}% ({100 * (get(x) - base):+.2f})" for x in arms]
        return " | ".join([f"{100 * base:.2f}%", *cells])

    for r in results["runs"]:
        rows.append(f"| {r['seed']} | " + cells(lambda k, r=r: r[k]["test_acc"]) + " |")
    rows.append("| median | " + cells(lambda k: results["median"][k]) + " |")
    m = results["machine"]
    kw = ", ".join(f"{k}={v}" for k, v in a["kwargs"].items())
    return "\n".join([
        *rows, "",
        f"Test accuracy on the 5,000 test images of the five target classes; network `{a['model']}`"
        f"{' (' + kw + ')' if kw else ''}; source run: {a['source_per_class'] or 'all'} images per source class, "
        f"{a['source_epochs']} epochs ({100 * results['source']['test_acc']:.2f}% on its own test set); target: "
        f"{a['per_class']} training images per class, {a['epochs']} epochs, batch {a['batch_size']}, lr {a['lr']}, "
        "the same recipe in every column (in brackets: the difference to scratch, in points). "
        f"Measured {m['date']} on {m['cpu']} ({m['logical_cpus']} logical CPUs, load average "
        f"{results['load_before'][0]} before / {results['load_after'][0]} after, shared with other work), torch "
        f"{m['torch']}, in {results['seconds']:.0f} s; command: `{results['command']}`.",
    ])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="cnn")
    ap.add_argument("--width-mult", type=float, default=None, help="model.kwargs.width_mult (resnet18: 0.25)")
    ap.add_argument("--source-per-class", type=int, default=600, help="source images per class (0 = all 6,000)")
    ap.add_argument("--source-epochs", type=int, default=3)
    ap.add_argument("--per-class", type=int, default=50, help="target training images per class")
    ap.add_argument("--epochs", type=int, default=10, help="target epochs (both arms)")
    ap.add_argument("--finetune", nargs="+", default=["1:0.1", "0:1.0"],
                    help="fine-tuning arms, FREEZE_EPOCHS:BACKBONE_LR_MULT each")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch-size", type=int, default=25)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--work", type=Path, default=Path("/tmp/cnnzoo-transfer-demo"), help="folders and runs")
    ap.add_argument("--no-doc", action="store_true", help="write the results file only")
    ap.add_argument("--name", default="transfer_demo",
                    help="results/<name>.json and the doc's <!-- <name>:begin/end --> markers (transfer_demo_full)")
    args = ap.parse_args()
    kwargs = {"width_mult": args.width_mult} if args.width_mult is not None else {}
    source_per_class = args.source_per_class or None
    t0, load_before = time.perf_counter(), loadavg()
    work = args.work / f"s{source_per_class}-t{args.per_class}"
    source_dir, target_dir = make_folders(work, source_per_class, args.per_class)
    source_run = work / "runs" / "source"
    if (source_run / "summary.json").is_file():  # made by an earlier run of this script with the same sizes
        source = {"test_acc": json.loads((source_run / "summary.json").read_text())["test_acc"], "seconds": None}
    else:
        source = run(source_run, source_dir, args.model, kwargs, args.source_epochs, 0, args.lr, 128, {})
    print(f"source run: {100 * source['test_acc']:.2f}% in {source['seconds']} s", flush=True)
    runs = []
    for seed in args.seeds:
        common = (target_dir, args.model, kwargs, args.epochs, seed, args.lr, args.batch_size)
        scratch = run(work / "runs" / f"scratch-{seed}", *common, {})
        row = {"seed": seed, "scratch": scratch}
        for arm in args.finetune:
            freeze, mult = arm.split(":")
            row[arm] = run(work / "runs" / f"pretrained-{arm.replace(':', '-')}-{seed}", *common,
                           {"model.pretrained": str(source_run), "train.freeze_epochs": int(freeze),
                            "optim.backbone_lr_mult": float(mult)})
        runs.append(row)
        print(f"seed {seed}: " + ", ".join(f"{k} {100 * v['test_acc']:.2f}%" for k, v in row.items() if k != "seed"),
              flush=True)
    results = {
        "args": {**{k: v for k, v in vars(args).items() if k not in ("work", "no_doc", "name")}, "kwargs": kwargs},
        "command": "python benchmarks/transfer_demo.py " + " ".join(sys.argv[1:]),
        "source": source, "runs": runs,
        "median": {arm: statistics.median(r[arm]["test_acc"] for r in runs) for arm in ("scratch", *args.finetune)},
        "machine": machine(), "load_before": load_before, "load_after": loadavg(),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    results["command"] = results["command"].strip()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(results, indent=1) + "\n")
    table = render(results)
    print(table)
    if not args.no_doc:
        doc = DOC.read_text(encoding="utf-8")
        marker = args.name.replace("_", "-")
        BEGIN, END = f"<!-- {marker}:begin -->", f"<!-- {marker}:end -->"
        if BEGIN not in doc or END not in doc:
            raise SystemExit(f"{DOC}: markers {BEGIN!r} ... {END!r} not found")
        head, rest = doc.split(BEGIN, 1)
        DOC.write_text(f"{head}{BEGIN}\n{table}\n{END}{rest.split(END, 1)[1]}", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
