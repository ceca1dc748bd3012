"""What the in-memory and the streaming loader share: the plan of an epoch, the batch transform,
and the loader surface (``len``, ``set_epoch``, ``iter_from``, ``indexed``).

Crop and flip by index arithmetic. A random crop with padding ``p`` takes an ``H x W`` window at
offset ``(dy, dx)`` in ``[0, 2p]^2`` of the image padded by ``p``. Instead of padding, we compute for
every output pixel which source pixel it comes from: row ``dy - p + i``, column ``dx - p + j`` (or
``dx - p + W - 1 - j`` when flipped). Rows and columns outside the image are zero ("constant"),
mirrored ("reflect") or clamped ("replicate"). A single ``torch.gather`` over the flattened
``H * W`` pixels then produces the whole augmented batch.

Determinism. Everything random in epoch ``e`` comes from two CPU generators seeded by a hash of
``(seed, e, purpose)``: one draws the epoch's permutation, the other every image's crop offsets and
flip, indexed by the image's *position in the epoch*. So epoch ``e`` looks the same whatever ran
before, ``iter_from(k)`` yields exactly batches ``k..`` of the uninterrupted epoch, and an image's
augmentation does not even depend on the batch size or the number of ranks. The numbers are drawn
on the CPU (identical on every machine) and moved to the device once per epoch, so CUDA and CPU
runs see the same images with the same crops and flips (a resize may round differently). We do not
use a CUDA generator: its stream differs from the CPU one, and per-batch device draws would cost
a launch each for a few hundred numbers.

Sharding. With ``world_size`` ranks, the epoch's permutation is cut to a multiple of ``world_size``
(the few images cut change every epoch) and rank ``r`` takes positions ``r, r + world_size, ...``:
disjoint shards of equal length. The trainer gives each rank ``batch_size = B / world_size`` for a
global batch ``B``; rank ``r``'s batch ``b`` is then positions ``r, r + world_size, ...`` of the
single process's batch ``b`` (positions ``bB .. bB + B - 1``), so the ranks' batches reassemble the
one-process batches exactly, with the same crops and flips. Evaluation loaders (``train=False``) do not shuffle and cut
nothing: shards are disjoint and cover the split, and may differ in length by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..errors import DataError

PAD_MODES = ("constant", "reflect", "replicate")


@dataclass(frozen=True)
class Augment:
    """Training augmentation applied to whole batches on the device.

    Args:
        crop_padding: pixels of padding for the random crop (at the stored size, before any
            resize); 0 disables cropping. CIFAR's classic recipe is 4 at 32x32.
        flip: random horizontal flip with probability 1/2. Only where it preserves the label:
            pass ``dataset.flip`` (False for digits and characters).
        pad_mode: what the crop sees beyond the border: "constant" (zeros, i.e. black, as
            torchvision's RandomCrop), "reflect" or "replicate".

    The others (all off by default; :mod:`cnnzoo.data.augment` says how each is done):

        policy: "randaugment", "trivialaugment" (TrivialAugment-Wide) or "none".
        randaugment_ops, randaugment_magnitude: RandAugment's N and M (M in 0..30).
        resized_crop: random-resized crop keeping at least this fraction of the area (0 = off).
        color_jitter: brightness, contrast and saturation factors in [1 - s, 1 + s] (0 = off).
        erasing: probability of random erasing per image (0 = off).
        mixup, cutmix: Beta(alpha, alpha) of the mixing share (0 = off; both: half the images each).
        mix_prob: share of the images that are mixed when mixup or cutmix is on.
    """

    crop_padding: int = 4
    flip: bool = True
    pad_mode: str = "constant"
    policy: str = "none"
    randaugment_ops: int = 2
    randaugment_magnitude: int = 9
    resized_crop: float = 0.0
    color_jitter: float = 0.0
    erasing: float = 0.0
    mixup: float = 0.0
    cutmix: float = 0.0
    mix_prob: float = 1.0

    def __post_init__(self) -> None:
        from .augment import NUM_BINS, POLICIES

        if self.crop_padding < 0:
            raise DataError(f"crop_padding must be >= 0, got {self.crop_padding}")
        if self.pad_mode not in PAD_MODES:
            raise DataError(f"pad_mode must be one of {', '.join(PAD_MODES)}, got '{self.pad_mode}'")
        if self.policy not in POLICIES:
            raise DataError(f"augment policy must be one of {', '.join(POLICIES)}, got '{self.policy}'")
        if not 1 <= self.randaugment_ops <= 8 or not 0 <= self.randaugment_magnitude < NUM_BINS:
            raise DataError(f"randaugment_ops must be in 1..8 and randaugment_magnitude in 0..{NUM_BINS - 1}")
        for name in ("resized_crop", "color_jitter", "erasing", "mix_prob"):
            if not 0 <= getattr(self, name) <= 1:
                raise DataError(f"augment {name} must be in [0, 1], got {getattr(self, name)}")
        if self.mixup < 0 or self.cutmix < 0:
            raise DataError("augment mixup and cutmix are Beta alphas: 0 (off) or more")

    @classmethod
    def from_config(cls, cfg, flip: bool) -> Augment:
        """From the ``data.augment`` section (an AugmentConfig) and the resolved flip."""
        return cls(crop_padding=cfg.crop_padding, flip=flip, policy=cfg.policy,
                   randaugment_ops=cfg.randaugment_ops, randaugment_magnitude=cfg.randaugment_magnitude,
                   resized_crop=cfg.resized_crop, color_jitter=cfg.color_jitter, erasing=cfg.erasing,
                   mixup=cfg.mixup, cutmix=cfg.cutmix, mix_prob=cfg.mix_prob)

    @classmethod
    def for_dataset(cls, dataset, crop_padding: int | None = None) -> Augment:
        """The usual recipe: pad by 1/8 of the image side (4 at 28 or 32 px), flip where valid."""
        if crop_padding is None:
            crop_padding = max(1, round(min(dataset.image_size) / 8))
        return cls(crop_padding=crop_padding, flip=bool(dataset.flip))

    @property
    def active(self) -> bool:
        return self.crop_padding > 0 or self.flip or self.extra

    @property
    def mixing(self) -> bool:
        return self.mixup > 0 or self.cutmix > 0

    @property
    def extra(self) -> bool:
        """Anything beyond crop and flip (parameters from :func:`cnnzoo.data.augment.draw`)."""
        return (self.policy != "none" or self.resized_crop > 0 or self.color_jitter > 0 or self.erasing > 0
                or self.mixing)


def derive_seed(*parts: object) -> int:
    """A 63-bit seed from any tuple (seed, epoch, purpose, ...); unrelated tuples give unrelated seeds."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def cpu_generator(*parts: object) -> torch.Generator:
    return torch.Generator(device="cpu").manual_seed(derive_seed(*parts))


def _source_index(i: torch.Tensor, size: int, mode: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Map possibly out-of-range source indices into ``[0, size)``; also the validity mask (constant)."""
    if mode == "replicate":
        return i.clamp(0, size - 1), None
    if mode == "reflect":
        period = 2 * (size - 1) if size > 1 else 1
        j = torch.remainder(i, period)
        return torch.where(j >= size, period - j, j), None
    valid = (i >= 0) & (i < size)
    return i.clamp(0, size - 1), valid


def crop_flip(images: torch.Tensor, dy: torch.Tensor, dx: torch.Tensor, flip: torch.Tensor,
              padding: int, mode: str = "constant") -> torch.Tensor:
    """Random-crop-with-padding and horizontal flip of a whole batch, by one ``gather``.

    Args:
        images: ``(B, C, H, W)`` of any dtype.
        dy, dx: ``(B,)`` integer window offsets in ``[0, 2 * padding]``.
        flip: ``(B,)`` bool, mirror the window left-right.
    Returns:
        ``(B, C, H, W)``, same dtype and device.
    """
    b, c, h, w = images.shape
    dev = images.device
    rows = dy.view(b, 1) - padding + torch.arange(h, device=dev)  # (B, H)
    cols = dx.view(b, 1) - padding + torch.arange(w, device=dev)  # (B, W)
    cols = torch.where(flip.view(b, 1), cols.flip(1), cols)
    rows, row_ok = _source_index(rows, h, mode)
    cols, col_ok = _source_index(cols, w, mode)
    index = (rows.view(b, h, 1) * w + cols.view(b, 1, w)).view(b, 1, h * w).expand(b, c, h * w)
    out = torch.gather(images.reshape(b, c, h * w), 2, index).view(b, c, h, w)
    if row_ok is not None and col_ok is not None:
        outside = ~(row_ok.view(b, 1, h, 1) & col_ok.view(b, 1, 1, w))
        out = out.masked_fill(outside, 0)
    return out


def as_hw(size: int | Sequence[int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        return (size, size)
    h, w = (int(s) for s in size)
    return (h, w)


class BatchPlan:
    """The order and augmentation of each epoch for one rank; shared by both loader kinds."""

    def __init__(self, n: int, *, batch_size: int, train: bool, seed: int, augment: Augment | None,
                 drop_last: bool, rank: int, world_size: int, device: torch.device, channels: int = 3,
                 sample_weights: torch.Tensor | None = None):
        if batch_size < 1:
            raise DataError(f"batch_size must be >= 1, got {batch_size}")
        if world_size < 1 or not 0 <= rank < world_size:
            raise DataError(f"rank {rank} is not in [0, world_size={world_size})")
        self.n, self.batch_size, self.train, self.seed = n, batch_size, train, seed
        self.augment = augment if augment is not None and augment.active else None
        self.drop_last, self.rank, self.world_size, self.device = drop_last, rank, world_size, device
        self.channels = channels
        # names of the parameters after (dy, dx, flip) in each batch's tuple (see augment.draw)
        self.extra_names: tuple[str, ...] = ()
        # data.balance: sampler: each epoch draws n images with replacement, image i with
        # probability proportional to sample_weights[i] (1 / its class's count: balanced classes)
        self.sample_weights = sample_weights
        if train:
            self.shard_len = n // world_size
        else:
            self.shard_len = len(range(rank, n, world_size))
        whole, rest = divmod(self.shard_len, batch_size)
        self.num_batches = whole if drop_last or rest == 0 else whole + 1
        self.epoch = 0
        self._planned_epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _plan(self) -> None:
        """Draw (once per epoch) this rank's indices and augmentation, and put them on the device."""
        if self._planned_epoch == self.epoch:
            return
        n, ws, r = self.n, self.world_size, self.rank
        if self.train:
            g_order = cpu_generator(self.seed, self.epoch, "order")
            perm = torch.randperm(n, generator=g_order) if self.sample_weights is None else \
                torch.multinomial(self.sample_weights.double(), n, replacement=True, generator=g_order)
            positions = torch.arange(r, (n // ws) * ws, ws)
        else:
            perm = torch.arange(n)
            positions = torch.arange(r, n, ws)
        self.index = perm[positions].to(self.device)
        self.params = None
        if self.augment is not None and self.train:
            g = cpu_generator(self.seed, self.epoch, "augment")
            span = 2 * self.augment.crop_padding + 1
            # Drawn for every position of the epoch, then sharded like the permutation, so an
            # image's crop does not depend on world_size or batch_size.
            offsets = torch.randint(0, span, (2, n), generator=g)
            flips = torch.rand(n, generator=g) < 0.5
            if not self.augment.flip:
                flips.zero_()
            params = [offsets[0, positions], offsets[1, positions], flips[positions]]
            if self.augment.extra:
                # each family of the other augmentations has its own generator, so turning one on
                # changes neither crop/flip's draws above nor the others'
                from .augment import draw

                extra = draw(self.augment, n, self.channels,
                             lambda purpose: cpu_generator(self.seed, self.epoch, "augment", purpose))
                self.extra_names = tuple(extra)
                params += [v[positions] for v in extra.values()]
            self.params = tuple(p.to(self.device) for p in params)
        self._planned_epoch = self.epoch

    def batch(self, b: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...] | None]:
        """Dataset indices of batch ``b`` and its augmentation parameters (on the device)."""
        self._plan()
        lo, hi = b * self.batch_size, min((b + 1) * self.batch_size, self.shard_len)
        params = None if self.params is None else tuple(p[lo:hi] for p in self.params)
        return self.index[lo:hi], params

    def check_start(self, start: int) -> None:
        if not 0 <= start <= self.num_batches:
            raise DataError(f"cannot start at batch {start}: an epoch has {self.num_batches} batches")


class BatchTransform:
    """uint8 batch on the device -> augmented, normalized, resized float32 batch."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], channels: int, device: torch.device,
                 augment: Augment | None, image_size: tuple[int, int] | None, channels_last: bool):
        if len(mean) != channels or len(std) != channels:
            raise ValueError(f"mean/std have {len(mean)}/{len(std)} values for {channels}-channel images")
        std_t = torch.tensor(std, dtype=torch.float32)
        # x / 255 then (x - mean) / std, folded into one multiply and one subtract
        self.scale = (1.0 / (255.0 * std_t)).view(1, -1, 1, 1).to(device)
        self.shift = (torch.tensor(mean, dtype=torch.float32) / std_t).view(1, -1, 1, 1).to(device)
        self.augment = augment if augment is not None and augment.active else None
        self.image_size, self.channels_last = image_size, channels_last

    def __call__(self, x: torch.Tensor, params: tuple[torch.Tensor, ...] | None,
                 names: Sequence[str] = ()) -> torch.Tensor:
        """Augment (``params``: the plan's tuple, ``names`` its extra parameters), normalize, resize."""
        extra: dict[str, torch.Tensor] = {}
        if params is not None and self.augment is not None:
            dy, dx, flip, *rest = params
            extra = dict(zip(names, rest, strict=True))
            x = crop_flip(x, dy, dx, flip, self.augment.crop_padding, self.augment.pad_mode)
        if extra:
            from .augment import apply_geometric, apply_photometric

            wide = self.augment is not None and self.augment.policy == "trivialaugment"
            x = x.to(torch.float32)
            x = apply_geometric(x, extra, x.shape[1], wide)
            x = apply_photometric(x, extra, x.shape[1], wide)
        x = x.to(torch.float32).mul_(self.scale).sub_(self.shift)
        # Normalizing before resizing is the same (both are linear) and touches fewer pixels when
        # upsampling (28x28 digits -> 224x224 for AlexNet/VGG).
        if self.image_size is not None and tuple(x.shape[-2:]) != self.image_size:
            down = x.shape[-2] > self.image_size[0] or x.shape[-1] > self.image_size[1]
            x = F.interpolate(x, size=self.image_size, mode="bilinear", align_corners=False, antialias=down)
        if "erase" in extra:
            from .augment import apply_erasing

            x = apply_erasing(x, extra)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x

    @staticmethod
    def partner(params: tuple[torch.Tensor, ...] | None, names: Sequence[str]) -> torch.Tensor | None:
        """Dataset indices of the mixup/CutMix partners of a batch (None when nothing is mixed)."""
        if params is None or "partner" not in names:
            return None
        return params[3 + list(names).index("partner")]

    def train_batch(self, x: torch.Tensor, y: torch.Tensor, params: tuple[torch.Tensor, ...] | None,
                    names: Sequence[str], x2: torch.Tensor | None = None, y2: torch.Tensor | None = None
                    ) -> tuple[torch.Tensor, Any]:
        """``(x, y)`` of a training batch; with partners (``x2``, ``y2``: mixup/CutMix), the partners
        are augmented with their hosts' parameters and mixed in, and ``y`` is a MixedTarget."""
        if x2 is None or y2 is None or params is None:
            return self(x, params, names), y
        from .augment import apply_mix

        both = self(torch.cat((x, x2)), tuple(torch.cat((p, p)) for p in params), names)
        k = len(x)
        extra = dict(zip(names, params[3:], strict=True))
        return apply_mix(both[:k], both[k:], y, y2, extra)


class BaseLoader:
    """The surface both loaders share. A subclass sets ``self.plan`` (a :class:`BatchPlan`) and
    implements ``_batches(start)``, yielding ``(x, y, index)`` from batch ``start`` on, where
    ``index`` holds the split positions of the batch's images (a streamed batch may be shorter than
    its plan when a file could not be decoded).

    ``len(loader)`` is the number of batches per epoch (for this rank); ``set_epoch(e)`` selects
    the epoch; ``iter_from(k)`` starts the epoch at batch ``k``; ``iter(loader)`` is ``iter_from(0)``;
    ``indexed()`` also yields each image's position in the split (evaluation keeps it with the
    predictions).
    """

    plan: BatchPlan

    def __len__(self) -> int:
        return self.plan.num_batches

    @property
    def epoch(self) -> int:
        return self.plan.epoch

    def set_epoch(self, epoch: int) -> None:
        self.plan.set_epoch(epoch)

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self.iter_from(0)

    def iter_from(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """``(x, y)`` batches ``start, start + 1, ...`` of the current epoch."""
        return ((x, y) for x, y, _ in self.indexed(start))

    def indexed(self, start: int = 0) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """``(x, y, index)`` batches; ``index`` (int64) holds the images' positions in the split."""
        self.plan.check_start(start)
        return self._batches(start)

    def _batches(self, start: int) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def _check_nonempty(self, train: bool) -> None:
        if train and len(self) == 0:
            p = self.plan
            raise DataError(f"batch_size {p.batch_size} is larger than the {p.shard_len} training images "
                            f"per rank (world_size {p.world_size}); lower the batch size")
