"""EMA of the weights: the update, swapping in and out, and its checkpoint round trip."""

from __future__ import annotations

import torch
from torch import nn

from cnnzoo.engine.ema import EMA, averaged


def tiny() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))


def test_update_is_decay_times_average_plus_the_rest_times_weights():
    model = tiny()
    ema = EMA(model, decay=0.9)
    start = [p.detach().clone() for p in model.parameters()]
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model[1].running_mean.fill_(3.0)
    ema.update(model)
    for e, s, p in zip(ema.params, start, model.parameters(), strict=True):
        torch.testing.assert_close(e, 0.9 * s + 0.1 * p.detach())
    assert torch.equal(ema.buffers[0], model[1].running_mean)  # buffers are copied, not averaged


def test_swap_twice_is_the_identity():
    model = tiny()
    ema = EMA(model, decay=0.5)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3.0)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    averaged_params = [t.clone() for t in ema.params]
    ema.swap(model)
    assert all(torch.equal(p, a) for p, a in zip(model.parameters(), averaged_params, strict=True))
    ema.swap(model)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    with averaged(ema, model):
        assert all(torch.equal(p, a) for p, a in zip(model.parameters(), averaged_params, strict=True))
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


def test_state_round_trip():
    model = tiny()
    ema = EMA(model, decay=0.99)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.5)
    ema.update(model)
    saved = {k: v.clone() for k, v in ema.tensors().items()}
    other = EMA(tiny(), decay=0.99)
    other.load(saved)
    assert all(torch.equal(a, b) for a, b in zip(other.params + other.buffers, ema.params + ema.buffers, strict=True))
