"""Ablations: what each paper's key idea is worth, measured under one recipe with seeds.

:data:`ABLATIONS` is the one table of them: for each family, the switch that removes its key idea
(an ablation switch or option of the model, see cnnzoo.models.registry), the claim the pair tests,
and the recipe it trains under. ``cnnzoo ablate FAMILY`` reads it to train the pair (report/seeds.py:
the paper's arm and the ablated arm, each with seeds, into ``DIR/<ablation>/``), and
benchmarks/ablations.py reads it to write docs/ablations.md from the committed result files.

A claim is judged from the 95% interval of a difference of means (Welch's t, seeds.difference):

- ``better``: the paper's arm is more accurate. Confirmed when the whole interval of
  (paper - ablated) is above zero, refuted when it is below, otherwise "not measurable at this
  scale" (the seeds disagree more than the arms do).
- ``within:M``: the paper's arm loses at most ``M`` (a fraction, 0.01 = one point): confirmed when
  the interval's low end is above ``-M``, refuted when its high end is below ``-M``.
- ``reaches:X``: the paper's arm reaches accuracy ``X``: confirmed when its own interval is above
  ``X``, refuted when below. A run shorter than its recipe (``reduced``) can confirm such a claim
  but not refute it: the recipe's remaining epochs may still get there.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError, did_you_mean
from .seeds import Arm, Group, SeedsResult, Stat, compare_seeds, difference


@dataclass(frozen=True)
class Claim:
    """A sentence, where it comes from (``key idea``: the pair's own claim, or a lesson page), and how
    the pair tests it."""

    text: str
    test: str            # "better", "within:M" or "reaches:X" (module docstring)
    source: str = "key idea"


@dataclass(frozen=True)
class Ablation:
    """One family's experiment: ``recipe`` with ``paper`` sets (the paper's idea) against ``ablated`` sets."""

    family: str
    name: str
    recipe: str
    idea: str
    paper: tuple[str, ...]
    ablated: tuple[str, ...]
    claims: tuple[Claim, ...]

    @property
    def paper_setting(self) -> str:
        return " ".join(s.replace("model.kwargs.", "") for s in self.paper) or "the recipe as it is"

    @property
    def ablated_setting(self) -> str:
        return " ".join(s.replace("model.kwargs.", "") for s in self.ablated)

    @property
    def claim(self) -> str:
        return self.claims[0].text

    @property
    def key(self) -> str:
        return f"{self.family}-{self.name}"

    def arms(self) -> list[Arm]:
        return [Arm("paper", self.recipe, self.paper, f"{self.recipe} ({self.paper_setting})"),
                Arm("ablated", self.recipe, self.ablated, f"{self.recipe} ({self.ablated_setting})")]


_K = "model.kwargs."

ABLATIONS: tuple[Ablation, ...] = (
    Ablation("vgg", "batch_norm", "vgg", "BatchNorm after every convolution (a later addition to VGG)",
             (), (f"{_K}batch_norm=false",),
             (Claim("BatchNorm makes VGG more accurate at equal epochs", "better"),
              Claim("BatchNorm has a regularizing effect", "better", "lesson: batchnorm"))),
    Ablation("vgg", "init", "vgg", "Xavier (Glorot) initialization, without BatchNorm to rescue a poor start",
             (f"{_K}batch_norm=false", f"{_K}init=xavier"), (f"{_K}batch_norm=false", f"{_K}init=kaiming"),
             (Claim("without Xavier initialization VGG performs poorly (here: against He initialization)",
                    "better", "lesson: vgg"),)),
    Ablation("nin", "batch_norm", "nin", "BatchNorm in every NiN block (not in the paper, which predates it)",
             (), (f"{_K}batch_norm=false",),
             (Claim("BatchNorm makes NiN more accurate at equal epochs", "better"),)),
    Ablation("nin", "init", "nin", "Xavier initialization (NiN's default) against He",
             (f"{_K}init=xavier",), (f"{_K}init=kaiming",),
             (Claim("Xavier initialization trains NiN at least as well as He", "within:0.005"),)),
    Ablation("nin", "batch_size", "nin", "a smaller batch (64) against a larger one (256), same learning rate",
             ("data.batch_size=64",), ("data.batch_size=256",),
             (Claim("NiN: a smaller batch size gives better performance", "better", "lesson: nin"),)),
    Ablation("googlenet", "aux_logits", "googlenet", "auxiliary classifiers on Inception 4a and 4d (weight 0.3)",
             (f"{_K}aux_logits=true",), (f"{_K}aux_logits=false",),
             (Claim("the auxiliary classifiers help GoogLeNet train", "better"),)),
    Ablation("resnet", "residual", "resnet", "the identity shortcut around every block",
             (), (f"{_K}residual=false",),
             (Claim("the shortcut makes the network more accurate than the plain one of the same depth", "better"),)),
    Ablation("densenet", "concat", "densenet", "concatenating every earlier layer's features",
             (), (f"{_K}connection=add",),
             (Claim("concatenation beats addition at equal width", "better"),)),
    Ablation("senet", "se", "senet", "a Squeeze-and-Excitation gate on every residual branch",
             (), (f"{_K}attention=false",),
             (Claim("the SE block improves the network it is added to", "better", "lesson: senet"),)),
    Ablation("mixer", "token_mixing", "mlpmixer", "the token-mixing MLP: the only layer that looks across patches",
             (), (f"{_K}token_mixing=false",),
             (Claim("token mixing is what lets a Mixer use the image's layout", "better"),
              Claim("MLP-Mixer can learn without convolutions (reaches 85% on Fashion-MNIST)", "reaches:0.85",
                    "lesson: mlpmixer"))),
    Ablation("mobilenet", "depthwise", "mobilenet", "depthwise-separable convolutions instead of full ones",
             (), (f"{_K}depthwise=false",),
             (Claim("depthwise-separable convolutions cost at most one point of accuracy (paper Table 4: 1.1 "
                    "points on ImageNet) for a fraction of the parameters", "within:0.01"),)),
)


def families() -> list[str]:
    return list(dict.fromkeys(a.family for a in ABLATIONS))


def ablations_of(family: str, switch: str | None = None) -> list[Ablation]:
    """The ablations of ``family`` (a family, or a model or recipe name of it), or only ``switch``."""
    from ..errors import CnnzooError
    from ..models.registry import model_info

    name = family.strip().lower()
    if name not in families():
        try:
            name = model_info(name).family
        except CnnzooError:
            pass
    if name not in families():
        raise ConfigError(f"no ablation for '{family}'{did_you_mean(family, families())}; the families are: "
                          f"{', '.join(families())}")
    chosen = [a for a in ABLATIONS if a.family == name]
    if switch is not None:
        names = [a.name for a in chosen]
        chosen = [a for a in chosen if a.name == switch]
        if not chosen:
            raise ConfigError(f"{name} has no ablation '{switch}'{did_you_mean(switch, names)}; "
                              f"its ablations are: {', '.join(names)}")
    return chosen


def ablate(ablations: Sequence[Ablation], out: str | Path, *, seeds: int = 3,
           overrides: Mapping[str, Any] | None = None, sets: Sequence[str] = (), quiet: bool = False,
           say: Callable[[str], None] = print) -> list[tuple[Ablation, SeedsResult]]:
    """Train each ablation's pair with ``seeds`` seeds into ``out/<name>`` (resumable, as compare)."""
    results = []
    for abl in ablations:
        extra = {"ablation": {"family": abl.family, "name": abl.name, "recipe": abl.recipe, "idea": abl.idea,
                              "paper": list(abl.paper), "ablated": list(abl.ablated), "sets": list(sets),
                              "overrides": {k: v for k, v in (overrides or {}).items() if v is not None},
                              "claims": [c.text for c in abl.claims]}}
        results.append((abl, compare_seeds(abl.arms(), Path(out) / abl.name, seeds, overrides=overrides,
                                           sets=sets, quiet=quiet, say=say, title=f"Ablation: {abl.key}",
                                           extra=extra)))
    return results


