"""The profiler: per-layer MACs agree with torch's own FLOP counter, and the model is left untouched."""

from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from cnnzoo.models import count_params, create_model, profile


@pytest.mark.parametrize("name", ["convnet", "googlenet", "resnet20", "densenet_bc_100", "seresnet18", "mixer_t4",
                                  "mobilenet_v3_small", "nin", "vgg11_quarter"])
def test_macs_agree_with_torch_flop_counter(name):
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(torch.zeros(1, 1, 28, 28))
    prof = profile(model, (1, 28, 28))
    assert prof.flops == counter.get_total_flops() == 2 * prof.macs
    assert prof.macs == sum(row.macs for row in prof.layers)


def test_profile_rows_and_totals():
    model = create_model("convnet")
    prof = profile(model, (1, 28, 28))
    assert prof.params == count_params(model) == 50_282 == sum(r.params for r in prof.layers)
    assert prof.output_shape == (10,)
    first = prof.layers[0]
    assert (first.name, first.type, first.output_shape, first.params, first.macs) == \
        ("features.0.conv", "Conv2d", (32, 28, 28), 288, 28 * 28 * 32 * 9)
    assert prof.to_dict()["flops"] == 2 * prof.macs


def test_profile_leaves_the_model_as_it_was():
    model = create_model("resnet20", image_size=28)
    model.train()
    model.stages[1].eval()                      # a mixed state is restored exactly
    state = {k: v.clone() for k, v in model.state_dict().items()}
    profile(model, (1, 28, 28))
    assert model.training and not model.stages[1].training and model.stages[2].training
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())   # BN statistics untouched
    assert all(p.grad is None for p in model.parameters())


def test_count_params_trainable_only():
    model = create_model("convnet")
    model.features[0].requires_grad_(False)
    assert count_params(model, trainable_only=True) == count_params(model) - 288 - 64


def test_profile_reports_a_too_small_input():
    from cnnzoo.errors import ModelError

    with pytest.raises(ModelError, match="needs inputs of at least 8x8"):
        profile(create_model("resnet18", image_size=28), (1, 7, 7))
