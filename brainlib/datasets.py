"""Datasets as one small description each: where the images are, the class names, the splits or folds,
optional tumor boxes or masks.

Every dataset goes through the same path as the Kaggle set: its ``index`` function lists the image files
in a table (one row per image: relative ``path``, ``label`` name, and whatever else the dataset knows —
split, fold, patient, sequence, box, mask), then :func:`load` decodes them with the one decoder of
:mod:`brainlib.data` into the same uint8 cache and the same :class:`~brainlib.data.ImageSet`.

Adding a dataset is one entry in :data:`DATASETS`: a name, class names, an environment variable and a
default folder for its location, and an ``index`` function that reads its layout (and raises
:class:`~brainlib.data.DataError` with a one-line reason when the layout is wrong).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from brainlib import config
from brainlib.data import DataError, ImageSet, iter_image_files, load_files, validate_layout, warn


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset is. ``index(root)`` returns one row per image: at least ``path`` (relative to
    ``root``, POSIX style) and ``label`` (one of ``classes``); ``groups`` names the column that keeps
    a patient's images together (``fold`` or ``patient``), if the dataset has one."""

    name: str
    title: str
    classes: tuple[str, ...]
    env_var: str
    folder: str  # default location under data/
    index: Callable[[Path], pd.DataFrame]
    role: str  # what the workbook uses it for
    citation: str
    groups: str | None = None
    original_size: int | None = None  # side (px) of the original images where all share one (the pointing game's
    # tolerance is 15 px of it); None where they differ

    def root(self, override: str | os.PathLike | None = None) -> Path:
        """``override``, else ``$<env_var>``, else ``data/<folder>`` in the project."""
        if override:
            return Path(override).expanduser()
        env = os.environ.get(self.env_var)
        return Path(env).expanduser() if env else config.PROJ_ROOT / "data" / self.folder

    def table(self, root: str | os.PathLike | None = None) -> pd.DataFrame:
        """The validated index of the dataset at ``root`` (see :meth:`root`)."""
        root = self.root(root)
        if not root.exists():
            raise DataError(
                f"{self.name}: dataset folder {root} does not exist; run 'brainlib fetch --dataset "
                f"{self.name}' or set {self.env_var}"
            )
        if not root.is_dir():
            raise DataError(f"{self.name}: dataset path {root} is not a folder")
        table = self.index(root)
        if table.empty:
            raise DataError(f"{self.name}: {root} holds no images of this dataset")
        unknown = sorted(set(table["label"]) - set(self.classes))
        if unknown:
            raise DataError(f"{self.name}: unknown class names {unknown} (expected {list(self.classes)})")
        return table.reset_index(drop=True)


# ----------------------------------------------------------------------------- layouts
def _kaggle_index(root: Path) -> pd.DataFrame:
    from brainlib.data import scan_split

    validate_layout(root)
    rows = []
    for split in config.SPLITS:
        scan = scan_split(root, split)  # skipped files are reported once per process
        rows += [{"path": p, "label": config.CLASSES[y], "split": split} for p, y in zip(scan.paths, scan.labels)]
    return pd.DataFrame(rows)


