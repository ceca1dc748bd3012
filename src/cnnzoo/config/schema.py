"""The schema of a run configuration: what a user may write in a recipe, with types, ranges and help.

This file is the reference a user reads (docs/configuration.md is generated from it). It holds
dataclasses only; checking values against it lives in :mod:`cnnzoo.config.validation`, reading YAML
and layering recipes in :mod:`cnnzoo.config.loading`.

``meta`` on a field: ``help`` (one line for the docs), and the checks ``min``/``max`` (inclusive)
and ``gt`` (exclusive). A ``Literal`` type is the list of accepted words; where the engine needs the
same list (the optimizers, the schedules) it takes it from here, so a name is defined once.
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from typing import Any, Literal, Union


def _f(default: Any, help: str, **checks: Any) -> Any:
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: copy.deepcopy(default), metadata={"help": help, **checks})
    return field(default=default, metadata={"help": help, **checks})


OptimizerName = Literal["sgd", "adam", "adamw"]
ScheduleName = Literal["constant", "step", "cosine", "onecycle"]

OPTIMIZERS: tuple[str, ...] = typing.get_args(OptimizerName)
SCHEDULES: tuple[str, ...] = typing.get_args(ScheduleName)


@dataclass
class ModelConfig:
    name: str = _f("resnet18", "registered model name or alias (see `cnnzoo models`)")
    kwargs: dict = _f({}, "keyword arguments for the model builder (e.g. width_mult: 0.5; `cnnzoo summary NAME` lists "
                             "them, with their defaults)")
    pretrained: Union[str, None] = _f(None, "start from these weights: a file, a run directory, torchvision, timm or "
                                            "LIBRARY:TAG (docs/transfer.md); their normalization and size are used")


@dataclass
class AugmentConfig:
    crop_padding: int = _f(0, "random crop after padding by this many pixels (0 = off)", min=0, max=64)
    flip: Literal["auto", "on", "off"] = _f("auto", "horizontal flip: auto = where the dataset allows it")
    policy: Literal["none", "randaugment", "trivialaugment"] = _f(
        "none", "per-image operation policy: RandAugment or TrivialAugment-Wide (rotate, shear, translate, "
                "brightness, contrast, sharpness, posterize, solarize, autocontrast, equalize, colour on RGB)")
    randaugment_ops: int = _f(2, "randaugment: operations per image (N)", min=1, max=8)
    randaugment_magnitude: int = _f(9, "randaugment: magnitude bin M of 0..30", min=0, max=30)
    resized_crop: float = _f(0.0, "random-resized crop keeping at least this share of the area, aspect 3/4-4/3 "
                                  "(e.g. 0.35 for image folders; 0 = off)", min=0.0, max=1.0)
    color_jitter: float = _f(0.0, "brightness, contrast and (RGB) saturation factors in [1 - s, 1 + s] (0 = off)",
                             min=0.0, max=1.0)
    erasing: float = _f(0.0, "random erasing: probability per image of blanking a box of 2-33% of it (0 = off)",
                        min=0.0, max=1.0)
    mixup: float = _f(0.0, "mixup: alpha of the Beta(alpha, alpha) mixing share (e.g. 0.2; 0 = off)", min=0.0,
                      max=10.0)
    cutmix: float = _f(0.0, "CutMix: alpha of the Beta(alpha, alpha) share (e.g. 1.0; 0 = off; with mixup: half "
                            "the images each)", min=0.0, max=10.0)
    mix_prob: float = _f(1.0, "share of the images that mixup/CutMix mixes", min=0.0, max=1.0)


@dataclass
class DataConfig:
    dataset: str = _f("fashion-mnist", "mnist, fashion-mnist, kmnist, cifar10, cifar100 or folder")
    data_dir: Union[str, None] = _f(None, "where the files are (else the search order in docs/data.md)")
    offline: bool = _f(False, "never touch the network")
    image_size: Union[int, None] = _f(None, "resize inputs to this square size (null = native)", min=8, max=1024)
    channels: Union[int, None] = _f(None, "convert images to 1 or 3 channels (null = native)", min=1, max=3)
    val_fraction: float = _f(0.1, "share of train carved off for validation when there is no val split",
                             min=0.0, max=0.5)
    batch_size: int = _f(128, "training batch of one step, all ranks together (torchrun: N ranks take 1/N each)",
                         min=1, max=65536)
    eval_batch_size: int = _f(512, "batch size for validation and test", min=1, max=65536)
    num_workers: Union[int, None] = _f(None, "worker processes of the streaming loader (null = auto)", min=0, max=64)
    augment: AugmentConfig = field(default_factory=AugmentConfig, metadata={"help": "training-time augmentation"})
    balance: Literal["none", "weights", "sampler"] = _f(
        "none", "imbalanced classes: weights = class weights n / (classes x count) in the loss; sampler = draw "
                "each epoch's images in inverse proportion to their class's count (with replacement)")


@dataclass
class OptimConfig:
    name: OptimizerName = _f("sgd", "optimizer")
    lr: float = _f(0.1, "peak learning rate", gt=0.0, max=100.0)
    momentum: float = _f(0.9, "SGD momentum", min=0.0, max=0.9999)
    nesterov: bool = _f(True, "Nesterov momentum (SGD)")
    betas: list[float] = _f([0.9, 0.999], "Adam/AdamW betas", min=0.0, max=0.99999)
    eps: float = _f(1e-8, "Adam/AdamW epsilon", gt=0.0, max=1.0)
    weight_decay: float = _f(5e-4, "weight decay (L2 for SGD/Adam, decoupled for AdamW)", min=0.0, max=1.0)
    decay_norm_and_bias: bool = _f(False, "also decay normalization and bias parameters")
    grad_clip: Union[float, None] = _f(None, "clip the global gradient norm to this (null = off)", gt=0.0)
    backbone_lr_mult: float = _f(1.0, "with model.pretrained: the pretrained layers' learning rate as a fraction of "
                                      "the head's (e.g. 0.1)", gt=0.0, max=1.0)


@dataclass
class ScheduleConfig:
    name: ScheduleName = _f("onecycle", "learning-rate schedule")
    warmup_epochs: float = _f(0.0, "constant/step/cosine: linear warm-up from warmup_start_factor * lr (epochs, may be "
                                   "fractional); onecycle refuses it: its rise over pct_start is its warm-up", min=0.0)
    warmup_start_factor: float = _f(0.01, "warm-up starts at this fraction of lr", min=0.0, max=1.0)
    step_epochs: int = _f(30, "step: decay every this many epochs", min=1)
    gamma: float = _f(0.1, "step: multiply lr by this at each step", gt=0.0, max=1.0)
    min_lr_factor: float = _f(0.0, "cosine/onecycle: final lr as a fraction of lr", min=0.0, max=1.0)
    pct_start: float = _f(0.25, "onecycle: share of training spent rising to lr (its warm-up)", gt=0.0, max=0.9)
    div_factor: float = _f(25.0, "onecycle: initial lr = lr / div_factor", min=1.0)


@dataclass
class EarlyStoppingConfig:
    patience: int = _f(0, "stop after this many epochs without improvement of monitor (0 = off)", min=0)
    monitor: Literal["val_loss", "val_acc"] = _f("val_acc", "what must improve (the final test still uses "
                                                             "train.test_weights: best = the best val_acc)")
    min_delta: float = _f(0.0, "the least change that counts as an improvement", min=0.0)


@dataclass
class TrainConfig:
    epochs: int = _f(10, "training epochs", min=1, max=100000)
    seed: int = _f(0, "random seed (data order, augmentation, initialization)", min=0, max=2**63 - 1)
    device: str = _f("auto", "auto, cpu, cuda, cuda:N or mps")
    precision: Literal["auto", "fp32", "bf16", "fp16"] = _f(
        "auto", "auto = bf16 autocast where the hardware has it (CPU or GPU), else fp32; fp16 is GPU-only")
    channels_last: Union[bool, Literal["auto"]] = _f("auto", "NHWC memory layout (auto = on where it is faster)")
    compile: bool = _f(False, "torch.compile the model (pays off on long GPU runs)")
    deterministic: bool = _f(False, "bit-reproducible on CPU: deterministic algorithms, fixed threads")
    threads: Union[int, None] = _f(None, "CPU threads (null = $CNNZOO_THREADS, else physical cores); where other work "
                                            "keeps cores busy, set the free cores (docs/benchmarks.md: 1 thread ran "
                                            "1.55x faster than 2 with one of two cores busy)", min=1, max=1024)
    label_smoothing: float = _f(0.0, "label smoothing of the cross-entropy loss", min=0.0, max=0.5)
    tta_flip: bool = _f(False, "average predictions over the image and its mirror at evaluation")
    ema_decay: Union[float, None] = _f(None, "evaluate an exponential moving average of the weights (e.g. 0.999)",
                                       gt=0.0, max=0.99999)
    checkpoint_every: int = _f(0, "also checkpoint every N steps inside an epoch (0 = end of epoch only)", min=0)
    test_weights: Literal["best", "last"] = _f("best", "which weights the final test uses")
    sync_bn: bool = _f(False, "under torchrun, BatchNorm statistics over the global batch (SyncBatchNorm; CUDA only)")
    freeze_epochs: int = _f(0, "with model.pretrained: train only the head for this many epochs, then everything "
                               "(fastai's fine_tune)", min=0)
    max_steps: Union[int, None] = _f(None, "stop after this many optimizer steps (for smoke tests and benchmarks)",
                                     min=1)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig,
                                                metadata={"help": "stop when validation stops improving"})


@dataclass
class OutputConfig:
    dir: Union[str, None] = _f(None, "run directory (null = runs/<time>-<model>-<dataset>)")
    root: str = _f("runs", "parent of default run directories")
    plots: bool = _f(True, "write plots/curves.png, confusion.png, samples.png")
    tensorboard: bool = _f(False, "also log to TensorBoard (needs the tensorboard extra)")
    save_best: bool = _f(True, "keep checkpoints/best.safetensors (best validation accuracy)")


@dataclass
class Config:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def get(self, dotted: str) -> Any:
        obj: Any = self
        for part in dotted.split("."):
            obj = obj[part] if isinstance(obj, dict) else getattr(obj, part)
        return obj


SECTIONS = tuple(f.name for f in dataclasses.fields(Config))

# Keys a file may hold besides the sections: `base` names a recipe or file to start from.
META_KEYS = ("base", "notes")
