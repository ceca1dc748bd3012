"""docs/ablations.md: what each paper's key idea is worth, from committed result files.

    python benchmarks/ablations.py run --epochs 1 --seeds 3     train every pair, write the results, the page
    python benchmarks/ablations.py run --only resnet,senet      some families (their results replace the old)
    python benchmarks/ablations.py run --only nin:batch_size    one ablation (parallel processes: one each)
    python benchmarks/ablations.py page                         the page from the committed results only
    python benchmarks/ablations.py page --check                 exit 1 if docs/ablations.md is not that page

``run`` trains each ablation of cnnzoo.report.ablations.ABLATIONS (``cnnzoo ablate``'s table) under its
family's recipe with ``--epochs`` (reduced, for a CPU) and ``--seeds`` seeds into ``--work`` (resumable:
run it again after an interruption), then writes ``benchmarks/results/ablations/<family>-<name>.json``
(the per-seed numbers, the machine, the command) and the page. ``page`` reads only those files, so
every number on the page comes from a committed measurement; an ablation without a file is listed as
"not measured yet".
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cnnzoo.report.ablations import ABLATIONS, Ablation, Claim, is_reduced, verdict  # noqa: E402  (after the path line)
from cnnzoo.report.seeds import Stat, difference  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "ablations"
PAGE = ROOT / "docs" / "ablations.md"
FORMAT = "cnnzoo-ablation/1"
RUN_COMMAND = "python benchmarks/ablations.py run --epochs 1 --seeds 3"


# --------------------------------------------------------------------------------------------------
# Reading the result files


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    """``<family>-<name>`` -> the result file's content, for every file in ``folder``."""
    out = {}
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise SystemExit(f"{path}: not a {FORMAT} file")
        out[path.stem] = data
    return out


