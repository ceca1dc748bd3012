#!/usr/bin/env python3
"""The seed project's entry point, kept: ``python main.py --model=resnet``.

It runs ``cnnzoo train --model NAME --config config.yaml``: the model's recipe from configs/, with
your own settings from the root ``config.yaml`` on top (as the seed kept its parameters in one YAML
file). Any other ``cnnzoo train`` option passes through, e.g. ``python main.py --model=vgg --epochs 2``.
"""

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT / "src"))  # run from a clone even before `make setup` installed the package

from cnnzoo.cli import main  # noqa: E402


def _argv(argv: list[str]) -> list[str]:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", default="resnet")
    parser.add_argument("--config", default=str(ROOT / "config.yaml"))
    known, rest = parser.parse_known_args(argv)
    if any(a in ("-h", "--help") for a in rest):
        return ["train", "--help"]
    config = ["--config", known.config] if Path(known.config).is_file() else []
    return ["train", "--model", known.model, *config, *rest]


if __name__ == "__main__":
    sys.exit(main(_argv(sys.argv[1:])))
