"""The run directory: where it goes, how it is claimed, and what a resume needs from it.

``cnnzoo train`` writes ``runs/<time>-<model>-<dataset>/`` unless ``--out`` names another folder; it
refuses a non-empty folder unless ``--overwrite``, or unless the folder is a run that was stopped before
its first checkpoint (:func:`unstarted_run`: nothing in it is a result, so the same command starts it
again). ``--resume RUN`` continues in RUN, and ``--resume RUN --out OTHER`` continues in a copy
(:func:`copy_run`), leaving RUN as it was; a run that has finished is left alone
(:func:`recorded_finish`).
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from .. import __version__
from ..config import Config, dump_config
from ..errors import CheckpointError, OutputError
from ..paths import describe
from .checkpoint import load_training_state
from .state import TrainState

RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "eval.json", "report.html", "predictions.safetensors",
             "steps.jsonl", "eval-confusion.png")
RUN_DIRS = ("checkpoints", "plots", "tensorboard")
# What a resumed run continues from (the rest is rewritten at the end of the run).
RESUME_FILES = ("config.yaml", "metrics.jsonl")


def default_run_dir(cfg: Config) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(cfg.output.root) / f"{stamp}-{cfg.model.name}-{_slug(cfg.data.dataset)}"
    path, n = base, 2
    while path.exists():
        path = base.with_name(f"{base.name}-{n}")
        n += 1
    return path


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in Path(text).name or text)


def unstarted_run(path: Path) -> bool:
    """A folder that ``cnnzoo train`` claimed and left before its first checkpoint (Ctrl-C or a crash
    in setup or in the first epoch): only config.yaml, checkpoints/ without a checkpoint, an empty
    plots/ and tensorboard/, and the first epoch's steps.jsonl. Nothing in it is a result, so the same
    command may start over in it."""
    try:
        entries = {p.name: p for p in path.iterdir()}
        ck = entries.get("checkpoints")
        allowed = {"config.yaml", "checkpoints", "plots", "tensorboard", "steps.jsonl"}
        if ck is None or not ck.is_dir() or not set(entries) <= allowed:
            return False
        if any(not p.name.endswith(".tmp") for p in ck.iterdir()):  # a checkpoint: a run to resume
            return False
        plots, config = entries.get("plots"), entries.get("config.yaml")
        if plots is not None and (not plots.is_dir() or any(plots.iterdir())):
            return False
        if config is not None:  # ours (write_config's header), not a user's own file
            if describe(config) != "is a file":
                return False
            with open(config, "rb") as f:
                return f.read(9) == b"# cnnzoo "
        return "tensorboard" not in entries or entries["tensorboard"].is_dir()
    except OSError:
        return False


def refuse_unstarted(path: Path) -> None:
    """``--resume`` of a run stopped before its first checkpoint: say how to start it again."""
    if unstarted_run(path):
        again = (f"`cnnzoo train --config {path / 'config.yaml'} --out {path}`" if (path / "config.yaml").is_file()
                 else f"the command you ran, with --out {path}")
        raise CheckpointError(f"--resume {path}: the run was stopped before its first checkpoint, so there is "
                              f"nothing to resume; start it again with {again} (the folder is reused)")


def check_resumable(path: Path) -> Path:
    refuse_unstarted(path)
    if not (path / "config.yaml").is_file() or not (path / "checkpoints").is_dir():
        raise CheckpointError(f"--resume {path}: not a cnnzoo run directory (it needs config.yaml and "
                              "checkpoints/ written by `cnnzoo train`)")
    ck = path / "checkpoints"
    if not (ck / "last.safetensors").exists() and not (ck / "last.state.safetensors").exists():
        # killed in the first epoch after best.safetensors or metrics.jsonl, before last: no position to resume
        raise CheckpointError(f"--resume {path}: it has no checkpoint to continue from (checkpoints/last.safetensors "
                              f"is missing); start it again with `cnnzoo train --config {path / 'config.yaml'} "
                              f"--out {path} --overwrite`")
    return path


def prepare_run_dir(path: Path, *, resume: bool, overwrite: bool) -> Path:
    """Create (or reuse, when resuming) the run directory; refuse to clobber someone's work."""
    if resume:
        return check_resumable(path)
    kind = describe(path)
    if kind not in ("is a folder", "does not exist"):  # a file, a symlink loop, a named pipe...
        raise OutputError(f"--out {path} {kind}; choose a folder path")
    if path.is_dir() and any(path.iterdir()) and not unstarted_run(path):
        if not overwrite:
            raise OutputError(f"--out {path} already exists and is not empty; use --resume {path} to continue "
                              f"that run, --overwrite to replace it, or another --out")
        for name in RUN_FILES:
            (path / name).unlink(missing_ok=True)
        for name in RUN_DIRS:
            shutil.rmtree(path / name, ignore_errors=True)
    try:
        (path / "checkpoints").mkdir(parents=True, exist_ok=True)
        (path / "plots").mkdir(exist_ok=True)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise OutputError(f"cannot create {path}: the location is read-only ({e.strerror}); "
                              "choose another --out") from None
        raise OutputError(f"cannot create {path}: {e.strerror or e}") from None
    if not os.access(path, os.W_OK):
        raise OutputError(f"cannot write to {path}: the folder is read-only; choose another --out")
    return path