# --------------------------------------------------------------------------------------------------
# Verdicts


def verdict(claim: Claim, paper: Stat | None, ablated: Stat | None, *, reduced: bool = False) -> str:
    """``confirmed``, ``refuted`` or ``not measurable at this scale`` (module docstring); ``reduced``:
    the runs trained fewer epochs than their recipe."""
    if paper is None or (ablated is None and not claim.test.startswith("reaches")):
        return "not measured yet"
    if claim.test.startswith("reaches:"):
        x = float(claim.test.split(":", 1)[1])
        if paper.n < 2:
            return "not measurable at this scale"
        if paper.low > x:
            return "confirmed"
        return "refuted" if paper.high < x and not reduced else "not measurable at this scale"
    assert ablated is not None
    if paper.n < 2 or ablated.n < 2:
        return "not measurable at this scale"
    diff, ci = difference(paper, ablated)
    if math.isnan(ci):
        return "not measurable at this scale"
    margin = float(claim.test.split(":", 1)[1]) if claim.test.startswith("within:") else 0.0
    if diff - ci > -margin:
        return "confirmed"
    if diff + ci < -margin:
        return "refuted"
    return "not measurable at this scale"


def recipe_epochs(recipe: str) -> int | None:
    """The epochs ``configs/<recipe>.yaml`` trains (None when there is no such recipe)."""
    from ..config import find_recipe, load_config

    path = find_recipe(recipe)
    return None if path is None else load_config(path).train.epochs


