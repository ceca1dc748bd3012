"""``cnnzoo predict`` and ``cnnzoo export``: a trained model at work outside training."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .common import print_json
from .train import _int

PREDICT_EPILOG = """\
examples:
  cnnzoo predict runs/<run> shoe.jpg                      top 3 classes of one image
  cnnzoo predict runs/<run> photos/ 'more/*.png' --json   folders (recursively) and globs
  cnnzoo predict runs/<run> photos/ --csv predictions.csv one row per image
  cnnzoo predict runs/<run>/export/model.onnx photos/     the exported model, run by onnxruntime

Images of any size or mode are converted exactly as in training; unreadable files are skipped with
a warning. See docs/deploy.md.
"""

EXPORT_EPILOG = """\
examples:
  cnnzoo export runs/<run> --format onnx                  writes runs/<run>/export/model.onnx
  cnnzoo export runs/<run> --format torchscript --out model.pt
  cnnzoo export runs/<run> --out model.pt2 --weights last

The file is checked against PyTorch before it is kept. See docs/deploy.md.
"""


def register(sub: Any, parents: list[argparse.ArgumentParser]) -> None:
    pr = sub.add_parser("predict", parents=parents, help="classify image files with a trained model",
                        description="Classify image files, folders and globs. Images of any size or mode are "
                                    "converted exactly as in training.",
                        epilog=PREDICT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    pr.add_argument("target", metavar="RUN|CHECKPOINT|FILE.onnx")
    pr.add_argument("images", nargs="+", metavar="PATH", help="image files, folders (searched recursively), globs")
    pr.add_argument("--topk", "-k", type=_int, default=3, help="how many classes to show per image")
    pr.add_argument("--device", default="cpu")
    pr.add_argument("--backend", choices=("auto", "torch", "onnxruntime"), default="auto",
                    help="torch (a run or checkpoint) or onnxruntime (a .onnx file from `cnnzoo export`, or "
                         "RUN/export/model.onnx); auto: by the file")
    pr.add_argument("--batch-size", "-b", type=_int, default=64, help="images per forward pass (default 64)")
    pr.add_argument("--workers", type=_int, default=None, help="decoding threads (default: CPUs, at most 8)")
    pr.add_argument("--invert", action="store_true",
                    help="invert the images (dark objects on light -> light on dark, as in Fashion-MNIST)")
    pr.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    pr.add_argument("--csv", metavar="FILE", help="write one row per image to FILE ('-': standard output)")
    pr.set_defaults(handler=run_predict)

    ex = sub.add_parser("export", parents=parents, help="export a trained model to ONNX, TorchScript or torch.export",
                        description="Write a run's model as one file for serving (eval mode, dynamic batch, the "
                                    "same normalized float input), with the class names and preprocessing in its "
                                    "metadata; the file is run against PyTorch and kept only if it matches.",
                        epilog=EXPORT_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    ex.add_argument("target", metavar="RUN|CHECKPOINT")
    ex.add_argument("--format", "-f", dest="fmt", help="onnx, torchscript or pt2 (default: what --out's suffix says)")
    ex.add_argument("--out", "-o", help="the file to write (default RUN/export/model.onnx|.pt|.pt2)")
    ex.add_argument("--weights", choices=("best", "last"), default="best",
                    help="which weights of the run (default best)")
    ex.add_argument("--data-dir", help="where the run's dataset is, for the check (default: where it was trained)")
    ex.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    ex.add_argument("--json", action="store_true", help="print the result as JSON")
    ex.set_defaults(handler=run_export)


def run_predict(args: argparse.Namespace) -> int:
    from ..engine.predict import Predictor, expand_paths

    predictor = Predictor(args.target, backend=args.backend, device=args.device)
    paths = expand_paths(args.images)
    results = predictor.predict_paths(paths, topk=args.topk, batch_size=args.batch_size, workers=args.workers,
                                      invert=args.invert)
    if args.json:
        print_json(list(results))
    elif args.csv:
        n = write_csv(results, args.csv, args.topk)
        if args.csv != "-":
            print(f"wrote {n} predictions to {args.csv}")
    else:
        for r in results:
            best = ", ".join(f"{p['label']} {100 * p['prob']:.1f}%" for p in r["predictions"])
            print(f"{r['path']}: {best}")
    return 0


def write_csv(results: Any, dest: str, topk: int) -> int:
    """One row per image: path, then label and probability for each of the top k."""
    import csv

    from ..errors import OutputError

    header = ["path"] + [f"{c}_{i}" for i in range(1, topk + 1) for c in ("label", "prob")]
    try:
        f = sys.stdout if dest == "-" else open(dest, "w", newline="", encoding="utf-8")  # noqa: SIM115
    except OSError as e:
        raise OutputError(f"cannot write {dest}: {e.strerror or e}") from None
    n = 0
    ok = False
    try:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in results:
            row = [r["path"]]
            for p in r["predictions"]:
                row += [p["label"], f"{p['prob']:.6f}"]
            w.writerow(row)
            n += 1
        ok = True
    finally:
        if f is not sys.stdout:
            f.close()
            if not ok:
                Path(dest).unlink(missing_ok=True)  # no half-written table
    return n


def run_export(args: argparse.Namespace) -> int:
    from ..engine.export import export_run

    res = export_run(args.target, args.fmt, args.out, weights=args.weights, overwrite=args.overwrite,
                     data_dir=args.data_dir)
    if args.json:
        print_json(res.to_dict())
        return 0
    print(f"checked against PyTorch on {res.check_data} (and on a single image): "
          f"largest relative difference {res.max_rel_diff:.1e} (limit 1e-4)")
    h, w = json.loads(res.metadata["input_size"])
    print(f"wrote {res.path} ({res.format}, {res.metadata['model']} from {res.checkpoint}; "
          f"input: float32 N x {res.metadata['channels']} x {h} x {w}, normalized)")
    return 0
