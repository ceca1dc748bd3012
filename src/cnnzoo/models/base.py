"""The surface every model in the zoo shares.

Whatever the family, a model is an :class:`nn.Module` with the same handful of entry points
(timm's convention), so the trainer, the profiler and the CLI never need to know which family
they hold:

- ``forward(x)`` is ``forward_head(forward_features(x))``;
- ``forward_features(x)`` returns the last feature map, ``(B, C, H, W)`` for a CNN
  (``(B, N, C)`` tokens for MLP-Mixer), and checks the input first;
- ``forward_head(x, pre_logits=False)`` pools and classifies (``pre_logits=True`` stops just
  before the final layer and returns the ``(B, D)`` vector it would see);
- ``get_classifier()`` is that final layer and ``reset_classifier(n)`` replaces it with a fresh
  one for ``n`` classes, initialized the way the family initializes it;
- attributes ``num_classes``, ``num_features`` (channels of the feature map), ``in_channels``,
  ``image_size`` (the size it was built for) and ``min_size`` (the smallest input it accepts).

An input the model cannot take is a :class:`~cnnzoo.errors.ModelError` that says why and what to
do, raised before any layer runs, never a shape-mismatch traceback from deep inside.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..errors import ModelError

# Inputs smaller than this get each family's small-image configuration (CIFAR-style stems; see
# docs/models.md). 64, because the ImageNet stems shrink the image 4x before the first stage: from
# 64 px the first stage still sees 16x16, below that the last stages would mostly see padding.
SMALL_INPUT_BELOW = 64


def wants_small_input(image_size: int, small_input: bool | None, paper_min_size: int = 0) -> bool:
    """Whether to build the small-image configuration.

    ``small_input`` forces the choice; ``None`` decides from ``image_size``: small below
    :data:`SMALL_INPUT_BELOW`, or below the paper configuration's own minimum when that is larger.
    """
    if small_input is not None:
        return bool(small_input)
    return image_size < max(SMALL_INPUT_BELOW, paper_min_size)


class InputTooSmallError(ModelError):
    """An input (or ``image_size``) below the smallest size a model can take."""

    def __init__(self, model: str, min_size: int, height: int, width: int, hint: str = "") -> None:
        self.min_size, self.height, self.width = min_size, height, width
        super().__init__(f"{model} needs inputs of at least {min_size}x{min_size}, "
                         f"got {height}x{width}{hint}")


def _positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ModelError(f"{name} must be a positive integer, got {value!r}")
    return value


class ZooModel(nn.Module):
    """Base class of every network in the zoo (see the module docstring for the contract).

    A family's ``__init__`` decides its configuration (and so its ``min_size``) first, calls
    ``super().__init__(...)``, which rejects an ``image_size`` below ``min_size``, then builds
    its layers and ends with ``self.classifier = self.make_classifier(num_classes)``.
    """

    # Set by create_model: the registered name (used in error messages) and the arguments that
    # rebuild the same model with ``create_model(**model.create_args)`` (e.g. from a checkpoint).
    model_name: str | None = None
    create_args: dict | None = None
    # True when the model takes exactly image_size x image_size (MLP-Mixer's token count is fixed).
    fixed_input_size: bool = False

    def __init__(self, *, num_classes: int, in_channels: int, image_size: int, min_size: int) -> None:
        super().__init__()
        self.num_classes = _positive_int("num_classes", num_classes)
        self.in_channels = _positive_int("in_channels", in_channels)
        self.image_size = _positive_int("image_size", image_size)
        self.min_size = min_size
        if image_size < min_size:
            raise InputTooSmallError(self.display_name, min_size, image_size, image_size)

    @property
    def display_name(self) -> str:
        return self.model_name or type(self).__name__

    # -- input validation -------------------------------------------------------------------

    def check_input(self, x: torch.Tensor) -> None:
        """Raise a ModelError for an input this model cannot take (cheap: shapes only)."""
        if x.dim() != 4:
            raise ModelError(f"{self.display_name} expects a batch of images shaped (B, C, H, W), "
                             f"got a tensor of shape {tuple(x.shape)}")
        channels, height, width = x.shape[1], x.shape[2], x.shape[3]
        if channels != self.in_channels:
            raise ModelError(f"{self.display_name} was built for {self.in_channels}-channel images, "
                             f"got {channels} channels (create it with in_channels={channels})")
        if height < self.min_size or width < self.min_size:
            hint = ""
            if getattr(self, "small_input", None) is False and SMALL_INPUT_BELOW > min(height, width):
                hint = (f" (it was built for {self.image_size}x{self.image_size}; create it with "
                        f"image_size={min(height, width)} for the small-image configuration)")
            raise InputTooSmallError(self.display_name, self.min_size, height, width, hint)
        if self.fixed_input_size and (height != self.image_size or width != self.image_size):
            raise ModelError(f"{self.display_name} was built for {self.image_size}x{self.image_size} "
                             f"inputs and takes no other size, got {height}x{width} "
                             f"(create it with image_size={height})")

    # -- the uniform surface ----------------------------------------------------------------

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def make_classifier(self, num_classes: int) -> nn.Module:
        """A freshly initialized final layer for ``num_classes`` classes."""
        raise NotImplementedError

    def get_classifier(self) -> nn.Module:
        return self.classifier

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the final layer with a fresh one for ``num_classes`` classes (same device and dtype)."""
        num_classes = _positive_int("num_classes", num_classes)
        reference = next(self.parameters())
        self.classifier = self.make_classifier(num_classes).to(reference.device, reference.dtype)
        self.num_classes = num_classes


