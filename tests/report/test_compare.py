"""`cnnzoo compare`: the leaderboard files, the Pareto front, training what is missing, and errors."""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from cnnzoo.cli import main
from cnnzoo.report.compare import COSTS, CSV_COLUMNS, pareto_front

from .conftest import compare_args, one_error_line

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------------
# The Pareto front


def test_pareto_front_by_hand():
    # (accuracy, cost)
    points = [(0.90, 10), (0.95, 100), (0.80, 50), (0.95, 200), (0.90, 10), (None, 1), (0.99, None), (0.70, 5)]
    assert pareto_front(points) == [True, True, False, False, True, False, False, True]


def _dominates(q, p):
    return q[0] >= p[0] and q[1] <= p[1] and (q[0] > p[0] or q[1] < p[1])


@given(st.lists(st.tuples(st.integers(0, 20), st.integers(1, 20)), min_size=1, max_size=12))
def test_pareto_front_is_exactly_the_undominated_points(points):
    front = pareto_front(points)
    for p, on in zip(points, front, strict=True):
        assert on == (not any(_dominates(q, p) for q in points))
    # every point off the front is beaten by a point on it
    for p, on in zip(points, front, strict=True):
        if not on:
            assert any(_dominates(q, p) for q, f in zip(points, front, strict=True) if f)


# --------------------------------------------------------------------------------------------------
# compare --models


def test_leaderboard_csv_is_sorted_machine_readable_and_matches_the_runs(compared):
    rows = read_csv(compared / "leaderboard.csv")
    assert list(rows[0]) == list(CSV_COLUMNS)
    assert {r["model"] for r in rows} == {"convnet", "lenet5_bn"}
    accs = [float(r["test_acc"]) for r in rows]
    assert accs == sorted(accs, reverse=True)
    assert [int(r["rank"]) for r in rows] == [1, 2]
    for r in rows:
        s = json.loads((Path(r["run"]) / "summary.json").read_text())
        assert int(r["params"]) == s["params"] and int(r["macs"]) == s["macs"]
        assert float(r["test_acc"]) == s["test_acc"] and float(r["best_val_acc"]) == s["best_val_acc"]
        assert int(r["epochs"]) == s["epochs"] == 2
        assert float(r["train_time_s"]) == s["train_time_s"] > 0
        assert float(r["samples_per_s"]) == s["samples_per_s"] > 0
        assert Path(r["run"]).parent == compared / "runs"
    # the pareto columns agree with the definition, computed from the CSV's own numbers
    for cost, _, field in COSTS:
        front = pareto_front([(float(r["test_acc"]), float(r[field])) for r in rows])
        assert [r[f"pareto_{cost}"] == "true" for r in rows] == front
        assert all(r[f"pareto_{cost}"] in ("true", "false") for r in rows)


def test_leaderboard_markdown_and_plots(compared):
    md = (compared / "leaderboard.md").read_text()
    rows = read_csv(compared / "leaderboard.csv")
    table = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(table) == 2
    for line, r in zip(table, rows, strict=True):
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert cells[0] == r["rank"] and cells[1].startswith(r["model"])
        assert cells[4] == f"{100 * float(r['test_acc']):.2f}%"
        assert cells[1].endswith("★") == any(r[f"pareto_{c}"] == "true" for c, _, _ in COSTS)
    for name in ("acc_vs_params.png", "acc_vs_macs.png", "acc_vs_time.png", "curves.png"):
        assert (compared / name).read_bytes().startswith(PNG_MAGIC)
        assert f"]({name})" in md


def test_leaderboard_html_is_self_contained(compared):
    page = (compared / "leaderboard.html").read_text()
    assert "<script" not in page and "<link" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)
    srcs = re.findall(r'<img [^>]*src="([^"]+)"', page)
    assert len(srcs) == 4 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert "default-src 'none'" in page  # the page itself forbids any request
    for r in read_csv(compared / "leaderboard.csv"):
        assert r["model"] in page


def test_compare_again_reuses_finished_runs(compared, fashion_dir, capsys):
    before = {p: p.stat().st_mtime_ns for p in compared.glob("runs/*/summary.json")}
    assert len(before) == 2
    assert main(compare_args(fashion_dir, compared)) == 0
    out = capsys.readouterr().out
    assert out.count("finished run found") == 2 and "training into" not in out
    assert {p: p.stat().st_mtime_ns for p in compared.glob("runs/*/summary.json")} == before


def test_interrupted_compare_resumes_the_unfinished_run(compared, fashion_dir, tmp_path, capsys):
    out = tmp_path / "cmp"
    shutil.copytree(compared, out)
    # as if stopped after the last checkpoint, before the final test
    (out / "runs" / "cnn" / "summary.json").unlink()
    (out / "runs" / "cnn" / "predictions.safetensors").unlink()
    assert main(compare_args(fashion_dir, out)) == 0
    text = capsys.readouterr().out
    assert "cnn: resuming the interrupted run" in text and "batchnorm: finished run found" in text
    resumed = json.loads((out / "runs" / "cnn" / "summary.json").read_text())
    original = json.loads((compared / "runs" / "cnn" / "summary.json").read_text())
    assert resumed["test_acc"] == original["test_acc"]
    assert len(read_csv(out / "leaderboard.csv")) == 2


