"""What the trainer says: the banner at the start, the summary of a finished run, the final table."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import torch

from .. import __version__
from .progress import fmt_time
from .runtime import peak_memory_mb

if TYPE_CHECKING:
    from .metrics import EvalResult
    from .trainer import Trainer


# The banner lists the per-class counts of a training split whose largest class has more than
# this many times the images of its smallest (a hint that data.balance may help).
IMBALANCED = 1.5
MAX_CLASSES_SHOWN = 20


def banner(t: Trainer) -> str:
    ds, rt, cfg = t.ds, t.rt, t.cfg
    n = t.dist.world_size
    splits = f"{len(ds.train)} train / {len(ds.val) if ds.val is not None else 0} val / " + (
        "no test split: the final test is on val" if tested_split_name(ds) == "val"
        else f"{len(ds.test) if ds.test is not None else 0} test")
    # data.batch_size is the global batch; each rank takes its share (engine/distributed.py)
    batch = f"{t.rank_batch_size} per rank ({cfg.data.batch_size} in all)" if t.dist.enabled \
        else str(cfg.data.batch_size)
    lines = [f"cnnzoo {__version__}: training {t.model_label}, {t.params / 1e6:.2f}M params, "
             f"{t.macs / 1e6:.1f}M MACs at {ds.channels}x{t.input_size[0]}x{t.input_size[1]}, "
             f"on {ds.name} ({splits}, from {ds.source})",
             f"  device {rt.describe()}{', ' + str(n) + ' ranks' if t.dist.enabled else ''}; "
             f"{length(t)} of {batch}; data ready in {t.data_time_s:.1f}s",
             f"  run directory: {t.run_dir}"]
    counts = getattr(t, "class_counts", None)
    if counts is not None and len(counts) > 1 and int(counts.min()) * IMBALANCED < int(counts.max()):
        shown = ", ".join(f"{c} {int(k)}" for c, k in zip(ds.classes[:MAX_CLASSES_SHOWN], counts.tolist(),
                                                            strict=False))
        more = f", ... ({len(counts) - MAX_CLASSES_SHOWN} more)" if len(counts) > MAX_CLASSES_SHOWN else ""
        lines.append(f"  imbalanced training split (largest / smallest class {int(counts.max())} / "
                     f"{int(counts.min())}): {shown}{more}; data.balance: {cfg.data.balance}")
    if t.resume_dir is not None:
        lines.append(f"  resuming at epoch {t.state.epoch + 1}, step {t.state.step}")
        if t.state.stopped_early:
            lines.append("  this run was stopped by train.early_stopping: nothing more to train")
    if t.resume_note:
        lines.append(f"  {t.resume_note}")
    return "\n".join(lines)


def plural(n: int, word: str) -> str:
    """``1 epoch``, ``2 epochs``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def tested_split_name(ds: Any) -> str:
    """Which split the final evaluation reads: "test", or "val" where the dataset has no test split of
    its own (an image folder without test/: its test split *is* the validation split)."""
    return "val" if ds.test is None or getattr(ds, "test_is_val", False) else "test"


def length(t: Trainer) -> str:
    """How long the run is: ``10 epochs x 421 steps``; with ``train.max_steps`` cutting it short, the
    steps it will take: ``300 steps (train.max_steps; 421 per epoch)``."""
    epochs, per = t.cfg.train.epochs, t.steps_per_epoch
    if t.total_steps < epochs * per:
        return f"{plural(t.total_steps, 'step')} (train.max_steps; {per} per epoch)"
    return f"{plural(epochs, 'epoch')} x {plural(per, 'step')}"


def summary(t: Trainer, test: EvalResult | None, used_best: bool, wall_s: float) -> dict[str, Any]:
    """What summary.json holds (the same dict is returned by ``cnnzoo.train``)."""
    ds, st, rt = t.ds, t.state, t.rt
    rates = [r["samples_per_s"] for r in st.history if r.get("samples_per_s")]
    out = {
        "model": t.model_name, "model_label": t.model_label, "model_options": dict(t.cfg.model.kwargs),
        "dataset": ds.name, "params": t.params, "macs": t.macs,
        "input": [ds.channels, *t.input_size], "classes": len(ds.classes),
        "epochs": st.epoch, "steps": st.step,
        "best_val_acc": st.best_val_acc, "best_epoch": st.best_epoch,
        "test_acc": test.acc if test else None, "test_loss": test.loss if test else None,
        "test_split": tested_split_name(ds),  # which split test_acc/test_loss are from: "test" or "val"
        "test_weights": "best" if used_best else "last",
        "train_time_s": round(st.train_time_s, 2), "wall_time_s": round(wall_s, 2),
        "samples_per_s": round(sum(rates) / len(rates) if rates else 0.0, 1),
        "device": rt.describe(), "precision": rt.precision, "world_size": t.dist.world_size,
        "torch_version": torch.__version__, "cnnzoo_version": __version__, "seed": t.cfg.train.seed,
        "peak_memory_mb": round(peak_memory_mb(rt.device), 1),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
        "warnings": list(t.warnings),  # what the run warned about while training (e.g. diverging)
        # the weights it started from, and the normalization its inputs get (theirs, with pretrained weights)
        "pretrained": t.cfg.model.pretrained, "mean": list(t.spec.mean), "std": list(t.spec.std),
    }
    if t.run_dir is not None and test is not None:
        out["per_class_acc"] = dict(zip(ds.classes, test.per_class_acc(), strict=True))
    return out


def final_table(s: dict[str, Any], run_dir: Any) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    rows = [("model", s.get("model_label") or s["model"]), ("dataset", s["dataset"]),
            ("params / MACs", f"{s['params'] / 1e6:.2f}M / {s['macs'] / 1e6:.1f}M"),
            ("epochs", s["epochs"]),
            ("best val acc", f"{pct(s['best_val_acc'])} (epoch {s['best_epoch']})" if s["best_epoch"] else "-"),
            (f"{s['test_split']} acc / loss", f"{pct(s['test_acc'])} / {s['test_loss'] or float('nan'):.4f}"),
            ("time", f"{fmt_time(s['wall_time_s'])} wall, {s['samples_per_s']:,.0f} img/s"),
            ("device", s["device"]), ("run", str(run_dir))]
    rows += [("warning", w.split(":")[0] + " (see above)") for w in s.get("warnings", [])]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)
