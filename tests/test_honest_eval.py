"""The honest-evaluation checks: a validation split with no near duplicate across it, cluster bootstrap
intervals, an encoding check that catches a planted shortcut, histogram matching, the CT-likeness score."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from brainlib import audit, data, metrics, splits, transforms
from brainlib.data import ImageSet


def _hashes_with_chain(n_chain: int, n_free: int, seed: int = 0) -> np.ndarray:
    """uint64 hashes: a chain of ``n_chain`` images, each 1 bit from the next (one component at any
    threshold ≥ 1, though its ends are far apart), and ``n_free`` unrelated random hashes."""
    rng = np.random.default_rng(seed)
    start = int(rng.integers(0, 2**63))
    chain = [start]
    for i in range(1, n_chain):
        chain.append(chain[-1] ^ (1 << (i % 64)))
    free = rng.integers(0, 2**63, size=n_free, dtype=np.int64).astype(np.uint64)
    return np.concatenate([np.array(chain, dtype=np.uint64), free])


def _imageset(labels) -> ImageSet:
    labels = torch.as_tensor(labels)
    return ImageSet(
        torch.zeros(len(labels), 8, 8, dtype=torch.uint8),
        labels,
        [f"x{i}" for i in range(len(labels))],
        root=None,
        fingerprint="t",
    )


def test_validation_split_has_no_train_neighbour_and_keeps_the_giant_chain_in_training():
    hashes = _hashes_with_chain(60, 200)
    labels = np.arange(len(hashes)) % 4
    split = splits.validation_split(_imageset(labels), threshold=8, hashes=hashes)
    assert split.val_with_train_neighbour == 0
    assert set(range(60)) <= set(split.kept_in_training.tolist()) <= set(split.train_idx.tolist())
    assert not set(split.val_idx) & set(split.train_idx)
    assert sorted([*split.train_idx, *split.val_idx]) == list(range(len(hashes)))
    _, dist = audit.nearest(hashes[split.val_idx], hashes[split.train_idx])
    assert dist.min() > 8
    assert 0.10 * len(hashes) <= len(split.val_idx) <= 0.16 * len(hashes)


def test_validation_split_at_a_lower_threshold_would_leak():
    """The reason for the change: components at 6 let a validation image keep a neighbour at 7-8."""
    rng = np.random.default_rng(1)
    base = rng.integers(0, 2**63, size=100, dtype=np.int64).astype(np.uint64)
    partners = base ^ np.uint64(0b1111111)  # every image has a partner at distance 7
    hashes = np.concatenate([base, partners])
    groups6 = audit.near_duplicate_groups(hashes, 6)
    groups8 = audit.near_duplicate_groups(hashes, 8)
    assert len(np.unique(groups6)) == 200 and len(np.unique(groups8)) == 100
    split = splits.validation_split(_imageset(np.arange(200) % 2), threshold=8, hashes=hashes)
    assert split.val_with_train_neighbour == 0


def test_cluster_bootstrap_is_wider_than_image_bootstrap():
    # 20 clusters of 10 identical outcomes: only 20 independent observations, not 200
    y = np.zeros(200, int)
    pred = np.repeat(np.r_[np.zeros(14, int), np.ones(6, int)], 10)
    clusters = np.repeat(np.arange(20), 10)
    lo_i, hi_i = metrics.bootstrap_ci(y, pred, n_boot=400, seed=0)
    lo_c, hi_c = metrics.bootstrap_ci(y, pred, n_boot=400, seed=0, groups=clusters)
    assert lo_c <= 0.7 <= hi_c and lo_i <= 0.7 <= hi_i
    assert (hi_c - lo_c) > 2 * (hi_i - lo_i)
    with pytest.raises(ValueError, match="group ids"):
        metrics.bootstrap_ci(y, pred, groups=clusters[:10])


def test_cluster_bootstrap_of_singletons_equals_image_bootstrap_in_distribution():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    lo_i, hi_i = metrics.bootstrap_ci(y, pred, n_boot=2000, seed=1)
    lo_c, hi_c = metrics.bootstrap_ci(y, pred, n_boot=2000, seed=1, groups=np.arange(300))
    assert abs(lo_i - lo_c) < 0.02 and abs(hi_i - hi_c) < 0.02


def _write_pair(tmp_path):
    rng = np.random.default_rng(0)
    arr = (rng.random((48, 48)) * 255).astype(np.uint8)
    gray, rgb = tmp_path / "gray.png", tmp_path / "rgb.png"
    Image.fromarray(arr).save(gray)
    Image.fromarray(np.stack([arr] * 3, -1)).save(rgb)
    return [gray, rgb]


def test_encoding_check_passes_for_the_real_decoder(tmp_path):
    result = audit.encoding_invariance(_write_pair(tmp_path), size=48)
    assert result["identical"] == 2 and result["original_modes"] == {"L": 1, "RGB": 1}


def test_encoding_check_catches_a_planted_shortcut(tmp_path, monkeypatch):
    real = data.to_grayscale

    def leaky(im):  # a decoder that lets the file's mode through: RGB files come out one level brighter
        out = real(im)
        if im.mode == "RGB":
            out = Image.fromarray(np.minimum(np.asarray(out).astype(int) + 1, 255).astype(np.uint8))
        return out

    monkeypatch.setattr(data, "to_grayscale", leaky)
    result = audit.encoding_invariance(_write_pair(tmp_path), size=48)
    assert result["identical"] == 0 and result["max_abs_difference"] == 1


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


def test_ct_likeness_separates_a_bright_ring_from_a_dark_skull():
    yy, xx = np.mgrid[:96, :96]
    r = np.hypot(yy - 48, xx - 48)
    ct = np.where(r < 40, 100, 0).astype(np.uint8)
    ct[(r >= 34) & (r < 40)] = 255  # saturated skull ring around mid-gray brain
    mri = np.where(r < 40, 90, 0).astype(np.uint8)
    mri[(r >= 36) & (r < 40)] = 140  # scalp, not saturated
    mri[(r < 10)] = 250  # a bright lesion inside
    scores = audit.ct_likeness(np.stack([ct, mri]))
    assert scores[0] > audit.CT_THRESHOLD > scores[1]


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