def _read_csv(path: Path, columns: list[str], dataset: str) -> pd.DataFrame:
    if not path.is_file():
        raise DataError(f"{dataset}: {path} is missing (expected {path.name} with columns {', '.join(columns)})")
    try:
        table = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise DataError(f"{dataset}: {path} is not a readable CSV file ({' '.join(str(e).split())[:100]})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise DataError(f"{dataset}: {path} lacks the column(s) {', '.join(missing)}")
    return table


FIGSHARE_CLASSES = ("glioma", "meningioma", "pituitary")
BOX_COLUMNS = ("x_center", "y_center", "width", "height")


def _rows(table: pd.DataFrame, mask) -> str:
    """The CSV line numbers (header = line 1) of the rows in ``mask``, a few of them."""
    lines = [str(i + 2) for i in np.flatnonzero(np.asarray(mask))]
    return ", ".join(lines[:5]) + (f" and {len(lines) - 5} more" if len(lines) > 5 else "")


def _whole_numbers(table: pd.DataFrame, column: str, path: Path, dataset: str, minimum: int = 1) -> pd.Series:
    """``table[column]`` as integers, refused (file, line and value named) unless every value is a whole number
    of at least ``minimum`` (no blanks, NaN, text, fractions or values beyond 10^9)."""
    values = pd.to_numeric(table[column], errors="coerce")
    ok = values.notna() & np.isfinite(values) & (values == values.round()) & (values >= minimum) & (values < 1e9)
    if not ok.all():
        first = int(np.flatnonzero(~ok.to_numpy())[0])
        raise DataError(
            f"{dataset}: {path} line {_rows(table, ~ok)}: {column} must be a whole number ≥ {minimum} "
            f"(found {table[column].iloc[first]!r})"
        )
    return values.astype(np.int64)


def _figshare_boxes(table: pd.DataFrame, path: Path, dataset: str) -> pd.DataFrame:
    """``table`` with each image's tumor box from ``path`` (boxes.csv), refused before anything trains when an
    image has no box, two boxes, or a box that is not four fractions of the image size."""
    boxes = _read_csv(path, ["index", *BOX_COLUMNS], dataset)
    boxes["index"] = _whole_numbers(boxes, "index", path, dataset)
    for c in BOX_COLUMNS:
        values = pd.to_numeric(boxes[c], errors="coerce")
        low = 0.0 if c in ("x_center", "y_center") else 1e-9
        ok = values.notna() & np.isfinite(values) & (values >= low) & (values <= 1)
        if not ok.all():
            first = int(np.flatnonzero(~ok.to_numpy())[0])
            raise DataError(
                f"{dataset}: {path} line {_rows(boxes, ~ok)}: {c} must be a number in [{low:g}, 1], a fraction "
                f"of the image size (found {boxes[c].iloc[first]!r})"
            )
        boxes[c] = values.astype(float)
    dup = boxes["index"].duplicated(keep=False)
    if dup.any():
        raise DataError(f"{dataset}: {path} lines {_rows(boxes, dup)}: more than one box for the same image index")
    table = table.merge(boxes[["index", *BOX_COLUMNS]], on="index", how="left")
    missing = table["x_center"].isna()
    if missing.any():
        shown = ", ".join(str(i) for i in table.loc[missing, "index"].head(5))
        raise DataError(f"{dataset}: {path} has no box for {int(missing.sum())} image(s) (index {shown})")
    return table


def _figshare_index(root: Path) -> pd.DataFrame:
    """``images/<class>/<index>.<ext>``, ``folds.csv`` (index, label, fold) and ``boxes.csv`` (index,
    label, x_center, y_center, width, height as fractions of the image size). Refused with the file and line
    named: an index listed twice (an image in two folds), a fold or index that is not a whole number ≥ 1, a class
    without images, a box missing or not numeric."""
    name = "figshare-cheng"
    if not (root / "images").is_dir():
        raise DataError(
            f"{name}: {root} has no images/ folder (expected images/<class>/<index>.jpg, folds.csv, "
            "boxes.csv; 'brainlib fetch --dataset figshare-cheng' makes this layout)"
        )
    folds_file = root / "folds.csv"
    folds = _read_csv(folds_file, ["index", "label", "fold"], name)
    folds["index"] = _whole_numbers(folds, "index", folds_file, name)
    folds["fold"] = _whole_numbers(folds, "fold", folds_file, name)
    dup = folds["index"].duplicated(keep=False)
    if dup.any():
        first = int(folds.loc[dup, "index"].iloc[0])
        raise DataError(
            f"{name}: {folds_file} lines {_rows(folds, dup)}: image index {first} is listed more than once "
            "(every image belongs to exactly one fold)"
        )
    files = {}
    for f in iter_image_files(root / "images"):
        if f.stem.isdigit():
            files[(f.parent.name, int(f.stem))] = f.relative_to(root).as_posix()
    folds["path"] = [files.get((lab, int(i))) for i, lab in zip(folds["index"], folds["label"])]
    missing = folds["path"].isna()
    if missing.all():
        raise DataError(f"{name}: none of the {len(folds)} images listed in folds.csv is under images/<class>/")
    if missing.any():
        warn(f"{name}: {int(missing.sum())} images listed in folds.csv are missing; skipped")
    table = folds[~missing].copy()
    absent = [c for c in FIGSHARE_CLASSES if not (table["label"] == c).any()]
    if absent:
        raise DataError(
            f"{name}: no images of class {', '.join(absent)} under {root / 'images'} "
            f"(expected images/{{{','.join(FIGSHARE_CLASSES)}}}/<index>.png)"
        )
    boxes_file = root / "boxes.csv"
    if boxes_file.exists():
        table = _figshare_boxes(table, boxes_file, name)
    return table[["path", "label", "fold", "index", *[c for c in BOX_COLUMNS if c in table]]]


TCGA_SEQUENCES = ("flair", "precontrast", "postcontrast")
TCGA_KINDS = {"tumor": "glioma", "no_tumor_slice": "notumor"}


def _tcga_index(root: Path) -> pd.DataFrame:
    """``<sequence>/<kind>/<patient>_<slice>.png`` for the three sequences, ``masks/<patient>_<slice>.png``
    and ``slices.csv`` (patient, slice, kind, tumor_pixels_256). One row per image and sequence."""
    name = "tcga-lgg"
    slices = _read_csv(root / "slices.csv", ["patient", "slice", "kind"], name)
    bad = sorted(set(slices["kind"]) - set(TCGA_KINDS))
    if bad:
        raise DataError(f"{name}: slices.csv has unknown kind(s) {bad} (expected {', '.join(TCGA_KINDS)})")
    rows, missing = [], 0
    for seq in TCGA_SEQUENCES:
        for r in slices.itertuples():
            rel = f"{seq}/{r.kind}/{r.patient}_{r.slice}.png"
            if not (root / rel).is_file():
                missing += 1
                continue
            mask = f"masks/{r.patient}_{r.slice}.png"
            rows.append(
                {
                    "path": rel,
                    "label": TCGA_KINDS[r.kind],
                    "sequence": seq,
                    "patient": r.patient,
                    "slice": int(r.slice),
                    "kind": r.kind,
                    "mask": mask if (root / mask).is_file() else None,
                }
            )
    if not rows:
        raise DataError(
            f"{name}: {root} has none of the images slices.csv lists (expected "
            f"{'|'.join(TCGA_SEQUENCES)}/{'|'.join(TCGA_KINDS)}/<patient>_<slice>.png)"
        )
    if missing:
        warn(f"{name}: {missing} images listed in slices.csv are missing; skipped")
    return pd.DataFrame(rows)


DATASETS: dict[str, DatasetSpec] = {
    "brain-tumor-mri": DatasetSpec(
        name="brain-tumor-mri",
        title="Kaggle Brain Tumor MRI Dataset (Training/Testing)",
        classes=config.CLASSES,
        env_var="BRAINLIB_DATA_DIR",
        folder="brain-tumor-mri",
        index=_kaggle_index,
        role="main dataset: training, official and leak-free Testing",
        citation="M. Nickparvar, Brain Tumor MRI Dataset, Kaggle (masoudnickparvar/brain-tumor-mri-dataset)",
    ),
    "figshare-cheng": DatasetSpec(
        name="figshare-cheng",
        title="figshare brain tumor dataset (Cheng et al.), T1-CE, 233 patients",
        classes=FIGSHARE_CLASSES,
        env_var="BRAINLIB_FIGSHARE_DIR",
        folder="figshare-cheng",
        index=_figshare_index,
        role="patient-level benchmark: the authors' 5 folds, train on 4, test on the 5th",
        groups="fold",
        citation="J. Cheng et al., PLoS ONE 10(10): e0140381, 2015; figshare article 1512427 (CC BY 4.0)",
        original_size=512,
    ),
    "tcga-lgg": DatasetSpec(
        name="tcga-lgg",
        title="TCGA-LGG (Buda et al.), 3 sequences, tumor and tumor-free slices",
        classes=("glioma", "notumor"),
        env_var="BRAINLIB_TCGA_DIR",
        folder="tcga-lgg",
        index=_tcga_index,
        role="external test only: never trained on, never used to choose anything",
        groups="patient",
        citation="M. Buda, A. Saha, M. A. Mazurowski, Computers in Biology and Medicine 109, 2019",
        original_size=256,
    ),
}


def get(name: str) -> DatasetSpec:
    """The registered dataset ``name``."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    return DATASETS[name]


def content_fingerprint(root: Path, paths: list[str]) -> str:
    """SHA-1 over the listed files' names and bytes: changes whenever any image changes, even in place."""
    h = hashlib.sha1()
    for p in paths:
        h.update(p.encode() + b"\0")
        h.update(hashlib.sha1((root / p).read_bytes()).digest())
    return h.hexdigest()[:16]


@dataclass
class LabeledImages:
    """Decoded images of a dataset (``images.labels`` index ``classes``) and their index rows."""

    spec: DatasetSpec
    images: ImageSet
    table: pd.DataFrame

    def subset(self, mask) -> LabeledImages:
        idx = np.flatnonzero(np.asarray(mask))
        return LabeledImages(self.spec, self.images.subset(idx), self.table.iloc[idx].reset_index(drop=True))


def load(
    name: str,
    size: int,
    root: str | os.PathLike | None = None,
    table: pd.DataFrame | None = None,
    tag: str | None = None,
    use_cache: bool = True,
) -> LabeledImages:
    """Images of dataset ``name`` (all of them, or the rows of ``table``) decoded at ``size``² px through the one
    decoder and cache (``tag`` names the cache file; default the dataset's name)."""
    spec = get(name)
    root = spec.root(root)
    table = spec.table(root) if table is None else table.reset_index(drop=True)
    labels = [spec.classes.index(c) for c in table["label"]]
    images = load_files(root, list(table["path"]), labels, size, tag=tag or spec.name, use_cache=use_cache)
    if len(images) != len(table):  # unreadable files were skipped (warned): keep the rows that decoded
        keep = set(images.paths)
        table = table[table["path"].isin(keep)].reset_index(drop=True)
    return LabeledImages(spec, images, table)


def load_split(
    split: str,
    size: int = 224,
    root: str | os.PathLike | None = None,
    max_per_class: int | None = None,
    use_cache: bool = True,
) -> ImageSet:
    """One split of the Kaggle set (``Training`` or ``Testing``) decoded at ``size``² px, through the same index →
    decode → cache path as every dataset (:func:`load`); ``max_per_class`` keeps the first images of each class
    (the smoke profile). Refused when a class folder of the split holds no image."""
    spec = get("brain-tumor-mri")
    root = validate_layout(spec.root(root) if root is None else Path(root).expanduser())
    table = spec.table(root)
    rows = table[table["split"] == split]
    if max_per_class is not None:
        rows = rows.groupby("label", sort=False).head(max_per_class)
    empty = [c for c in spec.classes if not (rows["label"] == c).any()]
    if empty:
        raise DataError(f"{root / split}: no images in {', '.join(empty)} (every class folder needs images)")
    return load(spec.name, size, root, rows, tag=split, use_cache=use_cache).images
