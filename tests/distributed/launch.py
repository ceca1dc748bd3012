"""Launching `cnnzoo train` under torchrun from a test: CPU, gloo, a free port, a hard time limit.

Two ranks share the two CI cores, so each child gets one thread (CNNZOO_THREADS=1). A launch that
outlives its limit is stopped the way torchrun stops its workers (SIGTERM to the agent, which
passes it on) and the test fails; CNNZOO_DIST_TIMEOUT bounds every collective, so a worker the
agent could not reach still ends within a minute instead of lingering after the suite.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

LAUNCH_LIMIT_S = 120  # a launch takes ~10 s on two busy cores; more means a hang


@dataclass
class Launch:
    returncode: int
    stdout: str
    stderr: str
    seconds: float

    def error_lines(self) -> list[str]:
        """The `error: ...` lines cnnzoo printed (torchrun's own summary repeats them indented)."""
        return [line for line in self.stderr.splitlines() if line.startswith("error:")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def child_env() -> dict[str, str]:
    env = dict(os.environ, CNNZOO_THREADS="1", CNNZOO_DIST_TIMEOUT="60", PYTHONUNBUFFERED="1")
    env.pop("PYTEST_XDIST_WORKER", None)
    return env


def start_torchrun(args: Sequence[str], *, cwd: Path, nproc: int = 2, port: int | None = None,
                   nodes: tuple[int, int] | None = None) -> subprocess.Popen:
    """``python -m torch.distributed.run ... -m cnnzoo <args>``; ``nodes=(node_rank, nnodes)``
    starts one machine's agent of a multi-node job (all agents must get the same ``port``)."""
    launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
                "--master_addr=127.0.0.1", f"--master_port={port or free_port()}"]
    if nodes is not None:
        launcher += [f"--node_rank={nodes[0]}", f"--nnodes={nodes[1]}"]
    return subprocess.Popen([*launcher, "-m", "cnnzoo", *args], cwd=cwd, env=child_env(), text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc: subprocess.Popen, started: float, limit: float = LAUNCH_LIMIT_S) -> Launch:
    try:
        out, err = proc.communicate(timeout=max(1.0, limit - (time.monotonic() - started)))
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)  # torchrun passes it to its workers
        try:
            out, err = proc.communicate(timeout=45)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
        pytest.fail(f"torchrun did not finish within {limit:.0f} s (a hang):\n{out[-2000:]}\n{err[-4000:]}")
    return Launch(proc.returncode, out, err, time.monotonic() - started)


def torchrun(args: Sequence[str], *, cwd: Path, nproc: int = 2) -> Launch:
    started = time.monotonic()
    return finish(start_torchrun(args, cwd=cwd, nproc=nproc), started)
