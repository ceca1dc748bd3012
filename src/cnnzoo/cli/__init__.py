"""The ``cnnzoo`` command line.

Each subcommand lives in a module of this package with a ``register(subparsers, parents)`` function
that declares its arguments and a handler. Parsing imports nothing heavy, so ``cnnzoo --help``
answers at once; handlers import the library (and torch, and the few standard modules that
--help does not load, such as csv and datetime) only when they run. The CLI holds no
logic of its own: handlers call the library and print what it returns.

Errors: a :class:`~cnnzoo.errors.CnnzooError` becomes one ``error: ...`` line on stderr and exit
status 2 (``--debug`` shows the traceback); Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import traceback
from collections.abc import Sequence

from .. import __version__, env
from ..errors import CnnzooError, caused_by_ctrl_c
from .common import Parser, common_parent, show_warnings

# Subcommand modules, in the order --help lists them.
COMMAND_MODULES = ("train", "deploy", "data", "models", "draw", "bench", "report", "research")

DESCRIPTION = """\
Learn, build, train and compare the classic convolutional networks.

Start with:  cnnzoo train                    (ResNet on Fashion-MNIST)
             cnnzoo train --model vgg --epochs 3
             cnnzoo models                   (the zoo)
"""


def build_parser() -> Parser:
    parents = [common_parent()]
    parser = Parser(prog="cnnzoo", description=DESCRIPTION, parents=parents,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"cnnzoo {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name in COMMAND_MODULES:
        importlib.import_module(f"{__name__}.{name}").register(sub, parents)
    return parser


def _error_line(err: CnnzooError) -> str | None:
    """``error: ...``; under torchrun ``error: [rank N] ...``, once per machine (None: another
    rank prints it), see cnnzoo.engine.distributed.error_line."""
    if not env.under_torchrun():  # leave torch unimported
        return f"error: {err}"
    from ..engine.distributed import error_line

    return error_line(err)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    try:
        debug = debug or env.DEBUG.read()
        parser = build_parser()
        args = parser.parse_args(argv)
        show_warnings()
        if args.command is None:
            parser.print_help()
            return 0
        return int(args.handler(args) or 0)
    except CnnzooError as err:
        if debug:
            traceback.print_exc()
        line = _error_line(err)
        if line is not None:
            print(line, file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        if debug:
            traceback.print_exc()
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # a Ctrl-C that Python wrapped (see caused_by_ctrl_c); else a bug
        if not caused_by_ctrl_c(err):
            raise
        if debug:
            traceback.print_exc()
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `cnnzoo models | head`: the reader left; that is not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return 0
