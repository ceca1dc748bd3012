"""Fine-tuning pretrained weights: train the new head first, then everything (fastai's ``fine_tune``).

A freshly initialized head on top of pretrained layers sends large, random gradients into them in
the first steps, and the pretrained features are damaged before the head has learned to read them.
fastai's ``fine_tune(epochs, freeze_epochs=1)`` therefore trains the head alone for
``freeze_epochs`` epochs, then unfreezes everything; and the pretrained layers keep a smaller
learning rate than the head's (``optim.backbone_lr_mult``, applied by the optimizer's parameter
groups, see :func:`cnnzoo.engine.optim.param_groups`).

:class:`FreezeBackbone` is that first half, as a callback. Whether the backbone is frozen is a
pure function of the epoch (``epoch < freeze_epochs``), decided at the start of every epoch, so a
run resumed from any checkpoint, before or after the unfreeze, trains what the uninterrupted run
trained: nothing about it needs saving. Frozen means ``requires_grad=False``: no gradient is
computed for the backbone (a frozen epoch costs about a forward and the head's backward), the
optimizer skips its parameters (no step, no weight decay, no momentum); BatchNorm's running
statistics keep adapting to the new data, as in fastai.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .callbacks import Callback

if TYPE_CHECKING:
    from torch import nn

    from .trainer import Trainer

# The head: the final classifier (and GoogLeNet's and Inception-v3's auxiliary classifiers), what another class count
# replaces; the same layers the weights loader leaves fresh.
HEAD = re.compile(r"^(classifier|aux\d*\.classifier)\.")


def is_head(name: str) -> bool:
    """Whether parameter ``name`` belongs to the head (trained at the full learning rate, never frozen)."""
    return bool(HEAD.match(name))


def set_backbone_trainable(model: nn.Module, trainable: bool) -> int:
    """(Un)freeze every parameter outside the head; returns how many tensors changed."""
    changed = 0
    for name, p in model.named_parameters():
        if not is_head(name) and p.requires_grad != trainable:
            p.requires_grad_(trainable)
            changed += 1
    return changed


class FreezeBackbone(Callback):
    """Train only the head for ``freeze_epochs`` epochs, then the whole network (module docstring)."""

    def __init__(self, freeze_epochs: int) -> None:
        self.freeze_epochs = freeze_epochs
        self.frozen: bool | None = None  # as last set (None: not yet)

    def on_train_epoch_start(self, trainer: Trainer) -> None:
        frozen = trainer.state.epoch < self.freeze_epochs
        if frozen == self.frozen:
            return
        set_backbone_trainable(trainer.model, not frozen)
        if self.frozen is not None or not frozen:
            trainer.console.info("fine-tuning: the whole network trains from this epoch on" if not frozen else
                                 "fine-tuning: the backbone is frozen again")
        else:
            trainer.console.info(f"fine-tuning: only the head trains for the first {self.freeze_epochs} "
                                 f"epoch{'s' if self.freeze_epochs != 1 else ''} (train.freeze_epochs)")
        self.frozen = frozen
        if trainer.dist.enabled:
            _rewrap(trainer)


def _rewrap(trainer: Trainer) -> None:
    """DDP registers the parameters that need gradients when it wraps the model: wrap again after a change."""
    import torch

    net = getattr(trainer.net, "_orig_mod", trainer.net)  # under torch.compile
    inner = getattr(net, "module", net)  # the module DDP wraps (its BatchNorms already synchronized)
    wrapped = trainer.dist.wrap(inner, trainer.rt.device, sync_bn=False)
    trainer.net = torch.compile(wrapped) if trainer.cfg.train.compile else wrapped  # type: ignore[assignment]
