"""End-to-end runs on the dataset: data preparation with a group-aware split, train → evaluate,
checkpoint evaluation on the official Testing split and its leak-free subset, and the ablation grid
(cached runs, summaries, paired significance tests)."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainlib import audit, config, engine
from brainlib.data import ImageSet, is_synthetic, load_split
from brainlib.metrics import bootstrap_ci, classification_metrics

VAL_FRACTION = audit.VAL_FRACTION
SPLIT_SEED = audit.SPLIT_SEED  # one validation split shared by every experiment


@dataclass
class PreparedData:
    """Train/validation/Testing images at one input size, plus the leak-free Testing mask."""

    train: ImageSet
    val: ImageSet
    test: ImageSet
    leak_free: np.ndarray
    synthetic: bool
    test_clusters: np.ndarray | None = None


def prepare_data(size: int, root: str | os.PathLike | None = None, profile: config.Profile | None = None,
                 threshold: int = audit.DEFAULT_THRESHOLD) -> PreparedData:
    """Load Training/Testing at ``size``; split Training into train/validation so that no validation image
    has a near duplicate (pHash distance ≤ the audit threshold) in the training part (see
    :func:`brainlib.audit.validation_split`); Testing is only for reporting."""
    profile = profile or config.get_profile()
    n = profile.max_images_per_class
    train224 = load_split("Training", 224, root, n)
    test224 = load_split("Testing", 224, root, n)
    train_all = train224 if size == 224 else load_split("Training", size, root, n)
    test = test224 if size == 224 else load_split("Testing", size, root, n)
    if train_all.paths != train224.paths or test.paths != test224.paths:
        raise RuntimeError("cached splits at different sizes disagree; delete the cache folder and rerun")
    split = audit.validation_split(train224, val_fraction=VAL_FRACTION, seed=SPLIT_SEED)
    tr_idx, val_idx = split.train_idx, split.val_idx
    mask = audit.leak_free_mask(test224, train224, threshold)
    return PreparedData(train_all.subset(tr_idx), train_all.subset(val_idx), test, mask,
                        is_synthetic(train_all.root), testing_clusters(test224, threshold))


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


def test_report(model: torch.nn.Module, test: ImageSet, leak_free: np.ndarray, tta: bool = False,
                clusters: np.ndarray | None = None) -> dict:
    """Official Testing metrics with the same metrics on the leak-free subset under ``leak_free``."""
    probs = engine.predict_proba(model, test.images, tta=tta)
    return report_from_predictions(test.labels.numpy(), probs.argmax(1), leak_free, clusters)


def report_from_predictions(y: np.ndarray, pred: np.ndarray, leak_free: np.ndarray,
                            clusters: np.ndarray | None = None) -> dict:
    """Official and leak-free metrics; intervals resample ``clusters`` (near-duplicate clusters of Testing)
    when given, images otherwise."""
    result = metrics_with_ci(y, pred, groups=clusters)
    result["leak_free"] = metrics_with_ci(y[leak_free], pred[leak_free],
                                          groups=None if clusters is None else clusters[leak_free])
    return result


def testing_clusters(test224: ImageSet, threshold: int = audit.DEFAULT_THRESHOLD) -> np.ndarray:
    """Near-duplicate cluster id of every Testing image (connected components at pHash distance ≤
    ``threshold``, exact copies included): the unit of the bootstrap for Testing intervals."""
    return audit.near_duplicate_groups(audit.imageset_hashes(test224), threshold)


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
    # engine.train keeps a resume state at <out>.resume after every epoch (an interrupted run continues from
    # it) and writes the best model to ``out``; the checkpoint is rewritten below with the Testing metrics
    model, history = engine.train(cfg, data.train, data.val, out=out, progress=progress, resume=resume)
    result = test_report(model, data.test, data.leak_free, tta=cfg.tta, clusters=data.test_clusters)
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
    clusters: np.ndarray | None = None  # near-duplicate cluster per Testing image (bootstrap unit)

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
    return Predictions(model, ckpt, test, engine.predict_proba(model, test.images, tta=tta), mask,
                       testing_clusters(test224))


def evaluate_checkpoint(path: str | os.PathLike = config.DEFAULT_CHECKPOINT, root: str | os.PathLike | None = None,
                        tta: bool | None = None, max_per_class: int | None = None) -> dict:
    """Metrics of a checkpoint on the official Testing split and on its leak-free subset."""
    p = checkpoint_predictions(path, root, tta, max_per_class)
    result = report_from_predictions(p.labels, p.predicted, p.leak_free, p.clusters)
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


# ----------------------------------------------------------------------------- ablation grid
ABLATION_SIZE = 112  # the ablation protocol's input size (half the seed's 224, so it fits a CPU budget)
ABLATION_VERSION = 1  # bump when the protocol changes: cached runs of other versions are retrained


@dataclass(frozen=True)
class Variant:
    """One configuration of the ablation grid: ``group`` says which question it answers."""

    name: str
    group: str
    cfg: engine.TrainConfig


def ablation_grid(size: int = ABLATION_SIZE) -> list[Variant]:
    """The seed recipe at ``size`` px and the variants the seed only claimed, one change each.

    The seed architecture (2 blocks × 3 convs, 4 channels, 1 linear layer) and recipe (Adamax lr 1e-3,
    8 epochs, batch 32, no augmentation) are kept except for the field a variant changes; FastNet runs
    its own recipe for the same 8 epochs at the same input size.
    """
    base = engine.recipe("seed", model_kwargs={"input_size": size})

    def seed_variant(name: str, group: str, model_kwargs: dict | None = None, **changes) -> Variant:
        kwargs = {"input_size": size, **(model_kwargs or {})}
        return Variant(name, group, dataclasses.replace(base, model_kwargs=kwargs, **changes))

    return [
        seed_variant("seed (Adamax)", "baseline"),
        seed_variant("Adam", "optimizer", optimizer="adam"),
        seed_variant("SGD + momentum", "optimizer", optimizer="sgd", lr=1e-2),
        seed_variant("1 conv / block", "convs per block", {"convs_per_block": 1}),
        seed_variant("2 convs / block", "convs per block", {"convs_per_block": 2}),
        seed_variant("3 blocks", "conv blocks", {"blocks": 3}),
        seed_variant("2 FC layers", "FC layers", {"fc_layers": 2}),
        seed_variant("3 FC layers", "FC layers", {"fc_layers": 3}),
        Variant("FastNet", "fast model",
                engine.recipe("fast", model_kwargs={"input_size": size}, epochs=base.epochs)),
    ]


def full_size_grid() -> list[Variant]:
    """The two headline findings of the 112-px grid checked at the seed's own 224 px (the seed recipe,
    Adam instead of Adamax, 1 conv per block), and the default recipe itself: each run like the shipped
    checkpoints, so their seed-to-seed spread is measured too."""
    base = engine.recipe("seed")
    return [
        Variant("seed recipe, 224 px", "baseline (224 px)", base),
        Variant("Adam, 224 px", "optimizer (224 px)", dataclasses.replace(base, optimizer="adam")),
        Variant("1 conv / block, 224 px", "convs per block (224 px)",
                dataclasses.replace(base, model_kwargs={"convs_per_block": 1})),
        Variant("FastNet default recipe", "default recipe", engine.recipe("fast")),
    ]


def design_grid(size: int = ABLATION_SIZE) -> list[Variant]:
    """FastNet's design choices, each undone once, screened like the ablation grid (112 px, 8 epochs):
    the record of why the default looks the way it does. Selection looks at validation accuracy only."""
    fast = engine.recipe("fast", model_kwargs={"input_size": size}, epochs=8)

    def variant(name: str, model_kwargs: dict | None = None, **changes) -> Variant:
        return Variant(name, "FastNet design", dataclasses.replace(
            fast, model_kwargs={"input_size": size, **(model_kwargs or {})}, **changes))

    return [
        Variant("FastNet", "fast model", fast),  # the ablation grid's FastNet runs, shared via the cache
        variant("3×3 stride-2 stem", {"stem_stride": 2}),
        variant("wider (24–192 channels)", {"widths": (24, 48, 96, 192)}),
        variant("narrower (8–64 channels)", {"widths": (8, 16, 32, 64)}),
        variant("no augmentation", augment=False),
        variant("constant learning rate", scheduler="none", lr=1e-3),
    ]


def learning_rate_grid(size: int = ABLATION_SIZE) -> list[Variant]:
    """Each adaptive optimizer at its default learning rate and 3× below and above it (112-px protocol),
    so that "Adam beats Adamax" is not an artefact of one learning rate each."""
    base = engine.recipe("seed", model_kwargs={"input_size": size})
    out = []
    default_names = {"adamax": "seed (Adamax)", "adam": "Adam"}  # the 112-px grid's runs, shared via the cache
    for opt, label in (("adamax", "Adamax"), ("adam", "Adam")):
        for lr in (3e-4, 1e-3, 3e-3):
            name = default_names[opt] if lr == 1e-3 else f"{label} lr {lr:g}"
            out.append(Variant(name, "learning rate", dataclasses.replace(base, optimizer=opt, lr=lr)))
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _run_key(cfg: engine.TrainConfig, data: PreparedData, profile: config.Profile) -> str:
    """What a cached run depends on: configuration, files (names and sizes), the validation split, the
    leak-free mask, the decoder, the profile and the protocol version."""
    import hashlib
    import json

    from brainlib.data import DECODER_VERSION

    blob = json.dumps({"cfg": dataclasses.asdict(cfg), "data": audit.combined_fingerprint(data.train, data.test),
                       "val": data.val.paths, "leak_free": np.flatnonzero(data.leak_free).tolist(),
                       "decoder": DECODER_VERSION, "profile": profile.name, "version": ABLATION_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_ablation(variants: list[Variant] | None = None, seeds: int | list[int] | None = None, force: bool = False,
                 root: str | os.PathLike | None = None, profile: config.Profile | None = None,
                 cache_dir: str | os.PathLike | None = None, progress: bool = True) -> pd.DataFrame:
    """Train every variant × seed (``seeds``: a count, or a list of seeds) that is not cached yet; return
    one row per run.

    Each run is stored as ``<cache_dir>/<profile>/<variant>-seed<k>-<key>.json`` (default cache_dir
    ``results/ablation``: metrics, history and its Testing predictions). The key hashes everything the
    run depends on (configuration, data, validation split, leak-free mask, protocol version), so a rerun
    trains only what is missing or changed and never overwrites the result of another configuration.
    ``force=True`` retrains everything.
    """
    import json

    profile = profile or config.get_profile()
    variants = variants if variants is not None else ablation_grid()
    seeds = seeds if seeds is not None else profile.seeds
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    folder = Path(cache_dir or config.RESULTS_DIR / "ablation") / profile.name
    sizes = {model_size(v.cfg) for v in variants}
    data = {s: prepare_data(s, root, profile) for s in sizes}
    rows, trained = [], 0
    for v in variants:
        for seed in seed_list:
            cfg = dataclasses.replace(v.cfg, seed=seed)
            if profile.epochs is not None:
                cfg = dataclasses.replace(cfg, epochs=profile.epochs)
            d = data[model_size(cfg)]
            cfg = dataclasses.replace(cfg, synthetic=d.synthetic)
            key = _run_key(cfg, d, profile)
            path = folder / f"{_slug(v.name)}-seed{seed}-{key}.json"
            cached = json.loads(path.read_text()) if path.exists() and not force else None
            if cached is None or cached.get("key") != key:
                if progress:
                    print(f"training {v.name}, seed {seed} ...", flush=True)
                cached = _ablation_run(v, cfg, d, key)
                folder.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".json.tmp")
                tmp.write_text(json.dumps(cached))
                os.replace(tmp, path)
                trained += 1
            rows.append({**cached, "variant": v.name, "group": v.group})
    if progress:
        print(f"{len(rows)} runs: {trained} trained now, {len(rows) - trained} from {folder.name}/ in the cache")
    return pd.DataFrame(rows)


def _ablation_run(v: Variant, cfg: engine.TrainConfig, d: PreparedData, key: str) -> dict:
    from brainlib.models import build_model, count_parameters

    model, history = engine.train(cfg, d.train, d.val, progress=False)
    pred = engine.predict_proba(model, d.test.images, tta=cfg.tta).argmax(1)
    y = d.test.labels.numpy()
    best = int(history["val_acc"].idxmax())
    return {
        "key": key, "variant": v.name, "group": v.group, "seed": cfg.seed, "model": cfg.model,
        "parameters": count_parameters(build_model(cfg.model, **cfg.model_kwargs)),
        "epochs": len(history), "best_epoch": best + 1, "val_acc": float(history["val_acc"].iloc[best]),
        "official_acc": float((pred == y).mean()), "leak_free_acc": float((pred == y)[d.leak_free].mean()),
        "seconds_per_epoch": float(history["seconds"].median()), "train_seconds": float(history["seconds"].sum()),
        "synthetic": d.synthetic, "torch": torch.__version__, "device": "cpu", "threads": torch.get_num_threads(),
        "predictions": pred.tolist(), "labels": y.tolist(),
        "leak_free": d.leak_free.tolist(), "history": history.to_dict("records"),
    }


def ablation_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per variant (accuracies in %), in grid order."""
    order = list(dict.fromkeys(runs["variant"]))
    g = runs.groupby("variant", sort=False)
    acc = {"validation": "val_acc", "official Testing": "official_acc", "leak-free Testing": "leak_free_acc"}
    table = pd.DataFrame({"group": g["group"].first(), "seeds": g.size()})
    for label, col in acc.items():
        table[f"{label} mean"] = 100 * g[col].mean()
        table[f"{label} std"] = 100 * g[col].std(ddof=1)
    table["parameters"] = g["parameters"].first()
    table["s / epoch"] = g["seconds_per_epoch"].median()
    return table.loc[order]


