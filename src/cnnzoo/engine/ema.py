"""Exponential moving average of the weights (``train.ema_decay``)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


class EMA:
    """Keeps ``ema = decay * ema + (1 - decay) * weights`` after every step, with buffers copied.
    Evaluating the average instead of the last weights smooths out the noise of the final steps."""

    def __init__(self, model: torch.nn.Module, decay: float) -> None:
        self.decay = decay
        self.params = [p.detach().clone() for p in model.parameters()]
        self.buffers = [b.detach().clone() for b in model.buffers()]

    @torch.no_grad()
    def update(self, model: torch.nn.Module) -> None:
        # one foreach kernel over all parameters: ema += (1 - decay) * (p - ema)
        torch._foreach_lerp_(self.params, [p.detach() for p in model.parameters()], 1 - self.decay)
        for e, b in zip(self.buffers, model.buffers(), strict=True):
            e.copy_(b)

    @torch.no_grad()
    def swap(self, model: torch.nn.Module) -> None:
        """Exchange the model's weights with the averaged ones (call twice to undo)."""
        mine = self.params + self.buffers
        theirs = list(model.parameters()) + list(model.buffers())
        for e, p in zip(mine, theirs, strict=True):
            tmp = p.detach().clone()
            p.copy_(e)
            e.copy_(tmp)

    def tensors(self) -> dict[str, torch.Tensor]:
        """The averaged weights, named for the checkpoint (``ema.p.i``, ``ema.b.i``)."""
        out = {f"ema.p.{i}": t for i, t in enumerate(self.params)}
        out.update({f"ema.b.{i}": t for i, t in enumerate(self.buffers)})
        return out

    def load(self, tensors: dict[str, torch.Tensor]) -> None:
        """The inverse of :meth:`tensors` (a KeyError when the checkpoint has no EMA)."""
        for i, t in enumerate(self.params):
            t.copy_(tensors[f"ema.p.{i}"])
        for i, t in enumerate(self.buffers):
            t.copy_(tensors[f"ema.b.{i}"])


@contextlib.contextmanager
def averaged(ema: EMA | None, model: torch.nn.Module) -> Iterator[None]:
    """Inside the block ``model`` holds the averaged weights (nothing changes when ``ema`` is None)."""
    if ema is None:
        yield
        return
    ema.swap(model)
    try:
        yield
    finally:
        ema.swap(model)
