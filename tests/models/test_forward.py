"""Every registered model trains at the zoo's native sizes: 1x28x28 (Fashion-MNIST) and 3x32x32 (CIFAR)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnzoo.models import create_model

from .conftest import model_params


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32)], ids=["1x28x28", "3x32x32"])
@pytest.mark.parametrize("name", model_params())
def test_forward_backward_at_native_size(name, shape):
    model = create_model(name, num_classes=10, in_channels=shape[0], image_size=shape[1])
    model.train()
    x = torch.randn(2, *shape)  # two images: BatchNorm needs more than one value per channel
    out = model(x)
    assert isinstance(out, torch.Tensor) and out.shape == (2, 10)
    loss = F.cross_entropy(out, torch.tensor([3, 7]))
    assert torch.isfinite(loss)
    loss.backward()
    # Every parameter took part in the forward pass (a block built but never called, as the
    # seed's SENet's last SE block, would have no gradient) and got a finite gradient.
    for pname, p in model.named_parameters():
        assert p.grad is not None, f"{name}: {pname} is never used"
        assert torch.isfinite(p.grad).all(), f"{name}: {pname} has a non-finite gradient"
    features = model.forward_features(x)
    assert features.shape[0] == 2 and model.num_features in features.shape
