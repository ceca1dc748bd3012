"""The training loop: one epoch after another, a validation pass after each, a test at the end.

Reading order: :meth:`Trainer.fit` -> ``_train_epoch`` -> :meth:`Trainer.train_step`, then
``_end_epoch`` and ``_finish``. :meth:`Trainer.setup` builds the data, model, optimizer and
schedule; the checkpointed loop state is one :class:`~cnnzoo.engine.state.TrainState`. Everything
else hooks in as a :class:`~cnnzoo.engine.callbacks.Callback` (the run directory's plots, TensorBoard,
predictions and summary.json are callbacks of :mod:`cnnzoo.report.callbacks`, wired in by
:func:`cnnzoo.train`).

What it guarantees:

* **Reproducible.** Data order and augmentation of epoch ``e`` depend only on (seed, e); model
  initialization only on the seed. With ``train.deterministic: true`` on the CPU, a run resumed
  from any checkpoint ends with bit-identical weights to one that never stopped.
* **Interruptible.** Ctrl-C (or SIGTERM) finishes the current step, saves a checkpoint, prints the
  resume command and exits with 130; a second Ctrl-C stops at once.
* **Honest numbers.** Validation every epoch on data never trained on (carved from train when the
  dataset has no validation split); the test split is touched once, at the very end.
* **Watched.** Every ``log_every`` steps (about 50 times an epoch, where the loop reads the device
  anyway) the epoch's running loss is checked: a loss far above chance level (see :func:`diverging`)
  prints a warning with advice once, kept in the summary's ``warnings``. The same points are where
  :class:`~cnnzoo.report.callbacks.WriteSteps` records the loss within epochs (``steps.jsonl``).
* **Fast.** No ``.item()`` in the hot loop, bf16 autocast and channels_last where the hardware has
  them, fused/foreach optimizers, data resident on the device (see docs/benchmarks.md).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from ..config import Config
from ..errors import CheckpointError, ConfigError, TrainingError
from . import describe
from .callbacks import Callback, EarlyStopping
from .checkpoint import (
    ModelSpec,
    check_optimizer_fits,
    load_state,
    load_training_state,
    load_weights,
    save_checkpoint,
    save_weights,
)
from .distributed import DistContext, everywhere, rank_share
from .ema import EMA, averaged
from .metrics import EvalResult, RunningStats, append_jsonl, evaluate, write_jsonl
from .optim import LRSchedule, build_optimizer, match_param_layouts, set_lr
from .progress import Console, fmt_time
from .rundir import claim_run_dir, prepare_run_dir, recorded_finish, write_config
from .runtime import Runtime
from .state import TrainState, check_loop_tensors
from .stop import Interrupted, StopFlag

__all__ = ["Interrupted", "RunResult", "Trainer", "diverging"]

# The running loss is read about this many times an epoch (steps.jsonl gets as many points).
STEP_POINTS_PER_EPOCH = 50


# The running loss is judged only after this many steps of an epoch: the first steps of a run
# without warm-up spike (a loss of 19 at step 2 with 10 classes, then normal training).
DIVERGENCE_AFTER_STEPS = 20


def diverging(loss: float, num_classes: int) -> bool:
    """A loss far above chance level: guessing uniformly scores ``ln(C)`` (2.30 for 10 classes); a
    network that is learning stays near or below it, while one that diverged reaches hundreds to
    millions. The margin (``max(10, 4 ln C)``: 10 for 2 to 12 classes, 27.6 for 1,000) leaves room
    for healthy spikes and for an overfitted network's confident mistakes on validation. A loss
    that is not finite is the NaN check's (an error), not this warning's."""
    return math.isfinite(loss) and loss > max(10.0, 4 * math.log(max(2, num_classes)))


@dataclass
class RunResult:
    run_dir: Path | None
    summary: dict[str, Any]
    history: list[dict[str, Any]] = field(default_factory=list)
    test: EvalResult | None = None  # the final evaluation (None without a test or validation split)
    test_split: Any = None  # the split it evaluated (an ImageSplit: len, labels, image(i))


class Trainer:
    """``Trainer(cfg).fit()`` trains ``cfg`` into a run directory and returns a :class:`RunResult`.

    ``run_dir``: where (default ``output.dir``, else ``runs/<time>-<model>-<dataset>``); ``resume``: a
    run directory to continue (with ``run_dir`` too: continue in a copy); ``callbacks``:
    :class:`~cnnzoo.engine.callbacks.Callback` objects, called in order at each hook. The engine alone
    writes config.yaml, metrics.jsonl and checkpoints/; :func:`cnnzoo.train` adds the report files.
    ``output=False`` writes nothing (no run directory, no checkpoints): ``cnnzoo bench`` drives such
    a trainer with :meth:`setup` and :meth:`run_steps`.
    """

    # built by setup()
    ds: Any  # the Dataset
    model: torch.nn.Module  # the plain module: checkpoints, evaluation, EMA
    net: torch.nn.Module  # what the loop calls: the model, wrapped for DDP, compiled if asked
    optimizer: torch.optim.Optimizer
    schedule: LRSchedule
    scaler: torch.amp.GradScaler
    ema: EMA | None
    stats: RunningStats  # running sums of the current epoch, on the device
    steps_per_epoch: int  # global batches per epoch, the same on any number of ranks
    rank_batch_size: int  # this rank's share of data.batch_size
    total_steps: int
    _bad_step: torch.Tensor  # the first step whose loss was not finite, or -1
    check_every: int  # how often the loop reads the device (NaN check, Ctrl-C agreement)
    log_every: int  # how often the running loss is checked (and steps.jsonl written): whole checks

    def __init__(self, cfg: Config, *, run_dir: Path | None = None, resume: Path | None = None,
                 overwrite: bool = False, console: Console | None = None,
                 callbacks: Sequence[Callback] = (), output: bool = True) -> None:
        self.t_start = time.perf_counter()
        self.cfg = cfg
        self.callbacks = list(callbacks)
        es = cfg.train.early_stopping
        if es.patience:
            self.callbacks.append(EarlyStopping(es.patience, es.monitor, es.min_delta))
        self.dist = DistContext.from_env()
        train_cfg = dataclasses.replace(cfg.train, device=self.dist.device_name(cfg.train.device))
        self.rt = Runtime.resolve(train_cfg, self.dist.local_world_size)
        self.dist.init(self.rt.device, sync_bn=cfg.train.sync_bn)
        self.rt.apply(cfg.train.seed)
        self.console = console or Console()
        if not self.dist.is_main:
            self.console = Console(quiet=True, enabled=False)
        self.resume_dir, self.requested_dir = resume, run_dir
        self.overwrite, self.output = overwrite, output
        self.run_dir: Path | None = None
        self.state = TrainState(world_size=self.dist.world_size)
        self.stop = StopFlag()  # Ctrl-C; its handlers are installed while fit() runs
        self.should_stop = False  # a callback sets it to end training after the current epoch
        self.warnings: list[str] = []  # said once each, during the run, and kept in summary.json
        self.ready = False  # setup() has run
        self.resume_note: str | None = None  # what resuming changed about the schedule (the banner says it)
        self.finished: tuple[TrainState, dict[str, Any]] | None = None  # a resumed run with nothing to do
        if resume is not None:
            prepare_run_dir(resume, resume=True, overwrite=False)  # fail early if it is not a run
            self.finished = recorded_finish(resume, cfg)

    # the loop position, for reading (the state is the one place it is kept)
    epoch = property(lambda self: self.state.epoch)
    batch = property(lambda self: self.state.batch)
    step = property(lambda self: self.state.step)

    # ---------------------------------------------------------------------------------------------
    def fit(self) -> RunResult:
        if self.finished is not None:
            return self._already_finished()
        if not self.ready:
            self.setup()
        st, epochs = self.state, self.cfg.train.epochs
        with self.dist.peer_errors():  # a rank that vanished: one line, not a traceback or a hang
            self.console.info(describe.banner(self))
            self._call("on_fit_start")
            with self.stop:
                while st.epoch < epochs and st.step < self.total_steps and not st.stopped_early:
                    self._call("on_train_epoch_start")
                    self._train_epoch()
                    self._end_epoch()
                    if self.dist.any(self.should_stop, self.rt.device):  # every rank stops together
                        break
            return self._finish()

    def _already_finished(self) -> RunResult:
        """A resumed run that has finished: say so and touch nothing (its results stay as recorded)."""
        assert self.finished is not None and self.resume_dir is not None
        (st, summary), run, t = self.finished, self.resume_dir, self.cfg.train
        lr = st.history[-1].get("lr") if st.history else None
        if t.max_steps and st.step >= t.max_steps and st.epoch < t.epochs:
            how = f"it stopped at train.max_steps={t.max_steps}, which --resume cannot change"
        else:
            how = (f"to train it longer: cnnzoo train --resume {run} --epochs N  (N > {st.epoch}; the added epochs "
                   f"continue at its final learning rate{f' {lr:.3g}' if lr is not None else ''}, see "
                   "docs/configuration.md)")
        self.console.always(f"{run} has already finished ({st.epoch} epoch{'s' if st.epoch != 1 else ''}, "
                            f"{st.step} steps): nothing to do, nothing changed; its results are in "
                            f"{run / 'summary.json'}\n{how}")
        self.dist.shutdown()
        return RunResult(run, summary, st.history)

    def run_steps(self, n: int) -> None:
        """``n`` training steps from where the loop stands, rolling over epoch ends without
        validation or checkpoints (``cnnzoo bench``; an lr finder). Ends with a device sync."""
        st = self.state
        while n > 0:
            if st.batch >= self.steps_per_epoch:
                st.epoch, st.batch = st.epoch + 1, 0
            k = min(n, self.steps_per_epoch - st.batch)
            self._train_epoch(until=st.step + k)
            n -= k

    def _train_epoch(self, until: int | None = None) -> None:
        """Batches ``state.batch..`` of epoch ``state.epoch``, up to step ``until`` (default: the end)."""
        cfg, rt, st = self.cfg, self.rt, self.state
        until = self.total_steps if until is None else until
        self.net.train()
        self.train_loader.set_epoch(st.epoch)
        if st.batch == 0:
            self.stats = RunningStats(rt.device)
            st.epoch_elapsed_s = 0.0
        bar = self.console.bar(self.steps_per_epoch, f"epoch {st.epoch + 1}/{cfg.train.epochs}", st.batch)
        check_every = self.check_every
        t0 = time.perf_counter()
        try:
            for x, y in self.train_loader.iter_from(st.batch):
                loss = self.train_step(x, y)
                st.batch += 1
                self._call("on_train_batch_end", loss)
                if st.batch % check_every == 0 or st.batch == self.steps_per_epoch:
                    self._check_finite()
                    if st.step % self.log_every == 0 and st.batch >= min(DIVERGENCE_AFTER_STEPS,
                                                                         self.steps_per_epoch):
                        self._check_divergence("training", self.stats.values()[0], st.step)
                    if self.dist.any(self.stop.requested, rt.device):
                        st.epoch_elapsed_s += time.perf_counter() - t0
                        self._interrupt()
                if bar.due(st.batch):
                    loss_v, acc, _ = self.stats.values()
                    shown = {"loss": f"{loss_v:.4f}", "acc": f"{100 * acc:.2f}%", "lr": f"{self.schedule(st.step):.3g}"}
                    bar.update(st.batch, cfg.data.batch_size, shown)
                if cfg.train.checkpoint_every and st.step % cfg.train.checkpoint_every == 0 \
                        and st.batch < self.steps_per_epoch:
                    self._check_finite()
                    st.epoch_elapsed_s += time.perf_counter() - t0
                    t0 = time.perf_counter()
                    self._save()
                if st.step >= until:
                    break
        except torch.cuda.OutOfMemoryError:
            bs, ws, (h, w) = cfg.data.batch_size, self.dist.world_size, self.input_size
            per_rank = f" ({self.rank_batch_size} per rank)" if self.dist.enabled else ""
            smaller = max(ws, bs // 2 // ws * ws)  # half, still shared evenly by the ranks
            raise TrainingError(f"out of memory on {rt.device} at batch size {bs}{per_rank} and input {h}x{w}; "
                                f"try a smaller --batch-size (e.g. {smaller}) or --image-size") from None
        finally:
            bar.close()
        self._check_finite()
        rt.synchronize()
        st.epoch_elapsed_s += time.perf_counter() - t0

    def train_step(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """One optimizer step on ``(x, y)``; returns the loss (on the device, not synchronized).

        One code path for every precision: the GradScaler is a no-op unless precision is fp16.
        """
        opt, scaler, clip = self.optimizer, self.scaler, self.cfg.optim.grad_clip
        set_lr(opt, self.schedule(self.state.step))
        with self.rt.autocast():
            loss, logits = self._loss(self.net(x), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        if clip:
            scaler.unscale_(opt)
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip, foreach=True)
        scaler.step(opt)
        scaler.update()
        if self.ema is not None:
            self.ema.update(self.model)
        self.stats.add(loss, logits, y)
        # remember the first non-finite step on the device; read at the next check, not every step
        bad = (self._bad_step < 0) & ~torch.isfinite(loss.detach())
        self._bad_step = torch.where(bad, torch.full_like(self._bad_step, self.state.step), self._bad_step)
        self.state.step += 1
        return loss

    def _loss(self, out: Any, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits). A model that defines ``training_loss(out, y, criterion)`` computes its own
        (GoogLeNet adds its auxiliary heads'); the criterion is label-smoothed cross-entropy, with
        class weights under ``data.balance: weights``. A mixup/CutMix batch's ``y`` is a
        :class:`~cnnzoo.data.augment.MixedTarget` ``(a, b, lam)``: the loss is the mean over images
        of ``lam * CE(a) + (1 - lam) * CE(b)``."""
        ls, weight = self.cfg.train.label_smoothing, self.class_weights

        def criterion(logits: torch.Tensor, target: Any) -> torch.Tensor:
            if hasattr(target, "lam"):  # a MixedTarget
                def ce(t: torch.Tensor) -> torch.Tensor:
                    return F.cross_entropy(logits, t, weight=weight, label_smoothing=ls, reduction="none")

                return (target.lam * ce(target.a) + (1 - target.lam) * ce(target.b)).mean()
            return F.cross_entropy(logits, target, weight=weight, label_smoothing=ls)

        model_loss = getattr(self.model, "training_loss", None)
        if model_loss is not None:
            return model_loss(out, y, criterion)
        return criterion(out, y), out

    def _check_finite(self) -> None:
        bad = self._bad_step if self.dist.world_size == 1 else self.dist.all_reduce(
            self._bad_step.clone(), op=torch.distributed.ReduceOp.MAX)
        step = int(bad.item())
        if step >= 0:
            lr = self.schedule(step)
            raise everywhere(TrainingError(  # every rank stops here, at the same step
                f"the loss became NaN/inf at step {step} (epoch {self.state.epoch + 1}, learning rate {lr:.3g}); "
                f"the last good checkpoint is kept in {self.run_dir / 'checkpoints' if self.run_dir else 'the run'}. "
                f"Try a lower learning rate (--lr {lr / 10:.3g}), gradient clipping (--set optim.grad_clip=1.0), "
                "or precision fp32"))

    def _check_divergence(self, what: str, loss: float, step: int) -> None:
        """Warn (once) when a loss is far above chance level: the run trains on, but says so."""
        c = len(self.ds.classes)
        if any(w.startswith("diverging") for w in self.warnings) or not diverging(loss, c):
            return
        lr = self.schedule(max(0, step - 1))
        msg = (f"diverging: the {what} loss is {loss:,.4g} at step {step} (epoch {self.state.epoch + 1}, "
               f"learning rate {lr:.3g}), far above chance level (ln {c} = {math.log(c):.2f}, the loss of "
               f"guessing); the network is not learning. Lower the learning rate (--lr {self.cfg.optim.lr / 10:.3g}),"
               " or add gradient clipping (--set optim.grad_clip=1.0)")
        self.warnings.append(msg)
        self.console.warn(msg)

    def _interrupt(self) -> None:
        self._save()
        if self.run_dir is not None:
            self.console.always(f"\nstopped at epoch {self.state.epoch + 1}, step {self.state.step}; checkpoint "
                                f"saved. Resume with:\n  cnnzoo train --resume {self.run_dir}")
        raise Interrupted

    def _end_epoch(self) -> None:
        cfg, st = self.cfg, self.state
        sums = self.dist.all_reduce(self.stats.sums.clone())
        n = sums[2].item()
        train_loss, train_acc = (sums[0].item() / n, sums[1].item() / n) if n else (math.nan, math.nan)
        t_eval = time.perf_counter()
        val = self._evaluate(self.ds.val) if self.ds.val is not None and self.dist.is_main else None
        epoch_time = st.epoch_elapsed_s + time.perf_counter() - t_eval
        self._call("on_validation_end", val)
        self._check_divergence("training", train_loss, st.step)
        if val is not None:
            self._check_divergence("validation", val.loss, st.step)
        st.train_time_s += epoch_time
        row = {"epoch": st.epoch + 1, "step": st.step, "train_loss": train_loss, "train_acc": train_acc,
               "val_loss": val.loss if val else None, "val_acc": val.acc if val else None,
               "lr": self.schedule(max(0, st.step - 1)), "epoch_time_s": round(epoch_time, 3),
               "samples_per_s": round(n / st.epoch_elapsed_s, 1) if st.epoch_elapsed_s > 0 else None}
        st.history.append(row)
        improved = val is not None and (st.best_val_acc is None or val.acc > st.best_val_acc)
        if improved and val is not None:
            st.best_val_acc, st.best_epoch = val.acc, st.epoch + 1
        st.epoch, st.batch = st.epoch + 1, 0
        if self.run_dir is not None:
            append_jsonl(self.run_dir / "metrics.jsonl", row)
        self._call("on_train_epoch_end", row)
        # best before last: a crash between the two redoes this epoch, which rewrites best
        if self.run_dir is not None and cfg.output.save_best and (improved or val is None):
            with averaged(self.ema, self.model):
                save_weights(self.run_dir / "checkpoints" / "best.safetensors", self.model.state_dict(), self.spec)
        self._save()
        self.console.info(
            f"epoch {row['epoch']}/{cfg.train.epochs}  train loss {train_loss:.4f} acc {100 * train_acc:.2f}%"
            + (f"  val loss {val.loss:.4f} acc {100 * val.acc:.2f}%" if val else "")
            + f"  lr {row['lr']:.3g}  {fmt_time(epoch_time)}  {row['samples_per_s'] or 0:,.0f} img/s"
            + ("  *" if improved else ""))

    def _evaluate(self, split: Any) -> EvalResult:
        with averaged(self.ema, self.model):
            return evaluate(self.model, self.eval_loader(split).indexed(), len(self.ds.classes), self.rt.autocast,
                            tta_flip=self.cfg.train.tta_flip and self.ds.flip)

    def _finish(self) -> RunResult:
        test, split, used_best, summary = None, None, False, {}
        if self.dist.is_main:
            split = self.ds.test if self.ds.test is not None else self.ds.val
            best = self.run_dir / "checkpoints" / "best.safetensors" if self.run_dir else None
            used_best = self.cfg.train.test_weights == "best" and best is not None and best.is_file() \
                and self.ds.val is not None
            if used_best and best is not None:
                state, _ = load_weights(best)
                if self.ema is not None:  # best holds the averaged weights: evaluate them as they are
                    self.ema.swap(self.model)
                    self.ema = None
                self.model.load_state_dict({k: v.to(self.rt.device) for k, v in state.items()})
            if split is not None:
                test = self._evaluate(split)
            summary = describe.summary(self, test, used_best, time.perf_counter() - self.t_start)
        result = RunResult(self.run_dir, summary, self.state.history, test, split)
        self._call("on_fit_end", result)
        if self.dist.is_main:
            self.console.always(describe.final_table(summary, self.run_dir))
        self.dist.barrier()
        self.net = self.model  # let DDP go before the process group it holds (see DistContext.shutdown)
        self.dist.shutdown()
        return result

    def _call(self, hook: str, *args: Any) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(self, *args)

    # ---------------------------------------------------------------------------------------------
    def setup(self, dataset: Any = None) -> None:
        """Data, model, optimizer, schedule, run directory, resume. ``dataset``: a loaded
        :class:`~cnnzoo.data.Dataset` to train on instead of ``cfg.data``'s (``cnnzoo bench``)."""
        with self.dist.fail_together():  # an error on one rank (say, no data on its machine) stops every rank
            self._build(dataset)
        with self.dist.peer_errors():
            net = self.dist.wrap(self.model, self.rt.device, self.cfg.train.sync_bn)  # DDP under torchrun
            self.net = torch.compile(net) if self.cfg.train.compile else net  # type: ignore[assignment]
        self.ready = True

    def _build(self, dataset: Any) -> None:
        from ..data import Augment, load_dataset, make_loader
        from ..models import profile
        from ..models.registry import create_model, display_name, resolve_name

        cfg, rt, d = self.cfg, self.rt, self.cfg.data
        self.model_name = resolve_name(cfg.model.name)  # a typo fails before any data is read
        # What it is shown as: resnet18 (width_mult=0.25) is not resnet18.
        self.model_label = display_name(self.model_name, cfg.model.kwargs)
        # pretrained weights (read, never run, before any data) bring their channels, size and statistics
        pre = _pretrained(self.model_name, cfg)
        channels = d.channels or (pre.channels if pre else None)
        image_size = d.image_size or (pre.image_size if pre else None)
        t0 = time.perf_counter()
        self.ds = ds = dataset if dataset is not None else load_dataset(
            d.dataset, data_dir=d.data_dir, offline=d.offline, channels=channels, image_size=image_size,
            val_fraction=d.val_fraction, seed=cfg.train.seed)
        self.data_time_s = time.perf_counter() - t0
        if cfg.train.early_stopping.patience and ds.val is None:  # before a run directory is claimed
            raise ConfigError("train.early_stopping needs a validation split; set data.val_fraction above 0 "
                              "or train.early_stopping.patience to 0")
        native = list(ds.image_size)
        self.input_size = [image_size] * 2 if image_size else native
        torch.manual_seed(cfg.train.seed)  # identical initialization on every rank and every resume
        mean, std, model_kwargs = list(ds.mean), list(ds.std), dict(cfg.model.kwargs)
        if pre is None:
            model = create_model(self.model_name, num_classes=len(ds.classes), in_channels=ds.channels,
                                 image_size=self.input_size[0], **cfg.model.kwargs)
        else:
            model, info = pre.build(len(ds.classes), ds.channels, self.input_size[0], **cfg.model.kwargs)
            self.console.info(f"pretrained: {info.summary()}")
            (mean, std), model_kwargs = pre.mean_std(ds.channels), {**pre.model_kwargs, **cfg.model.kwargs}
            if cfg.train.freeze_epochs:
                from .finetune import FreezeBackbone

                self.callbacks.insert(0, FreezeBackbone(cfg.train.freeze_epochs))
        self.params = sum(p.numel() for p in model.parameters())
        self.macs = int(profile(model, (ds.channels, *self.input_size)).macs)
        self.spec = ModelSpec(model=self.model_name, num_classes=len(ds.classes), in_channels=ds.channels,
                              input_size=self.input_size, native_size=native, classes=list(ds.classes),
                              mean=mean, std=std, dataset=ds.name, model_kwargs=model_kwargs)
        # Ranks that loaded different data would deadlock later, when their epochs end at different steps.
        sizes = [len(s) if s is not None else 0 for s in (ds.train, ds.val, ds.test)]
        self.dist.check_same({"dataset": ds.name, "images": sizes, "model": self.model_name, "params": self.params},
                             where={"from": ds.source})
        bs, ws = d.batch_size, self.dist.world_size
        self.rank_batch_size = rank_share(bs, ws)  # the global batch, cut evenly among the ranks
        if bs > len(ds.train):
            raise ConfigError(f"data.batch_size {bs} is larger than the training split of {ds.name} "
                              f"({len(ds.train)} images); use a batch size of at most {len(ds.train)}")
        fmt = torch.channels_last if rt.channels_last else torch.contiguous_format
        self.model = model.to(rt.device, memory_format=fmt)  # type: ignore[call-overload]

        flip = {"auto": ds.flip, "on": True, "off": False}[d.augment.flip]
        aug = Augment.from_config(d.augment, flip)
        labels = ds.train.labels
        self.class_counts = torch.bincount(labels, minlength=len(ds.classes))
        self.class_weights: torch.Tensor | None = None
        sample_weights = None
        if d.balance == "weights":  # n / (classes x count): sklearn's "balanced"
            w = len(labels) / (len(ds.classes) * self.class_counts.clamp(min=1).double())
            self.class_weights = w.float().to(rt.device)
        elif d.balance == "sampler":  # each class drawn equally often, in expectation
            sample_weights = (1.0 / self.class_counts.clamp(min=1).double())[labels]
        common = dict(device=rt.device, mean=mean, std=std, channels_last=rt.channels_last,
                      image_size=tuple(self.input_size) if self.input_size != native else None)
        self.train_loader = make_loader(ds.train, batch_size=self.rank_batch_size, train=True, seed=cfg.train.seed,
                                        augment=aug, drop_last=True, rank=self.dist.rank, world_size=ws,
                                        num_workers=d.num_workers, sample_weights=sample_weights, **common)
        self.eval_loader = lambda split: make_loader(split, batch_size=d.eval_batch_size, train=False,
                                                     seed=cfg.train.seed, augment=None, drop_last=False,
                                                     num_workers=d.num_workers, **common)
        self.steps_per_epoch = len(self.train_loader)
        if self.steps_per_epoch == 0:
            raise ConfigError(f"data.batch_size {bs} leaves no full batch in {len(ds.train)} training images")
        from .finetune import is_head

        self.optimizer = build_optimizer(self.model, cfg.optim, rt.device, head=is_head if pre else None)
        self.schedule = LRSchedule.from_config(cfg.schedule, cfg.optim.lr, self.steps_per_epoch, cfg.train.epochs)
        # fp16 needs loss scaling; with enabled=False every GradScaler call is a no-op (bf16, fp32)
        self.scaler = torch.amp.GradScaler(rt.device.type, enabled=rt.precision == "fp16")
        self.ema = EMA(self.model, cfg.train.ema_decay) if cfg.train.ema_decay else None
        self.total_steps = self.steps_per_epoch * cfg.train.epochs
        if cfg.train.max_steps:
            self.total_steps = min(self.total_steps, cfg.train.max_steps)
        self.stats = RunningStats(rt.device)
        self._bad_step = torch.full((), -1, dtype=torch.long, device=rt.device)
        # how often the loop reads the device (NaN check, Ctrl-C agreement): every step on one CPU
        self.check_every = 1 if rt.device.type == "cpu" and not self.dist.enabled else 32
        # about STEP_POINTS_PER_EPOCH loss readings per epoch, each at a check (where the device was read)
        checks = max(1, round(self.steps_per_epoch / STEP_POINTS_PER_EPOCH / self.check_every))
        self.log_every = checks * self.check_every
        self.state.schedule_epochs = cfg.train.epochs
        if self.resume_dir is not None:
            self._restore()  # checks everything it reads before it changes anything
        if self.dist.is_main and self.output:  # claimed now that data, model and checkpoint are known to be fine
            self.run_dir = claim_run_dir(cfg, self.requested_dir, resume=self.resume_dir, overwrite=self.overwrite,
                                         say=self.console.info)
            if self.resume_dir is not None:
                write_jsonl(self.run_dir / "metrics.jsonl", self.state.history)
            write_config(self.run_dir, cfg)

    # ---------------------------------------------------------------------------------------------
    def _save(self, name: str = "last") -> None:
        """Checkpoint the exact position of the loop (rank 0 writes; everyone waits for it)."""
        if self.run_dir is not None:
            self.state.scaler = self.scaler.state_dict() or None
            save_checkpoint(self.run_dir / "checkpoints", name, model_state=self.model.state_dict(), spec=self.spec,
                            tag=self.state.step, optimizer_state=self.optimizer.state_dict(),
                            loop=self.state.to_dict(), extra_tensors=self._loop_tensors())
        self.dist.barrier()

    def _loop_tensors(self) -> dict[str, torch.Tensor]:
        """The loop's tensors besides weights and optimizer: RNG streams, running sums, EMA."""
        out = {"rng.cpu": torch.get_rng_state(), "stats": self.stats.state()}
        if self.rt.device.type == "cuda":
            out["rng.cuda"] = torch.cuda.get_rng_state(self.rt.device)
        if self.ema is not None:
            out.update(self.ema.tensors())
        return out

    def _restore(self) -> None:
        """Load the run's last checkpoint into the model, optimizer and loop. Every part is checked
        before the first is applied, and nothing is written: a damaged file is a CheckpointError
        naming it (and the field), and the run directory stays as it was."""
        run = self.resume_dir
        assert run is not None
        folder = run / "checkpoints"
        weights, spec, saved = load_training_state(folder, "last", repair=False)
        state_file = folder / "last.state.safetensors"
        if spec.model != self.spec.model or spec.num_classes != self.spec.num_classes:
            raise CheckpointError(f"{folder / 'last.safetensors'} was trained as {spec.model} with "
                                  f"{spec.num_classes} classes, but this run builds {self.spec.model} with "
                                  f"{self.spec.num_classes} classes")
        state = TrainState.from_dict(saved.loop, state_file)
        if state.world_size != self.dist.world_size:
            n = state.world_size
            raise CheckpointError(f"{run} was trained on {n} rank{'s' if n != 1 else ''} and this run has "
                                  f"{self.dist.world_size}: its checkpoint holds the loop state (random streams, "
                                  f"running sums) of those ranks; resume with {n} in all (torchrun "
                                  f"--nproc_per_node ... --nnodes ...), or start a new run with --config "
                                  f"{run / 'config.yaml'}")
        spe = self.steps_per_epoch
        if state.batch >= spe or state.step > state.epoch * spe + state.batch:
            raise CheckpointError(f"{state_file}: training state field 'batch' or 'step' does not fit an epoch of "
                                  f"{spe} batches (batch {state.batch}, step {state.step} after {state.epoch} "
                                  "epochs); the file is damaged, or the data changed since the run started")
        tensors = saved.tensors
        like = {"stats": self.stats.state(), "rng.cpu": torch.get_rng_state()}
        if self.rt.device.type == "cuda":
            like["rng.cuda"] = torch.cuda.get_rng_state(self.rt.device)
        if self.ema is not None:
            if not any(k.startswith("ema.") for k in tensors):
                raise CheckpointError(f"{folder}: the run was trained without EMA; cannot resume with "
                                      "train.ema_decay set")
            like.update(self.ema.tensors())
        check_loop_tensors(tensors, like, state_file)
        check_optimizer_fits(saved.optimizer, self.optimizer, state_file)
        self._extend_schedule(state, run)
        # everything checked: apply
        load_state(self.model, {k: v.to(self.rt.device) for k, v in weights.items()}, spec,
                   folder / "last.safetensors")
        try:
            self.optimizer.load_state_dict(saved.optimizer)
        except (ValueError, KeyError, RuntimeError, TypeError) as e:
            raise CheckpointError(f"{folder}: optimizer state does not fit this configuration ({e})") from None
        match_param_layouts(self.optimizer)
        self.state = state
        if "stats" in tensors:
            self.stats.load(tensors["stats"])
        if state.scaler:
            self.scaler.load_state_dict(state.scaler)
        if self.ema is not None:
            self.ema.load(tensors)
        if "rng.cpu" in tensors:
            torch.set_rng_state(tensors["rng.cpu"])
        if "rng.cuda" in tensors and self.rt.device.type == "cuda":
            torch.cuda.set_rng_state(tensors["rng.cuda"], self.rt.device)

    def _extend_schedule(self, state: TrainState, run: Path) -> None:
        """The schedule a resumed run follows. A schedule that has ended is never restarted: more
        epochs than it was laid out for hold the rate of its last step (``LRSchedule.end``). One that
        has not ended is laid out again over the epochs asked for."""
        cfg, spe = self.cfg, self.steps_per_epoch
        finished_before = state.schedule_epochs is None and (run / "summary.json").is_file()  # saved before the field
        planned = state.schedule_epochs or (state.epoch if finished_before else cfg.train.epochs)
        end = spe * planned
        if state.step >= end and planned < cfg.train.epochs:
            self.schedule = LRSchedule.from_config(cfg.schedule, cfg.optim.lr, spe, planned)
            self.schedule.end = end
            state.schedule_epochs = planned
            first, last = state.epoch + 1, cfg.train.epochs
            added = f"epoch {last}" if first == last else f"epochs {first}-{last}"
            verb = "continues" if first == last else "continue"
            self.resume_note = (f"extending a finished schedule: {added} {verb} at its final learning rate "
                                f"{self.schedule(end):.3g} (it is not restarted; see docs/configuration.md)")
        elif planned != cfg.train.epochs and state.step < end:
            self.resume_note = (f"the learning-rate schedule is laid out again over {cfg.train.epochs} epochs "
                                f"(was {planned})")
            state.schedule_epochs = cfg.train.epochs
        else:
            state.schedule_epochs = planned


def _pretrained(model_name: str, cfg: Config) -> Any:
    """``model.pretrained``'s weights, read (a :class:`~cnnzoo.weights.pretrained.Pretrained`), or None."""
    if not cfg.model.pretrained:
        return None
    from ..weights.pretrained import Pretrained

    return Pretrained.read(model_name, cfg.model.pretrained, offline=cfg.data.offline)
