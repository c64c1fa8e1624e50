"""Grad-CAM explanations (pytorch-grad-cam), their localisation geometry (tumor boxes, the pointing game, model-free
priors) and other looks inside brainlib models: the numbers that :mod:`brainlib.viz` draws. Everything here relies
only on the model contract
(:class:`brainlib.models.ClassifierModel`) and runs on the model's device."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.image import show_cam_on_image
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

from brainlib.models import ClassifierModel
from brainlib.transforms import to_model_input

if TYPE_CHECKING:
    import pandas as pd


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def target_layer(model: ClassifierModel, stage: int = -1) -> nn.Module:
    """The layer Grad-CAM looks at: the last convolutional stage of the network (``stage=-1``), or the one
    before it (``stage=-2``: twice the resolution)."""
    if hasattr(model, "stages"):  # a pretrained backbone: the last block of each stage
        return model.stages[stage][-1]
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
    model: ClassifierModel, image_uint8: torch.Tensor, tta: bool = False, temperature: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (with the checkpoint's ``temperature``, as ``brainlib predict`` gives them) and the
    Grad-CAM heat map of the predicted class for one uint8 H×W image (what :func:`brainlib.viz.prediction_panel`
    draws)."""
    from brainlib.engine import predict_proba

    img = torch.as_tensor(image_uint8)
    img = img.unsqueeze(0) if img.ndim == 2 else img
    probs = predict_proba(model, img, tta=tta, temperature=temperature)[0]
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


FILTER_TEMPLATES: dict[str, np.ndarray] = {  # textbook 3×3 patterns a first-layer filter can be read against
    "vertical edge": np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float),  # Sobel: brighter to the right
    "horizontal edge": np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=float),  # brighter below
    "diagonal edge ↘": np.array([[-2, -1, 0], [-1, 0, 1], [0, 1, 2]], dtype=float),  # brighter to the lower right
    "diagonal edge ↙": np.array([[0, -1, -2], [1, 0, -1], [2, 1, 0]], dtype=float),  # brighter to the lower left
    "spot": np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype=float),  # centre brighter than its ring
    "brightness": np.ones((3, 3)),  # local mean
}


def template_similarity(weights) -> pd.DataFrame:
    """Cosine similarity of each 3×3 filter (K×3×3, e.g. from :func:`first_layer_weights`) with each of
    :data:`FILTER_TEMPLATES`: 1 = the same pattern up to scale, −1 = its negative (the opposite edge, a dark spot,
    inverted brightness), 0 = unrelated. One row per filter."""
    import pandas as pd

    w = np.asarray(weights, dtype=float)
    if w.ndim != 3 or w.shape[1:] != (3, 3):
        raise ValueError(f"expected K×3×3 filters, got shape {w.shape}")
    flat = w.reshape(len(w), -1)
    norms = np.linalg.norm(flat, axis=1, keepdims=True)
    flat = np.divide(flat, norms, out=np.zeros_like(flat), where=norms > 0)
    return pd.DataFrame(
        {name: flat @ (t.ravel() / np.linalg.norm(t)) for name, t in FILTER_TEMPLATES.items()},
        index=[f"filter {k}" for k in range(len(w))],
    )


