"""`torchrun -m cnnzoo train` on the CPU: 2 gloo ranks, end to end, against one process.

The equivalence runs use LeNet-5 without BatchNorm: with BatchNorm each rank normalizes with
the statistics of its own 16 images, one process with those of all 32, so the two runs would
(rightly) differ. SyncBatchNorm would make them agree, but PyTorch runs it only on CUDA.
Augmentation stays on (the defaults crop by 2 px): crops and flips are drawn per position in the
epoch, and rank r of 2 takes positions r, r+2, ..., so step k of the two ranks covers exactly the
images, with the same crops, of step k of one process with the global batch.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import shutil
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from cnnzoo.cli import main

from .launch import Launch, finish, free_port, start_torchrun, torchrun

# Adam because sigmoid LeNet barely moves in two epochs with SGD; fp32 so that the only difference
# between the runs is the order of floating-point sums; one thread per process on the two CI cores.
LENET = ["--model", "lenet5", "--dataset", "fashion-mnist", "--offline", "--epochs", "2", "--device", "cpu",
         "--seed", "3", "--set", "train.precision=fp32", "train.threads=1", "optim.name=adam", "optim.lr=0.01"]
PER_RANK = 16


def rows(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = (load_file(str(run / "checkpoints" / "last.safetensors")) for run in (a, b))
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=1e-4, atol=1e-5, msg=lambda m, k=k: f"{k}: {m}")


@pytest.fixture(scope="session")
def ddp_pair(tmp_path_factory, fashion_dir, worker_id):
    """The same run with batch 32 on 2 ranks (16 each; default run directory under ./runs) and in
    one process. Made once per session, also under pytest-xdist: the first worker to
    get here trains while the others wait on a lock. Tests copy the runs before changing them."""
    shared = tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent
    root, single = shared / "ddp-pair", shared / "ddp-single" / "run"
    with open(shared / "ddp-pair.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "ddp-pair.json").is_file():
            root.mkdir()
            lenet = [*LENET, "--data-dir", str(fashion_dir)]
            launch = torchrun(["train", *lenet, "--batch-size", str(2 * PER_RANK), "--set", "output.root=runs"],
                              cwd=root)
            assert launch.returncode == 0, launch.stderr[-3000:]
            assert main(["train", *lenet, "--batch-size", str(2 * PER_RANK), "--out", str(single), "--quiet",
                         "--set", "output.plots=false"]) == 0
            (shared / "ddp-pair.json").write_text(json.dumps(dataclasses.asdict(launch)))
        launch = Launch(**json.loads((shared / "ddp-pair.json").read_text()))
    runs = list((root / "runs").iterdir())
    return SimpleNamespace(root=root, launch=launch, runs=runs, run=runs[0], single=single)


def test_two_ranks_take_the_steps_of_one_process_with_the_global_batch(ddp_pair):
    assert_same_weights(ddp_pair.run, ddp_pair.single)
    # Train metrics are summed over both shards before rank 0 writes them: rank 0's shard alone
    # would give other numbers.
    for d, s in zip(rows(ddp_pair.run), rows(ddp_pair.single), strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc"):
            assert d[key] == pytest.approx(s[key], rel=1e-5), key


def test_rank_zero_alone_prints_and_writes_one_run_directory_that_eval_loads(ddp_pair, tmp_path, capsys):
    root, run, out = ddp_pair.root, ddp_pair.run, ddp_pair.launch.stdout
    assert len(ddp_pair.runs) == 1 and sorted(p.name for p in root.iterdir()) == ["runs"], list(root.rglob("*"))
    assert out.count("cnnzoo 0") == 1 and out.count("params / MACs") == 1, out  # banner, final table
    assert f"steps of {PER_RANK} per rank ({2 * PER_RANK} in all)" in out
    assert [r["epoch"] for r in rows(run)] == [1, 2]
    s = json.loads((run / "summary.json").read_text())
    assert s["world_size"] == 2 and s["epochs"] == 2 and s["model"] == "lenet5"
    assert s["test_acc"] > 0.8, s  # the synthetic classes are easy: the run learnt them
    for name in ("last.safetensors", "last.state.safetensors", "best.safetensors"):
        assert (run / "checkpoints" / name).stat().st_size > 0
    assert (run / "plots" / "curves.png").is_file() and (run / "plots" / "confusion.png").is_file()

    capsys.readouterr()
    assert main(["eval", str(run), "--device", "cpu", "--offline", "--json", "--out", str(tmp_path / "eval.json")]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 200 and result["accuracy"] == pytest.approx(s["test_acc"], abs=0)


def test_resume_under_torchrun_continues_as_one_process_would(ddp_pair, tmp_path):
    ddp = shutil.copytree(ddp_pair.run, tmp_path / "ddp")
    single = shutil.copytree(ddp_pair.single, tmp_path / "single")
    launch = torchrun(["train", "--resume", str(ddp), "--epochs", "3", "--quiet", "--set", "output.plots=false"],
                      cwd=tmp_path)
    assert launch.returncode == 0, launch.stderr[-3000:]
    assert main(["train", "--resume", str(single), "--epochs", "3", "--quiet"]) == 0
    assert [r["epoch"] for r in rows(ddp)] == [1, 2, 3]
    assert_same_weights(ddp, single)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ddp", "single"]  # no other run directory


def test_resuming_on_another_number_of_ranks_is_refused(ddp_pair, tmp_path, capsys):
    run = shutil.copytree(ddp_pair.run, tmp_path / "run")
    before = (run / "checkpoints" / "last.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "--epochs", "3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    assert "trained on 2 ranks and this run has 1" in err and "--config" in err
    assert (run / "checkpoints" / "last.safetensors").read_bytes() == before


def test_data_missing_on_one_machine_stops_both_machines_with_its_message(fashion_dir, tmp_path):
    """Two machines (two torchrun agents, one rank each) run the same command; the second has no
    ./data. Each terminal shows rank 1's message once, nobody waits for a timeout, and no run
    directory is left behind."""
    machines = [tmp_path / "machine0", tmp_path / "machine1"]
    for m in machines:
        m.mkdir()
    shutil.copytree(fashion_dir, machines[0] / "data")
    args = ["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", "data", "--offline",
            "--epochs", "1", "--device", "cpu", "--out", str(tmp_path / "run")]
    port, started = free_port(), time.monotonic()
    agents = [start_torchrun(args, cwd=m, nproc=1, port=port, nodes=(i, 2)) for i, m in enumerate(machines)]
    first, second = (finish(a, started) for a in agents)

    missing = "--data-dir data does not exist (for fashion-mnist)"
    assert first.returncode != 0 and second.returncode != 0
    assert len(second.error_lines()) == 1, second.stderr
    assert second.error_lines()[0].startswith(f"error: [rank 1] {missing}")
    assert len(first.error_lines()) == 1, first.stderr
    assert first.error_lines()[0].startswith(f"error: [rank 0] stopped because a rank failed (rank 1: {missing}")
    # torchrun's own failure summary names the cause instead of pointing at its documentation
    assert f"traceback : error: [rank 1] {missing}" in second.stderr
    assert not (tmp_path / "run").exists()


def test_an_error_on_rank_zero_alone_ends_both_ranks_with_one_line(fashion_dir, tmp_path):
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "notes.txt").write_text("someone's work")
    launch = torchrun(["train", "--model", "cnn", "--dataset", "fashion-mnist", "--data-dir", str(fashion_dir),
                       "--offline", "--epochs", "1", "--device", "cpu", "--out", str(taken)], cwd=tmp_path)
    assert launch.returncode != 0
    assert len(launch.error_lines()) == 1, launch.stderr  # rank 1 stops too, silently: rank 0 said why
    assert launch.error_lines()[0].startswith(f"error: [rank 0] --out {taken} already exists and is not empty")
    assert [p.name for p in taken.iterdir()] == ["notes.txt"]


@pytest.mark.slow
def test_ctrl_c_under_torchrun_saves_and_resumes_as_one_process_would(fashion_dir, tmp_path):
    """Ctrl-C reaches torchrun, which passes SIGINT to both ranks; they agree on it within 32
    steps, rank 0 checkpoints, and the resumed run ends with the weights of one uninterrupted
    process with the global batch. Slow (~25 s): `pytest -m slow tests/distributed`."""
    lenet = [*LENET, "--data-dir", str(fashion_dir), "--epochs", "6", "--quiet"]
    run = tmp_path / "ddp"
    started = time.monotonic()
    proc = start_torchrun(["train", *lenet, "--batch-size", str(2 * PER_RANK), "--out", str(run)], cwd=tmp_path)
    while not (run / "metrics.jsonl").is_file() and proc.poll() is None:  # epoch 1 is done
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)  # what the terminal sends torchrun on Ctrl-C
    stopped = finish(proc, started)
    assert stopped.stdout.count("checkpoint saved. Resume with:") == 1, stopped.stdout  # rank 0 only
    assert len(rows(run)) < 6

    resumed = torchrun(["train", "--resume", str(run), "--quiet"], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert main(["train", *lenet, "--batch-size", str(2 * PER_RANK), "--out", str(tmp_path / "single")]) == 0
    assert [r["epoch"] for r in rows(run)] == [1, 2, 3, 4, 5, 6]
    assert_same_weights(run, tmp_path / "single")
