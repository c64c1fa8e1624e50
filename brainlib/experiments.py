"""End-to-end runs on the dataset: data preparation with a group-aware split, train → evaluate,
checkpoint evaluation on the official Testing split and its leak-free subset."""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from brainlib import audit, config, engine
from brainlib.data import ImageSet, is_synthetic, load_split, train_val_split
from brainlib.metrics import bootstrap_ci, classification_metrics

VAL_FRACTION = 0.15
SPLIT_SEED = 0  # one validation split shared by every experiment


@dataclass
class PreparedData:
    """Train/validation/Testing images at one input size, plus the leak-free Testing mask."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    leak_free: np.ndarray
    synthetic: bool


def prepare_data(size: int, root: str | os.PathLike | None = None, profile: config.Profile | None = None,
                 threshold: int = audit.DEFAULT_THRESHOLD) -> PreparedData:
    """Load Training/Testing at ``size``; split Training into train/validation keeping near-duplicate
    groups together (so validation is not fooled by duplicates); Testing is only for reporting."""
    profile = profile or config.get_profile()
    n = profile.max_images_per_class
    train224 = load_split("Training", 224, root, n)
    test224 = load_split("Testing", 224, root, n)
    groups = audit.training_groups(train224)
    train_all = train224 if size == 224 else load_split("Training", size, root, n)
    test = test224 if size == 224 else load_split("Testing", size, root, n)
    if train_all.paths != train224.paths or test.paths != test224.paths:
        raise RuntimeError("cached splits at different sizes disagree; delete the cache folder and rerun")
    tr_idx, val_idx = train_val_split(train_all.labels.numpy(), groups, VAL_FRACTION, SPLIT_SEED)
    mask = audit.leak_free_mask(test224, train224, threshold)
    return PreparedData(train_all.subset(tr_idx), train_all.subset(val_idx), test, mask,
                        is_synthetic(train_all.root))


def metrics_with_ci(y_true, y_pred, seed: int = 0) -> dict:
    m = classification_metrics(y_true, y_pred)
    if m["n"]:
        m["accuracy_ci95"] = bootstrap_ci(y_true, y_pred, "accuracy", seed=seed)
        m["macro_f1_ci95"] = bootstrap_ci(y_true, y_pred, "macro_f1", n_boot=300, seed=seed)
    return m


def test_report(model: torch.nn.Module, test: ImageSet, leak_free: np.ndarray, tta: bool = False) -> dict:
    """Official Testing metrics with the same metrics on the leak-free subset under ``leak_free``."""
    probs = engine.predict_proba(model, test.images, tta=tta)
    return report_from_predictions(test.labels.numpy(), probs.argmax(1), leak_free)


def report_from_predictions(y: np.ndarray, pred: np.ndarray, leak_free: np.ndarray) -> dict:
    result = metrics_with_ci(y, pred)
    result["leak_free"] = metrics_with_ci(y[leak_free], pred[leak_free])
    return result


def model_size(cfg: engine.TrainConfig) -> int:
    from brainlib.models import build_model

    return build_model(cfg.model, **cfg.model_kwargs).input_size


def train_and_evaluate(cfg: engine.TrainConfig, out: str | os.PathLike | None = None,
                       root: str | os.PathLike | None = None, resume: bool = True, progress: bool = True,
                       profile: config.Profile | None = None) -> dict:
    """Train ``cfg`` (validation split for model selection), then report Testing metrics."""
    profile = profile or config.get_profile()
    if profile.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=profile.epochs)
    t0 = time.perf_counter()
    data = prepare_data(model_size(cfg), root, profile)
    cfg = dataclasses.replace(cfg, synthetic=data.synthetic)
    t_data = time.perf_counter() - t0
    model, history = engine.train(cfg, data.train, data.val, out=None, progress=progress, resume=resume)
    result = test_report(model, data.test, data.leak_free, tta=cfg.tta)
    result.update({
        "model": cfg.model, "profile": profile.name, "synthetic": data.synthetic,
        "best_epoch": int(history["val_acc"].idxmax()) + 1, "best_val_acc": float(history["val_acc"].max()),
        "train_seconds": float(history["seconds"].sum()), "data_seconds": round(t_data, 2),
        "wall_seconds": round(time.perf_counter() - t0, 2),
    })
    if out:
        meta = {"history": history.to_dict("records"), "metrics": _plain(result), "tta": cfg.tta,
                "data_fingerprint": audit.combined_fingerprint(data.train, data.test), "profile": profile.name}
        engine.atomic_save(engine.checkpoint_dict(model, cfg, **meta), out)
    result["history"] = history.to_dict("records")
    return result


@dataclass
class Predictions:
    """A checkpoint's predictions on Testing: images (at the model's size), probabilities, leak-free mask."""

    model: torch.nn.Module
    checkpoint: dict
    test: ImageSet
    probs: np.ndarray
    leak_free: np.ndarray

    @property
    def labels(self) -> np.ndarray:
        return self.test.labels.numpy()

    @property
    def predicted(self) -> np.ndarray:
        return self.probs.argmax(1)


def checkpoint_predictions(path: str | os.PathLike = config.DEFAULT_CHECKPOINT, root: str | os.PathLike | None = None,
                           tta: bool | None = None, max_per_class: int | None = None) -> Predictions:
    """Load a checkpoint and predict every Testing image (flip TTA as the checkpoint's recipe says)."""
    model, ckpt = engine.load_checkpoint(path)
    size = ckpt["preprocessing"]["size"]
    test = load_split("Testing", size, root, max_per_class)
    test224 = test if size == 224 else load_split("Testing", 224, root, max_per_class)
    mask = audit.leak_free_mask(test224)
    tta = ckpt.get("tta", False) if tta is None else tta
    return Predictions(model, ckpt, test, engine.predict_proba(model, test.images, tta=tta), mask)


def evaluate_checkpoint(path: str | os.PathLike = config.DEFAULT_CHECKPOINT, root: str | os.PathLike | None = None,
                        tta: bool | None = None, max_per_class: int | None = None) -> dict:
    """Metrics of a checkpoint on the official Testing split and on its leak-free subset."""
    p = checkpoint_predictions(path, root, tta, max_per_class)
    result = report_from_predictions(p.labels, p.predicted, p.leak_free)
    tta = p.checkpoint.get("tta", False) if tta is None else tta
    result.update({"checkpoint": str(Path(path)), "model": p.checkpoint["model_name"], "tta": tta,
                   "synthetic": is_synthetic(p.test.root) or p.checkpoint["train_config"].get("synthetic", False)})
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
