"""docs/results.md's table of every recipe comes from the committed measurements, and says when a
recipe has none or has changed since it was measured."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def script():
    spec = importlib.util.spec_from_file_location("recipes_table", ROOT / "benchmarks" / "recipes_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_results_page_is_what_the_measurements_give(capsys):
    assert script().main(["--check"]) == 0, capsys.readouterr().out


def test_every_recipe_has_a_row_and_unmeasured_ones_say_so():
    s = script()
    table = s.render({})
    assert all(f"[`{r}`]" in table for r in s.recipes())
    assert "defaults" not in s.recipes() and "resnet" in s.recipes()
    assert table.count("| not measured yet |") == len(s.recipes())


def test_a_run_of_another_recipe_is_flagged():
    s = script()
    path = ROOT / "configs" / "resnet.yaml"
    run = {"test_acc": 0.9, "wall_s": 10.0, "model": "resnet18", "epochs": 5}
    assert not s.changed("resnet", run)                       # model and epochs agree (older records)
    assert s.changed("resnet", {**run, "epochs": 6})
    assert not s.changed("resnet", {**run, "recipe_sha256": s.recipe_digest(path)})
    assert s.changed("resnet", {**run, "recipe_sha256": "0" * 64})  # the digest decides where recorded
    record = {"resnet": {"runs": [{**run, "recipe_sha256": "0" * 64}], "machine": {"date": "2026-11-27 06:37 UTC"}}}
    assert "90.00% †" in s.render(record) and "time_to_accuracy.py resnet`" in s.render(record)


def test_updating_the_page_keeps_the_rest_of_it(tmp_path):
    s = script()
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nintro\n\n---\n\nthe compare table\n")
    results = tmp_path / "tta.json"
    results.write_text(json.dumps({"recipes": {}}))
    assert s.main(["--doc", str(doc), "--results", str(results)]) == 0
    text = doc.read_text()
    assert text.startswith("# Results\n\nintro") and text.rstrip().endswith("the compare table")
    assert s.main(["--doc", str(doc), "--results", str(results), "--check"]) == 0
    assert text.index(s.BEGIN) < text.index("---")


def test_a_recipe_without_a_full_run_quotes_its_reduced_run_of_the_same_network():
    s = script()
    short = {"run": {"model": "resnet18", "epochs": 1, "test_acc": 0.9012, "wall_s": 51.0, "load_before": [1.02]},
             "machine": {"date": "2026-11-27 21:40 UTC"}}
    table = s.render({}, {"resnet": short})
    row = next(line for line in table.splitlines() if line.startswith("| [`resnet`]"))
    assert "| not measured yet |" in row and "reduced: 1 epoch(s), 90.12% in 51.0 s, 2026-11-27 (load 1.02)" in row
    assert "benchmarks/reduced_runs.py" in table
    other = {"run": {**short["run"], "model": "resnet34"}, "machine": short["machine"]}
    assert "reduced:" not in s.render({}, {"resnet": other})   # another network: not this recipe's figure


def test_reduced_runs_are_not_listed_as_changed_recipes():
    s = script()
    short = {"run": {"model": "resnet18", "epochs": 1, "test_acc": 0.9, "wall_s": 51.0, "load_before": [1.0]},
             "machine": {"date": "2026-11-27 21:40 UTC"}}
    table = s.render({}, {"resnet": short, "fmnist-speedrun": short})
    assert "†" not in table   # two reduced runs once made a note listing "reduced, reduced"


def test_gpu_runs_have_their_own_table_with_seeds_and_changes_flagged():
    s = script()
    path = ROOT / "configs" / "fmnist-speedrun.yaml"
    runs = [{"test_acc": 0.9345 - i / 1000, "wall_s": 40.0 - i, "model": "resnet18", "epochs": 4,
             "command": f"cnnzoo train --config configs/fmnist-speedrun.yaml --set train.seed={i}",
             "recipe_sha256": s.recipe_digest(path), "device": "cuda:0 (NVIDIA H200), bf16, channels_last"}
            for i in range(3)]
    gpu = {"fmnist-speedrun": {"runs": runs, "machine": {"date": "2026-11-27 22:36 UTC", "gpu": "NVIDIA H200"}},
           "fmnist-best": {"runs": [{**runs[0], "recipe_sha256": "0" * 64}], "machine": {"gpu": "NVIDIA H200"}}}
    table = s.render({}, None, gpu)
    gpu_part = table.split("### On one GPU", 1)[1]
    assert "| 2 | 93.25% | 38.0 s |" in gpu_part and "NVIDIA H200" in gpu_part
    assert "93.45% †" in gpu_part and "(fmnist-best)" in gpu_part
    assert "### On one GPU" not in s.render({}, None, {})
