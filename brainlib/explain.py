"""Grad-CAM explanations (pytorch-grad-cam) and other looks inside brainlib models: the numbers that
:mod:`brainlib.viz` draws. Everything here relies only on the model contract
(:class:`brainlib.models.ClassifierModel`) and runs on the model's device."""

from __future__ import annotations

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from brainlib.data import to_model_input
from brainlib.models import ClassifierModel


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def target_layer(model: ClassifierModel, stage: int = -1) -> nn.Module:
    """The layer Grad-CAM looks at: the last convolutional stage of the network (``stage=-1``), or the one
    before it (``stage=-2``: twice the resolution)."""
    if hasattr(model.features[-1], "body"):  # FastNet: the residual block ending each stage
        blocks = [m for m in model.features if hasattr(m, "body")]
        return blocks[stage]
    convs = [m for m in model.features.modules() if isinstance(m, nn.Conv2d)]
    per_block = getattr(model, "convs_per_block", 1)
    return convs[-1] if stage == -1 else convs[-1 - per_block * (-1 - stage)]


def gradcam(model: ClassifierModel, images_uint8: torch.Tensor, classes=None, stage: int = -1) -> np.ndarray:
    """Grad-CAM heat maps (N×H×W in [0, 1]) for uint8 N×H×W images; ``classes`` None = predicted class;
    ``stage`` as in :func:`target_layer`."""
    model.eval()
    x = to_model_input(torch.as_tensor(images_uint8).to(_device(model)), model.in_channels)
    targets = None if classes is None else [ClassifierOutputTarget(int(c)) for c in classes]
    with GradCAM(model=model, target_layers=[target_layer(model, stage)]) as cam:
        return cam(input_tensor=x, targets=targets)


def overlay(image_uint8, heatmap: np.ndarray, image_weight: float = 0.6) -> np.ndarray:
    """RGB uint8 picture of ``heatmap`` over the grayscale image."""
    gray = np.asarray(image_uint8, dtype=np.float32) / 255.0
    rgb = np.repeat(gray[..., None], 3, axis=2)
    return show_cam_on_image(rgb, heatmap, use_rgb=True, image_weight=image_weight)


def explain_image(
    model: ClassifierModel, image_uint8: torch.Tensor, tta: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and the Grad-CAM heat map of the predicted class for one uint8 H×W image (what
    :func:`brainlib.viz.prediction_panel` draws)."""
    from brainlib.engine import predict_proba

    img = torch.as_tensor(image_uint8)
    img = img.unsqueeze(0) if img.ndim == 2 else img
    probs = predict_proba(model, img, tta=tta)[0]
    return probs, gradcam(model, img, classes=[int(probs.argmax())])[0]


@torch.no_grad()
def feature_maps(model: ClassifierModel, images_uint8: torch.Tensor, layers: int = 2) -> np.ndarray:
    """Outputs (N×K×h×w) of the first ``layers`` modules of ``model.features`` (e.g. conv + ReLU)."""
    model.eval()
    x = to_model_input(torch.as_tensor(images_uint8).to(_device(model)), model.in_channels)
    return model.features[:layers](x).float().cpu().numpy()


def first_layer_weights(model: ClassifierModel) -> np.ndarray:
    """The first convolution's filters summed over input channels (K×h×w): with a gray image repeated over
    the channels, this is the filter the image actually meets."""
    conv = next(m for m in model.features.modules() if isinstance(m, nn.Conv2d))
    return conv.weight.detach().float().sum(dim=1).cpu().numpy()
