"""The training loop: one epoch after another, a validation pass after each, a test at the end.

Reading order: :func:`train` (the entry point) -> :class:`Trainer` -> ``fit`` -> ``_train_epoch``.

What it guarantees:

* **Reproducible.** Data order and augmentation of epoch ``e`` depend only on (seed, e); model
  initialization only on the seed. With ``train.deterministic: true`` on the CPU, a run resumed
  from any checkpoint ends with bit-identical weights to one that never stopped.
* **Interruptible.** Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint, prints the
  resume command and exits with 130; a second Ctrl-C stops at once.
* **Honest numbers.** Validation every epoch on data never trained on (carved from train when the
  dataset has no validation split); the test split is touched once, at the very end.
* **Fast.** No ``.item()`` in the hot loop, bf16 autocast and channels_last where the hardware has
  them, fused/foreach optimizers, data resident on the device (see docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import errno
import math
import os
import shutil
import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .. import __version__
from ..config import Config, dump_config
from ..errors import CheckpointError, ConfigError, OutputError, TrainingError
from ..paths import describe
from ..report.tensorboard import TensorBoardHook
from .checkpoint import ModelSpec, atomic_write, load_state, load_training_state, save_checkpoint, save_weights
from .distributed import DistContext, everywhere, unwrap
from .metrics import EvalResult, RunningStats, append_jsonl, evaluate, write_jsonl
from .optim import LRSchedule, build_optimizer, set_lr
from .progress import Console, fmt_time
from .runtime import Runtime, peak_memory_mb

RUN_FILES = ("config.yaml", "metrics.jsonl", "summary.json", "eval.json", "report.html", "predictions.safetensors")
RUN_DIRS = ("checkpoints", "plots", "tensorboard")

# Auxiliary classifiers (GoogLeNet) contribute to the loss with this weight, as in Szegedy et al. 2015.
AUX_LOSS_WEIGHT = 0.3


@dataclass
class RunResult:
    run_dir: Path | None
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# The run directory


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


def prepare_run_dir(path: Path, *, resume: bool, overwrite: bool) -> Path:
    """Create (or reuse, when resuming) the run directory; refuse to clobber someone's work."""
    if resume:
        if not (path / "config.yaml").is_file() or not (path / "checkpoints").is_dir():
            raise CheckpointError(f"--resume {path}: not a cnnzoo run directory (it needs config.yaml and "
                                  "checkpoints/ written by `cnnzoo train`)")
        return path
    kind = describe(path)
    if kind not in ("is a folder", "does not exist"):  # a file, a symlink loop, a named pipe...
        raise OutputError(f"--out {path} {kind}; choose a folder path")
    if path.is_dir() and any(path.iterdir()):
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


# --------------------------------------------------------------------------------------------------
# Stopping cleanly on Ctrl-C / SIGTERM


class StopFlag:
    """The first SIGINT/SIGTERM asks the loop to stop at the next step boundary; the second one
    interrupts immediately (KeyboardInterrupt)."""

    def __init__(self) -> None:
        self.requested = False
        self._old: dict[int, Any] = {}

    def __enter__(self) -> StopFlag:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc: Any) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


class Interrupted(KeyboardInterrupt):
    """Raised after a checkpoint was saved on request; the CLI exits with 130."""


# --------------------------------------------------------------------------------------------------
# Exponential moving average of the weights


class EMA:
    """Keeps ``ema = decay * ema + (1 - decay) * weights`` after every step, with buffers copied.
    Evaluating the average instead of the last weights smooths out the noise of the final steps."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]
        self.buffers = [b.detach().clone() for b in model.buffers()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        torch._foreach_lerp_(self.params, [p.detach() for p in model.parameters()], 1 - self.decay)
        for e, b in zip(self.buffers, model.buffers()):
            e.copy_(b)

    @torch.no_grad()
    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the model's weights with the averaged ones (call twice to undo)."""
        for e, p in zip(self.params + self.buffers, list(model.parameters()) + list(model.buffers())):
            tmp = p.detach().clone()
            p.copy_(e)
            e.copy_(tmp)

    def tensors(self) -> dict[str, torch.Tensor]:
        out = {f"ema.p.{i}": t for i, t in enumerate(self.params)}
        out.update({f"ema.b.{i}": t for i, t in enumerate(self.buffers)})
        return out

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        for i, t in enumerate(self.params):
            t.copy_(tensors[f"ema.p.{i}"])
        for i, t in enumerate(self.buffers):
            t.copy_(tensors[f"ema.b.{i}"])