def training_statistics(cfg, train_set, steps: int = 60) -> pd.DataFrame:
    """Train ``cfg`` (a :class:`brainlib.engine.TrainConfig`) for ``steps`` batches from its seed and record, after
    every step and for every convolution of ``model.features``: the share of the following ReLU's outputs that are
    exactly zero ("dead" units pass no gradient), the standard deviation of those outputs, and the norm of the
    convolution's weight gradient; plus the batch loss. For seeing why a network does or does not start learning
    (05, *Why batch normalisation*); CPU, no augmentation."""
    import itertools

    import pandas as pd

    from brainlib import config, engine
    from brainlib.loaders import TensorImageDataset, make_loader
    from brainlib.models import build_model

    config.seed_everything(cfg.seed)
    model = build_model(cfg.model, **cfg.model_kwargs)
    optimizer = engine.make_optimizer(cfg.optimizer, model.parameters(), cfg.lr, cfg.weight_decay, cfg.momentum)
    convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
    relus = [m for m in model.features if isinstance(m, nn.ReLU)]
    outputs: dict[int, torch.Tensor] = {}
    hooks = [
        r.register_forward_hook(lambda m, i, o, k=k: outputs.__setitem__(k, o.detach())) for k, r in enumerate(relus)
    ]
    loader = make_loader(
        TensorImageDataset(train_set.images, train_set.labels), cfg.batch_size, shuffle=True, seed=cfg.seed
    )
    rows: list[dict] = []

    def record(loss: torch.Tensor) -> None:  # after each backward pass, before the optimizer step
        step = len(rows) // len(convs) + 1
        for k, conv in enumerate(convs):
            rows.append(
                {
                    "step": step,
                    "layer": k + 1,
                    "loss": loss.item(),
                    "zero ReLU outputs": (outputs[k] == 0).float().mean().item(),
                    "activation std": outputs[k].std().item(),
                    "gradient norm": conv.weight.grad.norm().item(),
                }
            )

    def batches():  # as many passes over the training set as ``steps`` needs
        while True:
            yield from loader

    try:  # the one training step of brainlib (engine.run_epoch), watched after every backward pass
        engine.run_epoch(
            model, itertools.islice(batches(), steps), nn.CrossEntropyLoss(), optimizer, progress=False, on_step=record
        )
    finally:
        for h in hooks:
            h.remove()
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- sanity check
SANITY_SCOPES = {"classifier": "the classifier head", "all": "every layer"}


def randomized_copy(model: ClassifierModel, scope: str = "all", seed: int = 0) -> ClassifierModel:
    """A copy of ``model`` with the weights of ``scope`` (:data:`SANITY_SCOPES`) drawn afresh from their
    initialisation (``reset_parameters``), the rest unchanged."""
    import copy

    if scope not in SANITY_SCOPES:
        raise ValueError(f"unknown scope {scope!r}; choose one of {', '.join(SANITY_SCOPES)}")
    twin = copy.deepcopy(model)
    torch.manual_seed(seed)
    part = twin if scope == "all" else twin.classifier
    for m in part.modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
    return twin.eval()


def sanity_check(model: ClassifierModel, images_uint8: torch.Tensor, classes, seed: int = 0) -> pd.DataFrame:
    """The model-randomisation test of Adebayo et al. (2018): Grad-CAM maps of the trained model against those of
    the same network with its classifier head, then every layer, re-initialised. A method that explains the model
    must give different maps; maps that survive randomisation show the architecture or the image, not what was
    learned. Per scope: the median Spearman rank correlation of the maps (pixel by pixel, per image), the share of
    images with correlation below 0.5, and the share whose peak moved by more than a tenth of the image side."""
    import warnings

    import pandas as pd
    from scipy.stats import spearmanr

    base = gradcam_maps(model, images_uint8, classes)
    rows = []
    for scope, label in SANITY_SCOPES.items():
        maps = gradcam_maps(randomized_copy(model, scope, seed), images_uint8, classes)
        with warnings.catch_warnings():  # a constant map (no gradient) correlates with nothing: counted as 0
            warnings.simplefilter("ignore")
            rho = np.array([spearmanr(a.ravel(), b.ravel()).statistic for a, b in zip(base, maps)])
        rho = np.nan_to_num(rho, nan=0.0)
        moved = np.linalg.norm(peaks(base) - peaks(maps), axis=1) > 0.1
        rows.append(
            {
                "randomised": label,
                "images": len(base),
                "median rank correlation": float(np.median(rho)),
                "share below 0.5": float((rho < 0.5).mean()),
                "share with the peak moved": float(moved.mean()),
            }
        )
    return pd.DataFrame(rows).set_index("randomised")


