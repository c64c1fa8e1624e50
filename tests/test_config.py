"""brainlib.config: device choice."""

from __future__ import annotations

import pytest
import torch

from brainlib import config


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_requested_without_cuda_is_refused_not_silently_replaced():
    with pytest.raises(config.DeviceError, match="no CUDA GPU"):
        config.get_device("cuda")
