"""Model zoo: the published seed CNN (configurable for ablations) and the fast model that beats it."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import torch
from torch import nn

from brainlib.config import CLASSES
from brainlib.data import NORM_MEAN, NORM_STD
from brainlib.pretrained import EfficientNetLite

if TYPE_CHECKING:
    import pandas as pd


@runtime_checkable
class ClassifierModel(Protocol):
    """The model contract every brainlib model keeps, and that training, checkpoints, Grad-CAM
    (:mod:`brainlib.explain`), cross-validation and the notebooks rely on:

    - ``in_channels``: 1 (grayscale) or 3 (the gray channel repeated, as the seed model was published);
    - ``input_size``: the square input side in pixels (images are decoded to it; stored in checkpoints);
    - ``features``: an ``nn.Sequential`` of the convolutional part, N×C×H×W → N×C'×H'×W' (Grad-CAM and the
      feature-map figures look inside it);
    - ``classifier``: the head, features → N×classes logits; ``model(x) == classifier(features(x))``.
    """

    in_channels: int
    input_size: int
    features: nn.Sequential
    classifier: nn.Module

    def __call__(self, x: torch.Tensor) -> torch.Tensor: ...


class TumorCNN(nn.Module):
    """Plain CNN: ``blocks`` × (``convs_per_block`` × [conv3×3 → ReLU]) → MaxPool2, flatten, FC head.

    The flatten size is computed with a dummy forward pass, never by hand. With the defaults this is
    exactly the published seed model (3-channel 224×224 input, 51,032 parameters). ``batch_norm=True``
    puts a BatchNorm2d between every convolution and its ReLU (the "seed + BN" ablation variant).
    """

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = len(CLASSES),
        blocks: int = 2,
        convs_per_block: int = 3,
        width: int = 4,
        fc_layers: int = 1,
        fc_hidden: int = 64,
        input_size: int = 224,
        batch_norm: bool = False,
    ):
        super().__init__()
        self.in_channels, self.input_size = in_channels, input_size
        self.convs_per_block = convs_per_block
        layers: list[nn.Module] = []
        channels = in_channels
        for _ in range(blocks):
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(channels, width, kernel_size=3, padding=1)]
                layers += [nn.BatchNorm2d(width), nn.ReLU()] if batch_norm else [nn.ReLU()]
                channels = width
            layers.append(nn.MaxPool2d(2))
        self.features = nn.Sequential(*layers)
        with torch.no_grad():
            flat = self.features(torch.zeros(1, in_channels, input_size, input_size)).numel()
        head: list[nn.Module] = [nn.Flatten()]
        for _ in range(fc_layers - 1):
            head += [nn.Linear(flat, fc_hidden), nn.ReLU()]
            flat = fc_hidden
        head.append(nn.Linear(flat, num_classes))
        self.classifier = nn.Sequential(*head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Residual(nn.Module):
    """Two 3×3 conv-BN-ReLU layers with an identity shortcut."""

    def __init__(self, channels: int):
        super().__init__()
        self.body = nn.Sequential(conv_bn(channels, channels), conv_bn(channels, channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class BrainNorm(nn.Module):
    """Per-image intensity normalisation inside the head, as the network's first (parameter-free) layer:
    the pixels above ``threshold`` (of the 0–255 scale) are z-scored with that image's own mean and standard
    deviation, the background is set to ``background``. Part of the model, so training, ``predict``,
    evaluation and Grad-CAM all apply it; the input stays the usual normalised image."""

    def __init__(self, threshold: int = 10, background: float = -3.0):
        super().__init__()
        self.cut = (threshold / 255 - NORM_MEAN) / NORM_STD  # the threshold on the normalised scale
        self.background = background

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head = (x > self.cut).to(x.dtype)
        n = head.sum(dim=(1, 2, 3), keepdim=True)
        mean = (x * head).sum(dim=(1, 2, 3), keepdim=True) / n.clamp(min=1)
        var = (((x - mean) * head) ** 2).sum(dim=(1, 2, 3), keepdim=True) / (n - 1).clamp(min=1)
        z = (x - mean) / var.clamp(min=1e-6).sqrt()
        return z * head + self.background * (1 - head)


class FastNet(nn.Module):
    """Small residual BN network on 1-channel 160×160 input, built to train in minutes on a CPU.

    A 4×4 stride-4 "patchify" stem (``stem_stride=4``; 2 gives a 3×3 stride-2 conv instead), then per
    stage a strided conv-BN-ReLU followed by a residual block, global average pooling, dropout and
    one linear layer (485,988 parameters with the defaults). The patchify stem measured faster than a
    3×3 stride-2 stem at 112 pixels while seeing more pixels; widths (16, 32, 64, 128) train ~1.7×
    faster than (24, 48, 96, 192) at the same accuracy targets (see the README's results).
    """

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = len(CLASSES),
        widths: tuple[int, ...] = (16, 32, 64, 128),
        input_size: int = 160,
        dropout: float = 0.2,
        stem_stride: int = 4,
        input_norm: str = "global",
    ):
        super().__init__()
        if input_norm not in ("global", "brain"):
            raise ValueError(f"unknown input_norm {input_norm!r}; choose global or brain")
        self.in_channels, self.input_size = in_channels, input_size
        widths = tuple(widths)
        if stem_stride == 2:
            stem = conv_bn(in_channels, widths[0], stride=2)
        else:  # patchify stem: a stem_stride × stem_stride convolution with the same stride
            stem = nn.Sequential(
                nn.Conv2d(in_channels, widths[0], stem_stride, stride=stem_stride, bias=False),
                nn.BatchNorm2d(widths[0]),
                nn.ReLU(inplace=True),
            )
        layers: list[nn.Module] = [BrainNorm(), stem] if input_norm == "brain" else [stem]
        for cin, cout in zip(widths[:-1], widths[1:]):
            layers += [conv_bn(cin, cout, stride=2), Residual(cout)]
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(widths[-1], num_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))


def seed_model(**overrides) -> TumorCNN:
    """The published seed architecture (overrides allowed for ablations)."""
    return TumorCNN(**overrides)


MODELS: dict[str, Callable[..., nn.Module]] = {
    "seed": seed_model,
    "tumorcnn": TumorCNN,
    "fastnet": FastNet,
    "efficientnet_lite0": EfficientNetLite,  # ImageNet-pretrained (brainlib.pretrained)
}


def model_arguments(name: str) -> dict:
    """An architecture's keyword arguments with their defaults, read from its signature (nothing is built)."""
    import inspect

    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    factory = MODELS[name]
    target = TumorCNN if factory is seed_model else factory
    return {
        p.name: p.default
        for p in inspect.signature(target).parameters.values()
        if p.name != "self" and p.default is not inspect.Parameter.empty
    }


def input_size(name: str, kwargs: dict | None = None) -> int:
    """Side of the square input an architecture takes with ``kwargs`` (without building it)."""
    return int((kwargs or {}).get("input_size", model_arguments(name)["input_size"]))


def weights_problem(name: str, kwargs: dict | None = None) -> str | None:
    """Why architecture ``name`` cannot be built pretrained here (its weights package is not installed), or None:
    checked before any data is loaded, so a missing package is one clear error, never a silent random start."""
    from brainlib.errors import CheckpointError
    from brainlib.pretrained import weights_file

    if not {**model_arguments(name), **(kwargs or {})}.get("pretrained", False):
        return None
    try:
        weights_file()
    except CheckpointError as e:
        return str(e)
    return None


def unknown_arguments(name: str, kwargs: dict) -> list[str]:
    """The names in ``kwargs`` that architecture ``name`` does not take."""
    return sorted(set(kwargs) - set(model_arguments(name)))


def build_model(name: str, **kwargs) -> nn.Module:
    """Build a registered model by name (checked against :class:`ClassifierModel`)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(sorted(MODELS))}")
    model = MODELS[name](**kwargs)
    if not isinstance(model, ClassifierModel) or not isinstance(model.features, nn.Sequential):
        raise TypeError(f"model {name!r} does not keep the brainlib model contract (ClassifierModel)")
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def receptive_fields(model: ClassifierModel) -> pd.DataFrame:
    """Receptive field and stride (input pixels) after every conv and pooling layer of ``model.features``."""
    import pandas as pd

    rows, rf, stride = [], 1, 1
    for name, layer in model.features.named_modules():
        if isinstance(layer, (nn.Conv2d, nn.MaxPool2d)):
            k = layer.kernel_size if isinstance(layer.kernel_size, int) else layer.kernel_size[0]
            s = layer.stride if isinstance(layer.stride, int) else layer.stride[0]
            rf += (k - 1) * stride
            stride *= s
            rows.append(
                {
                    "layer": f"features.{name}",
                    "type": type(layer).__name__,
                    "receptive field (px)": rf,
                    "stride (px)": stride,
                }
            )
    return pd.DataFrame(rows)