def test_a_run_of_another_experiment_in_the_folder_is_refused(compared, fashion_dir, tmp_path, capsys):
    out = tmp_path / "cmp"
    shutil.copytree(compared, out)
    args = compare_args(fashion_dir, out)
    args[args.index("--epochs") + 1] = "3"
    assert main(args) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "another experiment" in line and "train.epochs" in line and "runs/cnn" in line


# --------------------------------------------------------------------------------------------------
# compare RUN...


def test_compare_run_folders_labels_runs_of_one_model_apart(compared, tmp_path, capsys):
    twin = tmp_path / "twin"
    shutil.copytree(compared / "runs" / "cnn", twin)
    out = tmp_path / "board"
    runs = [str(compared / "runs" / "cnn"), str(compared / "runs" / "batchnorm"), str(twin)]
    assert main(["compare", *runs, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["label"] for r in rows) == ["convnet (cnn)", "convnet (twin)", "lenet5_bn"]
    assert "convnet (twin)" in printed and f"wrote {out / 'leaderboard.html'}" in printed
    assert json.loads((out / "compare.json").read_text())["runs"] == [r["run"] for r in rows]
    # identical results: both twins are on (or off) every front together
    a, b = (r for r in rows if r["model"] == "convnet")
    assert [a[f"pareto_{c}"] for c in ("params", "macs")] == [b[f"pareto_{c}"] for c in ("params", "macs")]


def test_runs_of_different_datasets_are_compared_with_a_warning(compared, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(compared / "runs" / "batchnorm", other)
    s = json.loads((other / "summary.json").read_text())
    s["dataset"] = "mnist"
    (other / "summary.json").write_text(json.dumps(s))
    assert main(["compare", str(compared / "runs" / "cnn"), str(other), "--out", str(tmp_path / "b")]) == 0
    err = capsys.readouterr().err
    assert "warning: " in err and "different datasets" in err and "not comparable" in err


# --------------------------------------------------------------------------------------------------
# Errors: one line, exit status 2


def test_nothing_to_compare(capsys, tmp_path):
    assert main(["compare", "--out", str(tmp_path / "x")]) == 2
    assert "nothing to compare" in one_error_line(capsys.readouterr().err)


def test_unknown_model_suggests_the_closest(fashion_dir, tmp_path, capsys):
    assert main(compare_args(fashion_dir, tmp_path / "x", models="cnn,resnett")) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "unknown model 'resnett'" in line and "did you mean" in line and "resnet" in line
    assert not (tmp_path / "x").exists()  # nothing trained, nothing written


def test_a_bad_set_fails_before_any_training(fashion_dir, tmp_path, capsys):
    assert main(compare_args(fashion_dir, tmp_path / "x", "--set", "optim.lr_rate=1")) == 2
    assert "optim.lr" in one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "x").exists()


def test_not_a_run_and_unfinished_run(compared, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["compare", str(tmp_path / "empty"), "--out", str(tmp_path / "o1")]) == 2
    assert "not a cnnzoo run directory" in one_error_line(capsys.readouterr().err)

    unfinished = tmp_path / "unfinished"
    shutil.copytree(compared / "runs" / "cnn", unfinished)
    (unfinished / "summary.json").unlink()
    assert main(["compare", str(unfinished), "--out", str(tmp_path / "o2")]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "has not finished" in line and f"cnnzoo train --resume {unfinished}" in line

    assert main(["compare", str(tmp_path / "nowhere"), "--out", str(tmp_path / "o3")]) == 2
    assert "no run directory at" in one_error_line(capsys.readouterr().err)


def test_out_must_be_a_compare_folder(compared, tmp_path, capsys):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "thesis.tex").write_text("mine")
    run = str(compared / "runs" / "cnn")
    assert main(["compare", run, "--out", str(busy)]) == 2
    assert "not a compare folder" in one_error_line(capsys.readouterr().err)
    assert sorted(p.name for p in busy.iterdir()) == ["thesis.tex"]

    (tmp_path / "file").write_text("x")
    assert main(["compare", run, "--out", str(tmp_path / "file")]) == 2
    assert "is a file" in one_error_line(capsys.readouterr().err)


def test_point_labels_do_not_overprint_when_points_crowd():
    """Five models at nearly the same cost and accuracy: every name stays readable."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.text import Annotation, Text

    from cnnzoo.report.compare import _label_points

    fig, ax = plt.subplots(figsize=(7.5, 4.8))
    points = [(f"model_{i}", 2e8 * (1 + 0.05 * i), 88.0 + 0.1 * i) for i in range(5)] + [("far", 1e6, 20.0)]
    ax.scatter([c for _, c, _ in points], [a for _, _, a in points])
    ax.set_xscale("log")
    _label_points(ax, points)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    # the text's own box (an annotation's extent also spans its leader line)
    boxes = [Text.get_window_extent(t, renderer) for t in ax.texts if isinstance(t, Annotation)]
    assert len(boxes) == len(points)
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not a.overlaps(b), "two point labels overprint"
    plt.close(fig)