def mcnemar_p(correct_a: np.ndarray, correct_b: np.ndarray) -> float:
    """Exact McNemar test (two-sided binomial test on the discordant pairs) of two paired predictions."""
    from scipy.stats import binomtest

    a_only = int((correct_a & ~correct_b).sum())
    b_only = int((~correct_a & correct_b).sum())
    return 1.0 if a_only + b_only == 0 else float(binomtest(a_only, a_only + b_only, 0.5).pvalue)


def compare_variants(runs: pd.DataFrame, a: str, b: str) -> dict:
    """``b`` minus ``a``: mean differences (percentage points), a paired t-test over seeds on validation
    accuracy, and McNemar tests seed by seed on the official Testing predictions and on the leak-free ones."""
    from scipy.stats import ttest_rel

    for name in (a, b):
        if not (runs["variant"] == name).any():
            raise ValueError(f"no runs of variant {name!r}")
    ra = runs[runs["variant"] == a].set_index("seed").sort_index()
    rb = runs[runs["variant"] == b].set_index("seed").sort_index()
    if not (ra.index.is_unique and rb.index.is_unique):
        raise ValueError("one run per variant and seed expected")
    seeds = ra.index.intersection(rb.index)
    ra, rb = ra.loc[seeds], rb.loc[seeds]
    out = {"comparison": f"{b} vs {a}", "seeds": len(seeds)}
    for label, col in (("validation", "val_acc"), ("official", "official_acc"), ("leak-free", "leak_free_acc")):
        out[f"Δ {label} (pp)"] = 100 * float((rb[col] - ra[col]).mean())
    out["p paired t (validation)"] = (float(ttest_rel(rb["val_acc"], ra["val_acc"]).pvalue)
                                      if len(seeds) > 1 else float("nan"))
    for label, masked in (("official", False), ("leak-free", True)):
        ps = []
        for s in seeds:
            y = np.asarray(ra.at[s, "labels"])
            if not np.array_equal(y, rb.at[s, "labels"]):
                raise ValueError(f"{a!r} and {b!r} were tested on different images")
            keep = np.asarray(ra.at[s, "leak_free"]) if masked else np.ones(len(y), bool)
            ca = (np.asarray(ra.at[s, "predictions"]) == y)[keep]
            cb = (np.asarray(rb.at[s, "predictions"]) == y)[keep]
            ps.append(mcnemar_p(ca, cb))
        out[f"McNemar p ({label}, per seed)"] = " / ".join(f"{p:.2g}" for p in ps)
        out[f"max McNemar p ({label})"] = max(ps) if ps else float("nan")
    return out


