"""Patient-level cross-validation on a dataset with patient-level folds (figshare-cheng), with a results cache,
and the Grad-CAM "pointing game" against the dataset's tumor boxes.

Protocol (the standard one for figshare-cheng): for each test fold k, train from scratch on three of the
other folds and choose the epoch on the fourth (fold k+1, wrapping round), so that validation is itself
patient-level and never sees an image of fold k; then score fold k once. Each fold is one run in the study layer's
result cache (:mod:`brainlib.studies`), keyed by the recipe, the image bytes, the fold assignment, the protocol
version and the thread count, so a rerun trains only what is missing or changed.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import time
import warnings

import numpy as np
import pandas as pd
import torch

from brainlib import config, datasets, engine, explain, recipes, studies, sweep
from brainlib.metrics import classification_metrics
from brainlib.models import input_size

THREADS = 2  # torch threads per fold: fixed, so that a rerun reproduces every cached fold bit for bit


CAM_EXAMPLES = 3  # hits and misses kept per fold for figures
CAM_EXAMPLE_SIZE = 32
POINTING_PIXELS = 15  # the pointing game's usual tolerance (Zhang et al. 2016): 15 px of the original image
POINTING_TOLERANCE = 15 / 224  # the relative view: 15/224 of the image side (34 px of a 512-px original)


def cv_recipe(recipe: str, num_classes: int, model: str | None = None) -> engine.TrainConfig:
    """A recipe's TrainConfig (on architecture ``model`` when given) with a head for ``num_classes`` classes."""
    from brainlib.models import unknown_arguments

    base = recipes.train_config(recipe, model=model)
    unknown = unknown_arguments(base.model, base.model_kwargs)
    if unknown:
        raise ValueError(
            f"recipe {recipe} sets model arguments ({', '.join(unknown)}) that model {base.model} does not take; "
            f"it trains {recipes.get(recipe).architecture}"
        )
    return dataclasses.replace(base, model_kwargs={**base.model_kwargs, "num_classes": num_classes})


def fold_plan(folds: list[int], test_fold: int) -> tuple[list[int], int]:
    """(training folds, validation fold) for ``test_fold``: validation is the next fold, wrapping round."""
    folds = sorted(folds)
    if test_fold not in folds:
        raise ValueError(f"fold {test_fold} is not one of the dataset's folds {folds}")
    val = folds[(folds.index(test_fold) + 1) % len(folds)]
    return [f for f in folds if f not in (test_fold, val)], val


