"""``python -m cnnzoo`` (also what ``torchrun -m cnnzoo train`` runs) and the ``cnnzoo`` script.

Ctrl-C is exit status 130 with one ``interrupted`` line at every moment, including the first
fraction of a second while the command line's modules are still being imported (``cnnzoo.cli.main``
handles it from then on): the import happens inside :func:`run`, not at module level.
"""

from __future__ import annotations

import sys

INTERRUPTED = 130  # 128 + SIGINT, what a shell reports for a command stopped by Ctrl-C


def run() -> None:
    """Run the command line and exit with its status."""
    try:
        from cnnzoo.cli import main

        code = main()
    except KeyboardInterrupt:  # during the imports above, before main() can catch it
        print("interrupted", file=sys.stderr)
        code = INTERRUPTED
    except Exception as err:
        from cnnzoo.errors import caused_by_ctrl_c

        if not caused_by_ctrl_c(err):
            raise
        print("interrupted", file=sys.stderr)
        code = INTERRUPTED
    sys.exit(code)


if __name__ == "__main__":
    run()