class AuxLogitsModel(ZooModel):
    """A network with auxiliary classifiers on intermediate feature maps (GoogLeNet's two,
    Inception-v3's one), torchvision's surface for them: off unless ``aux_logits``; when on, a model
    in training mode returns ``outputs(logits, *aux)`` (a NamedTuple) and owns its loss,
    ``training_loss(out, y, criterion)`` = ``criterion(logits) + aux_loss_weight * criterion(aux)``
    summed over the heads; in eval mode it returns the logits alone.

    A family gives: ``outputs``, ``aux_loss_weight``, ``aux_heads(num_classes)`` (the fresh heads, by
    attribute name, in the order ``outputs`` lists them), ``init_weights(module)`` (its
    initialization), ``_trunk(x)`` (the feature map, then each head's input) and the ``pool``,
    ``dropout`` and ``classifier`` layers ``forward_head`` uses.
    """

    outputs: type
    aux_loss_weight: float
    aux_logits: bool
    num_features: int
    pool: nn.Module
    dropout: nn.Module

    def aux_heads(self, num_classes: int) -> dict[str, nn.Module]:
        raise NotImplementedError

    def init_weights(self, module: nn.Module) -> nn.Module:
        raise NotImplementedError

    def _trunk(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        raise NotImplementedError

    def add_aux_heads(self, num_classes: int) -> None:
        """Register the heads (or None in their places, without ``aux_logits``): called where the
        family's ``__init__`` builds them, which fixes their order in the initialization."""
        if not self.aux_logits:  # not even built: building draws from the random stream
            for name in self.outputs._fields[1:]:  # type: ignore[attr-defined]
                setattr(self, name, None)
            return
        for name, head in self.aux_heads(num_classes).items():
            setattr(self, name, head)

    def make_classifier(self, num_classes: int) -> nn.Module:
        return self.init_weights(nn.Linear(self.num_features, num_classes))

    def reset_classifier(self, num_classes: int) -> None:
        super().reset_classifier(num_classes)
        if self.aux_logits:
            reference = next(self.classifier.parameters())
            for name, head in self.aux_heads(num_classes).items():
                setattr(self, name, self.init_weights(head).to(reference.device, reference.dtype))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self._trunk(x)[0]

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = torch.flatten(self.pool(x), 1)
        return x if pre_logits else self.classifier(self.dropout(x))

    def training_loss(self, out: torch.Tensor | tuple[torch.Tensor, ...], target: torch.Tensor,
                      criterion: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
                      ) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss, logits) for the trainer: the logits' loss plus each auxiliary head's, weighted."""
        if not isinstance(out, self.outputs):
            assert isinstance(out, torch.Tensor)
            return criterion(out, target), out
        logits, *aux = out
        loss = criterion(logits, target)
        for a in aux:
            loss = loss + self.aux_loss_weight * criterion(a, target)
        return loss, logits

    # Training with auxiliary heads returns every head's logits (as torchvision does), for training_loss.
    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:  # type: ignore[override]
        if not (self.aux_logits and self.training):
            return self.forward_head(self.forward_features(x))
        features, *inputs = self._trunk(x)
        heads = [getattr(self, name) for name in self.outputs._fields[1:]]  # type: ignore[attr-defined]
        return self.outputs(self.forward_head(features), *(h(i) for h, i in zip(heads, inputs, strict=True)))