def is_reduced(abl: Ablation, epochs: Sequence[int | None]) -> bool:
    """Did runs of ``epochs`` train fewer epochs than the ablation's recipe?"""
    full = recipe_epochs(abl.recipe)
    return full is not None and any(e is not None and e < full for e in epochs)


# --------------------------------------------------------------------------------------------------
# A committed result file (benchmarks/results/ablations/<family>-<name>.json) and its numbers in words

RESULTS_FORMAT = "cnnzoo-ablation/1"


def result_arm(data: Mapping[str, Any] | None, key: str) -> Mapping[str, Any] | None:
    """The ``paper`` or ``ablated`` group of a result file's content."""
    if data is None:
        return None
    return next((g for g in data.get("groups", []) if g.get("key") == key), None)


def result_stat(group: Mapping[str, Any] | None, field_: str = "test_acc") -> Stat | None:
    """Recomputed from the per-seed values, not read from the file's summary."""
    if group is None or group.get(field_) is None:
        return None
    return Stat.of(group[field_]["values"])


def result_verdict(abl: Ablation, claim: Claim, data: Mapping[str, Any] | None) -> str:
    """The claim's verdict from a result file, runs shorter than the recipe taken into account."""
    epochs = [g.get("epochs") for g in (data or {}).get("groups", [])]
    paper, ablated = result_stat(result_arm(data, "paper")), result_stat(result_arm(data, "ablated"))
    return verdict(claim, paper, ablated, reduced=is_reduced(abl, epochs))


def pct(s: Stat | None) -> str:
    """``mean ± std`` in percent (the mean alone for one seed)."""
    if s is None:
        return "not measured yet"
    return f"{100 * s.mean:.2f} ± {100 * s.std:.2f}" if s.n > 1 else f"{100 * s.mean:.2f}"


def diff_interval(a: Stat | None, b: Stat | None) -> str:
    """``a - b`` in points with its 95% interval."""
    if a is None or b is None:
        return "not measured yet"
    d, ci = difference(a, b)
    if math.isnan(ci):
        return f"{100 * d:+.2f} (one seed: no interval)"
    return f"{100 * d:+.2f} [{100 * (d - ci):+.2f}, {100 * (d + ci):+.2f}]"


def arm_stats(groups: Sequence[Group]) -> tuple[Stat | None, Stat | None]:
    by_key = {g.arm.key: g.stat("test_acc") for g in groups}
    return by_key.get("paper"), by_key.get("ablated")


def describe_difference(abl: Ablation, groups: Sequence[Group]) -> str:
    """One paragraph: the difference of the means with its interval, and each claim's verdict."""
    paper, ablated = arm_stats(groups)
    lines = []
    if paper is not None and ablated is not None:
        diff, ci = difference(paper, ablated)
        span = "" if math.isnan(ci) else f" ± {100 * ci:.2f}"
        lines.append(f"paper - ablated: {100 * diff:+.2f}{span} points of test accuracy (95% interval, "
                     f"{paper.n} and {ablated.n} seeds)")
    reduced = is_reduced(abl, [g.first("epochs") for g in groups])
    for c in abl.claims:
        lines.append(f"  {verdict(c, paper, ablated, reduced=reduced)}: {c.text}")
    return "\n".join(lines)