def same_dir(a: Path, b: Path) -> bool:
    return Path(a).resolve() == Path(b).resolve()


def copy_run(source: Path, dest: Path, *, overwrite: bool) -> Path:
    """Claim ``dest`` under the rules of ``--out`` and copy into it what resuming ``source`` needs
    (config.yaml, metrics.jsonl, checkpoints/); ``source`` is only read."""
    check_resumable(source)
    if same_dir(source, dest) or Path(dest).resolve().is_relative_to(Path(source).resolve()):
        raise OutputError(f"--out {dest} is inside --resume {source}; choose a folder outside the run")
    prepare_run_dir(dest, resume=False, overwrite=overwrite)
    try:
        for name in RESUME_FILES:
            if (source / name).is_file():
                shutil.copy2(source / name, dest / name)
        shutil.copytree(source / "checkpoints", dest / "checkpoints", dirs_exist_ok=True)
    except OSError as e:
        raise OutputError(f"cannot copy {source} into {dest}: {e.strerror or e}") from None
    return dest


def claim_run_dir(cfg: Config, requested: Path | None, *, resume: Path | None, overwrite: bool,
                  say: Callable[[str], None]) -> Path:
    """The run directory of a run about to start: ``requested``, else ``output.dir``, else
    :func:`default_run_dir`; when resuming, the run itself or, when another folder is requested,
    a copy of it. Called once the data and the model are known to be fine, so that a typo in a
    model name leaves no empty run behind."""
    if resume is not None and (requested is None or same_dir(requested, resume)):
        return prepare_run_dir(resume, resume=True, overwrite=False)
    if resume is not None and requested is not None:
        dest = copy_run(resume, Path(requested), overwrite=overwrite)
        say(f"continuing {resume} in a copy, {dest} ({resume} is left as it was)")
        return dest
    target = Path(requested or (Path(cfg.output.dir) if cfg.output.dir else default_run_dir(cfg)))
    if target.is_dir() and unstarted_run(target):
        say(f"starting over in {target}: it was stopped before its first checkpoint")
    return prepare_run_dir(target, resume=False, overwrite=overwrite)


def recorded_finish(run: Path, cfg: Config) -> tuple[TrainState, dict[str, Any]] | None:
    """(loop state, summary.json) of a run with nothing left to do under ``cfg``: its loop reached the
    end that ``cfg`` asks for, and summary.json records that very step. None for a run to continue,
    or one whose results are not recorded yet (finishing it writes them)."""
    folder = run / "checkpoints"
    _, _, saved = load_training_state(folder, repair=False)  # a damaged checkpoint is an error, finished or not
    state = TrainState.from_dict(saved.loop, folder / "last.state.safetensors")
    t = cfg.train
    if state.epoch < t.epochs and not (t.max_steps and state.step >= t.max_steps) and not state.stopped_early:
        return None
    path = run / "summary.json"
    if describe(path) != "is a file":
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None  # damaged: finishing the run writes it again
    if not isinstance(summary, dict) or summary.get("epochs") != state.epoch \
            or summary.get("steps", state.step) != state.step:
        return None
    return state, summary


def write_config(run_dir: Path, cfg: Config) -> None:
    """config.yaml, once every check has passed (a failed resume leaves the run as it was)."""
    header = (f"# cnnzoo {__version__} resolved configuration; reproduce with:\n"
              f"#   cnnzoo train --config {run_dir / 'config.yaml'}")
    saved = dataclasses.replace(cfg, output=dataclasses.replace(cfg.output, dir=None))
    try:
        dump_config(saved, run_dir / "config.yaml", header)
    except OSError as e:
        raise OutputError(f"cannot write {run_dir / 'config.yaml'}: {e.strerror or e}") from None