def _arm(data: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
    if data is None:
        return None
    return next((g for g in data["groups"] if g["key"] == key), None)


def _stat(group: dict[str, Any] | None, field: str = "test_acc") -> Stat | None:
    """Recomputed from the per-seed values, not read from the file's summary."""
    if group is None or group.get(field) is None:
        return None
    return Stat.of(group[field]["values"])


# --------------------------------------------------------------------------------------------------
# The page


def _pct(s: Stat | None) -> str:
    if s is None:
        return "not measured yet"
    return f"{100 * s.mean:.2f} ± {100 * s.std:.2f}" if s.n > 1 else f"{100 * s.mean:.2f}"


def _diff(a: Stat | None, b: Stat | None) -> str:
    if a is None or b is None:
        return "not measured yet"
    d, ci = difference(a, b)
    if math.isnan(ci):
        return f"{100 * d:+.2f} (one seed: no interval)"
    return f"{100 * d:+.2f} [{100 * (d - ci):+.2f}, {100 * (d + ci):+.2f}]"


def _params(group: dict[str, Any] | None) -> str:
    if group is None or group.get("params") is None:
        return "-"
    p = group["params"]
    return f"{p / 1e6:.2f}M" if p >= 1e6 else f"{p / 1e3:.1f}K"


def _claim_line(abl: Ablation, claim: Claim, data: dict[str, Any] | None) -> str:
    paper, ablated = _stat(_arm(data, "paper")), _stat(_arm(data, "ablated"))
    epochs = [g.get("epochs") for g in (data or {}).get("groups", [])]
    reduced = is_reduced(abl, epochs)
    v = verdict(claim, paper, ablated, reduced=reduced)
    where = f"`{abl.key}`"
    if v == "not measured yet":
        return f"- *{claim.text}* ({claim.source}; {where}): **not measured yet**"
    if claim.test.startswith("reaches:"):
        numbers = f"{_pct(paper)}% test accuracy, 95% interval " + (
            f"[{100 * paper.low:.2f}, {100 * paper.high:.2f}]" if paper and paper.n > 1 else "-")
        if reduced and v != "confirmed":
            numbers += f" after {'/'.join(str(e) for e in sorted(set(epochs)))} epoch(s), fewer than the recipe's"
            full = full_length(abl.recipe)
            if full is not None:
                numbers += (f"; the recipe at full length, one seed: {100 * full['test_acc']:.2f}% "
                            f"({full['device']}, `{full['source']}`)")
    else:
        numbers = f"paper - ablated {_diff(paper, ablated)} points"
    return f"- *{claim.text}* ({claim.source}; {where}): **{v}**, {numbers}"


def render(results: dict[str, dict[str, Any]]) -> str:
    measured = [a for a in ABLATIONS if a.key in results]
    lines = ["# Ablations: what each paper's key idea is worth", "",
             "<!-- Generated by benchmarks/ablations.py from benchmarks/results/ablations/*.json; do not edit. -->",
             "",
             "Each family's key idea, switched off under the family's own recipe (`configs/<recipe>.yaml`) and "
             "nothing else changed: the paper's network and the ablated one, each trained with several seeds on "
             "Fashion-MNIST. `cnnzoo ablate FAMILY` runs one pair; `cnnzoo ablate --list` lists them. The switches "
             "are model options (docs/models.md, \"Ablation switches\").", "",
             "How to read it: accuracies are the mean ± standard deviation over the seeds; the difference is "
             "paper minus ablated, in points of test accuracy, with its 95% interval (Welch's t). A claim is "
             "*confirmed* when the whole interval is on its side, *refuted* when it is on the other side, and "
             "*not measurable at this scale* when the interval straddles the line: the seeds disagree more than "
             "the arms do at these few epochs.", ""]
    if not measured:
        lines += ["**Not measured yet.** No result file is committed, so the table below lists the experiments "
                  "without numbers. Measure them on a quiet machine with:", "", "```", RUN_COMMAND, "```", ""]
    else:
        setups = sorted({_setup(results[a.key]) for a in measured})
        lines += ["Measured: " + "; ".join(setups) + ".", ""]
        missing = [a.key for a in ABLATIONS if a.key not in results]
        if missing:
            lines += [f"Not measured yet: {', '.join(missing)} (`{RUN_COMMAND} --only FAMILY`).", ""]
    lines += ["| family | key idea | paper's arm | ablated arm | paper acc (%) | ablated acc (%) | "
              "difference [95%] | params (paper / ablated) |",
              "|---|---|---|---|---:|---:|---:|---:|"]
    for a in ABLATIONS:
        data = results.get(a.key)
        pa, ab = _arm(data, "paper"), _arm(data, "ablated")
        lines.append(f"| {a.family} | {a.idea} | {a.paper_setting} | {a.ablated_setting} | {_pct(_stat(pa))} | "
                     f"{_pct(_stat(ab))} | {_diff(_stat(pa), _stat(ab))} | {_params(pa)} / {_params(ab)} |")
    lines += ["", "## The lessons' claims", ""]
    lessons = [(a, c) for a in ABLATIONS for c in a.claims if c.source.startswith("lesson")]
    lines += [_claim_line(a, c, results.get(a.key)) for a, c in lessons]
    lines += ["", "## The key ideas' claims", ""]
    lines += [_claim_line(a, c, results.get(a.key)) for a in ABLATIONS for c in a.claims
              if not c.source.startswith("lesson")]
    lines += ["", "Regenerate this page with `python benchmarks/ablations.py page`; measure with "
              f"`{RUN_COMMAND}`.", ""]
    return "\n".join(lines)


def _setup(data: dict[str, Any]) -> str:
    """How a result was measured, in words that repeat across the files of one session: epochs, seeds,
    device, torch, day and the command with its per-ablation arguments generalized."""
    m = data.get("machine", {})
    groups = data.get("groups", [])
    seeds = sorted({len(g["test_acc"]["values"]) for g in groups if g.get("test_acc")})
    epochs = sorted({g.get("epochs") for g in groups if g.get("epochs") is not None})
    devices = sorted({g["device"] for g in groups if g.get("device")}) or [m.get("cpu", "?")]
    return (f"{'/'.join(map(str, epochs)) or '?'} epoch(s), {'/'.join(map(str, seeds)) or '?'} seeds per arm, "
            f"{' / '.join(devices)}, torch {m.get('torch', '?')}, {str(m.get('date', '?'))[:10]}, "
            f"`{_general(data.get('command', '?'))}`")


def _general(cmd: str) -> str:
    """``cmd`` without what differs between the ablations of one session (which one, where it wrote)."""
    cmd = re.sub(r"--only \S+", "--only FAMILY:SWITCH", cmd)
    return re.sub(r" --(work|results|page) \S+", "", cmd)


def full_length(recipe: str) -> dict[str, Any] | None:
    """The recipe's committed full-length result (recipe_curves.json, else time_to_accuracy.json), if
    it was trained as the recipe stands now."""
    if str(ROOT / "benchmarks") not in sys.path:  # imported from elsewhere (the tests)
        sys.path.insert(0, str(ROOT / "benchmarks"))
    from recipes_table import changed

    for name in ("recipe_curves", "time_to_accuracy"):
        path = ROOT / "benchmarks" / "results" / f"{name}.json"
        if not path.is_file():
            continue
        entry = json.loads(path.read_text(encoding="utf-8")).get("recipes", {}).get(recipe)
        runs = ([entry["run"]] if "run" in entry else entry.get("runs", [])) if entry else []
        for run in runs:
            if run.get("test_acc") is not None and not changed(recipe, run):
                return {"test_acc": run["test_acc"], "device": run.get("device", "?"),
                        "source": f"benchmarks/results/{name}.json"}
    return None


# --------------------------------------------------------------------------------------------------
# Running the pairs


def select(only: str | None) -> list[Ablation]:
    """``--only``'s ablations: families (``resnet,senet``) or single switches (``nin:batch_size``)."""
    from cnnzoo.report.ablations import ablations_of

    if not only:
        return list(ABLATIONS)
    return [a for item in only.split(",") for a in ablations_of(*item.strip().split(":", 1))]


def run(args: argparse.Namespace) -> None:
    from _common import command, machine

    from cnnzoo.report.ablations import ablate

    chosen = select(args.only)
    overrides = {"train.epochs": args.epochs, "data.data_dir": args.data_dir, "train.device": args.device,
                 "data.offline": True if args.offline else None}
    results_dir = Path(args.results)
    results_dir.mkdir(parents=True, exist_ok=True)
    for abl in chosen:
        [(_, result)] = ablate([abl], Path(args.work) / abl.family, seeds=args.seeds, overrides=overrides,
                               sets=args.set, quiet=True)
        data = json.loads((result.out / "results.json").read_text(encoding="utf-8"))
        data.update(format=FORMAT, machine=machine(), command=command())
        (results_dir / f"{abl.key}.json").write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        print(f"wrote {results_dir / f'{abl.key}.json'}")
    write_page(results_dir, Path(args.page))


def write_page(results_dir: Path, page: Path) -> None:
    page.write_text(render(load_results(results_dir)), encoding="utf-8")
    print(f"wrote {page}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="train every ablation pair, write the result files and the page")
    r.add_argument("--epochs", type=int, default=1, help="epochs of every run (reduced for a CPU; default 1)")
    r.add_argument("--seeds", type=int, default=3, help="seeds per arm (default 3)")
    r.add_argument("--only", metavar="A,B",
                   help="only these families, or FAMILY:SWITCH for one ablation (nin:batch_size)")
    r.add_argument("--work", default="runs/ablations", help="where the runs go (resumable)")
    r.add_argument("--data-dir", help="where Fashion-MNIST is")
    r.add_argument("--device", help="auto, cpu, cuda")
    r.add_argument("--offline", action="store_true")
    r.add_argument("--set", nargs="*", default=[], help="more --set overrides for every run")
    g = sub.add_parser("page", help="write docs/ablations.md from the result files")
    g.add_argument("--check", action="store_true", help="exit 1 if the page differs from what the files give")
    for q in (r, g):
        q.add_argument("--results", default=str(RESULTS), help="the result files' folder")
        q.add_argument("--page", default=str(PAGE), help="the page to write")
    args = p.parse_args(argv)
    if args.command == "run":
        run(args)
        return 0
    page = Path(args.page)
    text = render(load_results(Path(args.results)))
    if args.check:
        if not page.is_file() or page.read_text(encoding="utf-8") != text:
            print(f"{page} is not what the result files give; run python benchmarks/ablations.py page")
            return 1
        return 0
    page.write_text(text, encoding="utf-8")
    print(f"wrote {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
