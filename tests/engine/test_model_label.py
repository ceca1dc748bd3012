"""What a run trained is named the same unambiguous way everywhere it is shown (issue 15, item 3):
`--model resnet` trains resnet18 at a quarter width, which is not the resnet18 of `cnnzoo models`."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cnnzoo.cli import main

LABEL = "resnet18 (width_mult=0.25)"


@pytest.fixture(scope="module")
def resnet_run(tmp_path_factory, fashion_dir) -> tuple[Path, str]:
    import contextlib
    import io

    out = tmp_path_factory.mktemp("runs") / "resnet"
    text = io.StringIO()
    with contextlib.redirect_stdout(text):
        assert main(["train", "--model", "resnet", "--data-dir", str(fashion_dir), "--offline", "--epochs", "1",
                     "--batch-size", "256", "--set", "train.max_steps=1", "train.tta_flip=false",
                     "output.plots=false", "--out", str(out)]) == 0
    return out, text.getvalue()


def test_banner_summary_and_final_table_name_the_width(resnet_run):
    run, printed = resnet_run
    s = json.loads((run / "summary.json").read_text())
    assert s["model"] == "resnet18" and s["model_label"] == LABEL and s["model_options"] == {"width_mult": 0.25}
    assert f"training {LABEL}, 0.70M params" in printed
    assert any(line.split() == ["model", *LABEL.split()] for line in printed.splitlines())


def test_summary_of_a_run_and_of_a_recipe_show_what_was_trained(resnet_run, capsys):
    run, _ = resnet_run
    s = json.loads((run / "summary.json").read_text())
    for argv in (["summary", str(run), "--json"], ["summary", "resnet", "--recipe", "--json"]):
        assert main(argv) == 0
        got = json.loads(capsys.readouterr().out)
        assert got["label"] == LABEL and got["input"] == [1, 28, 28] and got["num_classes"] == 10
        assert got["params"] == s["params"]
    # The alias alone is the network at its defaults, and says which command shows the recipe's.
    assert main(["summary", "resnet", "--input", "1,28,28", "--num-classes", "10"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("resnet18 (resnet, 2015)") and "'cnnzoo summary resnet --recipe'" in out


def test_leaderboard_and_report_name_the_width(resnet_run, tmp_path):
    from cnnzoo.report.compare import compare
    from cnnzoo.report.html import write_report

    run, _ = resnet_run
    result = compare([run], tmp_path / "cmp")
    assert result.rows[0].label == LABEL
    md = (tmp_path / "cmp" / "leaderboard.md").read_text()
    assert f"| {LABEL} " in md
    # Paths in leaderboard.md are all relative to it, the runs as the plots (issue 15, item 11).
    rel = Path(os.path.relpath(run.resolve(), (tmp_path / "cmp").resolve())).as_posix()
    assert f"- `{LABEL}`: [{rel}]({rel})" in md and str(run) not in md
    page = Path(write_report(run, out=tmp_path / "r.html")).read_text()
    assert LABEL in page


def test_resolve_trained_names_recipes_runs_and_plain_networks():
    from cnnzoo import resolve_trained

    assert resolve_trained("resnet", recipe=True).label == LABEL
    assert resolve_trained("resnet").label == "resnet18"  # the alias: the network at its defaults
    assert resolve_trained("cnn", recipe=True).label == "convnet"


def test_models_lists_what_each_recipe_trains_and_suggests_aliases(capsys):
    assert main(["models", "resnet*"]) == 0
    out = capsys.readouterr().out
    assert any(line.split() == ["resnet", *LABEL.split()] for line in out.splitlines())
    assert main(["models", "resnt"]) == 2
    assert "did you mean 'resnet'" in capsys.readouterr().err


def test_eval_of_the_test_split_reads_only_the_test_files_and_never_downloads(resnet_run, fashion_dir, tmp_path,
                                                                               capsys):
    import shutil

    run, _ = resnet_run
    only_test = tmp_path / "fashion-mnist"
    only_test.mkdir()
    for f in fashion_dir.glob("t10k-*"):
        shutil.copy(f, only_test / f.name)
    assert main(["eval", str(run), "--data-dir", str(only_test), "--out", str(tmp_path / "e.json"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["n"] == 200
    # The validation split needs the training files: not there, and not downloaded either.
    assert main(["eval", str(run), "--data-dir", str(only_test), "--split", "val", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "could not download" not in err and "'cnnzoo data fetch fashion-mnist' downloads it" in err


def test_options_are_shown_where_the_docs_say(capsys):
    """configuration.md sends a reader to `cnnzoo summary NAME` for a model's options (item 11)."""
    from cnnzoo.config import reference_markdown

    assert "`cnnzoo summary NAME` lists them" in reference_markdown()
    assert main(["summary", "resnet18"]) == 0
    out = capsys.readouterr().out
    assert "options (--set model.kwargs.NAME=VALUE): zero_init_residual=False, width_mult=1.0, small_input=None" in out
