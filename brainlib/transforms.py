"""Tensor transforms of uint8 image batches: model input (scaling, channels), batched augmentation (geometric,
MRI intensity, sequence randomisation) and the intensity standardisations of the brightness checks."""

from __future__ import annotations

import numpy as np
import torch

from brainlib.data import NORM_MEAN, NORM_STD


def augment_batch(
    x: torch.Tensor,
    rotate: float = 10.0,
    translate: float = 0.06,
    scale: tuple[float, float] = (0.9, 1.1),
    brightness: float = 0.2,
    contrast: float = 0.2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Mild augmentation of a float batch in [0, 1] (N×C×H×W), each image with its own random draw:
    horizontal flip, rotation ±``rotate``°, shift ±``translate`` of the size, zoom in ``scale``,
    brightness and contrast ±20 %. Background fills with black, like the scans.

    Done for the whole batch in one ``affine_grid``/``grid_sample`` call: profiling showed per-image
    ``torchvision.transforms.v2.RandomAffine`` taking ~45 % of a training epoch on a 2-core CPU.
    """
    n = x.shape[0]

    def uniform(lo, hi, *shape):
        return lo + (hi - lo) * torch.rand(n, *shape, generator=generator)

    angle = torch.deg2rad(uniform(-rotate, rotate))
    zoom = uniform(*scale)
    flip = torch.where(torch.rand(n, generator=generator) < 0.5, -1.0, 1.0)
    shift = uniform(-2 * translate, 2 * translate, 2)  # affine_grid works in [-1, 1] coordinates
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack(
        [torch.stack([cos * flip, -sin, shift[:, 0]], 1), torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1
    )
    grid = torch.nn.functional.affine_grid(theta, list(x.shape), align_corners=False)
    x = torch.nn.functional.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    c = uniform(1 - contrast, 1 + contrast, 1, 1, 1)
    b = uniform(1 - brightness, 1 + brightness, 1, 1, 1)
    return (((x - mean) * c + mean) * b).clamp_(0, 1)


AUGMENT_LEVELS = ("basic", "mri", "remap")  # TrainConfig.augment: True means "basic"


def intensity_augment(
    x: torch.Tensor,
    gamma: tuple[float, float] = (0.6, 1.6),
    bias: float = 0.35,
    noise: float = 0.04,
    blur_p: float = 0.25,
    lowres_p: float = 0.25,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """MRI-style intensity augmentation of a float batch in [0, 1] (N×C×H×W), each image with its own draw:
    a gamma curve (log-uniform in ``gamma``), a smooth multiplicative bias field (up to ±``bias`` in log
    intensity, a random 4×4 field upsampled), Gaussian noise inside the head (σ up to ``noise``), and for a
    random part of the batch a Gaussian blur (σ 0.5–1.5 px) or a lower acquisition resolution (1.5–3× down and
    back up). Scanners and sequences differ in exactly these ways; the shapes of the anatomy do not.
    Background stays black."""
    n, c, h, w = x.shape
    dev = x.device

    def rand(*shape):
        return torch.rand(*shape, generator=generator).to(dev)

    head = x > 0.02
    lo, hi = np.log(gamma[0]), np.log(gamma[1])
    g = torch.exp(lo + (hi - lo) * rand(n, 1, 1, 1))
    x = x.clamp(min=1e-6) ** g
    field = torch.nn.functional.interpolate(
        (2 * rand(n, 1, 4, 4) - 1) * bias, size=(h, w), mode="bicubic", align_corners=True
    )
    x = x * torch.exp(field)
    x = x + torch.randn(x.shape, generator=generator).to(dev) * (noise * rand(n, 1, 1, 1)) * head
    blur = rand(n) < blur_p
    if blur.any():
        sigma = 0.5 + rand(1).item()
        r = torch.arange(-2, 3, device=dev, dtype=x.dtype)
        k = torch.exp(-(r**2) / (2 * sigma**2))
        k = (k / k.sum()).view(1, 1, 1, 5).expand(c, 1, 1, 5)
        b = torch.nn.functional.conv2d(x[blur], k, padding=(0, 2), groups=c)
        b = torch.nn.functional.conv2d(b, k.transpose(2, 3), padding=(2, 0), groups=c)
        x = x.clone()
        x[blur] = b
    low = rand(n) < lowres_p
    if low.any():
        factor = 1.5 + 1.5 * rand(1).item()
        small = torch.nn.functional.interpolate(x[low], scale_factor=1 / factor, mode="area")
        x = x.clone()
        x[low] = torch.nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return (x * head).clamp_(0, 1)


def contrast_remap(
    x: torch.Tensor, p: float = 0.5, knots: int = 6, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Sequence randomisation of a float batch in [0, 1] (N×C×H×W): for a random share ``p`` of the images,
    the gray levels inside the head go through a random piecewise-linear curve through 0 at 0 and
    ``knots - 1`` more control points drawn uniformly in [0.05, 1], sorted (a monotone curve: another T1-like
    contrast) for half of them and left unsorted (a non-monotone curve: dark and bright tissue swap, as
    between T1, T2 and FLAIR) for the other half. A tumor is then told apart by its shape and its contrast
    with its surroundings, not by the gray levels a sequence gives it. Background stays black."""
    n = x.shape[0]
    dev = x.device
    pick = torch.rand(n, generator=generator) < p
    if not pick.any():
        return x
    m = int(pick.sum())
    values = 0.05 + 0.95 * torch.rand(m, knots, generator=generator)
    monotone = torch.rand(m, generator=generator) < 0.5
    values[monotone] = values[monotone].sort(dim=1).values
    values[:, 0] = 0.0  # black stays black: faint background noise is not lit up
    values = values.to(dev, x.dtype)
    sub = x[pick.to(dev)]
    head = sub > 0.02
    pos = sub.clamp(0, 1) * (knots - 1)
    lo = pos.floor().clamp(max=knots - 2).long()
    frac = pos - lo
    flat = lo.flatten(1)
    left = torch.gather(values, 1, flat).view_as(sub)
    right = torch.gather(values, 1, flat + 1).view_as(sub)
    out = x.clone()
    out[pick.to(dev)] = ((left + (right - left) * frac) * head).clamp(0, 1)
    return out


def match_histograms(images_uint8: torch.Tensor, reference: np.ndarray, threshold: int = 10) -> torch.Tensor:
    """Map each image's gray levels inside the head (pixels above ``threshold``) onto the ``reference``
    distribution (a 256-bin histogram): every image then has the same brightness and contrast, so a model
    that still classifies it does not rely on them. Background stays black."""
    ref = np.asarray(reference, dtype=np.float64).copy()
    ref[: threshold + 1] = 0
    ref_cdf = np.cumsum(ref) / ref.sum()
    out = images_uint8.numpy().copy()
    for img in out:
        head = img > threshold
        if not head.any():
            continue
        hist = np.bincount(img[head], minlength=256).astype(np.float64)
        cdf = np.cumsum(hist) / hist.sum()
        lut = np.searchsorted(ref_cdf, cdf).clip(threshold + 1, 255).astype(np.uint8)
        img[head] = lut[img[head]]
    return torch.from_numpy(out)


def standardize_intensity(images_uint8: torch.Tensor, mean: float, std: float, threshold: int = 10) -> torch.Tensor:
    """Linearly rescale each image's gray levels inside the head (pixels above ``threshold``) to the given
    mean and standard deviation: brightness and contrast equalised, the shape of the histogram kept.
    Background stays black."""
    out = images_uint8.numpy().astype(np.float64)
    for img in out:
        head = img > threshold
        if head.sum() < 2:
            continue
        v = img[head]
        img[head] = np.clip((v - v.mean()) / max(v.std(), 1e-6) * std + mean, threshold + 1, 255)
    return torch.from_numpy(out.round().astype(np.uint8))


def to_model_input(images_uint8: torch.Tensor, channels: int = 1, augment: bool | str = False) -> torch.Tensor:
    """uint8 N×H×W (or N×1×H×W) → normalized float N×C×H×W, optionally augmented: ``True`` or ``"basic"``
    geometric plus brightness/contrast (:func:`augment_batch`), ``"mri"`` that plus :func:`intensity_augment`,
    ``"remap"`` that plus :func:`contrast_remap`."""
    x = images_uint8 if images_uint8.dim() == 4 else images_uint8.unsqueeze(1)
    x = x.float() / 255.0
    if augment:
        if augment is not True and augment not in AUGMENT_LEVELS:
            raise ValueError(f"unknown augmentation {augment!r}; choose one of {', '.join(AUGMENT_LEVELS)}")
        x = augment_batch(x)
        if augment in ("mri", "remap"):
            x = intensity_augment(x)
        if augment == "remap":
            x = contrast_remap(x)
    x = (x - NORM_MEAN) / NORM_STD
    return x.expand(-1, channels, -1, -1).contiguous() if channels != 1 else x
