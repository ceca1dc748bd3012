"""The classic PyTorch training loop (d2l.ai's ``train_ch6``, the seed's loop): the baseline that
cnnzoo's training step is compared against.

    python benchmarks/classic_loop.py [--model resnet18] [--batch-size 128] [--workers 4 0]
                                      [--steps 10] [--warmup 3] [--rounds 3]

What "classic" means here, as d2l and the seed do it, nothing slowed down on purpose:

* a ``torch.utils.data.Dataset`` holding the uint8 images in memory (as torchvision's FashionMNIST
  does) that turns *one* sample at a time into a normalized float tensor with a per-sample random
  crop (zero padding) and horizontal flip. The transforms are written with torch tensor ops exactly
  as torchvision's ToTensor / RandomCrop(padding) / RandomHorizontalFlip / Normalize compute them
  (torchvision is not installed here). torchvision would also convert every sample to a PIL image
  first, which costs more: this baseline is, if anything, a little faster than the real one;
* a ``DataLoader`` with ``shuffle=True`` and d2l's ``num_workers=4`` (``get_dataloader_workers``);
* fp32, NCHW (PyTorch's defaults), torch's default thread count;
* the same model (cnnzoo's, same input and classes), the same batch size and the same optimizer
  (SGD, momentum 0.9, Nesterov, weight decay 5e-4) built the plain way,
  ``torch.optim.SGD(net.parameters(), ...)``, which on the CPU takes the per-parameter path;
* ``l.item()`` and the accuracy's ``float(...)`` every step for the running loss/accuracy, as
  ``d2l.Accumulator`` does.

Timing: each timed window starts a fresh DataLoader iterator (worker processes start as at the
start of every epoch), runs ``warmup`` untimed steps so the workers are up and their queues are in
steady state, then times ``steps`` steps. So worker start-up is *not* charged to the classic loop,
and no batches are prepared while the other side of an A/B comparison runs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

D2L_WORKERS = 4  # d2l.get_dataloader_workers()


# --------------------------------------------------------------------------------------------------
# torchvision's transforms, on tensors, one sample at a time


class ToTensor:
    """uint8 (H, W) or (C, H, W) -> float32 (C, H, W) in [0, 1]."""

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if img.ndim == 2:
            img = img.unsqueeze(0)
        return img.float().div(255)


class RandomCrop:
    """torchvision.transforms.RandomCrop(size, padding, fill=0): pad, then a random window."""

    def __init__(self, size: int, padding: int) -> None:
        self.size, self.padding = size, padding

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if self.padding:
            img = F.pad(img, [self.padding] * 4, mode="constant", value=0.0)
        h, w = img.shape[-2:]
        i = torch.randint(0, h - self.size + 1, size=(1,)).item()
        j = torch.randint(0, w - self.size + 1, size=(1,)).item()
        return img[..., i:i + self.size, j:j + self.size]


class RandomHorizontalFlip:
    def __init__(self, p: float = 0.5) -> None:
        self.p = p

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        if torch.rand(1) < self.p:
            return img.flip(-1)
        return img


class Normalize:
    def __init__(self, mean: Any, std: Any) -> None:
        self.mean = torch.as_tensor(mean, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.as_tensor(std, dtype=torch.float32).view(-1, 1, 1)

    def __call__(self, t: torch.Tensor) -> torch.Tensor:
        return t.sub(self.mean).div(self.std)


class Compose:
    def __init__(self, transforms: list[Any]) -> None:
        self.transforms = transforms

    def __call__(self, x: Any) -> Any:
        for t in self.transforms:
            x = t(x)
        return x


class ClassicDataset(Dataset):
    """Like torchvision.datasets.FashionMNIST: uint8 images in memory, a transform per sample."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, transform: Any) -> None:
        self.images, self.labels, self.transform = images, labels, transform

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        img, target = self.images[index], int(self.labels[index])
        return self.transform(img), target