# --------------------------------------------------------------------------------------------------


class Trainer:
    def __init__(self, cfg: Config, *, run_dir: Path | None = None, resume: Path | None = None,
                 overwrite: bool = False, console: Console | None = None) -> None:
        self.t_start = time.perf_counter()
        self.cfg = cfg
        self.tb = TensorBoardHook.for_config(cfg)  # a missing TensorBoard fails here, before any work
        self.dist = DistContext.from_env()
        train_cfg = _with_device(cfg.train, self.dist.device_name(cfg.train.device))
        self.rt = Runtime.resolve(train_cfg, self.dist.local_world_size)
        self.dist.init(self.rt.device, sync_bn=cfg.train.sync_bn)
        self.rt.apply(cfg.train.seed)
        self.console = console or Console()
        if not self.dist.is_main:
            self.console = Console(quiet=True, enabled=False)
        self.resume_dir = resume
        self.requested_dir = run_dir
        self.overwrite = overwrite
        self.run_dir: Path | None = None
        if resume is not None:
            prepare_run_dir(resume, resume=True, overwrite=False)  # fail early if it is not a run

    def _make_run_dir(self) -> None:
        """Create the run directory once the data and the model are known to be fine, so that a
        typo in a model name leaves no empty run behind."""
        if not self.dist.is_main:
            return
        cfg = self.cfg
        target = self.resume_dir or self.requested_dir or (
            Path(cfg.output.dir) if cfg.output.dir else default_run_dir(cfg))
        self.run_dir = prepare_run_dir(Path(target), resume=self.resume_dir is not None, overwrite=self.overwrite)

    def _write_config(self) -> None:
        """config.yaml, once every check has passed (a failed resume leaves the run as it was)."""
        if self.run_dir is None:
            return
        header = (f"# cnnzoo {__version__} resolved configuration; reproduce with:\n"
                  f"#   cnnzoo train --config {self.run_dir / 'config.yaml'}")
        saved = dataclasses.replace(self.cfg, output=dataclasses.replace(self.cfg.output, dir=None))
        try:
            dump_config(saved, self.run_dir / "config.yaml", header)
        except OSError as e:
            raise OutputError(f"cannot write {self.run_dir / 'config.yaml'}: {e.strerror or e}") from None

    # ---------------------------------------------------------------------------------------------
    def _load_dataset(self) -> Any:
        """The configured dataset (a method so that `cnnzoo bench` can substitute synthetic data)."""
        from ..data import load_dataset

        cfg = self.cfg
        return load_dataset(cfg.data.dataset, data_dir=cfg.data.data_dir, offline=cfg.data.offline,
                            channels=cfg.data.channels, image_size=cfg.data.image_size,
                            val_fraction=cfg.data.val_fraction, seed=cfg.train.seed)

    def _setup(self) -> None:
        from ..data import Augment, make_loader
        from ..models import profile
        from ..models.registry import create_model, resolve_name

        cfg, rt = self.cfg, self.rt
        self.model_name = resolve_name(cfg.model.name)  # a typo fails before any data is read
        t0 = time.perf_counter()
        self.ds = self._load_dataset()
        self.data_time_s = time.perf_counter() - t0
        ds = self.ds
        native = list(ds.image_size)
        self.input_size = [cfg.data.image_size] * 2 if cfg.data.image_size else native
        num_classes = len(ds.classes)
        torch.manual_seed(cfg.train.seed)  # identical initialization on every rank and every resume
        model = create_model(self.model_name, num_classes=num_classes, in_channels=ds.channels,
                             image_size=self.input_size[0], **cfg.model.kwargs)
        self.params = sum(p.numel() for p in model.parameters())
        self.macs = int(profile(model, (ds.channels, *self.input_size)).macs)
        self.spec = ModelSpec(model=self.model_name, num_classes=num_classes, in_channels=ds.channels,
                              input_size=self.input_size, native_size=native, classes=list(ds.classes),
                              mean=list(ds.mean), std=list(ds.std), dataset=ds.name,
                              model_kwargs=dict(cfg.model.kwargs))
        # Ranks that loaded different data would deadlock later, when their epochs end at different steps.
        sizes = [len(s) if s is not None else 0 for s in (ds.train, ds.val, ds.test)]
        self.dist.check_same({"dataset": ds.name, "images": sizes, "model": self.model_name, "params": self.params},
                             where={"from": ds.source})
        bs = cfg.data.batch_size
        if bs > len(ds.train) // self.dist.world_size:
            raise ConfigError(f"data.batch_size {bs} is larger than the training split of {ds.name} "
                              f"({len(ds.train)} images{' per ' + str(self.dist.world_size) + ' ranks' if self.dist.enabled else ''}); "
                              f"use a batch size of at most {max(1, len(ds.train) // self.dist.world_size)}")
        self._make_run_dir()
        fmt = torch.channels_last if rt.channels_last else torch.contiguous_format
        model = model.to(rt.device, memory_format=fmt)
        self.model = model  # the plain module: checkpoints, evaluation, EMA (fit() wraps it for the loop)

        flip = {"auto": ds.flip, "on": True, "off": False}[cfg.data.augment.flip]
        self.flip_ok = ds.flip
        aug = Augment(crop_padding=cfg.data.augment.crop_padding, flip=flip)
        common = dict(device=rt.device, mean=ds.mean, std=ds.std, image_size=tuple(self.input_size)
                      if self.input_size != native else None, channels_last=rt.channels_last)
        self.train_loader = make_loader(ds.train, batch_size=bs, train=True, seed=cfg.train.seed, augment=aug,
                                        drop_last=True, rank=self.dist.rank, world_size=self.dist.world_size,
                                        num_workers=cfg.data.num_workers, **common)
        self.eval_loader = lambda split: make_loader(split, batch_size=cfg.data.eval_batch_size, train=False,
                                                     seed=cfg.train.seed, augment=None, drop_last=False,
                                                     num_workers=cfg.data.num_workers, **common)
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ConfigError(f"data.batch_size {bs} leaves no full batch in {len(ds.train)} training images")
        self.optimizer = build_optimizer(model, cfg.optim, rt.device)
        self.schedule = LRSchedule.from_config(cfg.schedule, cfg.optim.lr, self.steps_per_epoch, cfg.train.epochs)
        self.scaler = rt.grad_scaler()
        self.ema = EMA(model, cfg.train.ema_decay) if cfg.train.ema_decay else None
        self.total_steps = self.steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)

        # loop state
        self.epoch = 0
        self.batch = 0
        self.step = 0
        self.best_val_acc: float | None = None
        self.best_epoch: int | None = None
        self.history: list[dict[str, Any]] = []
        self.train_time_s = 0.0
        self.stats = RunningStats(rt.device)
        self.epoch_elapsed = 0.0
        if self.resume_dir is not None:
            self._restore()
        self._write_config()

    # ---------------------------------------------------------------------------------------------
    def _restore(self) -> None:
        folder = self.resume_dir / "checkpoints"
        weights, spec, st = load_training_state(folder, "last")
        if spec.model != self.spec.model or spec.num_classes != self.spec.num_classes:
            raise CheckpointError(f"{folder / 'last.safetensors'} was trained as {spec.model} with "
                                  f"{spec.num_classes} classes, but this run builds {self.spec.model} with "
                                  f"{self.spec.num_classes} classes")
        load_state(self.model, {k: v.to(self.rt.device) for k, v in weights.items()}, spec,
                   folder / "last.safetensors")
        try:
            self.optimizer.load_state_dict(st.optimizer)
        except (ValueError, KeyError, RuntimeError) as e:
            raise CheckpointError(f"{folder}: optimizer state does not fit this configuration ({e})") from None
        loop = st.loop
        if loop.get("world_size", 1) != self.dist.world_size:
            n = loop.get("world_size", 1)
            raise CheckpointError(f"{self.resume_dir} was trained on {n} rank{'s' if n != 1 else ''} and this run has "
                                  f"{self.dist.world_size}: the data shards, and the position in the epoch, depend on "
                                  f"the number of ranks; resume with {n} in all (torchrun --nproc_per_node ... "
                                  f"--nnodes ...), or start a new run with --config {self.resume_dir / 'config.yaml'}")
        self.epoch, self.batch, self.step = loop["epoch"], loop["batch"], loop["step"]
        self.best_val_acc, self.best_epoch = loop.get("best_val_acc"), loop.get("best_epoch")
        self.history = loop.get("history", [])
        self.train_time_s = loop.get("train_time_s", 0.0)
        self.epoch_elapsed = loop.get("epoch_elapsed_s", 0.0)
        if "stats" in st.tensors:
            self.stats.load(st.tensors["stats"])
        if self.scaler is not None and loop.get("scaler"):
            self.scaler.load_state_dict(loop["scaler"])
        if self.ema is not None:
            try:
                self.ema.load(st.tensors)
            except KeyError:
                raise CheckpointError(f"{folder}: the run was trained without EMA; cannot resume with "
                                      "train.ema_decay set") from None
        if "rng.cpu" in st.tensors:
            torch.set_rng_state(st.tensors["rng.cpu"])
        if "rng.cuda" in st.tensors and self.rt.device.type == "cuda":
            torch.cuda.set_rng_state(st.tensors["rng.cuda"], self.rt.device)
        if self.run_dir is not None:
            write_jsonl(self.run_dir / "metrics.jsonl", self.history)

    def _save(self, name: str = "last") -> None:
        """Checkpoint the exact position of the loop (rank 0 writes; everyone waits for it)."""
        if self.run_dir is not None:
            loop = {"epoch": self.epoch, "batch": self.batch, "step": self.step,
                    "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch, "history": self.history,
                    "train_time_s": self.train_time_s, "epoch_elapsed_s": self.epoch_elapsed,
                    "scaler": self.scaler.state_dict() if self.scaler is not None else None,
                    "world_size": self.dist.world_size}
            extra = {"rng.cpu": torch.get_rng_state(), "stats": self.stats.state()}
            if self.rt.device.type == "cuda":
                extra["rng.cuda"] = torch.cuda.get_rng_state(self.rt.device)
            if self.ema is not None:
                extra.update(self.ema.tensors())
            save_checkpoint(self.run_dir / "checkpoints", name, model_state=self.model.state_dict(), spec=self.spec,
                            tag=self.step, optimizer_state=self.optimizer.state_dict(), loop=loop,
                            extra_tensors=extra)
        self.dist.barrier()

    # ---------------------------------------------------------------------------------------------
    def fit(self) -> RunResult:
        with self.dist.fail_together():  # an error on one rank (say, no data on its machine) stops every rank
            self._setup()
        cfg, con = self.cfg, self.console
        with self.dist.peer_errors():  # a rank that vanished: one line, not a traceback or a hang
            self.net = self._loop_module()
            con.info(self._banner())
            with StopFlag() as stop:
                self.stop = stop
                while self.epoch < cfg.train.epochs and self.step < self.total_steps:
                    self._train_epoch()
                    self._end_epoch()
            return self._finish()

    def _loop_module(self) -> torch.nn.Module:
        """What the training loop calls: the model, wrapped for DDP under torchrun, compiled if asked
        (also used by `cnnzoo bench`)."""
        net = self.dist.wrap(self.model, self.rt.device, self.cfg.train.sync_bn)
        return torch.compile(net) if self.cfg.train.compile else net

    def _banner(self) -> str:
        ds, rt = self.ds, self.rt
        splits = f"{len(ds.train)} train / {len(ds.val) if ds.val is not None else 0} val / " \
                 f"{len(ds.test) if ds.test is not None else 0} test"
        lines = [f"cnnzoo {__version__}: training {self.model_name} ({self.params / 1e6:.2f}M params, "
                 f"{self.macs / 1e6:.1f}M MACs at {self.ds.channels}x{self.input_size[0]}x{self.input_size[1]}) "
                 f"on {ds.name} ({splits}, from {ds.source})",
                 f"  device {rt.describe()}{', ' + str(self.dist.world_size) + ' ranks' if self.dist.enabled else ''}; "
                 f"{self.cfg.train.epochs} epoch{'s' if self.cfg.train.epochs != 1 else ''} x {self.steps_per_epoch} steps of {self._batch_text()}; "
                 f"data ready in {self.data_time_s:.1f}s",
                 f"  run directory: {self.run_dir}"]
        if self.resume_dir is not None:
            lines.append(f"  resuming at epoch {self.epoch + 1}, step {self.step}")
        return "\n".join(lines)

    def _batch_text(self) -> str:
        bs, n = self.cfg.data.batch_size, self.dist.world_size
        return f"{bs} per rank ({n * bs} in all)" if self.dist.enabled else str(bs)

    def _loss(self, out: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ls = self.cfg.train.label_smoothing
        if isinstance(out, (tuple, list)):  # main logits + auxiliary heads (GoogLeNet)
            main, *aux = out
            loss = F.cross_entropy(main, y, label_smoothing=ls)
            for a in aux:
                loss = loss + AUX_LOSS_WEIGHT * F.cross_entropy(a, y, label_smoothing=ls)
            return loss, main
        return F.cross_entropy(out, y, label_smoothing=ls), out

    def _train_epoch(self) -> None:
        cfg, rt, dist = self.cfg, self.rt, self.dist
        net, opt = self.net, self.optimizer
        net.train()
        loader = self.train_loader
        loader.set_epoch(self.epoch)
        if self.batch == 0:
            self.stats = RunningStats(rt.device)
            self.epoch_elapsed = 0.0
        bar = self.console.bar(self.steps_per_epoch, f"epoch {self.epoch + 1}/{cfg.train.epochs}", self.batch)
        bad_step = torch.full((), -1, dtype=torch.long, device=rt.device)
        check_every = 1 if rt.device.type == "cpu" and not dist.enabled else 32
        clip = cfg.optim.grad_clip
        bs = cfg.data.batch_size
        t0 = time.perf_counter()
        i = self.batch
        try:
            for x, y in loader.iter_from(self.batch):
                set_lr(opt, self.schedule(self.step))
                with rt.autocast():
                    out = net(x)
                    loss, logits = self._loss(out, y)
                opt.zero_grad(set_to_none=True)
                if self.scaler is not None:
                    self.scaler.scale(loss).backward()
                    if clip:
                        self.scaler.unscale_(opt)
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
                    self.scaler.step(opt)
                    self.scaler.update()
                else:
                    loss.backward()
                    if clip:
                        torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip, foreach=True)
                    opt.step()
                if self.ema is not None:
                    self.ema.update(self.model)
                self.stats.add(loss, logits, y)
                finite = torch.isfinite(loss.detach())
                bad_step = torch.where((bad_step < 0) & ~finite, torch.full_like(bad_step, self.step), bad_step)
                self.step += 1
                i += 1
                self.batch = i
                if i % check_every == 0 or i == self.steps_per_epoch:
                    self._check_finite(bad_step)
                    if dist.any(self.stop.requested, rt.device):
                        self.epoch_elapsed += time.perf_counter() - t0
                        self._check_finite(bad_step)
                        self._interrupt()
                if bar.due(i):
                    l, a, _ = self.stats.values()
                    bar.update(i, bs * dist.world_size, {"loss": f"{l:.4f}", "acc": f"{100 * a:.2f}%",
                                                          "lr": f"{self.schedule(self.step):.3g}"})
                if cfg.train.checkpoint_every and self.step % cfg.train.checkpoint_every == 0 \
                        and i < self.steps_per_epoch:
                    self._check_finite(bad_step)
                    self.epoch_elapsed += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    self._save()
                if self.step >= self.total_steps:
                    break
        except torch.cuda.OutOfMemoryError:
            raise TrainingError(f"out of memory on {rt.device} at batch size {bs} and input "
                                f"{self.input_size[0]}x{self.input_size[1]}; try a smaller --batch-size "
                                f"(e.g. {max(1, bs // 2)}) or --image-size") from None
        finally:
            bar.close()
        self._check_finite(bad_step)
        rt.synchronize()
        self.epoch_elapsed += time.perf_counter() - t0

    def _check_finite(self, bad_step: torch.Tensor) -> None:
        step = int(bad_step.item()) if self.dist.world_size == 1 else int(
            self.dist.all_reduce(bad_step.clone(), op=torch.distributed.ReduceOp.MAX).item())
        if step >= 0:
            lr = self.schedule(step)
            raise everywhere(TrainingError(  # every rank stops here, at the same step
                f"the loss became NaN/inf at step {step} (epoch {self.epoch + 1}, learning rate {lr:.3g}); "
                f"the last good checkpoint is kept in {self.run_dir / 'checkpoints' if self.run_dir else 'the run'}. "
                f"Try a lower learning rate (--lr {lr / 10:.3g}), gradient clipping (--set optim.grad_clip=1.0), "
                "or precision fp32"))

    def _interrupt(self) -> None:
        self._save()
        if self.run_dir is not None:
            self.console.always(f"\nstopped at epoch {self.epoch + 1}, step {self.step}; checkpoint saved. "
                                f"Resume with:\n  cnnzoo train --resume {self.run_dir}")
        raise Interrupted

    def _evaluate(self, split: Any) -> EvalResult:
        model = self.model
        if self.ema is not None:
            self.ema.swap(model)
        try:
            return evaluate(model, self.eval_loader(split), len(self.ds.classes), self.rt.autocast,
                            tta_flip=self.cfg.train.tta_flip and self.flip_ok)
        finally:
            if self.ema is not None:
                self.ema.swap(model)

    def _end_epoch(self) -> None:
        cfg = self.cfg
        stats = self.dist.all_reduce(self.stats.sums.clone())
        n = stats[2].item()
        train_loss, train_acc = (stats[0].item() / n, stats[1].item() / n) if n else (math.nan, math.nan)
        t_eval = time.perf_counter()
        val = self._evaluate(self.ds.val) if self.ds.val is not None and self.dist.is_main else None
        eval_s = time.perf_counter() - t_eval
        epoch_time = self.epoch_elapsed + eval_s
        self.train_time_s += epoch_time
        row = {"epoch": self.epoch + 1, "step": self.step,
               "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val.loss if val else None, "val_acc": val.acc if val else None,
               "lr": self.schedule(max(0, self.step - 1)), "epoch_time_s": round(epoch_time, 3),
               "samples_per_s": round(n / self.epoch_elapsed, 1) if self.epoch_elapsed > 0 else None}
        self.history.append(row)
        improved = val is not None and (self.best_val_acc is None or val.acc > self.best_val_acc)
        if improved:
            self.best_val_acc, self.best_epoch = val.acc, self.epoch + 1
        self.epoch += 1
        self.batch = 0
        if self.run_dir is not None:
            append_jsonl(self.run_dir / "metrics.jsonl", row)
            self.tb.log_epoch(self.run_dir, row, self.ds.train)
            # best before last: a crash between the two redoes this epoch, which rewrites best
            if cfg.output.save_best and (improved or val is None):
                self._save_best()
        self._save()
        self.console.info(
            f"epoch {row['epoch']}/{cfg.train.epochs}  train loss {train_loss:.4f} acc {100 * train_acc:.2f}%"
            + (f"  val loss {val.loss:.4f} acc {100 * val.acc:.2f}%" if val else "")
            + f"  lr {row['lr']:.3g}  {fmt_time(epoch_time)}  {row['samples_per_s'] or 0:,.0f} img/s"
            + ("  *" if improved else ""))

    def _save_best(self) -> None:
        if self.ema is not None:
            self.ema.swap(self.model)
        try:
            save_weights(self.run_dir / "checkpoints" / "best.safetensors", self.model.state_dict(), self.spec)
        finally:
            if self.ema is not None:
                self.ema.swap(self.model)

    # ---------------------------------------------------------------------------------------------
    def _finish(self) -> RunResult:
        import json

        summary: dict[str, Any] = {}
        test: EvalResult | None = None
        if self.dist.is_main:
            split = self.ds.test if self.ds.test is not None else self.ds.val
            best = self.run_dir / "checkpoints" / "best.safetensors" if self.run_dir else None
            use_best = self.cfg.train.test_weights == "best" and best is not None and best.is_file() \
                and self.ds.val is not None
            if use_best:
                from .checkpoint import load_weights

                state, _ = load_weights(best)
                if self.ema is not None:  # best holds the averaged weights: evaluate them as they are
                    self.ema.swap(self.model)
                    self.ema = None
                self.model.load_state_dict({k: v.to(self.rt.device) for k, v in state.items()})
            if split is not None:
                test = self._evaluate(split)
            wall = time.perf_counter() - self.t_start
            summary = {
                "model": self.model_name, "dataset": self.ds.name, "params": self.params, "macs": self.macs,
                "input": [self.ds.channels, *self.input_size], "classes": len(self.ds.classes),
                "epochs": self.epoch, "steps": self.step,
                "best_val_acc": self.best_val_acc, "best_epoch": self.best_epoch,
                "test_acc": test.acc if test else None, "test_loss": test.loss if test else None,
                "test_split": "test" if self.ds.test is not None else "val",
                "test_weights": "best" if use_best else "last",
                "train_time_s": round(self.train_time_s, 2), "wall_time_s": round(wall, 2),
                "samples_per_s": round(_mean_rate(self.history), 1),
                "device": self.rt.describe(), "precision": self.rt.precision, "world_size": self.dist.world_size,
                "torch_version": torch.__version__, "cnnzoo_version": __version__, "seed": self.cfg.train.seed,
                "peak_memory_mb": round(peak_memory_mb(self.rt.device), 1),
                "finished_at": datetime.now().isoformat(timespec="seconds"),
            }
            if self.run_dir is not None:
                if test is not None:
                    summary["per_class_acc"] = dict(zip(self.ds.classes, test.per_class_acc()))
                atomic_write(self.run_dir / "summary.json", (json.dumps(summary, indent=2) + "\n").encode())
                if test is not None:
                    _write_test_predictions(self.run_dir, test)
                if self.cfg.output.plots:
                    self._plots(test, split)
                self.tb.close(self.run_dir, summary)
            self._final_table(summary)
        self.dist.barrier()
        self.net = self.model  # let DDP go before the process group it holds (see DistContext.shutdown)
        self.dist.shutdown()
        return RunResult(self.run_dir, summary, self.history)

    def _plots(self, test: EvalResult | None, split: Any) -> None:
        from ..report import plots

        out = self.run_dir / "plots"
        plots.curves(self.history, out / "curves.png", title=f"{self.model_name} on {self.ds.name}")
        if test is not None:
            plots.confusion(test.confusion, self.ds.classes, out / "confusion.png",
                            title=f"{self.model_name} on {self.ds.name} ({'test' if self.ds.test is not None else 'val'})")
            plots.samples(split.images, test.targets, test.preds, test.probs, self.ds.classes, out / "samples.png")

    def _final_table(self, s: dict[str, Any]) -> None:
        def pct(v: float | None) -> str:
            return "-" if v is None else f"{100 * v:.2f}%"

        rows = [("model", s["model"]), ("dataset", s["dataset"]),
                ("params / MACs", f"{s['params'] / 1e6:.2f}M / {s['macs'] / 1e6:.1f}M"),
                ("epochs", s["epochs"]),
                ("best val acc", f"{pct(s['best_val_acc'])} (epoch {s['best_epoch']})" if s["best_epoch"] else "-"),
                (f"{s['test_split']} acc / loss", f"{pct(s['test_acc'])} / {s['test_loss'] or float('nan'):.4f}"),
                ("time", f"{fmt_time(s['wall_time_s'])} wall, {s['samples_per_s']:,.0f} img/s"),
                ("device", s["device"]), ("run", str(self.run_dir))]
        width = max(len(k) for k, _ in rows)
        self.console.always("\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows))


def _mean_rate(history: list[dict[str, Any]]) -> float:
    rates = [r["samples_per_s"] for r in history if r.get("samples_per_s")]
    return sum(rates) / len(rates) if rates else 0.0


def _write_test_predictions(run_dir: Path, test: EvalResult) -> None:
    """Per-image test predictions (for reports: the most confident mistakes), as safetensors."""
    from safetensors.torch import save

    atomic_write(run_dir / "predictions.safetensors",
                 save({"preds": test.preds.contiguous(), "probs": test.probs.float().contiguous(),
                       "targets": test.targets.contiguous(), "confusion": test.confusion.contiguous()}))


def _with_device(train_cfg: Any, device: str) -> Any:
    return dataclasses.replace(train_cfg, device=device)


def train(cfg: Config, *, run_dir: str | Path | None = None, resume: str | Path | None = None,
          overwrite: bool = False, quiet: bool = False) -> RunResult:
    """Train ``cfg`` and return the run's summary (the Python face of ``cnnzoo train``).

    >>> from cnnzoo import load_config, train                    # doctest: +SKIP
    >>> result = train(load_config(model="cnn", sets=["train.epochs=1"]))
    >>> result.summary["test_acc"]
    0.87...
    """
    trainer = Trainer(cfg, run_dir=Path(run_dir) if run_dir else None,
                      resume=Path(resume) if resume else None, overwrite=overwrite,
                      console=Console(quiet=quiet))
    return trainer.fit()
