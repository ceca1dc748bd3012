"""Optimizers and learning-rate schedules.

Weight decay pulls weights towards zero to keep them small; applied to the scale and shift of a
normalization layer or to a bias it only fights the normalization, so by default those parameters
(every parameter with fewer than two dimensions) get none — the common practice since "Bag of Tricks
for Image Classification" (He et al., 2019).

A schedule here is a pure function of the global step: ``lr = schedule(step)``. The trainer sets the
rate before every step, so resuming needs nothing but the step count (no scheduler state to save).
A run extended past its schedule (``--resume RUN --epochs N`` on a finished run) keeps it: the steps
after its ``end`` hold the rate of its last step, so that the schedule is never restarted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config.schema import OPTIMIZERS, SCHEDULES, OptimConfig, ScheduleConfig
from ..config.validation import schedule_problem
from ..errors import ConfigError, did_you_mean


def param_groups(model: nn.Module, weight_decay: float, decay_norm_and_bias: bool,
                 head: Callable[[str], bool] | None = None, backbone_lr_mult: float = 1.0) -> list[dict[str, Any]]:
    """Parameter groups: with and without weight decay and, given ``head`` (a test on a parameter's
    name), the pretrained backbone's apart from the head's, the backbone's at ``backbone_lr_mult``
    times the learning rate (their ``lr_scale``, which :func:`set_lr` applies)."""
    scales: dict[bool, tuple[float, list[nn.Parameter], list[nn.Parameter]]] = \
        {False: (backbone_lr_mult, [], []), True: (1.0, [], [])} if head else {False: (1.0, [], [])}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        _, decay, no_decay = scales[bool(head and head(name))]
        (decay if decay_norm_and_bias or p.ndim > 1 else no_decay).append(p)
    groups: list[dict[str, Any]] = []
    for scale, decay, no_decay in scales.values():
        extra = {"lr_scale": scale} if head else {}
        if decay or not groups:
            groups.append({"params": decay, "weight_decay": weight_decay, **extra})
        if no_decay:
            groups.append({"params": no_decay, "weight_decay": 0.0, **extra})
    return groups


def build_optimizer(model: nn.Module, cfg: OptimConfig, device: torch.device,
                    head: Callable[[str], bool] | None = None) -> torch.optim.Optimizer:
    """The optimizer ``cfg`` names (one of the schema's OPTIMIZERS). Uses the fused/foreach implementations: one
    kernel over all parameters instead of a Python loop over them. ``head``: see :func:`param_groups`
    (fine-tuning: ``cfg.backbone_lr_mult`` for the rest)."""
    name = cfg.name.lower()
    groups = param_groups(model, cfg.weight_decay, cfg.decay_norm_and_bias, head, cfg.backbone_lr_mult)
    # foreach is the fast path on every device; fused needs CUDA for SGD/Adam in torch 2.4.
    fast: dict[str, bool] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    if name == "sgd":
        return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum,
                               nesterov=cfg.nesterov and cfg.momentum > 0, **fast)
    if name == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), eps=cfg.eps, **fast)
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.betas[0], cfg.betas[1]), eps=cfg.eps, **fast)
    raise ConfigError(f"unknown optimizer '{cfg.name}'{did_you_mean(cfg.name, OPTIMIZERS)}")


@dataclass
class LRSchedule:
    """lr(step) for ``total`` optimizer steps: optional linear warm-up, then the named shape."""

    name: str
    base_lr: float
    total: int
    steps_per_epoch: int
    warmup: int = 0
    warmup_start_factor: float = 0.01
    step_epochs: int = 30
    gamma: float = 0.1
    min_lr_factor: float = 0.0
    pct_start: float = 0.25
    div_factor: float = 25.0
    end: int | None = None  # the steps from here on (an extended run's) hold the rate of step end - 1

    @classmethod
    def from_config(cls, cfg: ScheduleConfig, base_lr: float, steps_per_epoch: int, epochs: int) -> LRSchedule:
        """The schedule ``cfg`` describes; checked again here for callers that built ``cfg`` by hand
        rather than through :func:`cnnzoo.config.load_config`."""
        if cfg.name not in SCHEDULES:
            raise ConfigError(f"unknown schedule '{cfg.name}'{did_you_mean(cfg.name, SCHEDULES)}")
        problem = schedule_problem(cfg, epochs)
        if problem:
            raise ConfigError(problem[1])
        return cls(name=cfg.name, base_lr=base_lr, total=max(1, steps_per_epoch * epochs),
                   steps_per_epoch=max(1, steps_per_epoch),
                   warmup=int(round(cfg.warmup_epochs * steps_per_epoch)),
                   warmup_start_factor=cfg.warmup_start_factor, step_epochs=cfg.step_epochs,
                   gamma=cfg.gamma, min_lr_factor=cfg.min_lr_factor, pct_start=cfg.pct_start,
                   div_factor=cfg.div_factor)

    def __call__(self, step: int) -> float:
        if self.end is not None and step >= self.end:
            step = self.end - 1
        lr = self.base_lr
        floor = self.base_lr * self.min_lr_factor
        if self.name == "onecycle":
            # Smith & Topin (2017): rise from lr/div_factor to lr, then anneal (cosine) to the floor.
            up = max(1, int(self.pct_start * self.total))
            start = self.base_lr / self.div_factor
            if step < up:
                return start + (self.base_lr - start) * _cos_ramp(step / up)
            t = min(1.0, (step - up) / max(1, self.total - up))
            return self.base_lr + (floor - self.base_lr) * _cos_ramp(t)
        if self.warmup and step < self.warmup:
            f = self.warmup_start_factor + (1 - self.warmup_start_factor) * step / self.warmup
            return self.base_lr * f
        if self.name == "constant":
            return lr
        if self.name == "step":
            return lr * self.gamma ** (step // (self.step_epochs * self.steps_per_epoch))
        # cosine (Loshchilov & Hutter, 2017), after the warm-up
        t = min(1.0, (step - self.warmup) / max(1, self.total - self.warmup))
        return floor + (self.base_lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


def _cos_ramp(t: float) -> float:
    """0 -> 1 along half a cosine."""
    return 0.5 * (1 - math.cos(math.pi * min(1.0, max(0.0, t))))


def match_param_layouts(optimizer: torch.optim.Optimizer) -> None:
    """Give each state buffer of ``optimizer`` its parameter's memory layout. A checkpoint stores
    buffers contiguous (NCHW); a channels_last model's parameters are NHWC, and CUDA's fused
    optimizers refuse tensors whose strides differ from their parameter's (a RuntimeError at the
    first step after a resume). Values are unchanged; buffers already laid out alike are kept."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            for name, buf in state.items():
                if isinstance(buf, torch.Tensor) and buf.shape == p.shape and buf.stride() != p.stride():
                    state[name] = torch.empty_like(p, dtype=buf.dtype).copy_(buf)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Every group at ``lr`` times its ``lr_scale`` (1 unless set: the backbone's when fine-tuning)."""
    for group in optimizer.param_groups:
        group["lr"] = lr * group.get("lr_scale", 1.0)
