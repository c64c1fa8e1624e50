"""brainlib.splits: the validation split, with no near duplicate across it (hashes generated here)."""

from __future__ import annotations

import numpy as np
import torch

from brainlib import audit, splits
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