def _subsample(table: pd.DataFrame, profile: config.Profile) -> pd.DataFrame:
    """The smoke profile keeps a few images per fold and class (same code path, seconds instead of minutes)."""
    n = profile.max_images_per_class
    if n is None:
        return table
    return table.groupby(["fold", "label"], sort=False).head(max(2, n // 4)).reset_index(drop=True)


def protocol(dataset: str) -> str:
    """This study's protocol name in the result cache."""
    return studies.protocol_name(studies.PATIENT_KFOLD, dataset)


def _run_key(
    cfg: engine.TrainConfig,
    dataset: str,
    fingerprint: str,
    table: pd.DataFrame,
    test_fold: int,
    profile: config.Profile,
    threads: int = THREADS,
) -> str:
    """The fold's key in the one result cache (see :func:`brainlib.studies.run_key`)."""
    split = {"folds": table["fold"].tolist(), "test_fold": int(test_fold)}
    return studies.run_key(cfg, protocol(dataset), fingerprint, split, profile.name, threads)


# ----------------------------------------------------------------------------- pointing game


def _downsample(cam: np.ndarray, size: int = CAM_EXAMPLE_SIZE) -> list[list[int]]:
    t = torch.nn.functional.interpolate(torch.as_tensor(cam)[None, None], size=(size, size), mode="area")[0, 0]
    return (t.clamp(0, 1) * 255).round().to(torch.uint8).tolist()


# ----------------------------------------------------------------------------- one fold
def run_fold(
    cfg: engine.TrainConfig, data: datasets.LabeledImages, test_fold: int, key: str, progress: bool = True
) -> dict:
    """Train on the training folds, select the epoch on the validation fold, score ``test_fold``."""
    t0 = time.perf_counter()
    table = data.table
    train_folds, val_fold = fold_plan(sorted(table["fold"].unique()), test_fold)
    split = {
        name: table["fold"].isin(f).to_numpy()
        for name, f in (("train", train_folds), ("val", [val_fold]), ("test", [test_fold]))
    }
    train, val, test = (data.subset(split[s]) for s in ("train", "val", "test"))
    run = engine.train(cfg, train.images, val.images, progress=progress)
    model, history = run.model, run.history
    probs = engine.predict_proba(model, test.images.images, tta=cfg.tta)
    y, pred = test.images.labels.numpy(), probs.argmax(1)
    m = classification_metrics(y, pred, classes=data.spec.classes)
    env = engine.environment()
    record = {
        "key": key,
        "dataset": data.spec.name,
        "classes": list(data.spec.classes),
        "fold": int(test_fold),
        "train_folds": [int(f) for f in train_folds],
        "val_fold": int(val_fold),
        "train_images": len(train.table),
        "val_images": len(val.table),
        "n": m["n"],
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "per_class_recall": {c: v["recall"] for c, v in m["per_class"].items()},
        "confusion_matrix": m["confusion_matrix"],
        "epochs": len(history),
        "best_epoch": run.best_epoch,
        "val_acc": run.best_val_acc,
        "train_seconds": run.train_seconds,
        "config": cfg.as_dict(),
        "torch": torch.__version__,
        "threads": env["threads"],
        "device": run.device,
        "environment": env,
        "index": test.table["index"].astype(int).tolist(),
        "labels": y.tolist(),
        "predictions": pred.tolist(),
        "probabilities": np.round(probs, 5).tolist(),
        "history": history.to_dict("records"),
    }
    if {"x_center", "width"} <= set(test.table.columns) and len(test.table):
        record["pointing"] = _pointing_record(model, train, test, pred, y)
    record["wall_seconds"] = round(time.perf_counter() - t0, 2)
    return record


def _pointing_record(model, train: datasets.LabeledImages, test: datasets.LabeledImages, pred, y) -> dict:
    """Grad-CAM of the predicted class at the last stage and the one before it (twice the resolution): per
    test image the peak position and the energy inside the box; the model-free priors' peaks and energies;
    a few hits and misses (downsampled CAMs) for figures."""
    size = test.images.images.shape[-1]
    box_cols = ["x_center", "y_center", "width", "height"]
    masks = explain.box_masks(test.table, size)
    out = {"boxes": np.round(test.table[box_cols].to_numpy(float), 6).tolist()}
    for stage, suffix in ((-1, ""), (-2, "_fine")):
        cams = explain.gradcam_maps(model, test.images.images, pred, stage=stage)
        _, energy = explain.pointing(cams, masks)
        out[f"cam_size{suffix}"] = explain.cam_grid(model, stage, size)
        out[f"peak{suffix}"] = np.round(explain.peaks(cams), 5).tolist()
        out[f"energy{suffix}"] = np.round(energy, 4).tolist()
        if stage == -1:
            hit = explain.distance_to_box(explain.peaks(cams), test.table[box_cols].to_numpy(float)) == 0
            correct = pred == y
            examples = []
            for want_hit in (True, False):
                idx = np.flatnonzero(correct & (hit == want_hit))[:CAM_EXAMPLES]
                examples += [
                    {
                        "index": int(test.table["index"].iloc[i]),
                        "label": int(y[i]),
                        "hit": bool(want_hit),
                        "energy": float(energy[i]),
                        "cam": _downsample(cams[i]),
                    }
                    for i in idx
                ]
            out["examples"] = examples
    centre = explain.centred_prior(size)
    train_boxes = explain.box_masks(train.table, size).mean(0)  # where tumors lie in the training folds
    for name, prior in (("centre_prior", centre), ("box_prior", train_boxes)):
        _, energy = explain.pointing(np.broadcast_to(prior, masks.shape), masks)
        out[f"{name}_peak"] = np.round(explain.peaks(prior[None]), 5)[0].tolist()
        out[f"{name}_energy"] = np.round(energy, 4).tolist()
    return out


# ----------------------------------------------------------------------------- all folds
def run_crossval(
    dataset: str = "figshare-cheng",
    recipe: str = recipes.DEFAULT,
    folds: list[int] | None = None,
    root: str | os.PathLike | None = None,
    profile: config.Profile | None = None,
    force: bool = False,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int | None = None,
    cfg: engine.TrainConfig | None = None,
    model: str | None = None,
    train: bool = True,
    seeds: list[int] | None = None,
    study: str | None = None,
) -> list[dict]:
    """Every requested fold's record (see :func:`run_fold`), from the cache or trained now; with ``seeds``, every
    fold once per seed (repeated cross-validation: the records of seed 0, then seed 1, ...; default: the recipe's
    own seed only).

    ``recipe`` names a recipe of :mod:`brainlib.recipes` (``model`` puts it on another architecture); ``cfg``
    trains that configuration instead (``recipe`` then only names the cache files). The head is resized to the
    dataset's classes.

    Missing folds train in this process, on ``workers`` local processes, or on the Dask cluster at
    ``scheduler``, each with ``threads`` torch threads (default :data:`THREADS`: part of the key, so a cached fold
    is reused only at the thread count it was trained with). ``train=False`` returns the cached folds only.
    ``study``: stored in every fold trained now (which study's rule governs it; cached folds keep theirs).
    Records live in the one result cache (:class:`brainlib.studies.ResultCache`, root ``cache_dir``)."""
    profile = profile or config.get_profile()
    spec = datasets.get(dataset)
    if spec.groups != "fold":
        raise ValueError(f"{dataset} has no patient-level folds; cross-validation needs one with folds")
    root = spec.root(root)
    table = _subsample(spec.table(root), profile)
    all_folds = sorted(int(f) for f in table["fold"].unique())
    if len(all_folds) < 3:
        raise ValueError(
            f"{dataset} has {len(all_folds)} fold(s) ({', '.join(map(str, all_folds))}); patient-level "
            "cross-validation needs at least 3 (training, validation and test folds)"
        )
    folds = all_folds if not folds else list(folds)
    if len(set(folds)) != len(folds):
        raise ValueError(f"test folds {folds} name a fold more than once; each fold is scored once")
    bad = [f for f in folds if f not in all_folds]
    if bad:
        raise ValueError(f"no fold(s) {bad} in {dataset}; its folds are {all_folds}")
    if cfg is None:
        cfg = cv_recipe(recipe, len(spec.classes), model)
    else:
        cfg = dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "num_classes": len(spec.classes)})
    if profile.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=profile.epochs)
    fingerprint = datasets.content_fingerprint(root, list(table["path"]))
    same_architecture = recipe in recipes.RECIPES and recipes.get(recipe).architecture == model
    name = recipe if model is None or same_architecture else f"{recipe}-{model}"  # names the cache files
    cache = studies.ResultCache(cache_dir)
    threads = threads or THREADS
    parallel = workers > 1 or bool(scheduler)
    records: list[dict | None] = []
    jobs, slots = [], []
    base_cfg = cfg
    for seed, k in [(s, k) for s in (seeds if seeds else [base_cfg.seed]) for k in folds]:
        cfg = dataclasses.replace(base_cfg, seed=seed)
        key = _run_key(cfg, dataset, fingerprint, table, k, profile, threads)
        record = cache.get(protocol(dataset), profile.name, key, required=RECORD_FIELDS) if not force else None
        if record is not None and not _boxes_match(record, table, k):
            warnings.warn(
                f"fold {k} of {name}: the tumor boxes changed since it was scored; rescoring it", stacklevel=2
            )
            record = None
        if record is None and not train:
            continue
        if record is None:
            slots.append(len(records))
            jobs.append(
                {
                    "dataset": dataset,
                    "name": name,
                    "cfg": cfg,
                    "fold": k,
                    "key": key,
                    "cache": cache,
                    "root": str(root),
                    "profile": profile,
                    "fingerprint": fingerprint,
                    "progress": progress and not parallel,
                    "threads": threads,
                    "study": study,
                }
            )
        records.append(record)
    if jobs:
        cache.check_writable(protocol(dataset), profile.name)  # refused before any fold trains
        _check_decodable(dataset, str(root), profile, cfg, fingerprint)  # one clear error before any fold trains

    def announce(record):
        if progress:
            print(f"fold {record['fold']} done: accuracy {record['accuracy']:.4f}", flush=True)

    if progress and jobs:
        print(f"training {name} on {dataset}: {len(jobs)} fold(s) on {sweep.where(workers, scheduler)} ...", flush=True)
    for slot, record in zip(slots, sweep.run_jobs(_fold_job, jobs, workers, scheduler, on_done=announce)):
        records[slot] = {**record, "trained_now": True}
    return records  # type: ignore[return-value]


