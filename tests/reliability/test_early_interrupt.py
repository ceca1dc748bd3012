"""Ctrl-C at any moment after cnnzoo's own code starts is exit 130 and one `interrupted` line, never a
traceback: also in the first fraction of a second, while the command line is still being imported
(issue 14, item 12)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = SRC + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("CNNZOO_DEBUG", None)
    return env


# A Ctrl-C that lands while `import cnnzoo.cli` runs, made deterministic: an import hook raises
# KeyboardInterrupt exactly there, as the signal handler would.
INTERRUPT_DURING_IMPORT = """
import runpy, sys
class CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            raise KeyboardInterrupt
        return None
sys.meta_path.insert(0, CtrlC())
sys.argv = ["cnnzoo", "models"]
{entry}
"""


@pytest.mark.parametrize("entry", [
    'runpy.run_module("cnnzoo", run_name="__main__", alter_sys=True)',  # python -m cnnzoo
    "from cnnzoo.__main__ import run; run()",                          # the `cnnzoo` console script
], ids=["python-m", "console-script"])
@pytest.mark.parametrize("module", ["cnnzoo.cli", "cnnzoo.cli.common", "json"])
def test_ctrl_c_during_the_imports_exits_130_quietly(entry, module):
    code = textwrap.dedent(INTERRUPT_DURING_IMPORT.format(module=module, entry=entry))
    p = subprocess.run([sys.executable, "-c", code], env=_env(), capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stderr, p.stderr
    assert p.returncode == 130, (p.returncode, p.stderr)
    assert p.stderr.strip() == "interrupted"


def test_console_script_entry_point_is_the_guarded_one():
    """pyproject's `cnnzoo` script must enter through cnnzoo.__main__:run (cnnzoo.cli:main would import
    the command line outside the guard)."""
    text = (Path(SRC).parent / "pyproject.toml").read_text()
    assert 'cnnzoo = "cnnzoo.__main__:run"' in text


# `python -m cnnzoo train ...`, except that the child says when the interpreter has started (its own
# start-up, before any cnnzoo code runs, is Python's: a SIGINT there is Python's traceback or death by
# the signal, whatever the program). The delays count from then, so a loaded machine cannot shift them
# back into the interpreter's start-up.
TRAIN_AFTER_READY = """
import runpy, sys
sys.stdout.write("ready\\n"); sys.stdout.flush()
sys.argv = ["cnnzoo"] + sys.argv[1:]
runpy.run_module("cnnzoo", run_name="__main__", alter_sys=True)
"""


@pytest.mark.parametrize("delay", [0.05, 0.08, 0.12, 0.16, 0.2, 0.3])
def test_sigint_early_in_train_exits_130_without_traceback(delay, tmp_path):
    p = subprocess.Popen([sys.executable, "-c", TRAIN_AFTER_READY, "train", "--model", "cnn", "--dataset",
                          "fashion-mnist", "--data-dir", str(tmp_path / "absent"), "--offline",
                          "--out", str(tmp_path / "run")],
                         env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline() == "ready\n"
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert "Traceback" not in err, err
    # 2 when the run already got as far as refusing the absent --data-dir
    assert p.returncode == 130 or (p.returncode == 2 and err.startswith("error: --data-dir")), (p.returncode, err)


def test_ctrl_c_that_python_wraps_is_still_an_interrupt(capsys, monkeypatch):
    """Python 3.11 turns a KeyboardInterrupt raised in a class body's __set_name__ (which happens while
    modules import) into a RuntimeError caused by it; that is a Ctrl-C too, not a bug's traceback."""
    import argparse

    from cnnzoo.cli import main

    def handler(args):
        class Descriptor:
            def __set_name__(self, owner, name):
                raise KeyboardInterrupt

        class Owner:  # creating the class is what fails
            attr = Descriptor()

    def parser():
        p = argparse.ArgumentParser()
        p.set_defaults(handler=handler, command="models")
        return p

    monkeypatch.setattr("cnnzoo.cli.build_parser", parser)
    assert main([]) == 130
    assert capsys.readouterr().err.strip() == "interrupted"
