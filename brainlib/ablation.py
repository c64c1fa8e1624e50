"""The ablation grid: one-change variants of the seed recipe (and FastNet's design choices) trained over seeds
through :func:`brainlib.engine.train`, cached per run in the study layer's result cache, summarised, and compared
with paired tests. Runs go sequentially, on local worker processes, or on a Dask cluster
(:mod:`brainlib.sweep`)."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from brainlib import config, engine, recipes, studies, sweep
from brainlib.evaluation import PreparedData, holdout_identity, model_size, prepare_data

ABLATION_SIZE = 112  # the ablation protocol's input size (half the seed's 224, so it fits a CPU budget)
THREADS = 1  # torch threads per run: fixed, so that a rerun reproduces every cached run bit for bit
# Grids run at another fixed thread count (the transfer search: two, so that each run fits brainlib train's budget).
GRID_THREADS = {"transfer_grid": 2}


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
    base = recipes.train_config("seed", model_kwargs={"input_size": size})

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
        seed_variant("seed + BN", "batch norm", {"batch_norm": True}),
        seed_variant("2 FC layers", "FC layers", {"fc_layers": 2}),
        seed_variant("3 FC layers", "FC layers", {"fc_layers": 3}),
        Variant(
            "FastNet", "fast model", recipes.train_config("fast", model_kwargs={"input_size": size}, epochs=base.epochs)
        ),
    ]


def full_size_grid() -> list[Variant]:
    """The two headline findings of the 112-px grid checked at the seed's own 224 px (the seed recipe,
    Adam instead of Adamax, 1 conv per block), and the fast recipe (the default until the robustness study):
    each run like the shipped checkpoints, so their seed-to-seed spread is measured too."""
    base = recipes.train_config("seed")
    return [
        Variant("seed recipe, 224 px", "baseline (224 px)", base),
        Variant("Adam, 224 px", "optimizer (224 px)", dataclasses.replace(base, optimizer="adam")),
        Variant(
            "1 conv / block, 224 px",
            "convs per block (224 px)",
            dataclasses.replace(base, model_kwargs={"convs_per_block": 1}),
        ),
        Variant("fast recipe", "fast recipe (the previous default)", recipes.train_config("fast")),
    ]


def design_grid(size: int = ABLATION_SIZE) -> list[Variant]:
    """FastNet's design choices, each undone once, screened like the ablation grid (112 px, 8 epochs):
    the record of why the default looks the way it does. Selection looks at validation accuracy only."""
    fast = recipes.train_config("fast", model_kwargs={"input_size": size}, epochs=8)

    def variant(name: str, model_kwargs: dict | None = None, **changes) -> Variant:
        return Variant(
            name,
            "FastNet design",
            dataclasses.replace(fast, model_kwargs={"input_size": size, **(model_kwargs or {})}, **changes),
        )

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
    base = recipes.train_config("seed", model_kwargs={"input_size": size})
    out = []
    default_names = {"adamax": "seed (Adamax)", "adam": "Adam"}  # the 112-px grid's runs, shared via the cache
    for opt, label in (("adamax", "Adamax"), ("adam", "Adam")):
        for lr in (3e-4, 1e-3, 3e-3):
            name = default_names[opt] if lr == 1e-3 else f"{label} lr {lr:g}"
            out.append(Variant(name, "learning rate", dataclasses.replace(base, optimizer=opt, lr=lr)))
    return out


def quick_recipe_grid() -> list[Variant]:
    """The search behind the quick recipe: shortcuts of the fast recipe (fewer epochs at 160 px, or 30 epochs at
    128 px), seed 0, each run like the shipped checkpoints; the quick recipe is the one with the best validation
    accuracy (Testing is reported, never used to choose)."""
    fast = recipes.train_config("fast")
    out = [
        Variant(f"fast recipe, {n} epochs", "quick recipe search", dataclasses.replace(fast, epochs=n))
        for n in (10, 15, 20)
    ]
    return out + [
        Variant("fast recipe at 128 px (the quick recipe)", "quick recipe search", recipes.train_config("quick"))
    ]


def transfer_grid() -> list[Variant]:
    """The search behind the transfer-learning recipes (EfficientNet-Lite0 pretrained on ImageNet), seed 0, on the
    Kaggle validation part only: the ladder linear probe (backbone frozen) → the top half fine-tuned → every layer
    fine-tuned (at 128 px, with the backbone at 0.3× the head's learning rate), each after one epoch that warms up
    the new head; sized so that each run fits the 20-minute budget of ``brainlib train`` on two cores."""
    base = recipes.TrainConfig(model="efficientnet_lite0", lr=1e-3, tta=True)
    return [
        Variant(
            "linear probe, 160 px",
            "transfer search",
            dataclasses.replace(base, model_kwargs={"input_size": 160}, train_layers="head", lr=3e-3, epochs=6),
        ),
        Variant(
            "top half fine-tuned, 160 px",
            "transfer search",
            dataclasses.replace(base, model_kwargs={"input_size": 160}, train_layers="top", head_warmup=1, epochs=8),
        ),
        Variant(
            "all layers fine-tuned, 128 px",
            "transfer search",
            dataclasses.replace(
                base, model_kwargs={"input_size": 128}, train_layers="all", head_warmup=1, backbone_lr=0.3, epochs=6
            ),
        ),
    ]


def search_table(runs: pd.DataFrame) -> pd.DataFrame:
    """One row per run of a search grid (e.g. :func:`quick_recipe_grid`): input size, epochs, seed, validation,
    official and leak-free Testing accuracy and training time, in grid order; for a fine-tuning search
    (:func:`transfer_grid`) also which layers trained and the median seconds per epoch."""
    from brainlib.models import input_size

    tuning = any("train_layers" in r["config"] for _, r in runs.iterrows())
    rows = []
    for _, r in runs.iterrows():
        row = {
            "variant": r["variant"],
            "input (px)": input_size(r["config"]["model"], r["config"]["model_kwargs"]),
            "epochs": r["config"]["epochs"],
            "seed": r["seed"],
            "validation": r["val_acc"],
            "official": r["official_acc"],
            "leak-free": r["leak_free_acc"],
            "train (s)": round(r["train_seconds"], 1),
        }
        if tuning:
            row["layers trained"] = r["config"].get("train_layers", "all")
            row["s / epoch"] = round(r["seconds_per_epoch"], 1)
        rows.append(row)
    return pd.DataFrame(rows).set_index("variant").round(4)


def _run_key(cfg: engine.TrainConfig, data: PreparedData, profile: config.Profile, threads: int = THREADS) -> str:
    """The run's key in the one result cache (:func:`brainlib.studies.run_key`): configuration, files (names and
    sizes), the validation split and leak-free mask, decoder, profile, protocol version and thread count."""
    fingerprint, split = holdout_identity(data)
    return studies.run_key(cfg, studies.KAGGLE_HOLDOUT, fingerprint, split, profile.name, threads)


def run_ablation(
    variants: list[Variant] | None = None,
    seeds: int | list[int] | None = None,
    force: bool = False,
    root: str | os.PathLike | None = None,
    profile: config.Profile | None = None,
    cache_dir: str | os.PathLike | None = None,
    progress: bool = True,
    workers: int = 1,
    scheduler: str | None = None,
    threads: int | None = None,
    study: str | None = None,
) -> pd.DataFrame:
    """Train every variant × seed (``seeds``: a count, or a list of seeds) that is not cached yet; return
    one row per run.

    Each run is one record in the study layer's result cache (:class:`brainlib.studies.ResultCache`, root
    ``cache_dir``; metrics, history and its Testing predictions), keyed by everything it depends on
    (configuration, data, validation split, leak-free mask, protocol version, thread count), so a rerun trains
    only what is missing or changed and never overwrites the result of another configuration. ``force=True``
    retrains everything.

    ``workers`` > 1 trains the missing runs on that many local processes; ``scheduler`` (a Dask scheduler
    address) sends them to a Dask cluster instead. ``threads``: torch threads per run (default :data:`THREADS`;
    part of the key). ``study``: stored in every record trained now (which study's rule governs it).
    """
    profile = profile or config.get_profile()
    variants = variants if variants is not None else ablation_grid()
    seeds = seeds if seeds is not None else profile.seeds
    seed_list = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    cache = studies.ResultCache(cache_dir)
    threads = threads or THREADS
    sizes = {model_size(v.cfg) for v in variants}
    data = {s: prepare_data(s, root, profile) for s in sizes}
    rows: list[dict | None] = []
    jobs, slots = [], []
    for v in variants:
        for seed in seed_list:
            cfg, d, key = _keyed(v, seed, data, profile, threads)
            cached = cache.get(studies.KAGGLE_HOLDOUT, profile.name, key, RECORD_FIELDS) if not force else None
            if cached is None:
                slots.append(len(rows))
                jobs.append(
                    {
                        "name": v.name,
                        "group": v.group,
                        "cfg": cfg,
                        "key": key,
                        "cache": cache,
                        "root": None if root is None else str(root),
                        "profile": profile,
                        "threads": threads,
                        "study": study,
                    }
                )
            rows.append(None if cached is None else {**cached, "variant": v.name, "group": v.group})

    def announce(record):
        if progress:
            print(f"trained {record['variant']}, seed {record['seed']}: validation {record['val_acc']:.4f}", flush=True)

    if jobs:
        cache.check_writable(studies.KAGGLE_HOLDOUT, profile.name)  # refused before anything trains
    if progress and jobs:
        print(f"training {len(jobs)} run(s) on {sweep.where(workers, scheduler)} ...", flush=True)
    _PREPARED.clear()
    _PREPARED.update({(s, None if root is None else str(root), profile): d for s, d in data.items()})
    try:
        records = sweep.run_jobs(_ablation_job, jobs, workers, scheduler, on_done=announce)
    finally:
        _PREPARED.clear()
    for slot, record in zip(slots, records):
        rows[slot] = record
    if progress:
        print(f"{len(rows)} runs: {len(jobs)} trained now, {len(rows) - len(jobs)} from the result cache")
    return pd.DataFrame(rows)


def _keyed(v: Variant, seed: int, data: dict, profile: config.Profile, threads: int):
    """A variant's run at ``seed``: its configuration as trained, its prepared data (from ``data``: size → data)
    and its key in the result cache."""
    cfg = dataclasses.replace(v.cfg, seed=seed)
    if profile.epochs is not None:
        cfg = dataclasses.replace(cfg, epochs=profile.epochs)
    d = data[model_size(cfg)]
    cfg = dataclasses.replace(cfg, synthetic=d.synthetic)
    return cfg, d, _run_key(cfg, d, profile, threads)


def cached_run(
    v: Variant,
    seed: int,
    threads: int | None = None,
    root: str | os.PathLike | None = None,
    profile: config.Profile | None = None,
    cache_dir: str | os.PathLike | None = None,
) -> dict | None:
    """The cached record of one run of ``v`` at ``seed`` (None when it has not been run); trains nothing."""
    profile = profile or config.get_profile()
    size = model_size(v.cfg)
    _, _, key = _keyed(v, seed, {size: prepare_data(size, root, profile)}, profile, threads or THREADS)
    record = studies.ResultCache(cache_dir).get(studies.KAGGLE_HOLDOUT, profile.name, key, RECORD_FIELDS)
    return None if record is None else {**record, "variant": v.name, "group": v.group}


RECORD_FIELDS = ("seed", "val_acc", "official_acc", "leak_free_acc", "predictions", "labels", "leak_free", "history")
_PREPARED: dict[tuple, PreparedData] = {}  # prepared data per (size, root, profile), in this process


def _prepared_for(job: dict) -> PreparedData:
    """The job's prepared data: reused while it is the data the job's key was computed on (a long-lived
    Dask worker re-reads the data when it changed), else prepared anew."""
    cfg = job["cfg"]
    slot = (model_size(cfg), job["root"], job["profile"])
    d = _PREPARED.get(slot)
    if d is None or _run_key(cfg, d, job["profile"], job["threads"]) != job["key"]:
        d = _PREPARED[slot] = prepare_data(slot[0], slot[1], slot[2])
        if _run_key(cfg, d, job["profile"], job["threads"]) != job["key"]:
            raise RuntimeError(f"the data changed while {job['name']!r} was queued; rerun the sweep")
    return d


def _ablation_job(job: dict) -> dict:
    """One ablation run (in this process or a worker): train, test, write the cache file, return the record."""
    cfg = job["cfg"]
    d = _prepared_for(job)
    with sweep.torch_threads(job["threads"]):
        record = _ablation_run(Variant(job["name"], job["group"], cfg), cfg, d, job["key"])
    if job.get("study"):
        record["study"] = job["study"]
    job["cache"].put(studies.KAGGLE_HOLDOUT, job["profile"].name, f"{job['name']}-seed{cfg.seed}", record)
    return record


def _ablation_run(v: Variant, cfg: engine.TrainConfig, d: PreparedData, key: str) -> dict:
    from brainlib.models import count_parameters

    run = engine.train(cfg, d.train, d.val, progress=False)
    pred = engine.predict_proba(run.model, d.test.images, tta=cfg.tta).argmax(1)
    y = d.test.labels.numpy()
    history = run.history
    env = engine.environment()
    return {
        "key": key,
        "variant": v.name,
        "group": v.group,
        "seed": cfg.seed,
        "model": cfg.model,
        "config": cfg.as_dict(),
        "parameters": count_parameters(run.model),
        "epochs": len(history),
        "best_epoch": run.best_epoch,
        "val_acc": run.best_val_acc,
        "official_acc": float((pred == y).mean()),
        "leak_free_acc": float((pred == y)[d.leak_free].mean()),
        "seconds_per_epoch": float(history["seconds"].median()),
        "train_seconds": run.train_seconds,
        "synthetic": d.synthetic,
        "torch": str(torch.__version__),
        "device": run.device,
        "threads": env["threads"],
        "environment": env,
        "predictions": pred.tolist(),
        "labels": y.tolist(),
        "leak_free": d.leak_free.tolist(),
        "history": history.to_dict("records"),
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


def results_table(
    runs: pd.DataFrame, comparisons: pd.DataFrame | None, majority: float, baseline: str = "seed (Adamax)"
) -> pd.DataFrame:
    """The ablation grid as one table (``results/ablation.csv``, the README's ablation table; 02's checks at 224 px
    and at three learning rates use the same table): per variant its parameters, mean and std over seeds of each
    accuracy (%), the runs that never left the constant prediction (best validation accuracy within 0.5 points of
    ``majority``, the largest class's share of validation) and those whose best epoch was their last, the median
    seconds per epoch, the seeds whose validation accuracy beats ``baseline``'s at the same seed, and against
    ``baseline`` the mean validation difference, the adjusted p of the declared rule and its verdict (left out when
    ``comparisons`` is None: a descriptive check, not a verdict)."""
    summary = ablation_summary(runs)
    never = (runs["val_acc"] <= majority + 0.005).groupby(runs["variant"], sort=False).sum()
    table = summary.drop(columns="group").copy()
    table["never learned"] = never.reindex(table.index).astype(int)
    last = (runs["best_epoch"] == runs["epochs"]).groupby(runs["variant"], sort=False).sum()
    table["peaked at the last epoch"] = last.reindex(table.index).astype(int)
    base = runs[runs["variant"] == baseline].set_index("seed")["val_acc"]
    ahead = runs["val_acc"].to_numpy() > base.reindex(runs["seed"]).to_numpy()
    table["seeds ahead of the baseline"] = (
        pd.Series(ahead, index=runs.index).groupby(runs["variant"], sort=False).sum().reindex(table.index).astype(int)
    )
    if comparisons is None:
        return table
    verdict = comparisons["verdict (validation)"].rename(lambda c: c.split(" vs ")[0])
    by_variant = comparisons.rename(lambda c: c.split(" vs ")[0])
    table["Δ validation (pp)"] = by_variant["Δ validation (pp)"].reindex(table.index)
    table["p adjusted (BH)"] = by_variant["p adjusted (BH)"].reindex(table.index)
    table["verdict"] = [("baseline" if v == baseline else verdict.get(v, "")) for v in table.index]
    return table


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
    out["p paired t (validation)"] = (
        float(ttest_rel(rb["val_acc"], ra["val_acc"]).pvalue) if len(seeds) > 1 else float("nan")
    )
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