# ----------------------------------------------------------------------------- localisation geometry
PRIOR_SIGMA = 0.25  # centred Gaussian prior: standard deviation as a fraction of the image size


def box_masks(table: pd.DataFrame, size: int) -> np.ndarray:
    """Boolean N×size×size masks of the tumor boxes (fractions of the image size) in ``table``."""
    masks = np.zeros((len(table), size, size), dtype=bool)
    for i, (xc, yc, w, h) in enumerate(table[["x_center", "y_center", "width", "height"]].to_numpy(float)):
        x0, x1 = int(np.floor((xc - w / 2) * size)), int(np.ceil((xc + w / 2) * size))
        y0, y1 = int(np.floor((yc - h / 2) * size)), int(np.ceil((yc + h / 2) * size))
        masks[i, max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return masks


def pointing(heatmaps: np.ndarray, masks: np.ndarray, tolerance: float = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per image: whether the heat map's maximum lies inside the mask, or within ``tolerance`` pixels of it
    (pointing game), and the share of the heat map's total energy inside the mask."""
    from scipy.ndimage import distance_transform_edt

    n = len(heatmaps)
    flat = heatmaps.reshape(n, -1)
    peak = flat.argmax(1)
    hit = masks.reshape(n, -1)[np.arange(n), peak]
    if tolerance > 0:  # distance from the peak pixel to the nearest mask pixel
        far = np.array([distance_transform_edt(~m).reshape(-1)[p] if m.any() else np.inf for m, p in zip(masks, peak)])
        hit = far <= tolerance
    total = flat.sum(1)
    inside = (flat * masks.reshape(n, -1)).sum(1)
    energy = np.divide(inside, total, out=np.zeros(n), where=total > 0)
    return hit, energy


def peaks(heatmaps: np.ndarray) -> np.ndarray:
    """Position (y, x) of each heat map's maximum, as fractions of the image size (pixel centres)."""
    n, h, w = heatmaps.shape
    r, c = np.unravel_index(heatmaps.reshape(n, -1).argmax(1), (h, w))
    return np.stack([(r + 0.5) / h, (c + 0.5) / w], 1)


def distance_to_box(points: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Distance (fractions of the image size) from points (y, x) to boxes (x_center, y_center, width, height);
    0 inside the box."""
    points, boxes = np.atleast_2d(points), np.atleast_2d(boxes)
    y, x = points[:, 0], points[:, 1]
    dx = np.maximum(np.abs(x - boxes[:, 0]) - boxes[:, 2] / 2, 0)
    dy = np.maximum(np.abs(y - boxes[:, 1]) - boxes[:, 3] / 2, 0)
    return np.hypot(dx, dy)


def centred_prior(size: int, sigma: float = PRIOR_SIGMA) -> np.ndarray:
    """A model-free heat map: an isotropic Gaussian at the image centre."""
    ax = (np.arange(size) + 0.5) / size - 0.5
    g = np.exp(-(ax[None, :] ** 2 + ax[:, None] ** 2) / (2 * sigma**2))
    return g / g.max()


def gradcam_maps(
    model: torch.nn.Module, images_uint8: torch.Tensor, classes, batch: int = 64, stage: int = -1
) -> np.ndarray:
    """Grad-CAM maps (N×H×W, at the input size) of ``classes`` in batches (``stage``: see
    :func:`brainlib.explain.target_layer`)."""
    out = [
        gradcam(model, images_uint8[i : i + batch], classes[i : i + batch], stage=stage)
        for i in range(0, len(classes), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, *images_uint8.shape[1:]), np.float32)


def cam_grid(model, stage: int, size: int) -> int:
    """Side of the feature map Grad-CAM uses at ``stage`` for a ``size``-pixel input."""
    shapes = []
    hook = target_layer(model, stage).register_forward_hook(lambda m, i, o: shapes.append(o.shape[-1]))
    try:
        with torch.no_grad():
            model(torch.zeros(1, model.in_channels, size, size, device=next(model.parameters()).device))
    finally:
        hook.remove()
    return int(shapes[0])
