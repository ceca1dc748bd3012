"""LRSchedule: warm-up, the shapes' end points, and that it is a pure function of the step."""

from __future__ import annotations

import math
from types import SimpleNamespace

import pytest
import torch

from cnnzoo.engine.optim import LRSchedule, match_param_layouts


def schedule(name: str, **kw) -> LRSchedule:
    cfg = SimpleNamespace(name=name, warmup_epochs=kw.pop("warmup_epochs", 0), warmup_start_factor=0.01,
                          step_epochs=kw.pop("step_epochs", 2), gamma=0.1, min_lr_factor=kw.pop("min_lr_factor", 0.0),
                          pct_start=0.25, div_factor=25.0)
    return LRSchedule.from_config(cfg, 0.1, steps_per_epoch=10, epochs=kw.pop("epochs", 4))


def test_warmup_rises_linearly_from_the_start_factor_to_the_base_rate():
    s = schedule("cosine", warmup_epochs=1)  # 10 warm-up steps
    assert s.warmup == 10
    assert s(0) == pytest.approx(0.1 * 0.01)
    assert s(5) == pytest.approx(0.1 * (0.01 + 0.99 * 0.5))
    assert s(10) == pytest.approx(0.1)  # warm-up over: cosine starts at the peak
    rates = [s(i) for i in range(11)]
    assert rates == sorted(rates)


def test_cosine_goes_from_the_peak_to_the_floor():
    s = schedule("cosine", min_lr_factor=0.1)
    assert s(0) == pytest.approx(0.1)
    assert s(20) == pytest.approx(0.01 + 0.09 * 0.5)  # half way: half way between peak and floor
    assert s(40) == pytest.approx(0.01) and s(1000) == pytest.approx(0.01)  # stays at the floor


def test_onecycle_rises_from_lr_over_div_factor_to_the_peak_then_anneals():
    s = schedule("onecycle")
    up = int(0.25 * 40)
    assert s(0) == pytest.approx(0.1 / 25)
    assert s(up) == pytest.approx(0.1)
    assert max(s(i) for i in range(41)) == pytest.approx(0.1)
    assert s(40) == pytest.approx(0.0, abs=1e-12)


def test_step_and_constant():
    s = schedule("step", step_epochs=2)
    assert [s(0), s(19), s(20), s(39), s(40)] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    c = schedule("constant")
    assert {c(i) for i in (0, 7, 39, 400)} == {0.1}


@pytest.mark.parametrize("name", ["constant", "step", "cosine", "onecycle"])
def test_a_schedule_is_a_pure_function_of_the_step(name):
    s = schedule(name)
    forward = [s(i) for i in range(41)]
    backward = [s(i) for i in reversed(range(41))][::-1]
    assert forward == backward  # no hidden state: resuming needs nothing but the step
    assert all(math.isfinite(v) and v >= 0 for v in forward)


@pytest.mark.parametrize("name", ["step", "cosine", "onecycle"])
def test_past_its_end_a_schedule_holds_the_rate_of_its_last_step(name):
    """An extended run (`--resume RUN --epochs N` after it finished) continues at the final rate: no
    new warm-up, no jump, and still a pure function of the step."""
    s = schedule(name)
    s.end = s.total
    last = s(s.total - 1)
    assert [s(i) for i in (s.total, s.total + 1, 10 * s.total)] == [last] * 3
    assert [s(i) for i in range(s.total)] == [schedule(name)(i) for i in range(s.total)]  # unchanged before


def test_resumed_optimizer_buffers_take_their_parameters_layout():
    """A checkpoint keeps momentum buffers contiguous; a channels_last model's conv weights are NHWC.
    CUDA's fused SGD refuses the mix at the first step after a resume (seen on an H200), so the
    loaded buffers are re-laid like their parameters, values unchanged."""
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.Conv2d(8, 4, 1)).to(
        memory_format=torch.channels_last)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(2, 3, 8, 8).to(memory_format=torch.channels_last)).sum().backward()
    opt.step()
    saved = opt.state_dict()
    for state in saved["state"].values():  # as the checkpoint writes them
        state["momentum_buffer"] = state["momentum_buffer"].contiguous()
    fresh = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(saved)
    weight = model[0].weight
    assert fresh.state[weight]["momentum_buffer"].stride() != weight.stride()  # what torch leaves
    match_param_layouts(fresh)
    for p in model.parameters():
        buf = fresh.state[p]["momentum_buffer"]
        assert buf.stride() == p.stride()
        assert torch.equal(buf, opt.state[p]["momentum_buffer"])
