"""Classification metrics (scikit-learn), bootstrap confidence intervals, calibration and ROC."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_recall_fscore_support

from brainlib.config import CLASSES


def classification_metrics(y_true, y_pred, classes=CLASSES) -> dict:
    """n, accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    labels = list(range(len(classes)))
    if len(y_true) == 0:
        zero = {"precision": float("nan"), "recall": float("nan"), "f1": float("nan"), "support": 0}
        return {
            "n": 0,
            "accuracy": float("nan"),
            "macro_f1": float("nan"),
            "per_class": {c: dict(zero) for c in classes},
            "confusion_matrix": [[0] * len(classes) for _ in classes],
        }
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    return {
        "n": int(len(y_true)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "per_class": {
            c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, c in enumerate(classes)
        },
        "confusion_matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def cluster_resamples(groups, n_boot: int, seed: int = 0):
    """The one cluster bootstrap: ``n_boot`` resamples of row indices, each drawing as many clusters as there are,
    with replacement, and taking every row of a drawn cluster (``groups``: one cluster id per row — near-duplicate
    clusters of Testing, patients of an external set)."""
    groups = np.asarray(groups)
    rng = np.random.default_rng(seed)
    ids, inverse = np.unique(groups, return_inverse=True)
    members = np.split(np.argsort(inverse, kind="stable"), np.cumsum(np.bincount(inverse))[:-1])
    for _ in range(n_boot):
        yield np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))])


def bootstrap_ci(
    y_true,
    y_pred,
    metric: str = "accuracy",
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
    classes=CLASSES,
    groups=None,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``accuracy`` or ``macro_f1`` (macro over all ``classes``, as in
    :func:`classification_metrics`).

    Without ``groups`` images are resampled one by one. With ``groups`` (one cluster id per image, e.g.
    near-duplicate clusters) whole clusters are resampled: images that are copies or neighbouring slices of
    each other are not independent, and treating them as such makes the interval too narrow."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if metric not in ("accuracy", "macro_f1"):
        raise ValueError(f"unknown metric {metric!r}")
    if groups is None:
        samples = list(np.random.default_rng(seed).integers(0, len(y_true), size=(n_boot, len(y_true))))
    else:
        if len(groups) != len(y_true):
            raise ValueError(f"{len(groups)} group ids for {len(y_true)} images")
        samples = list(cluster_resamples(groups, n_boot, seed))
    if metric == "accuracy":
        stats = np.array([(y_true[i] == y_pred[i]).mean() for i in samples])
    else:
        labels = list(range(len(classes)))
        stats = np.array(
            [f1_score(y_true[i], y_pred[i], labels=labels, average="macro", zero_division=0) for i in samples]
        )
    alpha = (1 - level) / 2
    return float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def calibration(probs, y_true, n_bins: int = 10) -> tuple[float, pd.DataFrame]:
    """Expected calibration error of the top-class confidence, and the reliability table per bin."""
    probs, y_true = np.asarray(probs), np.asarray(y_true)
    confidence, predicted = probs.max(1), probs.argmax(1)
    correct = predicted == y_true
    bins = np.minimum((confidence * n_bins).astype(int), n_bins - 1)
    rows = []
    for b in range(n_bins):
        mask = bins == b
        if mask.any():
            rows.append(
                {
                    "bin": b,
                    "lower": b / n_bins,
                    "upper": (b + 1) / n_bins,
                    "images": int(mask.sum()),
                    "confidence": float(confidence[mask].mean()),
                    "accuracy": float(correct[mask].mean()),
                }
            )
    table = pd.DataFrame(rows)
    ece = float((table["images"] * (table["confidence"] - table["accuracy"]).abs()).sum() / max(len(y_true), 1))
    return ece, table


def roc_one_vs_rest(probs, y_true, classes=CLASSES) -> dict:
    """Per-class one-vs-rest ROC curves and AUCs: {class: (fpr, tpr, auc)}."""
    from sklearn.metrics import auc, roc_curve

    probs, y_true = np.asarray(probs), np.asarray(y_true)
    out = {}
    for i, c in enumerate(classes):
        if (y_true == i).any() and (y_true != i).any():
            fpr, tpr, _ = roc_curve(y_true == i, probs[:, i])
            out[c] = (fpr, tpr, float(auc(fpr, tpr)))
    return out
