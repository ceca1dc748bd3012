"""Training engine: the loop, optimizers, checkpoints, metrics, distributed helpers."""
