"""The metadata beside a checkpoint's weights is checked, field by field and against the weights,
before anything is built or allocated from it: a damaged or hostile file is one line naming the file
and the field (issue 14, item 6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from .conftest import assert_error_line, run_cli

pytestmark = pytest.mark.timeout(120)


def read_spec(path: Path) -> tuple[dict, dict]:
    with safe_open(str(path), "pt") as f:
        meta = dict(f.metadata())
    return meta, json.loads(meta["spec"])


def rewrite(path: Path, change) -> None:
    """Rewrite checkpoint ``path`` with its spec changed by ``change(spec) -> spec | str``."""
    meta, spec = read_spec(path)
    tensors = load_file(str(path))
    new = change(spec)
    meta["spec"] = new if isinstance(new, str) else json.dumps(new)
    save_file(tensors, str(path), metadata=meta)


def with_(**fields):
    return lambda spec: {**spec, **fields}


def without(key):
    return lambda spec: {k: v for k, v in spec.items() if k != key}


# (id, change, fragments of the error line)
CRAFTED = [
    ("huge-input", with_(input_size=[100_000, 100_000]), ["'input_size'", "1..4096"]),
    ("huge-native", with_(native_size=[28, 10**9]), ["'native_size'"]),
    ("negative-size", with_(input_size=[-28, -28]), ["'input_size'"]),
    ("size-not-list", with_(input_size="28x28"), ["'input_size'"]),
    ("few-classes", lambda s: {**s, "classes": s["classes"][:3]}, ["'classes'", "3 names for num_classes=10"]),
    ("class-not-str", lambda s: {**s, "classes": [1] * 10}, ["'classes'", "strings"]),
    ("classes-not-list", with_(classes="abc"), ["'classes'"]),
    ("huge-num-classes", with_(num_classes=10**9), ["'num_classes'"]),
    ("bool-num-classes", with_(num_classes=True), ["'num_classes'"]),
    ("more-classes-than-head", lambda s: {**s, "num_classes": 11, "classes": s["classes"] + ["extra"]},
     ["does not fit", "of another shape"]),
    ("channels-7", with_(in_channels=7), ["'in_channels'"]),
    ("channels-3-vs-weights", lambda s: {**s, "in_channels": 3, "mean": s["mean"] * 3, "std": s["std"] * 3},
     ["does not fit"]),
    ("nan-mean", lambda s: json.dumps(s).replace(json.dumps(s["mean"]), "[NaN]"), ["'mean'", "finite"]),
    ("inf-std", lambda s: json.dumps(s).replace(json.dumps(s["std"]), "[Infinity]"), ["'std'", "finite"]),
    ("zero-std", with_(std=[0.0]), ["'std'", "positive"]),
    ("mean-length", with_(mean=[0.1, 0.2]), ["'mean'", "2 values for in_channels=1"]),
    ("unknown-model", with_(model="evilnet"), ["'model'", "evilnet"]),
    ("model-not-str", with_(model=["cnn"]), ["'model'"]),
    ("bad-kwarg", with_(model_kwargs={"rm_rf": True}), ["'model_kwargs'"]),
    ("kwargs-not-dict", with_(model_kwargs=[1]), ["'model_kwargs'"]),
    ("extra-field", with_(payload="x"), ["'payload'"]),
    ("missing-field", without("classes"), ["'classes'", "missing"]),
    ("not-an-object", lambda s: "[1, 2, 3]", ["not a JSON object"]),
    ("truncated-json", lambda s: json.dumps(s)[:40], ["damaged"]),
    ("deep-json", lambda s: "[" * 100_000 + "]" * 100_000, ["damaged"]),
]


def _image(tmp_path: Path) -> Path:
    p = tmp_path / "x.png"
    Image.new("L", (28, 28), 128).save(p)
    return p


@pytest.mark.parametrize("change, fragments", [c[1:] for c in CRAFTED], ids=[c[0] for c in CRAFTED])
def test_crafted_metadata_through_predict_and_eval(change, fragments, run_copy, tmp_path, capsys, fashion_dir):
    for name in ("best", "last"):
        rewrite(run_copy / "checkpoints" / f"{name}.safetensors", change)
    best = run_copy / "checkpoints" / "best.safetensors"
    code, _, err = run_cli(capsys, "predict", run_copy, _image(tmp_path))
    assert_error_line(code, err, str(best), *fragments)
    code, _, err = run_cli(capsys, "eval", best, "--data-dir", fashion_dir, "--offline")
    # eval compares the head with the dataset first: "predicts 11 classes but fashion-mnist has 10"
    assert_error_line(code, err, str(best), *([] if "does not fit" in fragments else fragments))


@pytest.mark.parametrize("change, fragments", [c[1:] for c in CRAFTED if "does not fit" not in c[2]],
                         ids=[c[0] for c in CRAFTED if "does not fit" not in c[2]])
def test_crafted_metadata_through_report(change, fragments, run_copy, capsys):
    """report reads the spec from the header alone (class names, the layer table)."""
    summary = json.loads((run_copy / "summary.json").read_text())
    summary.pop("per_class_acc", None)  # so the class names come from the checkpoint
    (run_copy / "summary.json").write_text(json.dumps(summary))
    for name in ("best", "last"):
        rewrite(run_copy / "checkpoints" / f"{name}.safetensors", change)
    code, _, err = run_cli(capsys, "report", run_copy, "--out", run_copy / "r.html")
    assert_error_line(code, err, "checkpoints/best.safetensors", *fragments)
    assert not (run_copy / "r.html").exists()


@pytest.mark.parametrize("case", ["huge-input", "few-classes", "unknown-model", "nan-mean", "bad-kwarg"])
def test_crafted_metadata_through_resume(case, tmp_path, capsys, fashion_dir):
    change, fragments = next(c[1:] for c in CRAFTED if c[0] == case)
    run = tmp_path / "run"
    code, _, err = run_cli(capsys, "train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", fashion_dir,
                           "--offline", "--epochs", "2", "--batch-size", "64", "--out", run, "--quiet",
                           "--set", "output.plots=false", "train.max_steps=3")
    assert code == 0, err
    last = run / "checkpoints" / "last.safetensors"
    rewrite(last, change)
    before = {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()}
    code, _, err = run_cli(capsys, "train", "--resume", run, "--epochs", "3")
    assert_error_line(code, err, str(last), *fragments)
    assert {p: p.read_bytes() for p in sorted(run.rglob("*")) if p.is_file()} == before


def test_the_untouched_checkpoint_still_loads(small_run, tmp_path, capsys):
    """The checks pass what `cnnzoo train` writes (the crafted cases differ from it in one field)."""
    code, out, err = run_cli(capsys, "predict", small_run, _image(tmp_path), "--json")
    assert code == 0, err
    assert len(json.loads(out)[0]["predictions"]) == 3
