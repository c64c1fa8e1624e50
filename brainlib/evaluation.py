"""Evaluation on the Kaggle dataset: data preparation with a near-duplicate-aware validation split, train →
evaluate (through :func:`brainlib.engine.train`), and checkpoint evaluation on the official Testing split and
its leak-free subset, with cluster-bootstrap intervals."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainlib import audit, config, engine, recipes, splits
from brainlib.data import ImageSet, is_synthetic
from brainlib.datasets import load_split
from brainlib.metrics import bootstrap_ci, classification_metrics

VAL_FRACTION = splits.VAL_FRACTION
SPLIT_SEED = splits.SPLIT_SEED  # one validation split shared by every experiment


@dataclass
class PreparedData:
    """Train/validation/Testing images at one input size, plus the leak-free Testing mask."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    leak_free: np.ndarray
    synthetic: bool
    test_clusters: np.ndarray | None = None


def prepare_data(
    size: int,
    root: str | os.PathLike | None = None,
    profile: config.Profile | None = None,
    threshold: int = audit.DEFAULT_THRESHOLD,
) -> PreparedData:
    """Load Training/Testing at ``size``; split Training into train/validation so that no validation image
    has a near duplicate (pHash distance ≤ the audit threshold) in the training part (see
    :func:`brainlib.splits.validation_split`); Testing is only for reporting."""
    profile = profile or config.get_profile()
    n = profile.max_images_per_class
    train224 = load_split("Training", 224, root, n)
    test224 = load_split("Testing", 224, root, n)
    train_all = train224 if size == 224 else load_split("Training", size, root, n)
    test = test224 if size == 224 else load_split("Testing", size, root, n)
    if train_all.paths != train224.paths or test.paths != test224.paths:
        raise RuntimeError("cached splits at different sizes disagree; delete the cache folder and rerun")
    split = splits.validation_split(train224, val_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    tr_idx, val_idx = split.train_idx, split.val_idx
    mask = audit.leak_free_mask(test224, train224, threshold)
    return PreparedData(
        train_all.subset(tr_idx),
        train_all.subset(val_idx),
        test,
        mask,
        is_synthetic(train_all.root),
        testing_clusters(test224, threshold),
    )


def holdout_identity(data: PreparedData) -> tuple[str, dict]:
    """What a Kaggle hold-out run depends on besides its recipe: the files' fingerprint (names and sizes) and the
    split (validation paths, leak-free Testing mask), as the study layer keys them."""
    split = {"val": data.val.paths, "leak_free": np.flatnonzero(data.leak_free).tolist()}
    return audit.combined_fingerprint(data.train, data.test), split


def metrics_with_ci(y_true, y_pred, seed: int = 0, groups=None) -> dict:
    """Metrics with 95 % bootstrap intervals; with ``groups`` (near-duplicate clusters of the images) the
    bootstrap resamples whole clusters (``ci_unit`` says which)."""
    m = classification_metrics(y_true, y_pred)
    if m["n"]:
        m["accuracy_ci95"] = bootstrap_ci(y_true, y_pred, "accuracy", seed=seed, groups=groups)
        m["macro_f1_ci95"] = bootstrap_ci(y_true, y_pred, "macro_f1", n_boot=300, seed=seed, groups=groups)
        m["ci_unit"] = "image" if groups is None else "near-duplicate cluster"
        if groups is not None:
            m["clusters"] = int(len(np.unique(groups)))
    return m


def metrics_table(views: dict[str, dict]) -> pd.DataFrame:
    """One row per Testing view (e.g. official, leak-free): images, accuracy and macro-F1 with their
    bootstrap 95 % intervals, from ``metrics_with_ci``-style results."""
    rows = []
    for name, m in views.items():
        row = {"Testing view": name, "images": m["n"], "accuracy": round(m["accuracy"], 4)}
        if "accuracy_ci95" in m:
            row["accuracy 95% CI"] = "{:.4f}–{:.4f}".format(*m["accuracy_ci95"])
        row["macro-F1"] = round(m["macro_f1"], 4)
        if "macro_f1_ci95" in m:
            row["macro-F1 95% CI"] = "{:.4f}–{:.4f}".format(*m["macro_f1_ci95"])
        rows.append(row)
    return pd.DataFrame(rows)


def test_report(
    model: torch.nn.Module,
    test: ImageSet,
    leak_free: np.ndarray,
    tta: bool = False,
    clusters: np.ndarray | None = None,
    temperature: float = 1.0,
) -> dict:
    """Official Testing metrics with the same metrics on the leak-free subset under ``leak_free``."""
    probs = engine.predict_proba(model, test.images, tta=tta, temperature=temperature)
    return report_from_predictions(test.labels.numpy(), probs.argmax(1), leak_free, clusters, probs=probs)


def report_from_predictions(
    y: np.ndarray,
    pred: np.ndarray,
    leak_free: np.ndarray,
    clusters: np.ndarray | None = None,
    probs: np.ndarray | None = None,
) -> dict:
    """Official and leak-free metrics; intervals resample ``clusters`` (near-duplicate clusters of Testing)
    when given, images otherwise. With ``probs``, the expected calibration error (``ece``) of each view too."""
    from brainlib.metrics import calibration

    result = metrics_with_ci(y, pred, groups=clusters)
    result["leak_free"] = metrics_with_ci(
        y[leak_free], pred[leak_free], groups=None if clusters is None else clusters[leak_free]
    )
    if probs is not None:
        result["ece"] = calibration(probs, y)[0] if len(y) else float("nan")
        result["leak_free"]["ece"] = calibration(probs[leak_free], y[leak_free])[0] if leak_free.any() else float("nan")
    return result


def fit_temperature(model: torch.nn.Module, images: ImageSet, tta: bool = False) -> float:
    """Temperature scaling (Guo et al. 2017): the T > 0 minimising the negative log-likelihood of
    ``softmax(logits / T)`` (averaged over the flip views with ``tta``) on ``images`` — the validation split,
    never Testing. Accuracy is unchanged (the ranking of classes per image stays); confidence is rescaled."""
    from scipy.optimize import minimize_scalar

    logits = engine.predict_logits(model, images.images, tta=tta)
    y = images.labels.numpy()
    if not len(y):
        return 1.0

    def nll(t: float) -> float:
        p = engine.probabilities_from_logits(logits, t)[np.arange(len(y)), y]
        return float(-np.log(np.clip(p, 1e-12, None)).mean())

    return float(minimize_scalar(nll, bounds=(0.05, 20.0), method="bounded", options={"xatol": 1e-4}).x)


def calibrate_checkpoint(
    path: str | os.PathLike, root: str | os.PathLike | None = None, out: str | os.PathLike | None = None
) -> float:
    """Fit a checkpoint's temperature on the validation split of Training (the split it was selected on) and
    store it in the checkpoint (or in a copy at ``out``); returns it."""
    model, ckpt = engine.load_checkpoint(path, device="cpu")
    data = prepare_data(ckpt["preprocessing"]["size"], root)
    temperature = fit_temperature(model, data.val, tta=ckpt.get("tta", False))
    engine.update_checkpoint(path, out=out, temperature=temperature)
    return temperature


def testing_clusters(test224: ImageSet, threshold: int = audit.DEFAULT_THRESHOLD) -> np.ndarray:
    """Near-duplicate cluster id of every Testing image (connected components at pHash distance ≤
    ``threshold``, exact copies included): the unit of the bootstrap for Testing intervals."""
    return audit.near_duplicate_groups(audit.imageset_hashes(test224), threshold)


def model_size(cfg: engine.TrainConfig) -> int:
    """Input size of a recipe's architecture (read from its arguments; nothing is built)."""
    from brainlib.models import input_size

    return input_size(cfg.model, cfg.model_kwargs)


def train_and_evaluate(
    cfg: engine.TrainConfig,
    out: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    resume: bool = True,
    progress: bool = True,
    profile: config.Profile | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Train ``cfg`` (validation split for model selection), then report Testing metrics; with ``out`` the
    checkpoint (written and made resumable by :func:`brainlib.engine.train`) also records them."""
    profile = profile or config.get_profile()
    if profile.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=profile.epochs)
    t0 = time.perf_counter()
    data = prepare_data(model_size(cfg), root, profile)
    cfg = dataclasses.replace(cfg, synthetic=data.synthetic)
    t_data = time.perf_counter() - t0
    meta = {"data_fingerprint": audit.combined_fingerprint(data.train, data.test), "profile": profile.name}
    run = engine.train(
        cfg, data.train, data.val, out=out, progress=progress, resume=resume, extra_meta=meta, device=device
    )
    temperature = fit_temperature(run.model, data.val, tta=cfg.tta)  # calibration, on validation only
    result = test_report(
        run.model, data.test, data.leak_free, tta=cfg.tta, clusters=data.test_clusters, temperature=temperature
    )
    result["temperature"] = temperature
    result.update(
        {
            "model": cfg.model,
            "profile": profile.name,
            "synthetic": data.synthetic,
            "best_epoch": run.best_epoch,
            "best_val_acc": run.best_val_acc,
            "resumed_at_epoch": run.resumed_at,
            "train_seconds": run.train_seconds,
            "data_seconds": round(t_data, 2),
            "wall_seconds": round(time.perf_counter() - t0, 2),
            "device": run.device,
            "environment": engine.environment(),
        }
    )
    if out:
        engine.update_checkpoint(out, metrics=_plain(result), temperature=temperature)
    result["history"] = run.history.to_dict("records")
    return result


def train_recipe(
    name: str = recipes.DEFAULT,
    root: str | os.PathLike | None = None,
    force: bool | None = None,
    progress: bool = True,
    profile: config.Profile | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """A recipe trained and evaluated like ``brainlib train --recipe NAME``, as a cached run: when the checkpoint
    the run writes (the recipe's shipped file in the full profile on real data, see
    :func:`brainlib.recipes.output_path`) already holds this recipe trained on this data, its stored result is
    returned instead of retraining (``from_checkpoint`` is then True). ``force`` (default: the environment variable
    ``BRAINLIB_FORCE_RERUN``, which ``make workbook FORCE=1`` sets) retrains it."""
    profile = profile or config.get_profile()
    force = bool(os.environ.get("BRAINLIB_FORCE_RERUN")) if force is None else force
    cfg = recipes.train_config(name)
    run_cfg = dataclasses.replace(cfg, epochs=profile.epochs) if profile.epochs is not None else cfg
    data = prepare_data(model_size(cfg), root, profile)
    run_cfg = dataclasses.replace(run_cfg, synthetic=data.synthetic)
    out = recipes.output_path(name, cfg, profile.name, data.synthetic)
    if not force and out.is_file():
        ckpt = engine.read_checkpoint(out)
        same = (
            ckpt.get("train_config") == _plain(run_cfg.as_dict())
            and ckpt.get("data_fingerprint") == audit.combined_fingerprint(data.train, data.test)
            and ckpt.get("profile") == profile.name
            and "metrics" in ckpt
        )
        if same:
            return {
                **ckpt["metrics"],
                "history": ckpt.get("history", []),
                "from_checkpoint": True,
                "checkpoint": str(out),
            }
    result = train_and_evaluate(cfg, out, root=root, progress=progress, profile=profile, device=device)
    return {**result, "from_checkpoint": False, "checkpoint": str(out)}


@dataclass
class Predictions:
    """A checkpoint's predictions on Testing: images (at the model's size), probabilities, leak-free mask."""

    model: torch.nn.Module
    checkpoint: dict
    test: ImageSet
    probs: np.ndarray
    leak_free: np.ndarray
    clusters: np.ndarray | None = None  # near-duplicate cluster per Testing image (bootstrap unit)

    @property
    def labels(self) -> np.ndarray:
        return self.test.labels.numpy()

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(1)


def checkpoint_predictions(
    path: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    tta: bool | None = None,
    max_per_class: int | None = None,
    device: str | torch.device | None = None,
    calibrated: bool = True,
) -> Predictions:
    """Load a checkpoint and predict every Testing image (flip TTA as the checkpoint's recipe says; probabilities
    with the checkpoint's temperature unless ``calibrated=False``; default: the default recipe's checkpoint)."""
    path = recipes.checkpoint() if path is None else path
    model, ckpt = engine.load_checkpoint(path, device=device)
    size = ckpt["preprocessing"]["size"]
    test = load_split("Testing", size, root, max_per_class)
    test224 = test if size == 224 else load_split("Testing", 224, root, max_per_class)
    mask = audit.leak_free_mask(test224)
    tta = ckpt.get("tta", False) if tta is None else tta
    temperature = engine.checkpoint_temperature(ckpt) if calibrated else 1.0
    probs = engine.predict_proba(model, test.images, tta=tta, temperature=temperature)
    return Predictions(model, ckpt, test, probs, mask, testing_clusters(test224))


def evaluate_checkpoint(
    path: str | os.PathLike | None = None,
    root: str | os.PathLike | None = None,
    tta: bool | None = None,
    max_per_class: int | None = None,
    device: str | torch.device | None = None,
) -> dict:
    """Metrics of a checkpoint on the official Testing split and on its leak-free subset."""
    path = recipes.checkpoint() if path is None else path
    p = checkpoint_predictions(path, root, tta, max_per_class, device)
    result = report_from_predictions(p.labels, p.predicted, p.leak_free, p.clusters, probs=p.probs)
    tta = p.checkpoint.get("tta", False) if tta is None else tta
    result["temperature"] = engine.checkpoint_temperature(p.checkpoint)
    result.update(
        {
            "checkpoint": str(Path(path)),
            "model": p.checkpoint["model_name"],
            "tta": tta,
            "synthetic": is_synthetic(p.test.root) or p.checkpoint["train_config"].get("synthetic", False),
            "device": str(next(p.model.parameters()).device),
            "environment": engine.environment(),
        }
    )
    return result


def _plain(obj):
    """Metrics as plain Python (tuples → lists) for weights_only checkpoints."""
    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj
