"""The small recipes do not blow up in their first epoch, even when a user shortens them.

A freshly initialized network starts a little above the chance loss ln(classes); once its loss has
gone below chance it has learnt something, and a batch loss back above chance means the weights
blew up. A short run on a small set is the hard case: every schedule here warms up over a share
of the run, so 3 epochs of 8 steps rise to the recipe's full learning rate in a handful of steps.
(`cnn` without its gradient clipping reached a batch loss of 16.3 this way on 3,600 Fashion-MNIST
images; here it averaged 4.6 over its first epoch.) Measured on real data by
benchmarks/first_epoch_loss.py.
"""

from __future__ import annotations

import math

import pytest

from cnnzoo.config import load_config
from cnnzoo.engine.callbacks import Callback
from cnnzoo.engine.trainer import Trainer


class BatchLosses(Callback):
    def __init__(self) -> None:
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, loss) -> None:
        self.losses.append(float(loss.item()))


@pytest.mark.parametrize("recipe", ["cnn", "batchnorm", pytest.param("resnet", marks=pytest.mark.slow)])
def test_a_short_run_of_a_recipe_stays_below_chance_once_it_gets_there(recipe, fashion_dir):
    # conftest's 1,080 training images in the recipe's batches of 128: 8 steps per epoch
    cfg = load_config(model=recipe, overrides={"data.data_dir": str(fashion_dir), "data.offline": True,
                                               "train.epochs": 3, "train.device": "cpu"})
    losses = BatchLosses()
    trainer = Trainer(cfg, output=False, callbacks=[losses])
    trainer.setup()
    trainer.run_steps(trainer.steps_per_epoch)  # the first epoch
    chance = math.log(len(trainer.ds.classes))
    below = next(i for i, v in enumerate(losses.losses) if v < chance)
    assert max(losses.losses[below:]) < chance, [round(v, 2) for v in losses.losses]