RECORD_FIELDS = ("fold", "n", "accuracy", "macro_f1", "confusion_matrix", "labels", "predictions", "val_acc")


def _boxes_match(record: dict, table: pd.DataFrame, fold: int) -> bool:
    """Whether a cached fold was scored against the tumor boxes the dataset has now (boxes are not part of the
    key: an edited boxes.csv rescores the pointing game instead of being served stale)."""
    if "x_center" not in table or "pointing" not in record:
        return True
    now = np.round(table.loc[table["fold"] == fold, ["x_center", "y_center", "width", "height"]].to_numpy(float), 6)
    then = np.asarray(record["pointing"].get("boxes", []), float).reshape(-1, 4)
    return now.shape == then.shape and np.allclose(now, then, atol=2e-6)


@functools.lru_cache(maxsize=2)
def _fold_data(dataset: str, root: str, profile: config.Profile, size: int, fingerprint: str) -> datasets.LabeledImages:
    """The dataset's images at ``size``, once per process and content ``fingerprint`` (a worker reuses them for
    every fold it trains, and reloads when the files changed)."""
    spec = datasets.get(dataset)
    table = _subsample(spec.table(root), profile)
    return datasets.load(dataset, size, root, table)


def _check_decodable(
    dataset: str, root: str, profile: config.Profile, cfg: engine.TrainConfig, fingerprint: str
) -> None:
    size = input_size(cfg.model, cfg.model_kwargs)
    spec = datasets.get(dataset)
    expected = len(_subsample(spec.table(root), profile))
    data = _fold_data(dataset, root, profile, size, fingerprint)
    if len(data.table) != expected:
        raise datasets.DataError(
            f"{dataset}: {expected - len(data.table)} images could not be "
            "decoded; fix or remove them before cross-validating"
        )


