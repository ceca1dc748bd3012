"""Shared by the benchmark scripts: the machine, load, interleaved timing, matmul peak, result files.

Every script writes its raw numbers to ``benchmarks/results/<name>.json`` (committed, so the doc can
be re-rendered and checked); ``benchmarks/run_all.py`` renders docs/benchmarks.md from them.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from cnnzoo import env

ROOT = Path(__file__).resolve().parent.parent
# $CNNZOO_BENCH_RESULTS redirects the result files (run_all.py --quick uses a scratch folder)
RESULTS = env.BENCH_RESULTS.read() or ROOT / "benchmarks" / "results"
# torch's own choice of intra-op threads, before any cnnzoo Runtime changes it (the classic loop's)
TORCH_DEFAULT_THREADS = torch.get_num_threads()


def loadavg() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return []


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=10)
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return out.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    from cnnzoo import __version__
    from cnnzoo.engine.runtime import cpu_has_bf16, physical_cores

    info: dict[str, Any] = {
        "cpu": cpu_name(), "logical_cpus": os.cpu_count(), "physical_cores": physical_cores(),
        "cpu_bf16": cpu_has_bf16(), "torch": torch.__version__, "cnnzoo": __version__,
        "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}",
        "torch_default_threads": TORCH_DEFAULT_THREADS, "git": git_commit(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    try:
        kb = int(next(line for line in Path("/proc/meminfo").read_text().splitlines()
                      if line.startswith("MemTotal")).split()[1])
        info["memory_gib"] = round(kb / 2**20, 1)
    except (OSError, StopIteration, ValueError):
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def command() -> str:
    rel = Path(sys.argv[0]).resolve()
    try:
        rel = rel.relative_to(ROOT)
    except ValueError:
        pass
    return " ".join(["python", str(rel), *sys.argv[1:]])


# --------------------------------------------------------------------------------------------------
# Other processes' load


def _cpu_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as f:
        vals = [int(v) for v in f.readline().split()[1:9]]
    idle = vals[3] + vals[4]  # idle + iowait
    return sum(vals) - idle, sum(vals)


def _own_cpu_s() -> float:
    t = os.times()  # this process and its waited-for children (DataLoader workers, subprocesses)
    return t.user + t.system + t.children_user + t.children_system


class OtherLoad:
    """How much of the machine *other* processes used while we measured: CPU time of all CPUs
    (/proc/stat) minus our own and our children's, over wall time x CPUs. 0 = we had the machine
    to ourselves; 0.5 on two cores = someone else kept one core busy."""

    def __init__(self) -> None:
        self.ok = Path("/proc/stat").is_file()
        self.start()

    def start(self) -> None:
        if self.ok:
            self.busy0, _ = _cpu_jiffies()
        self.own0, self.t0 = _own_cpu_s(), time.perf_counter()

    def fraction(self) -> float | None:
        if not self.ok:
            return None
        busy, _ = _cpu_jiffies()
        wall = time.perf_counter() - self.t0
        other = (busy - self.busy0) / os.sysconf("SC_CLK_TCK") - (_own_cpu_s() - self.own0)
        return max(0.0, other / (wall * (os.cpu_count() or 1))) if wall > 0 else None


def busy_now(seconds: float = 3.0) -> float | None:
    """Share of the CPUs busy over ``seconds`` while we sleep (others' load right now)."""
    m = OtherLoad()
    time.sleep(seconds)
    return m.fraction()


def wait_for_quiet(max_busy: float = 0.10, wait: float = 600) -> float | None:
    """Wait (up to ``wait`` seconds) until other processes use at most ``max_busy`` of the CPUs;
    return the share they used last."""
    deadline = time.monotonic() + wait
    while True:
        busy = busy_now(3.0)
        if busy is None or busy <= max_busy:
            return busy
        if time.monotonic() >= deadline:
            log(f"others still use {busy:.0%} of the CPUs after waiting {wait:.0f}s; measuring anyway")
            return busy
        log(f"others use {busy:.0%} of the CPUs; waiting for a quieter moment")
        time.sleep(10)


# --------------------------------------------------------------------------------------------------
# Timing


class Interleaved(dict):
    """Times per name (``dict[str, list[float]]``), plus ``other[name]``: others' share of the CPUs
    during each of those windows (see :class:`OtherLoad`)."""

    other: dict[str, list[float | None]]


def interleave(runs: dict[str, Callable[[], float]], rounds: int, log: Callable[[str], None] | None = None,
               ) -> Interleaved:
    """Call every ``runs[name]()`` (each returns seconds) ``rounds`` times, alternating the order
    (A B C, C B A, A B C, ...) so that a change of load or clock during the run hits every side
    alike; returns the list of times per name."""
    names = list(runs)
    times = Interleaved({n: [] for n in names})
    times.other = {n: [] for n in names}
    for r in range(rounds):
        for n in (names if r % 2 == 0 else names[::-1]):
            meter = OtherLoad()
            times[n].append(runs[n]())
            times.other[n].append(meter.fraction())
            if log:
                o = times.other[n][-1]
                log(f"  round {r + 1}/{rounds} {n}: {times[n][-1]:.3f}s (others used "
                    f"{'?' if o is None else f'{o:.0%}'} of the CPUs; load average {loadavg()})")
    return times


NOISY = 0.10  # a window during which other processes used more than this share of the CPUs is "noisy"


def robust(values: list[float], others: list[float | None] | None = None, max_busy: float = NOISY
           ) -> dict[str, Any]:
    """Median of ``values`` over the quiet windows (others used at most ``max_busy`` of the CPUs)
    when there are at least two of them, else over all windows; keeps every value and share."""
    others = list(others) if others is not None else [None] * len(values)
    quiet = [v for v, o in zip(values, others, strict=True) if o is not None and o <= max_busy]
    use = quiet if len(quiet) >= 2 else values
    return {"median": median(use), "range": spread(values), "all": values, "others": others,
            "quiet_windows": len(quiet), "median_of": "quiet windows" if use is quiet else "all windows"}


def robust_rates(times: Interleaved, work: dict[str, float] | float) -> dict[str, dict[str, Any]]:
    """Per name, ``robust`` of work / seconds (``work``: images or FLOPs per window, per name or one)."""
    out = {}
    for k, ts in times.items():
        wk = work[k] if isinstance(work, dict) else work
        out[k] = robust([wk / t for t in ts], getattr(times, "other", {}).get(k))
    return out


def others_summary(times: Interleaved) -> dict[str, float] | None:
    """Median and maximum share of the CPUs that other processes used during the windows."""
    vals = [v for vs in getattr(times, "other", {}).values() for v in vs if v is not None]
    if not vals:
        return None
    return {"median": round(median(vals), 3), "max": round(max(vals), 3)}


def median(xs: list[float]) -> float:
    return statistics.median(xs)


def spread(xs: list[float]) -> list[float]:
    """[min, max] of a list (to show how noisy a median is)."""
    return [min(xs), max(xs)]


def matmul_flops(n: int, dtype: torch.dtype, reps: int = 3, device: str = "cpu") -> Callable[[], float]:
    """A run function for :func:`interleave`: ``reps`` n x n x n matmuls; the caller turns seconds
    into FLOP/s with ``2 n^3 reps / t``."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    torch.mm(a, b)  # warm-up: oneDNN/BLAS picks its kernel once

    def run() -> float:
        if device != "cpu":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for _ in range(reps):
            torch.mm(a, b)
        if device != "cpu":
            torch.cuda.synchronize()
        return time.perf_counter() - t0

    return run


def with_threads(threads: int | None, fn: Callable[[], float]) -> Callable[[], float]:
    """Run ``fn`` with ``threads`` intra-op threads (each side of a comparison owns its setting)."""
    def run() -> float:
        if threads and torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return fn()

    return run


# --------------------------------------------------------------------------------------------------
# Result files


def write_result(name: str, data: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def read_result(name: str) -> dict[str, Any] | None:
    path = RESULTS / f"{name}.json"
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)
