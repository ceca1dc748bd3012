"""torch.compile does not break the zoo's models (slow: inductor compiles C++ for the CPU).

Run with `pytest -m slow tests/models/test_compile.py` (or `make test-all`).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.errors import ModelError
from cnnzoo.models import create_model

pytestmark = pytest.mark.slow


# A residual net with parameter-free shortcuts, and an all-MLP net through einops.
@pytest.mark.parametrize("name", ["resnet20", "mixer_t4"])
def test_compiled_model_matches_eager_forward_and_backward(name):
    torch._dynamo.reset()
    model = create_model(name, num_classes=10, in_channels=1, image_size=28).eval()
    compiled = torch.compile(model)
    x = torch.randn(4, 1, 28, 28)
    torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-4)
    model.train()
    loss = F.cross_entropy(compiled(x), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters())


def test_compiled_model_still_reports_a_too_small_input():
    torch._dynamo.reset()
    compiled = torch.compile(create_model("resnet20", image_size=28).eval())
    compiled(torch.randn(1, 1, 28, 28))
    with pytest.raises(ModelError, match="needs inputs of at least 4x4, got 3x3"):
        compiled(torch.randn(1, 1, 3, 3))