def _fold_job(job: dict) -> dict:
    """One fold (in this process or a worker): train, score, write the cache file, return the record."""
    cfg = job["cfg"]
    size = input_size(cfg.model, cfg.model_kwargs)
    data = _fold_data(job["dataset"], job["root"], job["profile"], size, job["fingerprint"])
    if job["progress"]:
        print(f"training {job['name']} on {job['dataset']}, test fold {job['fold']} ...", flush=True)
    with sweep.torch_threads(job["threads"]):
        record = run_fold(cfg, data, job["fold"], job["key"], progress=job["progress"])
    record.update({"recipe": job["name"], "profile": job["profile"].name, "data_fingerprint": job["fingerprint"]})
    if job.get("study"):
        record["study"] = job["study"]  # the study whose rule governs this run (e.g. a pre-registration)
    label = f"{job['name']}-fold{job['fold']}" + (f"-seed{cfg.seed}" if cfg.seed else "")
    job["cache"].put(protocol(job["dataset"]), job["profile"].name, label, record)
    return record


def summarize(records: list[dict]) -> dict:
    """Mean ± std over folds, a 95 % t-interval over folds (folds, not images, are the independent units),
    the pooled confusion matrix and recall, and the pointing game against the model-free priors. With records of
    several seeds (repeated cross-validation) the mean and std are over every (seed, fold) run, and ``per_seed``
    gives each seed's mean over folds and ``seed_spread`` the mean ± std of those means over seeds;
    ``fold_means`` is each test fold's mean over seeds and ``fold_interval`` the t-interval over those (the folds
    being the independent units, this interval is the one to quote)."""
    acc = studies.mean_interval([r["accuracy"] for r in records])
    f1 = studies.mean_interval([r["macro_f1"] for r in records])
    classes = records[0]["classes"] if records else []
    pooled = np.sum([r["confusion_matrix"] for r in records], axis=0) if records else np.zeros((0, 0))
    out = {
        "recipe": records[0].get("recipe") if records else None,
        "model": records[0].get("config", {}).get("model") if records else None,
        "dataset": records[0]["dataset"] if records else None,
        "profile": records[0].get("profile") if records else None,
        "folds": [
            {
                "fold": r["fold"],
                "seed": _seed(r),
                "n": r["n"],
                "accuracy": r["accuracy"],
                "macro_f1": r["macro_f1"],
                "val_fold": r["val_fold"],
                "best_epoch": r["best_epoch"],
                "val_acc": r["val_acc"],
                "per_class_recall": r["per_class_recall"],
                "confusion_matrix": r["confusion_matrix"],
                "train_seconds": r["train_seconds"],
                "wall_seconds": r["wall_seconds"],
            }
            for r in records
        ],
        "mean_accuracy": acc["mean"],
        "std_accuracy": acc["std"],
        "accuracy_ci95": acc["ci95"],
        "mean_macro_f1": f1["mean"],
        "std_macro_f1": f1["std"],
        "pooled_accuracy": float(np.trace(pooled) / pooled.sum()) if pooled.sum() else float("nan"),
        "pooled_confusion_matrix": pooled.tolist(),
        "classes": classes,
        "pooled_recall": {
            c: float(pooled[i, i] / pooled[i].sum()) if pooled[i].sum() else float("nan") for i, c in enumerate(classes)
        },
        "train_seconds": float(sum(r["train_seconds"] for r in records)),
        "wall_seconds": float(sum(r["wall_seconds"] for r in records)),
    }
    seeds = sorted({_seed(r) for r in records})
    out["seeds"] = seeds
    out["per_seed"] = {s: float(np.mean([r["accuracy"] for r in records if _seed(r) == s])) for s in seeds}
    out["seed_spread"] = studies.mean_interval(list(out["per_seed"].values()))
    folds = sorted({int(r["fold"]) for r in records})
    out["fold_means"] = {k: float(np.mean([r["accuracy"] for r in records if int(r["fold"]) == k])) for k in folds}
    out["fold_interval"] = studies.mean_interval(list(out["fold_means"].values()))  # folds as the units
    if records and all("pointing" in r for r in records):
        out["pointing_game"] = pointing_summary(records)
    return out


