"""`cnnzoo predict` on many files: folders, globs, mixed formats, batches, unreadable files skipped,
JSON and CSV, the onnxruntime backend, and what the conversion does said out loud (issue 15, item 9)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from .conftest import FASHION_CLASSES, assert_one_line_error, run_cli


def warnings_of(err: str) -> list[str]:
    lines = err.strip().splitlines()
    assert all(line.startswith("warning: ") for line in lines), err
    return lines


def garment(light_on_dark: bool = True, size: tuple[int, int] = (28, 28)) -> Image.Image:
    """A bright shape on black, as in Fashion-MNIST (or its negative: a dark shape on white)."""
    a = np.zeros((size[1], size[0]), np.uint8)
    a[size[1] // 4: -size[1] // 4, size[0] // 3: -size[0] // 3] = 220
    return Image.fromarray(a if light_on_dark else 255 - a)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder of mixed formats: PNG, JPEG, grayscale, RGBA (in a subfolder), a text file and a
    corrupt PNG."""
    root = tmp_path / "photos"
    (root / "more").mkdir(parents=True)
    garment().convert("RGB").save(root / "a.png")
    garment().convert("RGB").save(root / "b.jpg", quality=95)
    garment().save(root / "c_gray.png")
    rgba = garment().convert("RGBA")
    rgba.putalpha(255)
    rgba.save(root / "more" / "d_rgba.png")
    (root / "notes.txt").write_text("not a picture")
    (root / "more" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    return root


GOOD = ["a.png", "b.jpg", "c_gray.png", "more/d_rgba.png"]


def test_a_mixed_folder_is_classified_in_batches_and_bad_files_are_skipped(cnn_run, mixed, capsys):
    code, out, err = run_cli(capsys, "predict", cnn_run, mixed, "--json", "--batch-size", "3", "--topk", "2")
    assert code == 0, err
    results = json.loads(out)
    assert [r["path"] for r in results] == [str(mixed / g) for g in GOOD]
    for r in results:
        assert [set(p) >= {"label", "prob"} for p in r["predictions"]] == [True, True]
        assert all(p["label"] in FASHION_CLASSES for p in r["predictions"])
        assert r["predictions"][0]["prob"] >= r["predictions"][1]["prob"]
    warn = warnings_of(err)
    assert len(warn) == 2, err
    assert "notes.txt" in warn[0] and "not an image" in warn[0]
    assert f"cannot read {mixed / 'more' / 'broken.png'}" in warn[1] and "skipped" in warn[1]
    # batches do not change the answers: one batch of 64 gives the same
    code, out, _ = run_cli(capsys, "predict", cnn_run, mixed, "--json", "--topk", "2")
    assert [r["predictions"] for r in json.loads(out)] == [r["predictions"] for r in results]


def test_one_unreadable_file_does_not_abort_the_batch(cnn_run, tmp_path, capsys):
    good, bad = tmp_path / "good.png", tmp_path / "bad.jpg"
    garment().save(good)
    bad.write_text("oops")
    code, out, err = run_cli(capsys, "predict", cnn_run, bad, good, tmp_path / "missing.png")
    assert code == 0, err
    assert out.startswith(f"{good}: ") and len(out.strip().splitlines()) == 1
    warn = warnings_of(err)
    assert (len(warn) == 2 and f"cannot read {bad}" in warn[0]
            and f"image not found: {tmp_path / 'missing.png'}" in warn[1])


def test_nothing_readable_is_one_error(cnn_run, tmp_path, capsys):
    for name in ("x.png", "y.png"):
        (tmp_path / name).write_text("no")
    code, _, err = run_cli(capsys, "predict", cnn_run, tmp_path / "x.png", tmp_path / "y.png")
    assert_one_line_error(code, err, "none of the 2 files could be read", "x.png")


def test_globs_and_folders_recursively(cnn_run, mixed, capsys):
    code, out, err = run_cli(capsys, "predict", cnn_run, str(mixed / "*.png"), str(mixed / "**" / "d_*.png"),
                             "--json")
    assert code == 0, err
    assert [r["path"] for r in json.loads(out)] == [str(mixed / "a.png"), str(mixed / "c_gray.png"),
                                                    str(mixed / "more" / "d_rgba.png")]
    code, _, err = run_cli(capsys, "predict", cnn_run, str(mixed / "*.gif"), mixed / "a.png")
    assert code == 0 and f"no file matches {mixed / '*.gif'}" in err


def test_csv_has_one_row_per_image(cnn_run, mixed, tmp_path, capsys):
    dest = tmp_path / "p.csv"
    code, out, err = run_cli(capsys, "predict", cnn_run, mixed, "--csv", dest, "--topk", "2")
    assert code == 0, err
    assert out.strip() == f"wrote 4 predictions to {dest}"
    rows = list(csv.reader(dest.open()))
    assert rows[0] == ["path", "label_1", "prob_1", "label_2", "prob_2"]
    assert [r[0] for r in rows[1:]] == [str(mixed / g) for g in GOOD]
    assert all(r[1] in FASHION_CLASSES and 0 <= float(r[2]) <= 1 for r in rows[1:])


def test_onnxruntime_backend_gives_the_pytorch_answers(cnn_run, mixed, capsys):
    pytest.importorskip("onnxruntime")
    onnx_file = cnn_run / "export" / "model.onnx"
    if not onnx_file.is_file():
        assert run_cli(capsys, "export", cnn_run, "--format", "onnx")[0] == 0
    code, out, err = run_cli(capsys, "predict", cnn_run, mixed, "--json")
    torch_results = json.loads(out)
    for argv in ([onnx_file], [cnn_run, "--backend", "onnxruntime"]):
        code, out, err = run_cli(capsys, "predict", *argv, mixed, "--json")
        assert code == 0, err
        got = json.loads(out)
        assert [r["path"] for r in got] == [r["path"] for r in torch_results]
        for a, b in zip(got, torch_results, strict=True):
            assert [p["label"] for p in a["predictions"]] == [p["label"] for p in b["predictions"]]
            assert [p["prob"] for p in a["predictions"]] == pytest.approx([p["prob"] for p in b["predictions"]],
                                                                           abs=1e-5)


def test_onnxruntime_backend_without_an_export_says_how(tmp_path, fashion_dir, capsys):
    from .conftest import make_run

    run = make_run(tmp_path / "run", "convnet", fashion_dir)
    img = tmp_path / "x.png"
    garment().save(img)
    code, _, err = run_cli(capsys, "predict", run, img, "--backend", "onnxruntime")
    assert_one_line_error(code, err, "export the run first", "cnnzoo export")


def test_a_non_square_image_is_cropped_with_a_word(cnn_run, tmp_path, capsys):
    wide, square = tmp_path / "wide.png", tmp_path / "square.png"
    garment(size=(60, 28)).save(wide)
    garment().save(square)
    code, out, err = run_cli(capsys, "predict", cnn_run, wide, square, "--json")
    assert code == 0
    warn = warnings_of(err)
    assert len(warn) == 1 and f"{wide} is not square" in warn[0] and "centre-cropped" in warn[0]
    notes = {r["path"]: r["notes"] for r in json.loads(out)}
    assert notes[str(square)] == [] and "60x28" in notes[str(wide)][0]


def test_a_light_background_on_a_dark_trained_model_gets_a_hint(cnn_run, tmp_path, capsys):
    photo = tmp_path / "shoe.png"
    garment(light_on_dark=False).save(photo)
    code, out, err = run_cli(capsys, "predict", cnn_run, photo, "--json")
    assert code == 0
    warn = warnings_of(err)
    assert len(warn) == 1 and f"{photo} has a light background" in warn[0] and "--invert" in warn[0]
    plain = json.loads(out)[0]["predictions"]
    # --invert turns it into the light-on-dark original: same answer as the original, no hint
    original = tmp_path / "orig.png"
    garment().save(original)
    code, out, err = run_cli(capsys, "predict", cnn_run, photo, original, "--json", "--invert")
    assert code == 0 and err == ""
    inverted, _ = json.loads(out)
    code, out, _ = run_cli(capsys, "predict", cnn_run, original, "--json")
    alone = json.loads(out)[0]["predictions"]
    assert [p["label"] for p in inverted["predictions"]] == [p["label"] for p in alone]
    assert [p["prob"] for p in inverted["predictions"]] == pytest.approx([p["prob"] for p in alone], abs=1e-5)
    assert [p["prob"] for p in plain] != pytest.approx([p["prob"] for p in alone], abs=1e-3)
