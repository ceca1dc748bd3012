"""The trainer's Python surface: callbacks and their hooks, the loop state, resuming into a copy,
the predictions file, and the layering (the engine imports nothing from report)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from cnnzoo.cli import main

SRC = Path(__file__).resolve().parents[2] / "src" / "cnnzoo"


def small_cfg(fashion_dir: Path, **over):
    from cnnzoo.config import load_config

    # 1,080 training images (after validation is carved off) in batches of 256: 4 steps per epoch
    overrides = {"data.data_dir": str(fashion_dir), "data.offline": True, "data.batch_size": 256,
                 "train.epochs": 3, "output.plots": False, "train.deterministic": True, **over}
    return load_config(model="cnn", overrides=overrides)


class Recorder:
    """Records every hook; asks the loop to stop at the end of epoch ``stop_after``."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.stop_after = stop_after

    def __getattr__(self, hook: str):
        if not hook.startswith("on_"):
            raise AttributeError(hook)

        def record(trainer, *args):
            self.calls.append((hook, trainer.state.epoch))
            if hook == "on_train_epoch_end" and trainer.state.epoch == self.stop_after:
                trainer.should_stop = True
            if hook == "on_fit_end":
                self.result = args[0]
        return record


def test_callbacks_see_every_hook_in_order_and_can_stop_the_loop(fashion_dir, tmp_path):
    import cnnzoo

    rec = Recorder(stop_after=1)
    result = cnnzoo.train(small_cfg(fashion_dir), run_dir=tmp_path / "run", quiet=True, callbacks=[rec])
    names = [h for h, _ in rec.calls if h != "on_train_batch_end"]
    assert names == ["on_fit_start", "on_train_epoch_start", "on_validation_end", "on_train_epoch_end", "on_fit_end"]
    assert sum(h == "on_train_batch_end" for h, _ in rec.calls) == 4
    assert result.summary["epochs"] == 1 and len(result.history) == 1  # stopped after epoch 1 of 3
    assert rec.result is result and result.test is not None and len(result.test.index) == 200
    # the report callbacks wrote the run's files, summary.json included
    assert json.loads((tmp_path / "run" / "summary.json").read_text())["epochs"] == 1
    assert (tmp_path / "run" / "predictions.safetensors").is_file()


def test_engine_trainer_alone_writes_no_report_files(fashion_dir, tmp_path):
    from cnnzoo.engine.checkpoint import load_training_state
    from cnnzoo.engine.progress import Console
    from cnnzoo.engine.state import TrainState
    from cnnzoo.engine.trainer import Trainer

    t = Trainer(small_cfg(fashion_dir, **{"train.epochs": 1}), run_dir=tmp_path / "r", console=Console(quiet=True))
    result = t.fit()
    assert {p.name for p in (tmp_path / "r").iterdir()} == {"checkpoints", "plots", "config.yaml", "metrics.jsonl"}
    assert result.summary["epochs"] == 1
    # the checkpoint's loop state is the TrainState, whole
    _, _, saved = load_training_state(tmp_path / "r" / "checkpoints")
    assert TrainState.from_dict(saved.loop) == t.state


def test_train_state_round_trip_and_old_checkpoints():
    from cnnzoo.engine.state import TrainState

    st = TrainState(epoch=2, batch=3, step=11, best_val_acc=0.5, best_epoch=2, history=[{"epoch": 1}],
                    train_time_s=1.5, epoch_elapsed_s=0.25, world_size=2, scaler={"scale": 2.0})
    assert TrainState.from_dict(json.loads(json.dumps(st.to_dict()))) == st
    old = {"epoch": 1, "batch": 0, "step": 4, "best_val_acc": None, "best_epoch": None, "history": [],
           "train_time_s": 0.0, "epoch_elapsed_s": 0.0, "scaler": None}  # no world_size: one rank
    assert TrainState.from_dict(old) == TrainState(epoch=1, step=4)


