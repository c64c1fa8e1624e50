"""brainlib.transforms: model input, augmentation levels, MRI intensity augmentation and sequence randomisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from brainlib import transforms
from brainlib.transforms import intensity_augment, to_model_input


def head_image(n: int = 4, size: int = 32) -> torch.Tensor:
    """Bright discs (a 'head') on black, with a gradient inside: N×1×size×size in [0, 1]."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2).float()
    x = disc * (0.3 + 0.5 * xx / size)
    return x.expand(n, 1, size, size).clone()


def test_intensity_augment_keeps_range_background_and_is_reproducible():
    x = head_image()
    a = intensity_augment(x, generator=torch.Generator().manual_seed(3))
    b = intensity_augment(x, generator=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.all(a[x <= 0.02] == 0)  # background stays black: no noise, no bias outside the head
    assert not torch.allclose(a, x)
    c = intensity_augment(x, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a, c)
    # every image gets its own draw
    assert not torch.allclose(a[0], a[1])


def test_intensity_augment_blur_and_low_resolution_smooth_the_image():
    x = head_image(n=2)
    x[:, :, 10:22:2] += 0.1  # stripes: high spatial frequency
    x = x.clamp(0, 1)
    g = torch.Generator().manual_seed(0)
    y = intensity_augment(x, gamma=(1, 1), bias=0, noise=0, blur_p=1.0, lowres_p=1.0, generator=g)

    def roughness(t):
        return (t[..., 1:, :] - t[..., :-1, :]).abs().mean()

    assert roughness(y) < roughness(x)


def test_to_model_input_augmentation_levels():
    x = (head_image() * 255).to(torch.uint8)
    torch.manual_seed(0)
    basic = to_model_input(x, augment=True)
    torch.manual_seed(0)
    assert torch.equal(basic, to_model_input(x, augment="basic"))
    torch.manual_seed(0)
    assert not torch.equal(basic, to_model_input(x, augment="mri"))
    with pytest.raises(ValueError, match="unknown augmentation"):
        to_model_input(x, augment="strong")


def test_contrast_remap_changes_gray_levels_inside_the_head_only():
    from brainlib.transforms import contrast_remap

    x = head_image(n=8)
    g = torch.Generator().manual_seed(0)
    y = contrast_remap(x, p=1.0, generator=g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.all(y[x <= 0.02] == 0)  # background stays black
    assert not torch.allclose(y, x)
    # a piecewise-linear curve of the gray level: equal inputs give equal outputs within an image
    row = x[0, 0, 16]
    out = y[0, 0, 16]
    same = row[:, None] == row[None, :]
    assert torch.all((out[:, None] == out[None, :])[same])
    assert torch.equal(contrast_remap(x, p=0.0), x)
    a = contrast_remap(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, contrast_remap(x, generator=torch.Generator().manual_seed(5)))


def test_contrast_remap_makes_non_monotone_curves():
    from brainlib.transforms import contrast_remap

    ramp = torch.linspace(0.05, 1, 64).view(1, 1, 1, 64).expand(64, 1, 1, 64).clone()
    y = contrast_remap(ramp, p=1.0, generator=torch.Generator().manual_seed(1))
    steps = y[:, 0, 0, 1:] - y[:, 0, 0, :-1]
    monotone = (steps >= -1e-6).all(dim=1)
    assert monotone.any() and (~monotone).any()  # both kinds of curve are drawn


def test_match_histograms_equalises_brightness():
    rng = np.random.default_rng(0)
    dark = np.zeros((2, 32, 32), np.uint8)
    dark[:, 8:24, 8:24] = rng.integers(20, 60, (2, 16, 16))
    bright = dark.copy()
    bright[:, 8:24, 8:24] += 150
    reference = np.bincount(rng.integers(90, 140, 5000), minlength=256)
    out = transforms.match_histograms(torch.from_numpy(np.concatenate([dark, bright])), reference).numpy()
    head = out[:, 8:24, 8:24]
    assert abs(head[:2].mean() - head[2:].mean()) < 2 and 90 <= head.mean() <= 140
    assert (out[:, :8] == 0).all()  # background untouched


def test_standardize_intensity_equalises_mean_and_std():
    rng = np.random.default_rng(0)
    imgs = np.zeros((2, 32, 32), np.uint8)
    imgs[0, 8:24, 8:24] = rng.integers(20, 60, (16, 16))
    imgs[1, 8:24, 8:24] = rng.integers(120, 250, (16, 16))
    out = transforms.standardize_intensity(torch.from_numpy(imgs), mean=100, std=20).numpy().astype(float)
    for img in out:
        v = img[8:24, 8:24]
        assert abs(v.mean() - 100) < 1.5 and abs(v.std() - 20) < 1.5
    assert (out[:, :8] == 0).all()
