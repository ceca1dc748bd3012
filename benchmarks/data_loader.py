"""Images per second of ``make_loader`` with crop + flip + normalize (the training input path).

    python benchmarks/data_loader.py [--dataset fashion-mnist] [--batch-size 128] [--epochs 3]
                                     [--device cpu] [--image-size N] [--threads N]

Times every batch of ``--epochs`` epochs (after one warm-up epoch) and reports the median batch
time as images/s, plus whole-epoch throughput; prints the machine, torch version and thread count.
The data must be on disk (``--offline``): this measures the loader, not a download.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from cnnzoo.data import Augment, load_dataset, make_loader


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--image-size", type=int, default=None, help="resize each batch (e.g. 224)")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)

    ds = load_dataset(args.dataset, offline=True)
    device = torch.device(args.device)
    loader = make_loader(ds.train, batch_size=args.batch_size, train=True, seed=0, device=device,
                         mean=ds.mean, std=ds.std, augment=Augment(crop_padding=4, flip=True),
                         image_size=args.image_size)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    batch_times, epoch_rates = [], []
    for epoch in range(args.epochs + 1):  # epoch 0 warms up
        loader.set_epoch(epoch)
        sync()
        t_epoch = t = time.perf_counter()
        n = 0
        for x, _ in loader:
            sync()
            now = time.perf_counter()
            if epoch:
                batch_times.append(now - t)
            n += len(x)
            t = now
        if epoch:
            epoch_rates.append(n / (time.perf_counter() - t_epoch))
    median = statistics.median(batch_times)
    print(f"{args.dataset} train={len(ds.train)} batch={args.batch_size} crop_padding=4 flip=True "
          f"normalize image_size={args.image_size or 'native'} device={device}")
    print(f"median batch {median * 1e3:.3f} ms -> {args.batch_size / median:,.0f} images/s "
          f"(median of {len(batch_times)} batches over {args.epochs} epochs); "
          f"whole epochs: {', '.join(f'{r:,.0f}' for r in epoch_rates)} images/s")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
          f", python {platform.python_version()}")


if __name__ == "__main__":
    main()
