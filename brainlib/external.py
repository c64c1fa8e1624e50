"""External shift: a model trained on the Kaggle set, scored on another hospital's scans (tcga-lgg).

A test only: nothing here trains, tunes or chooses anything. Per MRI sequence it reports the
tumor-vs-tumor-free AUROC of P(tumor) = 1 − P(notumor) with a bootstrap interval over patients (each
patient contributes one tumor and one tumor-free slice), what the model calls the tumor slices, and where
its Grad-CAM points relative to the tumor mask.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score, roc_curve

from brainlib import config, datasets, engine
from brainlib.data import load_image
from brainlib.metrics import cluster_resamples


@dataclass
class ExternalPredictions:
    """A checkpoint's predictions on an external dataset: one row per image in ``table`` (with a column
    per class probability, ``p_tumor`` and ``predicted``), the decoded images and the model."""

    table: pd.DataFrame
    data: datasets.LabeledImages
    model: object
    checkpoint: dict


def repeats_other_sequence(data: datasets.LabeledImages) -> np.ndarray:
    """True where a pre- or post-contrast image is pixel-identical to the FLAIR image of the same slice
    (the release repeats FLAIR where a sequence is missing): such rows are not that sequence at all."""
    t = data.table
    flair = {(p, s): i for i, (p, s, q) in enumerate(zip(t["patient"], t["slice"], t["sequence"])) if q == "flair"}
    out = np.zeros(len(t), dtype=bool)
    imgs = data.images.images
    for i, (p, s, q) in enumerate(zip(t["patient"], t["slice"], t["sequence"])):
        j = flair.get((p, s))
        if q != "flair" and j is not None and bool((imgs[i] == imgs[j]).all()):
            out[i] = True
    return out


def predict_external(
    checkpoint=None, dataset: str = "tcga-lgg", root: str | os.PathLike | None = None
) -> ExternalPredictions:
    """Load a Kaggle-trained checkpoint and predict every image of ``dataset`` (recipe's flip TTA included)."""
    model, ckpt = engine.load_checkpoint(checkpoint)  # None: the default recipe's shipped checkpoint
    data = datasets.load(dataset, ckpt["preprocessing"]["size"], root)
    probs = engine.predict_proba(
        model, data.images.images, tta=ckpt.get("tta", False), temperature=engine.checkpoint_temperature(ckpt)
    )
    table = data.table.copy()
    for i, c in enumerate(config.CLASSES):
        table[f"p_{c}"] = probs[:, i]
    table["p_tumor"] = 1 - probs[:, config.CLASSES.index("notumor")]
    table["predicted"] = [config.CLASSES[k] for k in probs.argmax(1)]
    table["tumor"] = (table["kind"] == "tumor").astype(int)
    table["repeats_flair"] = repeats_other_sequence(data)
    return ExternalPredictions(table, data, model, ckpt)


def patient_bootstrap_auroc(
    table: pd.DataFrame, n_boot: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """AUROC of ``p_tumor`` for ``tumor`` and its percentile bootstrap interval, resampling patients (all
    of a patient's slices together)."""
    y, s = table["tumor"].to_numpy(), table["p_tumor"].to_numpy()
    if len(np.unique(y)) < 2:
        return float("nan"), float("nan"), float("nan")
    auc = float(roc_auc_score(y, s))
    stats = [
        roc_auc_score(y[idx], s[idx])
        for idx in cluster_resamples(table["patient"].to_numpy(), n_boot, seed)
        if len(np.unique(y[idx])) == 2
    ]
    alpha = (1 - level) / 2
    return auc, float(np.quantile(stats, alpha)), float(np.quantile(stats, 1 - alpha))


def auroc_by_sequence(table: pd.DataFrame, n_boot: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Per sequence (genuine images only): patients, AUROC with its patient-bootstrap 95 % interval, the
    share of tumor slices called glioma and called any tumor, and tumor-free slices called no tumor."""
    rows = []
    for seq in datasets.TCGA_SEQUENCES:
        t = table[(table["sequence"] == seq) & ~table["repeats_flair"]]
        t = t[t.groupby("patient")["kind"].transform("nunique") == 2]  # patients with both slices
        auc, lo, hi = patient_bootstrap_auroc(t, n_boot, seed)
        tumor, free = t[t["tumor"] == 1], t[t["tumor"] == 0]
        rows.append(
            {
                "sequence": seq,
                "patients": t["patient"].nunique(),
                "AUROC": auc,
                "CI low": lo,
                "CI high": hi,
                "tumor slices called glioma": float((tumor["predicted"] == "glioma").mean()),
                "tumor slices called a tumor": float((tumor["predicted"] != "notumor").mean()),
                "tumor-free slices called notumor": float((free["predicted"] == "notumor").mean()),
            }
        )
    return pd.DataFrame(rows).set_index("sequence")


CLINICAL_SPECIFICITY = 0.90  # the clinical view's operating point: 90 % of tumor-free slices pass


def clinical_view(table: pd.DataFrame, specificity: float = CLINICAL_SPECIFICITY) -> pd.DataFrame:
    """The external test as a clinician would read it, per sequence (genuine images of patients with both
    slices, as :func:`auroc_by_sequence`): with the model's own call (any tumor class vs no tumor) its sensitivity,
    specificity and the tumors it misses; the sensitivity it would have at ``specificity`` (the best point of the
    ROC curve whose false-positive rate is at most 1 − ``specificity``: a description of the curve, no threshold
    is chosen for the model); and the calibration error (ECE, 10 bins) of P(tumor) = 1 − P(notumor) for the
    tumor-vs-no-tumor question."""
    from brainlib.metrics import calibration

    rows = []
    for seq in datasets.TCGA_SEQUENCES:
        t = table[(table["sequence"] == seq) & ~table["repeats_flair"]]
        t = t[t.groupby("patient")["kind"].transform("nunique") == 2]
        if t.empty:
            continue
        y = t["tumor"].to_numpy(int)
        p_tumor = 1 - t["p_notumor"].to_numpy(float)
        called = (t["predicted"] != "notumor").to_numpy()
        fpr, tpr, _ = roc_curve(y, p_tumor)
        ece, _ = calibration(np.stack([1 - p_tumor, p_tumor], 1), y)
        rows.append(
            {
                "sequence": seq,
                "tumor slices": int(y.sum()),
                "tumor-free slices": int((1 - y).sum()),
                "sensitivity": float(called[y == 1].mean()),
                "specificity": float((~called[y == 0]).mean()),
                "missed tumors": int((~called[y == 1]).sum()),
                f"sensitivity at {specificity:.0%} specificity": float(tpr[fpr <= 1 - specificity].max()),
                "ECE (tumor vs no tumor)": ece,
            }
        )
    return pd.DataFrame(rows).set_index("sequence")


def predicted_distribution(table: pd.DataFrame) -> pd.DataFrame:
    """Counts of each predicted class per sequence and slice kind (genuine images only)."""
    t = table[~table["repeats_flair"]]
    out = pd.crosstab([t["sequence"], t["kind"]], t["predicted"]).reindex(columns=list(config.CLASSES), fill_value=0)
    return out.reindex(datasets.TCGA_SEQUENCES, level=0)


def mask_arrays(preds: ExternalPredictions, rows) -> np.ndarray:
    """Boolean tumor masks (at the model's input size) of the given row positions."""
    size = preds.data.images.images.shape[-1]
    root = preds.data.images.root
    return np.stack([load_image(root / preds.table["mask"].iloc[i], size) > 127 for i in rows])


def tumor_targets(rows: pd.DataFrame, target: str | None = None) -> list[int]:
    """Class index per row: ``target``, or the most probable of the three tumor classes."""
    if target is not None:
        return [config.CLASSES.index(target)] * len(rows)
    tumors = [c for c in config.CLASSES if c != "notumor"]
    best = rows[[f"p_{c}" for c in tumors]].to_numpy().argmax(1)
    return [config.CLASSES.index(tumors[k]) for k in best]


def mask_pointing(preds: ExternalPredictions, target: str | None = None) -> pd.DataFrame:
    """Grad-CAM on every genuine tumor slice against its tumor mask, per sequence: the pointing-game hit
    rate (peak inside the mask, and within 15 px of the 256-px original of it: the usual pointing game), the CAM
    energy inside the mask, and the same for a centred prior (no model). The CAM is of ``target``, or (None) of
    the tumor class the model finds most probable for that slice."""
    from brainlib.crossval import POINTING_PIXELS
    from brainlib.explain import centred_prior, gradcam_maps, pointing

    t = preds.table
    rows = []
    for seq in datasets.TCGA_SEQUENCES:
        idx = np.flatnonzero(
            ((t["sequence"] == seq) & (t["tumor"] == 1) & ~t["repeats_flair"] & t["mask"].notna()).to_numpy()
        )
        if not len(idx):
            continue
        masks = mask_arrays(preds, idx)
        cams = gradcam_maps(preds.model, preds.data.images.images[idx], tumor_targets(t.iloc[idx], target))
        tolerance = POINTING_PIXELS * masks.shape[-1] / datasets.get("tcga-lgg").original_size  # px at this size
        hit, energy = pointing(cams, masks)
        near, _ = pointing(cams, masks, tolerance)
        prior = np.broadcast_to(centred_prior(masks.shape[-1]), masks.shape)
        p_hit, p_energy = pointing(prior, masks)
        p_near, _ = pointing(prior, masks, tolerance)
        rows.append(
            {
                "sequence": seq,
                "tumor slices": len(idx),
                "Grad-CAM hit rate": float(hit.mean()),
                "Grad-CAM within 15 px": float(near.mean()),
                "Grad-CAM energy in mask": float(energy.mean()),
                "centred prior hit rate": float(p_hit.mean()),
                "centred prior within 15 px": float(p_near.mean()),
                "centred prior energy in mask": float(p_energy.mean()),
                "mask share of image": float(masks.mean()),
            }
        )
    return pd.DataFrame(rows).set_index("sequence")
