"""Duplicate and leakage audit: exact and perceptual-hash duplicates, the leak-free Testing subset,
near-duplicate groups for a group-aware validation split, and shortcut checks."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from brainlib import config
from brainlib.data import ImageSet, load_image
from brainlib.datasets import load_split
from brainlib.files import atomic_write_text, write_cache
from brainlib.hashes import (  # noqa: F401 (the audit's hashing primitives, used by the notebooks as audit.*)
    DEFAULT_THRESHOLD,
    hamming,
    imageset_hashes,
    near_duplicate_groups,
    nearest,
    perceptual_hashes,
    pixel_hash,
)
from brainlib.splits import GROUP_THRESHOLD, ValidationSplit, validation_split


# ----------------------------------------------------------------------------- the audit
@dataclass
class AuditReport:
    """Everything the audit found; ``summary()`` gives the JSON of ``brainlib audit``."""

    threshold: int
    train: ImageSet
    test: ImageSet
    train_hashes: np.ndarray
    test_hashes: np.ndarray
    nearest_train: np.ndarray  # per Testing image: index into train
    nearest_distance: np.ndarray  # per Testing image: Hamming distance
    exact_cross: np.ndarray  # per Testing image: has a pixel-identical Training image
    train_groups: np.ndarray  # near-duplicate group id per Training image (at GROUP_THRESHOLD)
    split: ValidationSplit | None = None  # the engine's train/validation split of Training
    exact_within: dict = field(default_factory=dict)
    label_conflicts: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def near_cross(self) -> np.ndarray:
        return (self.nearest_distance <= self.threshold) | self.exact_cross

    @property
    def leak_free(self) -> np.ndarray:
        """Boolean mask over Testing: no exact or near duplicate in Training."""
        return ~self.near_cross

    def leak_free_paths(self) -> list[str]:
        return [p for p, keep in zip(self.test.paths, self.leak_free) if keep]

    def pairs(self) -> pd.DataFrame:
        """One row per Testing image with its nearest Training image and their labels."""
        cls = np.array(config.CLASSES)
        return pd.DataFrame(
            {
                "test_path": self.test.paths,
                "test_label": cls[self.test.labels.numpy()],
                "train_path": [self.train.paths[i] for i in self.nearest_train],
                "train_label": cls[self.train.labels.numpy()[self.nearest_train]],
                "distance": self.nearest_distance,
                "exact": self.exact_cross,
            }
        )

    def summary(self) -> dict:
        labels = self.test.labels.numpy()
        per_class = {
            c: {
                "test_images": int((labels == i).sum()),
                "exact_cross": int((self.exact_cross & (labels == i)).sum()),
                "near_cross": int((self.near_cross & (labels == i)).sum()),
                "leak_free": int((self.leak_free & (labels == i)).sum()),
            }
            for i, c in enumerate(config.CLASSES)
        }
        group_sizes = np.bincount(self.train_groups)
        split = {}
        if self.split is not None:
            va, tr = self.split.val_idx, self.split.train_idx
            near = 0
            if len(va) and len(tr):
                near = int((nearest(self.train_hashes[va], self.train_hashes[tr])[1] <= self.threshold).sum())
            split = {
                "validation_images": int(len(va)),
                "validation_train_part_images": int(len(tr)),
                "training_images_kept_out_of_validation": int(len(self.split.kept_in_training)),
                "validation_images_with_train_neighbour": near,
            }
        return {
            "threshold": self.threshold,
            "group_threshold": GROUP_THRESHOLD,
            "training_images": len(self.train),
            "testing_images": len(self.test),
            "exact_cross_test_images": int(self.exact_cross.sum()),
            "near_cross_test_images": int(self.near_cross.sum()),
            "leak_free_test_images": int(self.leak_free.sum()),
            "testing_distinct_images": len(self.test)  # one per pixel content: copies beyond the first dropped
            - self.exact_within.get("Testing", {}).get("images", 0)
            + self.exact_within.get("Testing", {}).get("groups", 0),
            "testing_near_duplicate_clusters": int(
                len(np.unique(near_duplicate_groups(self.test_hashes, self.threshold)))
            ),
            "exact_within": self.exact_within,
            "label_conflicts": self.label_conflicts,
            "training_near_duplicate_groups": int(len(group_sizes)),
            "training_images_in_groups_of_2_or_more": int(group_sizes[group_sizes > 1].sum()),
            "largest_training_group": int(group_sizes.max()) if len(group_sizes) else 0,
            **split,
            "per_class": per_class,
            "data_fingerprint": combined_fingerprint(self.train, self.test),
            "seconds": round(self.seconds, 2),
        }


def _exact_groups(pixel_hashes: list[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = {}
    for i, h in enumerate(pixel_hashes):
        groups.setdefault(h, []).append(i)
    return {h: ix for h, ix in groups.items() if len(ix) > 1}


def combined_fingerprint(train: ImageSet, test: ImageSet) -> str:
    """Names and sizes of both splits' files (fast; what checkpoints and run keys record)."""
    return f"{train.fingerprint}-{test.fingerprint}"