# --------------------------------------------------------------------------------------------------


class ClassicBench:
    """The classic loop, runnable in timed windows (``run(steps) -> seconds``) next to cnnzoo's."""

    def __init__(self, model: str = "resnet18", *, batch_size: int = 128, workers: int = D2L_WORKERS,
                 dataset: str = "fashion-mnist", crop_padding: int = 2, lr: float = 0.1, warmup: int = 3,
                 device: str = "cpu", seed: int = 0, data: Any = None) -> None:
        from cnnzoo.data import load_dataset
        from cnnzoo.models import create_model

        torch.manual_seed(seed)
        ds = data if data is not None else load_dataset(dataset, offline=True)
        h, w = ds.image_size
        transform = Compose([ToTensor(), RandomCrop(h, crop_padding), RandomHorizontalFlip(),
                             Normalize(ds.mean, ds.std)])
        images = ds.train.images[:, 0] if ds.channels == 1 else ds.train.images
        self.dataset = ClassicDataset(images, ds.train.labels, transform)
        self.device = torch.device(device)
        self.net = create_model(model, num_classes=len(ds.classes), in_channels=ds.channels,
                                image_size=h).to(self.device)
        self.loss = nn.CrossEntropyLoss()
        self.optimizer = torch.optim.SGD(self.net.parameters(), lr=lr, momentum=0.9, nesterov=True,
                                         weight_decay=5e-4)
        self.batch_size, self.workers, self.warmup = batch_size, workers, warmup
        self.input = (ds.channels, h, w)
        self.metric = [0.0, 0.0, 0]  # d2l.Accumulator(3): loss sum, correct, samples

    def loader(self) -> DataLoader:
        return DataLoader(self.dataset, self.batch_size, shuffle=True, num_workers=self.workers)

    def _step(self, X: torch.Tensor, y: torch.Tensor) -> None:
        X, y = X.to(self.device), y.to(self.device)
        self.optimizer.zero_grad()
        y_hat = self.net(X)
        l = self.loss(y_hat, y)  # noqa: E741 - d2l's name
        l.backward()
        self.optimizer.step()
        with torch.no_grad():  # d2l: metric.add(l * X.shape[0], d2l.accuracy(y_hat, y), X.shape[0])
            self.metric[0] += l.item() * X.shape[0]
            self.metric[1] += float((y_hat.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())
            self.metric[2] += X.shape[0]

    def run(self, steps: int) -> float:
        """A fresh iterator, ``warmup`` untimed steps, then ``steps`` timed steps; returns seconds."""
        self.net.train()
        it = iter(self.loader())
        try:
            for _ in range(self.warmup):
                self._step(*next(it))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            t0 = time.perf_counter()
            for _ in range(steps):
                self._step(*next(it))
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)
            return time.perf_counter() - t0
        finally:
            del it  # shuts the workers down before anything else is timed


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="resnet18")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--workers", type=int, nargs="+", default=[D2L_WORKERS, 0])
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    benches = {w: ClassicBench(args.model, batch_size=args.batch_size, workers=w, warmup=args.warmup,
                               device=args.device) for w in args.workers}
    times: dict[int, list[float]] = {w: [] for w in args.workers}
    for _ in range(args.rounds):  # interleaved: load on the machine affects every setting alike
        for w, b in benches.items():
            times[w].append(b.run(args.steps))
    print(f"classic loop: {args.model} at {'x'.join(map(str, next(iter(benches.values())).input))}, batch "
          f"{args.batch_size}, fp32 NCHW, {torch.get_num_threads()} threads, torch {torch.__version__}")
    for w, ts in times.items():
        rates = [args.batch_size * args.steps / t for t in ts]
        print(f"  {w} workers: median {statistics.median(rates):,.1f} images/s "
              f"({', '.join(f'{r:,.1f}' for r in rates)})")


if __name__ == "__main__":
    main()
