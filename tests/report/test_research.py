"""Seeds, sweeps and ablations: compare --seeds, cnnzoo sweep (grid and Optuna), cnnzoo ablate, docs/ablations.md.

Every training here is a few steps of the tiny learnable dataset of tests/conftest.py; the statistics and
the verdicts are tested on numbers given by hand.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

from cnnzoo.cli import main
from cnnzoo.report.ablations import ABLATIONS, Claim, verdict
from cnnzoo.report.seeds import Stat, difference, t975
from cnnzoo.report.sweep import parse_sweep

from .conftest import one_error_line

ROOT = Path(__file__).resolve().parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _data_args(data: Path, out: Path) -> list[str]:
    return ["--dataset", "fashion-mnist", "--data-dir", str(data), "--offline", "--epochs", "1", "--batch-size",
            "128", "--out", str(out), "--quiet"]


TINY = ["train.max_steps=2", "train.tta_flip=false"]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


# --------------------------------------------------------------------------------------------------
# Statistics, by hand


def test_stat_mean_std_and_t_interval_by_hand():
    s = Stat.of([0.90, 0.92, 0.94])
    assert s.mean == pytest.approx(0.92) and s.std == pytest.approx(0.02) and s.n == 3
    assert s.ci == pytest.approx(4.303 * 0.02 / math.sqrt(3))    # Student's t with 2 degrees of freedom
    one = Stat.of([0.5, None])
    assert one.n == 1 and math.isnan(one.std) and math.isnan(one.ci)
    assert Stat.of([None]) is None
    assert t975(200) == 1.96 and t975(35) == t975(30)


def test_difference_uses_welch_and_verdicts_follow_the_interval():
    a, b = Stat.of([0.90, 0.91, 0.92]), Stat.of([0.80, 0.81, 0.82])
    d, ci = difference(a, b)
    assert d == pytest.approx(0.10) and 0 < ci < 0.05
    better = Claim("x", "better")
    assert verdict(better, a, b) == "confirmed"
    assert verdict(better, b, a) == "refuted"
    noisy = Stat.of([0.70, 0.95, 0.80])
    assert verdict(better, noisy, b) == "not measurable at this scale"
    assert verdict(better, a, None) == "not measured yet"
    assert verdict(Claim("x", "within:0.01"), Stat.of([0.909, 0.910, 0.911]), Stat.of([0.912, 0.913, 0.914])) \
        == "confirmed"
    assert verdict(Claim("x", "within:0.01"), b, a) == "refuted"
    assert verdict(Claim("x", "reaches:0.85"), a, None) == "confirmed"
    assert verdict(Claim("x", "reaches:0.85"), b, None) == "refuted"
    # runs shorter than their recipe confirm a threshold they already pass, but cannot refute it
    assert verdict(Claim("x", "reaches:0.85"), b, None, reduced=True) == "not measurable at this scale"
    assert verdict(Claim("x", "reaches:0.85"), a, None, reduced=True) == "confirmed"


def test_a_shorter_run_than_the_recipe_is_reduced():
    from cnnzoo.report.ablations import ablations_of, is_reduced, recipe_epochs

    [mixer] = ablations_of("mixer")
    full = recipe_epochs(mixer.recipe)
    assert full and full > 1
    assert is_reduced(mixer, [1, 1]) and not is_reduced(mixer, [full, full]) and not is_reduced(mixer, [None])


def test_every_ablation_builds_both_arms_and_names_its_switch():
    from cnnzoo.config import load_config
    from cnnzoo.models import meta_model

    assert {a.family for a in ABLATIONS} == {"vgg", "nin", "googlenet", "resnet", "densenet", "senet", "mixer",
                                           "mobilenet"}
    for abl in ABLATIONS:
        paper, ablated = (load_config(model=abl.recipe, sets=list(arm.sets)) for arm in abl.arms())
        assert paper.to_dict() != ablated.to_dict(), abl.key
        for cfg in (paper, ablated):  # the switch is a real option or switch of the recipe's model
            meta_model(cfg.model.name, 10, 1, 28, **cfg.model.kwargs)


# --------------------------------------------------------------------------------------------------
# compare --seeds


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, fashion_dir) -> Path:
    out = tmp_path_factory.mktemp("seeds") / "cmp"
    assert main(["compare", "--models", "cnn", "--seeds", "2", *_data_args(fashion_dir, out), "--set", *TINY]) == 0
    return out


def test_compare_seeds_keeps_every_run_and_reports_mean_std_interval(seeded):
    assert sorted(p.name for p in (seeded / "runs" / "cnn").iterdir()) == ["seed-0", "seed-1"]
    [row] = read_csv(seeded / "leaderboard.csv")
    accs = [float(a) for a in row["test_accs"].split(";")]
    assert row["seeds"] == "2" and len(accs) == 2
    s = Stat.of(accs)
    assert float(row["test_acc_mean"]) == pytest.approx(s.mean)
    assert float(row["test_acc_std"]) == pytest.approx(s.std)
    assert float(row["test_acc_ci95_low"]) == pytest.approx(s.mean - s.ci)
    seeds = {json.loads((seeded / "runs" / "cnn" / f"seed-{k}" / "summary.json").read_text())["test_acc"]
             for k in (0, 1)}
    assert set(accs) == seeds
    md = (seeded / "leaderboard.md").read_text()
    assert "95% interval" in md and "±" in md and "seed-1" in md
    for cost in ("params", "macs", "time"):
        assert (seeded / f"acc_vs_{cost}.png").read_bytes()[:8] == PNG_MAGIC
    results = json.loads((seeded / "results.json").read_text())
    assert results["groups"][0]["test_acc"]["values"] == [float(a) for a in row["test_accs"].split(";")]


def test_compare_seeds_again_reuses_the_runs_and_refuses_a_changed_recipe(seeded, fashion_dir, capsys):
    before = (seeded / "runs" / "cnn" / "seed-0" / "summary.json").stat().st_mtime_ns
    assert main(["compare", "--models", "cnn", "--seeds", "2", *_data_args(fashion_dir, seeded), "--set", *TINY]) == 0
    assert "finished run found" in capsys.readouterr().out
    assert (seeded / "runs" / "cnn" / "seed-0" / "summary.json").stat().st_mtime_ns == before
    code = main(["compare", "--models", "cnn", "--seeds", "2", *_data_args(fashion_dir, seeded),
                 "--set", *TINY, "optim.lr=0.5"])
    assert code == 2
    assert "holds a run of another experiment (optim.lr" in one_error_line(capsys.readouterr().err)


def test_compare_seeds_needs_models(tmp_path, capsys):
    assert main(["compare", str(tmp_path), "--seeds", "2", "--out", str(tmp_path / "o")]) == 2
    assert "--seeds trains the models it compares" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------------------
# sweep


def test_parse_sweep_splits_swept_from_fixed_keys():
    fixed, axes = parse_sweep(["optim.lr=0.05,0.1", "optim.betas=[0.9, 0.99]", "train.epochs=2",
                               "optim.weight_decay=1e-5:1e-3:log", "data.batch_size=32:256"])
    assert fixed == ["optim.betas=[0.9, 0.99]", "train.epochs=2"]
    lr, wd, bs = axes
    assert lr.key == "optim.lr" and lr.values == (0.05, 0.1)
    assert wd.is_range and wd.log and not wd.integer and wd.low == pytest.approx(1e-5)
    assert bs.is_range and bs.integer and (bs.low, bs.high) == (32, 256)


def test_sweep_grid_trains_each_point_and_plots_each_key(tmp_path, fashion_dir):
    out = tmp_path / "sw"
    assert main(["sweep", "--model", "cnn", "--set", "optim.lr=0.01,0.1", *TINY, *_data_args(fashion_dir, out)]) == 0
    rows = read_csv(out / "leaderboard.csv")
    assert sorted(r["sets"] for r in rows) == ["optim.lr=0.01", "optim.lr=0.1"]
    from cnnzoo.config import load_config

    lrs = {p.name: load_config(p / "seed-0" / "config.yaml").optim.lr for p in (out / "runs").iterdir()}
    assert lrs == {"optim.lr=0.01": 0.01, "optim.lr=0.1": 0.1}
    assert (out / "sweep_optim.lr.png").read_bytes()[:8] == PNG_MAGIC
    assert json.loads((out / "results.json").read_text())["sweep"]["axes"] == ["optim.lr"]


def test_sweep_errors_are_one_line(tmp_path, capsys):
    assert main(["sweep", "--model", "cnn", "--set", "train.epochs=1", "--out", str(tmp_path / "a")]) == 2
    assert "nothing to sweep" in one_error_line(capsys.readouterr().err)
    assert main(["sweep", "--model", "cnn", "--set", "optim.lr=0.01:0.1", "--out", str(tmp_path / "b")]) == 2
    assert "is a range: give --trials N" in one_error_line(capsys.readouterr().err)


def test_sweep_trials_without_optuna_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "optuna", None)  # import optuna -> ImportError
    assert main(["sweep", "--model", "cnn", "--set", "optim.lr=0.01:0.1", "--trials", "2",
                 "--out", str(tmp_path / "o")]) == 2
    assert "pip install 'cnnzoo[sweep]'" in one_error_line(capsys.readouterr().err)


def test_sweep_trials_store_the_study_in_the_folder_and_resume_a_cut_off_trial(tmp_path, fashion_dir, capsys):
    optuna = pytest.importorskip("optuna")
    out = tmp_path / "opt"
    args = ["sweep", "--model", "cnn", "--set", "optim.lr=0.01:0.2:log", *TINY, "--trials", "2",
            *_data_args(fashion_dir, out)]
    # A trial cut off by an interruption: asked, never told.
    out.mkdir()
    study = optuna.create_study(study_name="cnnzoo-sweep", storage=f"sqlite:///{out / 'optuna.db'}",
                                direction="maximize")
    from cnnzoo.report.sweep import _space_text
    from cnnzoo.report.sweep import parse_sweep as parse

    fixed, axes = parse(["optim.lr=0.01:0.2:log", *TINY])
    study.set_user_attr("space", _space_text("cnn", fixed, axes, 1))
    cut = study.ask({"optim.lr": optuna.distributions.FloatDistribution(0.01, 0.2, log=True)})
    (out / "compare.json").write_text(json.dumps({"format": "cnnzoo-compare/1", "runs": []}))
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert f"trial {cut.number} was interrupted" in printed
    study = optuna.load_study(study_name="cnnzoo-sweep", storage=f"sqlite:///{out / 'optuna.db'}")
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 2
    assert any(t.params == cut.params for t in done)   # the cut-off values were asked again
    assert len(read_csv(out / "leaderboard.csv")) == 2
    # Run again: nothing left to do, nothing retrained.
    assert main(args) == 0
    assert "2 of 2 trials already finished" in capsys.readouterr().out
    # Another search space in the same folder is refused.
    assert main([*args[:4], "optim.lr=0.01:0.3:log", *args[5:]]) == 2
    assert "holds a search of another space" in one_error_line(capsys.readouterr().err)


# --------------------------------------------------------------------------------------------------
# ablate and the page


def test_ablate_trains_the_pair_and_the_page_is_generated_from_its_result(tmp_path, fashion_dir, capsys):
    out = tmp_path / "abl"
    assert main(["ablate", "resnet", "--seeds", "1", "--set", *TINY, "model.kwargs.width_mult=0.0625",
                 *_data_args(fashion_dir, out)]) == 0
    printed = capsys.readouterr().out
    assert "resnet / residual" in printed and "paper - ablated" in printed
    results = json.loads((out / "residual" / "results.json").read_text())
    arms = {g["key"]: g for g in results["groups"]}
    assert arms["ablated"]["sets"] == ["model.kwargs.residual=false"]
    assert arms["paper"]["params"] > arms["ablated"]["params"]   # the projections are gone
    cfg = (out / "residual" / "runs" / "ablated" / "seed-0" / "config.yaml").read_text()
    assert "residual: false" in cfg

    results_dir, page = tmp_path / "results", tmp_path / "ablations.md"
    results_dir.mkdir()
    results.update(format="cnnzoo-ablation/1", machine={"cpu": "test cpu", "torch": "x", "date": "d"},
                   command="python benchmarks/ablations.py run")
    (results_dir / "resnet-residual.json").write_text(json.dumps(results))
    script = ["page", "--results", str(results_dir), "--page", str(page)]
    assert _page_script().main(script) == 0
    text = page.read_text()
    acc = 100 * arms["paper"]["test_acc"]["values"][0]
    row = next(line for line in text.splitlines() if line.startswith("| resnet |"))
    assert f"{acc:.2f}" in row and "not measured yet" not in row
    assert "not measured yet" in next(line for line in text.splitlines() if line.startswith("| vgg |"))
    assert "Not measured yet: vgg-batch_norm" in text
    assert _page_script().main([*script, "--check"]) == 0
    page.write_text(text + "typed by hand\n")
    assert _page_script().main([*script, "--check"]) == 1


def _page_script():
    spec = importlib.util.spec_from_file_location("ablations_page", ROOT / "benchmarks" / "ablations.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ablations_script_selects_families_and_single_switches():
    select = _page_script().select
    assert [a.key for a in select("nin:batch_size")] == ["nin-batch_size"]
    assert [a.key for a in select("vgg, resnet")] == ["vgg-batch_norm", "vgg-init", "resnet-residual"]
    assert len(select(None)) == len(ABLATIONS)


def test_committed_ablations_page_is_what_the_committed_results_give(capsys):
    assert _page_script().main(["page", "--check"]) == 0, capsys.readouterr().out


def test_ablate_unknown_family_and_switch_are_one_line_errors(capsys):
    assert main(["ablate", "resnt"]) == 2
    assert "did you mean 'resnet'" in one_error_line(capsys.readouterr().err)
    assert main(["ablate", "vgg", "--switch", "bn"]) == 2
    assert "its ablations are: batch_norm, init" in one_error_line(capsys.readouterr().err)
    assert main(["ablate", "--list"]) == 0
    assert "the SE block improves the network it is added to" in capsys.readouterr().out
