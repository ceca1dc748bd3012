"""``cnnzoo data``: list, inspect, download and verify datasets.

    cnnzoo data list                          the built-in datasets
    cnnzoo data info fashion-mnist            where it is, split sizes, classes, mean/std
    cnnzoo data info ./my_images              an image folder (ROOT/<class>/<image>)
    cnnzoo data fetch cifar10 [--dest DIR]    download and verify (default: the user cache)
    cnnzoo data verify fashion-mnist          checksums and structure of the files on disk
    cnnzoo data show fashion-mnist            a picture of training images after augmentation

Parsing imports nothing heavy; each handler imports :mod:`cnnzoo.data` when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .common import Parser, format_table, print_json

EPILOG = """\
Datasets are looked for in: --data-dir, $CNNZOO_DATA/<name>, ~/.cache/cnnzoo/<name>
($XDG_CACHE_HOME), system folders such as /usr/share/datasets/<name> ($CNNZOO_SYSTEM_DATA),
and are otherwise downloaded into the cache (never with --offline). $CNNZOO_MIRRORS replaces
the download mirrors. See docs/data.md.
"""


def register(subparsers: Any, parents: list[argparse.ArgumentParser]) -> None:
    p = subparsers.add_parser("data", parents=parents, help="list, inspect, download and verify datasets",
                              description="List, inspect, download and verify datasets.", epilog=EPILOG,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(handler=lambda args: p.print_help() or 0)
    sub = p.add_subparsers(dest="data_command", metavar="ACTION", parser_class=Parser)

    s = sub.add_parser("list", parents=parents, help="the built-in datasets")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(handler=_list)

    s = sub.add_parser("info", parents=parents, help="where a dataset is, its splits, classes and statistics",
                       description="Describe a dataset: where it was found, split sizes, classes, image "
                                   "shape, per-channel mean/std. Reads what is on disk and never downloads "
                                   "('cnnzoo data fetch NAME' does).")
    s.add_argument("name", metavar="NAME", help="a dataset name, 'folder' (with --data-dir), or a folder path")
    s.add_argument("--data-dir", metavar="DIR", help="look here first (for 'folder': the root)")
    s.add_argument("--offline", action="store_true", help=argparse.SUPPRESS)  # info never downloads anyway
    s.add_argument("--image-size", type=int, metavar="N", help="folders: decode size (default: most common)")
    s.add_argument("--channels", type=int, choices=(1, 3), help="convert to 1 or 3 channels")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(handler=_info)

    s = sub.add_parser("show", parents=parents, help="a picture of training images after augmentation",
                       description="Draw the first training batch as the network sees it (augmented, "
                                   "resized; normalization undone for display), from the same loader "
                                   "`cnnzoo train` builds with these settings. fastai's show_batch.")
    s.add_argument("name", metavar="NAME", nargs="?", help="a dataset name, 'folder' (with --data-dir), or a "
                   "folder path (default: the configuration's)")
    s.add_argument("--data-dir", metavar="DIR", help="look here first (for 'folder': the root)")
    s.add_argument("--offline", action="store_true", help="never touch the network")
    s.add_argument("--image-size", type=int, metavar="N", help="the size the images are trained at")
    s.add_argument("--model", "-m", help="take the augmentation of this model's recipe")
    s.add_argument("--config", "-c", metavar="FILE", help="take the augmentation of this configuration")
    s.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", dest="sets", action="extend",
                   help="override config keys, e.g. --set data.augment.crop_padding=4")
    s.add_argument("--epoch", type=int, default=1, metavar="E", help="which epoch's first batch (default 1)")
    s.add_argument("-n", type=int, default=32, metavar="N", help="images to show (default 32)")
    s.add_argument("--out", "-o", metavar="FILE", help="the PNG to write (default: batch-<dataset>.png)")
    s.set_defaults(handler=_show)

    s = sub.add_parser("fetch", parents=parents, help="download a dataset and verify its checksums",
                       description="Download a built-in dataset's official files from the first mirror "
                                   "that has them, verify the pinned checksums, and keep them in DIR "
                                   "(default: the user cache). Files already there and correct are kept; "
                                   "without --dest, a complete copy found elsewhere in the search order "
                                   "(--data-dir aside) is named and nothing is downloaded.")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--dest", metavar="DIR", help="download into DIR instead of the cache")
    s.add_argument("--quiet", action="store_true", help="no progress output")
    s.set_defaults(handler=_fetch)

    s = sub.add_parser("verify", parents=parents, help="check a dataset's checksums and structure",
                       description="Check the files where the search order finds them: pinned checksums "
                                   "(of the archive, or of the decompressed content), then that every "
                                   "file parses. Exits 2 when something is wrong. Never downloads.")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--data-dir", metavar="DIR", help="look here first (for 'folder': the root)")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(handler=_verify)


def _list(args: argparse.Namespace) -> int:
    from ..data.catalog import list_datasets

    rows = list_datasets()
    if args.json:
        print_json([r.as_dict() for r in rows])
        return 0
    table = []
    for r in rows:
        splits = "/".join(str(v) for v in r.splits.values()) or "-"
        shape = "x".join(str(v) for v in r.shape) if r.shape else "any"
        table.append([r.name, r.num_classes or "-", splits, shape, "yes" if r.flip else "no", r.description])
    print(format_table(table, ["name", "classes", "train/test", "shape", "flip", "description"],
                       align="lrllll"))
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..data.dataset import dataset_info

    info = dataset_info(args.name, data_dir=args.data_dir, offline=args.offline,
                        channels=args.channels, image_size=args.image_size)
    if args.json:
        print_json(info)
        return 0
    classes = info["classes"]
    shown = ", ".join(classes[:10]) + (f", ... ({len(classes) - 10} more)" if len(classes) > 10 else "")
    rows = [
        ("found in", f"{info['source']} ({info['found_in']})"),
        ("splits", ", ".join(f"{k} {v}" for k, v in info["splits"].items())),
        ("image shape", "x".join(str(v) for v in info["image_shape"])),
        ("classes", f"{info['num_classes']}: {shown}"),
        ("mean", ", ".join(f"{v:.4f}" for v in info["mean"])),
        ("std", ", ".join(f"{v:.4f}" for v in info["std"])),
        ("flip", "yes (horizontal flip keeps the label)" if info["flip"] else "no (flipping changes the label)"),
    ]
    if info["streaming"]:
        rows.append(("loading", "streamed from disk (too large to hold in memory)"))
    if info["skipped"]:
        rows.append(("skipped", f"{info['skipped']} files (not images, hidden, unreadable or not regular files)"))
    print(info["name"])
    for key, value in rows:
        print(f"  {key:<12} {value}")
    return 0


def _show(args: argparse.Namespace) -> int:
    from ..config import load_config
    from ..errors import ConfigError
    from ..report.plots import show_batch

    if args.n < 1 or args.epoch < 1:
        raise ConfigError(f"{'-n' if args.n < 1 else '--epoch'} must be at least 1")
    overrides = {"data.dataset": args.name, "data.data_dir": args.data_dir, "data.image_size": args.image_size,
                 "data.offline": True if args.offline else None}
    cfg = load_config(args.config, model=args.model, overrides=overrides, sets=args.sets)
    out = Path(args.out) if args.out else Path(f"batch-{Path(cfg.data.dataset).name or 'data'}.png")
    caption = show_batch(cfg, out, n=args.n, epoch=args.epoch - 1)
    print(caption)
    print(f"wrote {out}")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from ..data.catalog import get_spec
    from ..data.sources import fetch, find

    spec = get_spec(args.name)
    if args.dest is None and spec.kind != "folder":
        found, _ = find(spec)
        if found is not None and found.where != "cache":  # a copy in the cache is verified below
            print(f"{spec.name} is already in {found.path} ({found.where}): nothing downloaded "
                  f"('cnnzoo data verify {spec.name}' checks it; --dest DIR downloads a copy there)")
            return 0
    dest = fetch(spec, args.dest, progress=False if args.quiet else None)
    print(f"{spec.name}: {', '.join(f.name for f in spec.files)} verified in {dest}")
    return 0


def _verify(args: argparse.Namespace) -> int:
    from ..data.integrity import verify
    from ..errors import DataError

    report = verify(args.name, data_dir=args.data_dir)
    if args.json:
        print_json(report.as_dict())
    else:
        print(f"{report.name}: {report.source}")
        for f in report.files:
            print(f"  {f.status:<10} {f.path}: {f.detail}")
        print(f"  {'ok' if report.structure_ok else 'broken':<10} structure: {report.structure}")
    if not report.ok:
        bad = sum(f.status == "mismatch" for f in report.files) + (not report.structure_ok)
        raise DataError(f"{report.name}: verification failed ({bad} problem{'s' if bad > 1 else ''} above); "
                        f"delete the bad files and run 'cnnzoo data fetch {report.name}'")
    return 0
