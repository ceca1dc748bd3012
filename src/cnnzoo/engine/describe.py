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


def banner(t: Trainer) -> str:
    ds, rt, cfg = t.ds, t.rt, t.cfg
    n = t.dist.world_size
    splits = f"{len(ds.train)} train / {len(ds.val) if ds.val is not None else 0} val / " \
             f"{len(ds.test) if ds.test is not None else 0} test"
    batch = f"{cfg.data.batch_size} per rank ({n * cfg.data.batch_size} in all)" if t.dist.enabled \
        else str(cfg.data.batch_size)
    lines = [f"cnnzoo {__version__}: training {t.model_name} ({t.params / 1e6:.2f}M params, "
             f"{t.macs / 1e6:.1f}M MACs at {ds.channels}x{t.input_size[0]}x{t.input_size[1]}) "
             f"on {ds.name} ({splits}, from {ds.source})",
             f"  device {rt.describe()}{', ' + str(n) + ' ranks' if t.dist.enabled else ''}; "
             f"{cfg.train.epochs} epoch{'s' if cfg.train.epochs != 1 else ''} x {t.steps_per_epoch} steps of "
             f"{batch}; data ready in {t.data_time_s:.1f}s",
             f"  run directory: {t.run_dir}"]
    if t.resume_dir is not None:
        lines.append(f"  resuming at epoch {t.state.epoch + 1}, step {t.state.step}")
    return "\n".join(lines)


def summary(t: Trainer, test: EvalResult | None, used_best: bool, wall_s: float) -> dict[str, Any]:
    """What summary.json holds (the same dict is returned by ``cnnzoo.train``)."""
    ds, st, rt = t.ds, t.state, t.rt
    rates = [r["samples_per_s"] for r in st.history if r.get("samples_per_s")]
    out = {
        "model": t.model_name, "dataset": ds.name, "params": t.params, "macs": t.macs,
        "input": [ds.channels, *t.input_size], "classes": len(ds.classes),
        "epochs": st.epoch, "steps": st.step,
        "best_val_acc": st.best_val_acc, "best_epoch": st.best_epoch,
        "test_acc": test.acc if test else None, "test_loss": test.loss if test else None,
        "test_split": "test" if ds.test is not None else "val",
        "test_weights": "best" if used_best else "last",
        "train_time_s": round(st.train_time_s, 2), "wall_time_s": round(wall_s, 2),
        "samples_per_s": round(sum(rates) / len(rates) if rates else 0.0, 1),
        "device": rt.describe(), "precision": rt.precision, "world_size": t.dist.world_size,
        "torch_version": torch.__version__, "cnnzoo_version": __version__, "seed": t.cfg.train.seed,
        "peak_memory_mb": round(peak_memory_mb(rt.device), 1),
        "finished_at": datetime.now().isoformat(timespec="seconds"),
        # the weights it started from, and the normalization its inputs get (theirs, with pretrained weights)
        "pretrained": t.cfg.model.pretrained, "mean": list(t.spec.mean), "std": list(t.spec.std),
    }
    if t.run_dir is not None and test is not None:
        out["per_class_acc"] = dict(zip(ds.classes, test.per_class_acc(), strict=True))
    return out


def final_table(s: dict[str, Any], run_dir: Any) -> str:
    def pct(v: float | None) -> str:
        return "-" if v is None else f"{100 * v:.2f}%"

    rows = [("model", s["model"]), ("dataset", s["dataset"]),
            ("params / MACs", f"{s['params'] / 1e6:.2f}M / {s['macs'] / 1e6:.1f}M"),
            ("epochs", s["epochs"]),
            ("best val acc", f"{pct(s['best_val_acc'])} (epoch {s['best_epoch']})" if s["best_epoch"] else "-"),
            (f"{s['test_split']} acc / loss", f"{pct(s['test_acc'])} / {s['test_loss'] or float('nan'):.4f}"),
            ("time", f"{fmt_time(s['wall_time_s'])} wall, {s['samples_per_s']:,.0f} img/s"),
            ("device", s["device"]), ("run", str(run_dir))]
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k.ljust(width)}  {v}" for k, v in rows)