def content_key(train: ImageSet, test: ImageSet) -> str:
    """The decoded pixels of both splits at 224 px: what the leak-free subset depends on."""
    return f"{train.content_hash}-{test.content_hash}"


def run_audit(
    root: str | os.PathLike | None = None,
    threshold: int = DEFAULT_THRESHOLD,
    max_per_class: int | None = None,
    train: ImageSet | None = None,
    test: ImageSet | None = None,
) -> AuditReport:
    """Audit Training vs Testing at the native 224-pixel decoded resolution."""
    t0 = time.perf_counter()
    train = train or load_split("Training", 224, root, max_per_class)
    test = test or load_split("Testing", 224, root, max_per_class)
    tr_np, te_np = train.images.numpy(), test.images.numpy()
    tr_h, te_h = imageset_hashes(train), imageset_hashes(test)

    tr_px = [pixel_hash(a) for a in tr_np]
    te_px = [pixel_hash(a) for a in te_np]
    train_px = set(tr_px)
    exact_cross = np.array([h in train_px for h in te_px], dtype=bool)
    tr_lab, te_lab = train.labels.numpy(), test.labels.numpy()
    within = {"Training": _exact_groups(tr_px), "Testing": _exact_groups(te_px)}
    exact_within = {s: {"groups": len(g), "images": sum(len(ix) for ix in g.values())} for s, g in within.items()}
    conflicts = {
        "Training": sum(len({tr_lab[i] for i in ix}) > 1 for ix in within["Training"].values()),
        "Testing": sum(len({te_lab[i] for i in ix}) > 1 for ix in within["Testing"].values()),
    }
    nn_idx, nn_dist = nearest(te_h, tr_h) if len(tr_h) else (np.zeros(len(te_h), int), np.full(len(te_h), 64))
    lookup = {}
    for i, h in enumerate(tr_px):
        lookup.setdefault(h, i)
    cross_conflicts = sum(int(te_lab[j] != tr_lab[lookup[h]]) for j, h in enumerate(te_px) if h in lookup)
    conflicts["cross"] = cross_conflicts
    split = validation_split(train, hashes=tr_h) if len(tr_h) else None
    groups = split.groups if split is not None else np.zeros(0, int)
    return AuditReport(
        threshold,
        train,
        test,
        tr_h,
        te_h,
        nn_idx,
        nn_dist,
        exact_cross,
        groups,
        split,
        exact_within,
        conflicts,
        time.perf_counter() - t0,
    )


# ----------------------------------------------------------------------------- leak-free subset file
def leak_free_text(report: AuditReport) -> str:
    """The leak-free subset file's text: the Testing paths with the fingerprint, pixel key and threshold."""
    lines = [
        "# brainlib leak-free Testing subset: Testing images with no exact or near duplicate in Training",
        f"# fingerprint: {combined_fingerprint(report.train, report.test)}",
        f"# pixels: {content_key(report.train, report.test)}",
        f"# threshold: {report.threshold}",
        f"# count: {int(report.leak_free.sum())}",
        *report.leak_free_paths(),
    ]
    return "\n".join(lines) + "\n"


AUDIT_FILE = "audit.json"  # the summary of the project's own dataset, next to the leak-free subset file


def write_summary(report: AuditReport, path: Path | None = None) -> Path:
    """Save the audit's summary (without its timing) as JSON (default: ``results/audit.json`` beside the leak-free
    subset file; the README's audit table is rendered from it)."""
    summary = {k: v for k, v in report.summary().items() if k != "seconds"}
    path = Path(path or Path(config.LEAK_FREE_FILE).parent / AUDIT_FILE)
    return atomic_write_text(path, json.dumps(summary, indent=2) + "\n")


def write_leak_free(report: AuditReport, path: Path | None = None) -> Path:
    """Save the leak-free Testing subset (relative paths) with its fingerprint and threshold
    (default: the project's committed ``results/leak_free_testing.txt``)."""
    return atomic_write_text(Path(path or config.LEAK_FREE_FILE), leak_free_text(report))


def read_leak_free(path: Path | None = None) -> tuple[dict, list[str]]:
    """Header fields and paths of a leak-free subset file (empty when missing)."""
    path = Path(path or config.LEAK_FREE_FILE)
    if not path.exists():
        return {}, []
    header, paths = {}, []
    for line in path.read_text().splitlines():
        if line.startswith("#"):
            if ":" in line:
                k, v = line[1:].split(":", 1)
                header[k.strip()] = v.strip()
        elif line.strip():
            paths.append(line.strip())
    return header, paths