def ablation_comparisons(runs: pd.DataFrame, baseline: str = "seed (Adamax)", alpha: float = 0.05) -> pd.DataFrame:
    """Every variant against the baseline (the seed recipe), one row each.

    The paired t-test p-values are also adjusted for testing all variants at once (Benjamini–Hochberg,
    ``scipy.stats.false_discovery_control``). The verdict is "better"/"worse" when the adjusted p is below
    ``alpha``, "not shown" otherwise (the seeds could not tell; not "equal"), and "n/a (1 seed)" without replicates."""
    from scipy.stats import false_discovery_control

    if not (runs["variant"] == baseline).any():
        raise ValueError(f"baseline {baseline!r} not among the runs")
    variants = [v for v in dict.fromkeys(runs["variant"]) if v != baseline]
    table = pd.DataFrame([compare_variants(runs, baseline, v) for v in variants]).set_index("comparison")
    p = table["p paired t (validation)"].to_numpy(dtype=float)
    tested = ~np.isnan(p)
    adjusted = np.full_like(p, np.nan)
    if tested.any():
        adjusted[tested] = false_discovery_control(p[tested])
    table["p adjusted (BH)"] = adjusted
    direction = np.where(table["Δ validation (pp)"] > 0, "better", "worse")
    verdict = np.where(adjusted < alpha, direction, "not shown")
    table["verdict (validation)"] = np.where(tested, verdict, "n/a (1 seed)")
    return table
