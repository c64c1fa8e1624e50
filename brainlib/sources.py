"""Where each Kaggle image comes from, and a stricter Testing subset that also drops same-patient neighbours.

The Kaggle set merges three older collections: figshare (Cheng et al.: T1 after contrast, glioma / meningioma /
pituitary, 233 patients), SARTAJ and Br35H (most no-tumor images). Only figshare says which patient a slice belongs
to, so only figshare slices can be traced: a Kaggle image is a figshare slice when its 64-bit pHash (both decoded
at 224 px) is within :data:`MATCH_DISTANCE` of a figshare slice of the same class (the distances at which the audit
finds the same scan re-encoded). The rest are "SARTAJ or Br35H": what can be shown about them is that they are not
figshare slices.

The leak-free Testing subset (:mod:`brainlib.audit`) drops Testing images with a duplicate or near duplicate in
Training. A figshare patient contributes many consecutive slices, and a neighbouring slice is not a near duplicate
by pHash, so a leak-free Testing slice can still have its patient in Training. The **stricter** subset also drops
every Testing image that is a figshare slice whose figshare neighbours — same fold and class (the folds keep each
patient in one fold), index within :data:`NEIGHBOUR_WINDOW` — include a slice that is in Kaggle Training.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from brainlib import datasets, hashes
from brainlib.data import ImageSet

MATCH_DISTANCE = 4  # pHash bits: the same scan re-encoded, rescaled or re-windowed (see brainlib.hashes)
NEIGHBOUR_WINDOW = 3  # figshare indices on either side that count as the same patient's neighbouring slices
FIGSHARE = "figshare (Cheng et al.)"
OTHER = "SARTAJ or Br35H"


def figshare_matches(images: ImageSet, figshare: datasets.LabeledImages) -> pd.DataFrame:
    """For each Kaggle image: its nearest figshare slice of the same class (``figshare_index``, ``fold``,
    ``distance``) and whether that is a match (``source``). No-tumor images have no figshare counterpart."""
    from brainlib.config import CLASSES

    kaggle_hashes = hashes.imageset_hashes(images)
    fig_hashes = hashes.imageset_hashes(figshare.images)
    fig_labels = figshare.table["label"].to_numpy()
    labels = np.array([CLASSES[i] for i in images.labels.tolist()])
    rows = pd.DataFrame({"path": images.paths, "label": labels, "figshare_index": -1, "fold": -1, "distance": 99})
    for cls in np.unique(fig_labels):
        q, ref = np.flatnonzero(labels == cls), np.flatnonzero(fig_labels == cls)
        if not len(q):
            continue
        idx, dist = hashes.nearest(kaggle_hashes[q], fig_hashes[ref])
        rows.loc[q, "figshare_index"] = figshare.table["index"].to_numpy()[ref[idx]]
        rows.loc[q, "fold"] = figshare.table["fold"].to_numpy()[ref[idx]]
        rows.loc[q, "distance"] = dist
    matched = rows["distance"] <= MATCH_DISTANCE
    rows.loc[~matched, ["figshare_index", "fold"]] = -1
    rows["source"] = np.where(matched, FIGSHARE, OTHER)
    return rows


def neighbour_in_training(test: pd.DataFrame, train: pd.DataFrame, window: int = NEIGHBOUR_WINDOW) -> np.ndarray:
    """For each Testing row of :func:`figshare_matches`: is a figshare slice of the same fold and class, at most
    ``window`` indices away (itself included), a Kaggle Training image?"""
    in_training = {}
    for (fold, label), g in train[train["source"] == FIGSHARE].groupby(["fold", "label"]):
        in_training[(fold, label)] = np.sort(g["figshare_index"].to_numpy())
    out = np.zeros(len(test), dtype=bool)
    for i, r in enumerate(test.itertuples()):
        if r.source != FIGSHARE:
            continue
        near = in_training.get((r.fold, r.label), np.array([], dtype=int))
        out[i] = bool(np.any(np.abs(near - r.figshare_index) <= window))
    return out


def testing_subsets(train: ImageSet, test: ImageSet, figshare: datasets.LabeledImages, leak_free: np.ndarray) -> dict:
    """The three views of Testing as boolean masks over ``test``: ``official`` (all), ``leak-free`` (given) and
    ``stricter`` (leak-free without figshare slices whose neighbours are in Training), plus the source tables."""
    tr, te = figshare_matches(train, figshare), figshare_matches(test, figshare)
    leak_free = np.asarray(leak_free, dtype=bool)
    return {
        "official": np.ones(len(test), dtype=bool),
        "leak-free": leak_free,
        "stricter": leak_free & ~neighbour_in_training(te, tr),
        "train_sources": tr,
        "test_sources": te,
    }


def kaggle_images():
    """Kaggle Training and Testing and the figshare slices, all decoded at 224 px (what the hashes need)."""
    return (
        datasets.load_split("Training", 224),
        datasets.load_split("Testing", 224),
        datasets.load("figshare-cheng", 224),
    )


def source_table(views: dict) -> pd.DataFrame:
    """One row per Kaggle image: split, path, class, source, the matched figshare slice and its fold, the pHash
    distance to the nearest figshare slice of its class, and (Testing) which subsets it is in."""
    train = views["train_sources"].assign(split="Training")
    test = views["test_sources"].assign(split="Testing", leak_free=views["leak-free"], stricter=views["stricter"])
    columns = ["split", "path", "label", "source", "figshare_index", "fold", "distance", "leak_free", "stricter"]
    return pd.concat([train, test], ignore_index=True).reindex(columns=columns)


def subset_report(names=("robust", "fast", "seed", "transfer"), views: dict | None = None, test=None) -> pd.DataFrame:
    """Accuracy (%) of each recipe's shipped checkpoint on official, leak-free and stricter Testing (with their
    sizes and 95 % cluster-bootstrap intervals), and on the Testing tumor images of each source."""
    from brainlib import audit, evaluation, recipes

    if views is None:
        train, test, figshare = kaggle_images()
        views = testing_subsets(train, test, figshare, audit.leak_free_mask(test, train))
    source = views["test_sources"]
    tumor = source["label"].to_numpy() != "notumor"
    rows = []
    for name in names:
        p = evaluation.checkpoint_predictions(recipes.checkpoint(name))
        if list(p.test.paths) != list(source["path"]):
            raise ValueError("the checkpoint's Testing images are not the ones the subsets were built on")
        correct = p.predicted == p.labels
        row = {"recipe": recipes.get(name).display}
        for view in ("official", "leak-free", "stricter"):
            r = evaluation.report_from_predictions(p.labels, p.predicted, views[view], p.clusters)["leak_free"]
            row[f"{view} (%)"] = 100 * r["accuracy"]
            row[f"{view} 95% CI"] = "–".join(f"{100 * v:.1f}" for v in r["accuracy_ci95"])
            row[f"{view} n"] = int(views[view].sum())
        for src in (FIGSHARE, OTHER):
            m = tumor & (source["source"].to_numpy() == src)
            row[f"tumor images from {src} (%)"] = 100 * correct[m].mean()
            row[f"tumor images from {src} n"] = int(m.sum())
        rows.append(row)
    return pd.DataFrame(rows).set_index("recipe")


def stricter_mask(paths, table: pd.DataFrame | None = None) -> np.ndarray:
    """Which of the Testing images ``paths`` (relative to the dataset root) are in the stricter subset, as recorded
    in ``table`` (default: the committed ``results/kaggle_sources.csv``); an image the table does not list (a
    synthetic stand-in) is not."""
    from brainlib import config

    if table is None:
        table = pd.read_csv(config.RESULTS_DIR / "kaggle_sources.csv")
    testing = table[table["split"] == "Testing"]
    keep = set(testing.loc[testing["stricter"].astype(str) == "True", "path"])
    return np.array([p in keep for p in paths], dtype=bool)


def main() -> None:
    """Write results/kaggle_sources.csv, results/testing_subsets.csv and results/dumb_control.csv (real data)."""
    from brainlib import audit, config, studies
    from brainlib.data import is_synthetic

    train, test, figshare = kaggle_images()
    views = testing_subsets(train, test, figshare, audit.leak_free_mask(test, train))
    synthetic = is_synthetic()
    studies.write_table(source_table(views), "kaggle_sources.csv", synthetic=synthetic, index=False)
    report = subset_report(views=views)
    path = studies.write_table(report.round(4), "testing_subsets.csv", synthetic=synthetic)
    print(report.round(2).to_string())
    control = dumb_control(views)
    studies.write_table(control.round(4), "dumb_control.csv", synthetic=synthetic)
    print(control.round(2).to_string())
    print(f"written: {path} and {config.results_file('kaggle_sources.csv', synthetic=synthetic)}")


# ----------------------------------------------------------------------------- the dumb control
BORDER = 16  # px of the 224-px image's frame the border control sees (the brain is inside it on almost every slice)


def image_statistics(images: np.ndarray) -> np.ndarray:
    """A handful of whole-image statistics per image (uint8 N×H×W): mean, standard deviation, seven percentiles,
    the fractions of near-black and near-white pixels."""
    x = images.reshape(len(images), -1).astype(np.float32)
    pct = np.percentile(x, [1, 5, 25, 50, 75, 95, 99], axis=1).T
    return np.column_stack([x.mean(1), x.std(1), pct, (x < 10).mean(1), (x > 245).mean(1)])


def border_pixels(images: np.ndarray, width: int = BORDER) -> np.ndarray:
    """Only the image's frame, ``width`` px wide, averaged over 8×8-px blocks: the four strips side by side, one
    feature per block. The centre, where the tumors are, is out of view; the frame itself often holds background
    text, skull or the edge of the head (a block brighter than gray level 40 in three images of four)."""
    x = images.astype(np.float32)
    strips = [
        x[:, :width, :],
        x[:, -width:, :],
        x[:, :, :width].transpose(0, 2, 1),
        x[:, :, -width:].transpose(0, 2, 1),
    ]
    n, w, h = len(x), width // 8, x.shape[-1] // 8
    return np.concatenate([s.reshape(n, w, 8, h, 8).mean((2, 4)).reshape(n, -1) for s in strips], axis=1)


def dumb_control(views: dict | None = None, seed: int = 0) -> pd.DataFrame:
    """How far classifiers that cannot see a tumor get: gradient-boosted trees on :func:`image_statistics` and on
    :func:`border_pixels`, trained on Kaggle Training, scored on official, leak-free and stricter Testing (beside
    the majority class). What they reach is the shortcut budget of the 4-class accuracy."""
    from sklearn.ensemble import HistGradientBoostingClassifier

    from brainlib import audit

    train, test, figshare = kaggle_images()
    if views is None:
        views = testing_subsets(train, test, figshare, audit.leak_free_mask(test, train))
    xtr, xte = train.images.numpy(), test.images.numpy()
    ytr, yte = train.labels.numpy(), test.labels.numpy()
    majority = np.bincount(ytr).argmax()
    controls = {
        "majority class of Training": np.full(len(yte), majority),
    }
    for name, features in (("image statistics (11 numbers)", image_statistics), ("border only", border_pixels)):
        model = HistGradientBoostingClassifier(random_state=seed).fit(features(xtr), ytr)
        controls[f"{name}"] = model.predict(features(xte))
    rows = []
    for name, pred in controls.items():
        row = {"control": name}
        for view in ("official", "leak-free", "stricter"):
            m = views[view]
            row[f"{view} (%)"] = 100 * float((pred[m] == yte[m]).mean())
        rows.append(row)
    return pd.DataFrame(rows).set_index("control")


if __name__ == "__main__":
    main()
