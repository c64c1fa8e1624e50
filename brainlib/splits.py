"""The validation split policy: which Training images validate, so that none has a near duplicate in the training
part (connected near-duplicate components stay whole, the largest stay in training)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from brainlib.data import ImageSet
from brainlib.hashes import DEFAULT_THRESHOLD, imageset_hashes, near_duplicate_groups, nearest

# The validation split holds at the same threshold: images within DEFAULT_THRESHOLD of each other are
# linked transitively (connected components, single linkage) and a component never straddles the split.
# At 8 the chains merge 1,832 of the 5,708 Training images into one component; components larger than
# MAX_VALIDATION_GROUP of the validation target stay on the training side (they cannot move as a whole
# without unbalancing validation), so no validation image has a training-part image within the threshold.

GROUP_THRESHOLD = DEFAULT_THRESHOLD


VAL_FRACTION = 0.15  # validation share of Training (1/7 after rounding to whole folds)


SPLIT_SEED = 0  # one validation split shared by every experiment


MAX_VALIDATION_GROUP = 0.05  # components above this share of the validation target (and 10 images) stay in training


def training_groups(train: ImageSet, threshold: int = GROUP_THRESHOLD) -> np.ndarray:
    """Near-duplicate group id per Training image, for a group-aware validation split."""
    return near_duplicate_groups(imageset_hashes(train), threshold)


@dataclass
class ValidationSplit:
    """The train/validation split of Training and what it cost."""

    train_idx: np.ndarray
    val_idx: np.ndarray
    groups: np.ndarray  # component id per Training image at ``threshold``
    kept_in_training: np.ndarray  # Training images in components too large to move (always in training)
    threshold: int
    val_with_train_neighbour: int  # validation images with a training-part image within ``threshold``: 0


def validation_split(
    train: ImageSet,
    threshold: int = GROUP_THRESHOLD,
    val_fraction: float = VAL_FRACTION,
    seed: int = SPLIT_SEED,
    hashes: np.ndarray | None = None,
) -> ValidationSplit:
    """Stratified train/validation split of Training in which no validation image has a training-part
    image within pHash distance ``threshold``: components at the threshold stay whole, and components
    larger than :data:`MAX_VALIDATION_GROUP` of the validation target stay on the training side."""
    hashes = imageset_hashes(train) if hashes is None else hashes
    labels = train.labels.numpy()
    groups = near_duplicate_groups(hashes, threshold) if len(hashes) else np.zeros(0, int)
    sizes = np.bincount(groups) if len(groups) else np.zeros(0, int)
    target = val_fraction * len(labels)
    kept = sizes[groups] > max(10.0, MAX_VALIDATION_GROUP * target) if len(groups) else np.zeros(0, bool)
    movable = np.flatnonzero(~kept)
    if len(np.unique(groups[movable])) < 2:
        raise ValueError(
            f"cannot form a validation split: {len(movable)} of {len(labels)} Training images lie "
            f"outside near-duplicate components too large to move"
        )
    folds = max(2, int(np.ceil(len(movable) / max(target, 1.0))))  # validation ≈ target, never above it
    folds = max(2, min(folds, len(np.unique(groups[movable]))))
    try:
        tr, va = train_val_split(labels[movable], groups[movable], 1 / folds, seed)
    except ValueError:  # tiny sets: too few members of a class to stratify; split groups unstratified
        tr, va = train_val_split(np.zeros(len(movable), int), groups[movable], 1 / folds, seed)
    train_idx, val_idx = np.sort(np.concatenate([movable[tr], np.flatnonzero(kept)])), movable[va]
    neighbours = 0
    if len(val_idx) and len(train_idx):
        _, dist = nearest(hashes[val_idx], hashes[train_idx])
        neighbours = int((dist <= threshold).sum())
    return ValidationSplit(train_idx, np.sort(val_idx), groups, np.flatnonzero(kept), threshold, neighbours)


def train_val_split(labels, groups=None, val_fraction: float = 0.15, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic stratified train/validation indices of Training.

    The validation share is 1/k for k = round(1 / ``val_fraction``) folds (0.15 → 1/7 ≈ 0.143).
    ``groups`` (one id per image, e.g. near-duplicate groups from :mod:`brainlib.audit`) keeps
    every group wholly on one side, so duplicates cannot leak from train into validation.
    """
    from sklearn.model_selection import StratifiedGroupKFold

    labels = np.asarray(labels)
    groups = np.arange(len(labels)) if groups is None else np.asarray(groups)
    n_splits = max(2, round(1 / val_fraction))
    splitter = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    train_idx, val_idx = next(splitter.split(np.zeros(len(labels)), labels, groups))
    return np.sort(train_idx), np.sort(val_idx)