def _seed(record: dict) -> int:
    return int(record.get("config", {}).get("seed", 0))


def pointing_summary(
    records: list[dict], tolerance: float = POINTING_TOLERANCE, original_size: int | None = None
) -> dict:
    """Pointing game over the correctly classified test images of all folds: the share whose CAM maximum
    lies inside the tumor box, the share within :data:`POINTING_PIXELS` px of the original image of it (the
    usual pointing game; ``original_size``: the originals' side, default the dataset's), the share within
    ``tolerance`` (a fraction of the image side: the relative view), and the mean CAM energy inside the box —
    for Grad-CAM at the last stage, at the stage before it, and for the centred and training-box priors."""
    correct = np.concatenate([np.asarray(r["predictions"]) == np.asarray(r["labels"]) for r in records])
    boxes = np.concatenate([np.asarray(r["pointing"]["boxes"], float).reshape(-1, 4) for r in records])
    if original_size is None and records:
        original_size = datasets.get(records[0]["dataset"]).original_size
    pixel_tolerance = POINTING_PIXELS / original_size if original_size else float("nan")
    out = {
        "images": int(correct.sum()),
        "original_size": original_size,
        "tolerance_15px": pixel_tolerance,
        "tolerance": tolerance,
        "cam_size": records[0]["pointing"]["cam_size"] if records else None,
        "cam_size_fine": records[0]["pointing"]["cam_size_fine"] if records else None,
    }
    for label, peak_key, energy_key in (
        ("gradcam", "peak", "energy"),
        ("gradcam_fine", "peak_fine", "energy_fine"),
        ("centre_prior", "centre_prior_peak", "centre_prior_energy"),
        ("box_prior", "box_prior_peak", "box_prior_energy"),
    ):
        pts = np.concatenate(
            [
                np.broadcast_to(np.asarray(r["pointing"][peak_key], float).reshape(-1, 2), (len(r["labels"]), 2))
                for r in records
            ]
        )
        dist = explain.distance_to_box(pts, boxes)[correct] if len(pts) else np.zeros(0)
        energy = np.concatenate([r["pointing"][energy_key] for r in records])[correct]
        out[label] = {
            "hit_rate": float((dist == 0).mean()) if len(dist) else float("nan"),
            "hit_rate_15px": float((dist <= pixel_tolerance).mean()) if len(dist) else float("nan"),
            "hit_rate_tolerant": float((dist <= tolerance).mean()) if len(dist) else float("nan"),
            "energy_in_box": float(energy.mean()) if len(energy) else float("nan"),
        }
    out["per_fold_hit_rate"] = {}
    for r in records:
        ok = np.asarray(r["predictions"]) == np.asarray(r["labels"])
        d = explain.distance_to_box(
            np.asarray(r["pointing"]["peak"], float).reshape(-1, 2),
            np.asarray(r["pointing"]["boxes"], float).reshape(-1, 4),
        )
        name = r["fold"] if not _seed(r) else f"{r['fold']}-seed{_seed(r)}"
        out["per_fold_hit_rate"][name] = float((d[ok] == 0).mean()) if ok.any() else float("nan")
    return out


def folds_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """Per-fold accuracy (%) of several models side by side (a fold run with several seeds: the mean over its
    seeds), with mean ± std rows (over every run: folds × seeds)."""
    cols = {}
    for name, s in summaries.items():
        runs: dict[str, list[float]] = {}
        for f in s["folds"]:
            runs.setdefault(f"fold {f['fold']} (n={f['n']})", []).append(100 * f["accuracy"])
        cols[name] = {fold: float(np.mean(acc)) for fold, acc in runs.items()}
    table = pd.DataFrame(cols)
    table.loc["mean"] = [100 * s["mean_accuracy"] for s in summaries.values()]
    table.loc["std"] = [100 * s["std_accuracy"] for s in summaries.values()]
    return table.round(2)