def leak_free_mask(test: ImageSet, train: ImageSet | None = None, threshold: int = DEFAULT_THRESHOLD) -> np.ndarray:
    """Boolean mask of the leak-free Testing images.

    Read from the committed subset file when its decoded pixels (a hash of both splits at 224 px) and
    threshold match this data; otherwise the audit is recomputed (seconds) and kept in the data cache.
    Only ``brainlib audit`` rewrites the committed file.
    """
    train = train or load_split("Training", 224, test.root)
    if train.images.shape[-1] != 224:
        train = load_split("Training", 224, train.root)
    test224 = test if test.images.shape[-1] == 224 else load_split("Testing", 224, test.root)
    key = content_key(train, test224)
    cached = config.cache_dir() / f"leak_free_{key}_t{threshold}.txt"
    for path in (config.LEAK_FREE_FILE, cached):
        header, paths = read_leak_free(path)
        if header.get("pixels") == key and header.get("threshold") == str(threshold):
            keep = set(paths)
            return np.array([p in keep for p in test.paths], dtype=bool)
    report = run_audit(threshold=threshold, train=train, test=test224)
    text = leak_free_text(report)
    write_cache(cached, lambda tmp: tmp.write_text(text))
    keep = set(report.leak_free_paths())
    return np.array([p in keep for p in test.paths], dtype=bool)


# ----------------------------------------------------------------------------- shortcuts
def shortcut_table(
    root: str | os.PathLike | None = None, split: str = "Training", max_per_class: int | None = None
) -> pd.DataFrame:
    """Per-image file mode, file size, original size, brightness and border brightness, with class."""
    images = load_split(split, 224, root, max_per_class)
    rows = []
    for rel, label, img in zip(images.paths, images.labels.tolist(), images.images.numpy()):
        with Image.open(images.root / rel) as im:
            mode, (w, h) = im.mode, im.size
        border = np.concatenate([img[:8].ravel(), img[-8:].ravel(), img[:, :8].ravel(), img[:, -8:].ravel()])
        rows.append(
            {
                "path": rel,
                "label": config.CLASSES[label],
                "mode": mode,
                "width": w,
                "height": h,
                "file_kb": (images.root / rel).stat().st_size / 1024,
                "brightness": float(img.mean()),
                "border_brightness": float(border.mean()),
                "dark_fraction": float((img < 10).mean()),
            }
        )
    return pd.DataFrame(rows)


def shortcut_scores(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Cross-validated accuracy of tiny classifiers that see only one cue (vs the majority baseline)."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    y = table["label"].to_numpy()
    cues = {
        "file mode (L vs RGB)": (table[["mode"]] == "RGB").astype(float).to_numpy(),
        "file size": table[["file_kb"]].to_numpy(),
        "brightness": table[["brightness", "dark_fraction"]].to_numpy(),
        "border brightness": table[["border_brightness"]].to_numpy(),
    }
    rows = [
        {
            "cue": "majority class (baseline)",
            "cv_accuracy": cross_val_score(DummyClassifier(), np.zeros((len(y), 1)), y, cv=5).mean(),
        }
    ]
    for name, X in cues.items():
        model = (
            DecisionTreeClassifier(max_depth=3, random_state=seed)
            if X.shape[1] == 1
            else make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
        )
        rows.append({"cue": name, "cv_accuracy": cross_val_score(model, X, y, cv=5).mean()})
    return pd.DataFrame(rows)


def encoding_invariance(paths: list[Path], size: int = 224) -> dict:
    """Does the decoded input depend on how a file was saved? For every file, a lossless copy in the other
    colour mode is made from the file's own pixels (an L file replicated to RGB, an RGB file reduced to L)
    and both the original file and the copy go through the pipeline's decoder; the arrays must be equal.

    A decoder that let the mode through (a mode-dependent offset, scale or channel choice) fails this
    check; ``tests/test_honest_eval.py`` plants such a decoder to prove it.
    """
    identical = max_diff = 0
    modes: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for p in paths:
            with Image.open(p) as im:
                im.load()
                modes[im.mode] = modes.get(im.mode, 0) + 1
                other = im.convert("RGB") if im.mode in ("L", "P", "1") else im.convert("L")
            copy = Path(tmp) / f"copy_{other.mode}.png"
            other.save(copy)
            diff = int(np.abs(load_image(p, size).astype(int) - load_image(copy, size).astype(int)).max())
            max_diff = max(max_diff, diff)
            identical += diff == 0
    return {"images": len(paths), "identical": identical, "max_abs_difference": max_diff, "original_modes": modes}


# ----------------------------------------------------------------------------- modality
CT_THRESHOLD = 0.5  # chosen by eye on the Kaggle Training images (notebook 01 shows every flagged image)


def ct_likeness(images: np.ndarray, bright: int = 230, band: int = 10) -> np.ndarray:
    """A simple score for "this slice looks like CT, not MRI": in a brain CT window the skull is the
    brightest structure, a saturated ring around a mid-gray brain; in MRI the skull is dark and bright
    pixels lie inside the head or in the scalp fat. Score = share of bright pixels (≥ ``bright``) in the
    outer ``band`` pixels of the head minus twice their share inside it. Above :data:`CT_THRESHOLD` = CT-like."""
    from scipy import ndimage

    scores = np.zeros(len(images))
    for i, a in enumerate(np.asarray(images)):
        head = ndimage.binary_fill_holes(a > 25)
        inner = ndimage.binary_erosion(head, iterations=band)
        ring = head & ~inner
        is_bright = a >= bright
        scores[i] = (is_bright & ring).sum() / max(ring.sum(), 1) - 2 * (is_bright & inner).sum() / max(inner.sum(), 1)
    return scores