def test_resume_into_another_folder_continues_in_a_copy(fashion_dir, tmp_path, capsys):
    common = ["--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir), "--offline",
              "--batch-size", "256", "--set", "train.deterministic=true", "output.plots=false"]
    first = tmp_path / "first"
    assert main(["train", *common, "--epochs", "1", "--out", str(first), "--quiet"]) == 0
    before = {p: p.read_bytes() for p in first.rglob("*") if p.is_file()}
    capsys.readouterr()

    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("mine")
    assert main(["train", "--resume", str(first), "--out", str(busy), "--epochs", "2"]) == 2
    assert "--overwrite" in capsys.readouterr().err and (busy / "x").read_text() == "mine"

    second = tmp_path / "second"
    assert main(["train", "--resume", str(first), "--out", str(second), "--epochs", "2"]) == 0
    assert f"in a copy, {second}" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in first.rglob("*") if p.is_file()} == before  # the original is untouched
    rows = [json.loads(x) for x in (second / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[0] == json.loads((first / "metrics.jsonl").read_text())
    assert json.loads((second / "summary.json").read_text())["epochs"] == 2
    assert "cnnzoo train --config " + str(second / "config.yaml") in (second / "config.yaml").read_text()


def _eval_result(n: int = 4):
    from cnnzoo.engine.metrics import EvalResult

    return EvalResult(loss=0.5, acc=0.5, n=n, confusion=torch.tensor([[1, 1], [1, 1]]),
                      preds=torch.tensor([0, 1, 0, 1]), probs=torch.tensor([0.9, 0.8, 0.7, 0.6]),
                      targets=torch.tensor([0, 0, 1, 1]), index=torch.tensor([0, 1, 3, 4]))


def test_predictions_file_round_trip(tmp_path):
    from cnnzoo.report.predictions import read_predictions_file, write_predictions

    write_predictions(tmp_path / "p.safetensors", _eval_result(), split_size=5)
    p = read_predictions_file(tmp_path / "p.safetensors")
    assert p.index.tolist() == [0, 1, 3, 4] and p.split_size == 5 and p.preds.tolist() == [0, 1, 0, 1]


@pytest.mark.parametrize("field, value, meta, words", [
    ("preds", torch.tensor([0.0, 1.0, 0.0, 1.0]), None, ["'preds'", "torch.float32"]),
    ("index", torch.tensor([0, 1, 3, 9]), None, ["'index'", "outside the tested split of 5"]),
    ("index", torch.tensor([[0, 1, 3, 4]]), None, ["'index'", "2 dimensions"]),
    ("probs", torch.tensor([0.5, 0.5]), None, ["'probs'", "2 values for 4 predictions"]),
    ("confusion", None, None, ["'confusion'", "missing"]),
    (None, None, {"split_size": "many"}, ["'split_size'"]),
])
def test_a_damaged_predictions_file_is_a_one_line_error_naming_the_field(tmp_path, field, value, meta, words):
    from safetensors.torch import save_file

    from cnnzoo.errors import CnnzooError
    from cnnzoo.report.predictions import read_predictions_file

    r = _eval_result()
    tensors = {"preds": r.preds, "probs": r.probs, "targets": r.targets, "confusion": r.confusion, "index": r.index}
    if field is not None:
        tensors.pop(field)
        if value is not None:
            tensors[field] = value
    path = tmp_path / "predictions.safetensors"
    save_file(tensors, str(path), metadata=meta or {"split_size": "5"})
    with pytest.raises(CnnzooError) as e:
        read_predictions_file(path)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value)


def test_googlenet_owns_its_auxiliary_loss():
    import torch.nn.functional as F

    from cnnzoo.models import create_model
    from cnnzoo.models.googlenet import AUX_LOSS_WEIGHT

    torch.manual_seed(0)
    model = create_model("googlenet", num_classes=3, in_channels=1, image_size=32, aux_logits=True).train()
    x, y = torch.randn(2, 1, 32, 32), torch.tensor([0, 2])
    out = model(x)
    loss, logits = model.training_loss(out, y, F.cross_entropy)
    expected = F.cross_entropy(out.logits, y) + AUX_LOSS_WEIGHT * F.cross_entropy(out.aux1, y) \
        + AUX_LOSS_WEIGHT * F.cross_entropy(out.aux2, y)
    assert logits is out.logits and torch.allclose(loss, expected)
    model.eval()
    with torch.no_grad():
        plain = model(x)
        loss, logits = model.training_loss(plain, y, F.cross_entropy)
    assert logits is plain and torch.allclose(loss, F.cross_entropy(plain, y))


def _cnnzoo_imports(path: Path) -> set[str]:
    """Modules of cnnzoo imported by ``path``, resolved to dotted names (imports anywhere in the file)."""
    rel = path.relative_to(SRC.parent).with_suffix("")
    package = list(rel.parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.add(name)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
    return {n for n in found if n.startswith("cnnzoo")}


def test_the_engine_imports_nothing_from_report():
    for path in sorted((SRC / "engine").glob("*.py")):
        bad = sorted(m for m in _cnnzoo_imports(path) if m.startswith("cnnzoo.report"))
        assert not bad, f"{path.name} imports {bad}"


def test_the_loaders_share_one_module_and_import_no_circle():
    streaming = _cnnzoo_imports(SRC / "data" / "streaming.py")
    batching = _cnnzoo_imports(SRC / "data" / "batching.py")
    assert "cnnzoo.data.loader" not in streaming and "cnnzoo.data.batching" in streaming
    assert not {"cnnzoo.data.loader", "cnnzoo.data.streaming"} & batching
