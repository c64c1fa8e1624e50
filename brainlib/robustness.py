"""The robustness study: what makes the Kaggle model hold up on new patients and new scanners, one row per idea.

Each variant of the training recipe is trained on the Kaggle training part (validation split for epoch
selection and calibration) and scored on official Testing, its leak-free subset and the TCGA-LGG external set
(tumor-vs-tumor-free AUROC per sequence); the same recipe is cross-validated on figshare-cheng's patient-level
folds. Every run is a record of the study layer's result cache (:mod:`brainlib.studies`; rerunning only trains
what is missing) and the rows are collected in ``results/robustness.csv`` by :func:`table`.
``benchmarks/robustness.py`` is the command line.

Selection rule, fixed before any variant was run: the default recipe is the variant with the highest mean of its
Kaggle validation accuracy and its mean figshare validation-fold accuracy; both come from training data only.
Testing, the figshare test folds and TCGA-LGG are reported, never used to choose (:func:`selected`).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from brainlib import config, crossval, engine, evaluation, external, recipes, studies, sweep


def table_path() -> Path:
    """The study's table: the committed ``results/robustness.csv`` in the full profile on real data only."""
    from brainlib.data import is_synthetic

    return config.results_file("robustness.csv", synthetic=is_synthetic())


def variant(base: str = "fast", **changes) -> engine.TrainConfig:
    """The ``base`` recipe with ``changes`` (``model_kwargs`` merged into the base's)."""
    cfg = recipes.train_config(base)
    kwargs = {**cfg.model_kwargs, **changes.pop("model_kwargs", {})}
    return dataclasses.replace(cfg, model_kwargs=kwargs, **changes)


# name → (idea, what changes, recipe)
VARIANTS: dict[str, tuple[str, str, engine.TrainConfig]] = {
    "fast": ("baseline", "the fast recipe (previous default)", variant()),
    "mri": ("intensity augmentation", "+ gamma, bias field, noise, blur, low resolution", variant(augment="mri")),
    "brainnorm": (
        "per-image normalisation",
        "+ z-score inside the head (first layer)",
        variant(model_kwargs={"input_norm": "brain"}),
    ),
    "mri+brainnorm": (
        "both",
        "intensity augmentation + per-image normalisation",
        variant(augment="mri", model_kwargs={"input_norm": "brain"}),
    ),
    "remap+brainnorm": (
        "sequence randomisation",
        "both, + random gray-level curves inside the head (half of them non-monotone)",
        variant(augment="remap", model_kwargs={"input_norm": "brain"}),
    ),
    # Built on BrainNorm (the incumbent default), since intensity augmentation lost on validation.
    "brainnorm@224": (
        "input size",
        "per-image normalisation, at 224 px",
        variant(model_kwargs={"input_norm": "brain", "input_size": 224}),
    ),
    "brainnorm 60ep": (
        "longer schedule",
        "per-image normalisation, 60 epochs",
        variant(epochs=60, model_kwargs={"input_norm": "brain"}),
    ),
    "brainnorm wide": (
        "width",
        "per-image normalisation, widths 24-48-96-192",
        variant(model_kwargs={"input_norm": "brain", "widths": [24, 48, 96, 192]}),
    ),
}


THREADS = 2  # torch threads per Kaggle run (fixed: part of the key)
PREREGISTRATION = "preregistration.md"  # in results/: the committed rule of the multi-seed selection
STUDY = "preregistered selection"  # the ``study`` field of every run that registration governs
EVALUATION = "calibrated, flip TTA on and off, external tcga-lgg"  # what a record holds beyond the hold-out protocol


def slug(name: str) -> str:
    """A variant's name as it appears in file names."""
    return name.replace("+", "-").replace(" ", "-").replace("@", "-")


def _kaggle_key(cfg: engine.TrainConfig, profile: str, threads: int = THREADS) -> str:
    """A variant's Kaggle run in the one result cache: its recipe on the data and split it would train on."""
    data = evaluation.prepare_data(evaluation.model_size(cfg), profile=config.get_profile(profile))
    fingerprint, split = evaluation.holdout_identity(data)
    cfg = dataclasses.replace(cfg, synthetic=data.synthetic)
    return studies.run_key(cfg, studies.KAGGLE_HOLDOUT, fingerprint, split, profile, threads, EVALUATION)


def kaggle_part(
    name: str, cfg: engine.TrainConfig, train: bool = True, threads: int = THREADS, seed: int | None = None
) -> dict | None:
    """Train on Kaggle, score Testing (official, leak-free, with and without flip TTA) and TCGA-LGG; cached in
    the one result cache (``train=False``: the cached record or None). ``seed`` replaces the recipe's seed (the
    record then also keeps every Testing prediction, for the stricter subset and per-source views)."""
    if seed is not None:
        cfg = dataclasses.replace(cfg, seed=seed)
    profile = config.get_profile().name
    key = _kaggle_key(cfg, profile, threads)
    cache = studies.ResultCache()
    cached = cache.get(studies.KAGGLE_HOLDOUT, profile, key, required=("val_acc", "official", "leak_free", "tcga"))
    if cached is not None or not train:
        return cached
    with tempfile.TemporaryDirectory() as tmp, sweep.torch_threads(threads):
        ckpt = Path(tmp) / "model.pt"
        result = evaluation.train_and_evaluate(cfg, ckpt, progress=False)
        no_tta = evaluation.evaluate_checkpoint(ckpt, tta=False)
        testing = evaluation.checkpoint_predictions(ckpt)
        tcga = external.auroc_by_sequence(external.predict_external(ckpt).table)
    record = {
        "key": key,
        "variant": name,
        "config": cfg.as_dict(),
        "val_acc": result["best_val_acc"],
        "best_epoch": result["best_epoch"],
        "official": result["accuracy"],
        "leak_free": result["leak_free"]["accuracy"],
        "ece": result["ece"],
        "leak_free_ece": result["leak_free"]["ece"],
        "official_no_tta": no_tta["accuracy"],
        "leak_free_no_tta": no_tta["leak_free"]["accuracy"],
        "temperature": result["temperature"],
        "train_seconds": result["train_seconds"],
        "wall_seconds": result["wall_seconds"],
        "tcga": {seq: {k: float(v) for k, v in row.items()} for seq, row in tcga.iterrows()},
        "threads": threads,
        "environment": result["environment"],
        "study": STUDY,  # every variant run from now on is governed by results/preregistration.md
        # Testing, image by image (official order), so that any subset can be scored later
        "predictions": testing.predicted.tolist(),
        "labels": testing.labels.tolist(),
        "leak_free_mask": testing.leak_free.tolist(),
    }
    label = f"robustness-{slug(name)}" + (f"-seed{cfg.seed}" if cfg.seed else "")
    cache.put(studies.KAGGLE_HOLDOUT, profile, label, record)
    return record


def backfill_predictions(name: str, seed: int | None = None, threads: int = THREADS) -> dict:
    """Add Testing predictions, image by image, to a cached Kaggle run recorded before records kept them: the run
    is trained again (same recipe, seed and thread count) and its predictions are stored only if the retraining
    reproduces the record's validation, official and leak-free accuracy exactly; otherwise nothing is written
    (RuntimeError). The record's other fields, its creation time included, stay as they were."""
    import json

    from brainlib.files import atomic_write_text

    cfg = VARIANTS[name][2] if seed is None else dataclasses.replace(VARIANTS[name][2], seed=seed)
    profile = config.get_profile().name
    key = _kaggle_key(cfg, profile, threads)
    cache = studies.ResultCache()
    record = cache.get(studies.KAGGLE_HOLDOUT, profile, key, required=("val_acc", "official", "leak_free"))
    if record is None:
        raise ValueError(f"no cached Kaggle run of {name!r} (seed {cfg.seed}, {threads} threads) to complete")
    if "predictions" in record:
        return record
    with tempfile.TemporaryDirectory() as tmp, sweep.torch_threads(threads):
        ckpt = Path(tmp) / "model.pt"
        result = evaluation.train_and_evaluate(cfg, ckpt, progress=False)
        testing = evaluation.checkpoint_predictions(ckpt)
    again = (result["best_val_acc"], result["accuracy"], result["leak_free"]["accuracy"])
    if again != (record["val_acc"], record["official"], record["leak_free"]):
        raise RuntimeError(
            f"retraining {name!r} gave validation / official / leak-free {again}, the record "
            f"{(record['val_acc'], record['official'], record['leak_free'])}: not the same run, nothing stored"
        )
    from datetime import datetime, timezone

    record.update(
        {
            "predictions": testing.predicted.tolist(),
            "labels": testing.labels.tolist(),
            "leak_free_mask": testing.leak_free.tolist(),
            "predictions_added": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
    )
    path = next(p for p in cache.folder(studies.KAGGLE_HOLDOUT, profile).glob(f"*-{key}.json"))
    atomic_write_text(path, json.dumps(record))
    return record


def figshare_part(name: str, cfg: engine.TrainConfig | None, train: bool = True, seed: int | None = None) -> list[dict]:
    """The candidate's five patient-level folds on figshare-cheng (at ``seed``, default the recipe's), through
    cross-validation's cached runner (a run the cross-validation study already has is not trained again; a fold
    trained now is marked as governed by the pre-registration). ``transfer`` (``cfg`` None) is the recipe's own
    cross-validation."""
    seeds = None if seed is None else [seed]
    label = "transfer" if name == "transfer" else slug(name)
    return crossval.run_crossval(
        "figshare-cheng", label, cfg=cfg, train=train, progress=train, study=STUDY, seeds=seeds
    )


def row(name: str) -> dict:
    """The study's table row of one variant, from whatever of its parts is cached."""
    idea, change, cfg = VARIANTS[name]
    out = {"variant": name, "idea": idea, "change": change}
    r = kaggle_part(name, cfg, train=False)
    if r is not None:
        out.update(
            {
                "Kaggle validation (%)": 100 * r["val_acc"],
                "official (%)": 100 * r["official"],
                "leak-free (%)": 100 * r["leak_free"],
                "official, no TTA (%)": 100 * r["official_no_tta"],
                "leak-free, no TTA (%)": 100 * r["leak_free_no_tta"],
                "ECE official": r["ece"],
                "ECE leak-free": r["leak_free_ece"],
                **{f"TCGA AUROC {s}": v["AUROC"] for s, v in r["tcga"].items()},
                "Kaggle train (s)": r["train_seconds"],
            }
        )
    folds = figshare_part(name, cfg, train=False)
    if len(folds) == 5:
        acc = np.array([r["accuracy"] for r in sorted(folds, key=lambda r: r["fold"])])
        summary = studies.mean_interval(acc)
        out.update(
            {
                "figshare validation folds (%)": 100 * np.mean([r["val_acc"] for r in folds]),
                "figshare mean (%)": 100 * summary["mean"],
                "figshare std (%)": 100 * summary["std"],
                "figshare folds (%)": " / ".join(f"{100 * a:.1f}" for a in acc),
                "figshare max fold train (s)": max(r["train_seconds"] for r in folds),
            }
        )
    if "Kaggle validation (%)" in out and "figshare validation folds (%)" in out:
        out["selection score (%)"] = (out["Kaggle validation (%)"] + out["figshare validation folds (%)"]) / 2
    return out


def table(write: bool = True) -> pd.DataFrame:
    """One row per variant from the cache (columns of a part missing where it has not run)."""
    t = pd.DataFrame([row(n) for n in VARIANTS]).round(4)
    if write:
        from brainlib.data import is_synthetic

        studies.write_table(t, "robustness.csv", synthetic=is_synthetic(), index=False)
    return t


def missing_parts(t: pd.DataFrame) -> list[str]:
    """The variants of the table without a selection score (a Kaggle or figshare part not cached)."""
    scores = t["selection score (%)"] if "selection score (%)" in t else pd.Series(np.nan, index=t.index)
    return [str(v) for v, s in zip(t["variant"], scores) if pd.isna(s)]


def selected(t: pd.DataFrame | None = None) -> str | None:
    """The variant the selection rule picks from the table; None — the study refuses to select — while any variant
    lacks a part (:func:`missing_parts`): a choice among the variants that happen to be run is no choice."""
    t = table(write=False) if t is None else t
    if missing_parts(t):
        return None
    return str(t.loc[t["selection score (%)"].idxmax(), "variant"])


# ----------------------------------------------------------------------------- pre-registration


def registered_at(path: Path | None = None):
    """The registration time stated in the pre-registration file (its ``Registered:`` line), as an aware datetime."""
    import re
    from datetime import datetime

    path = path or config.RESULTS_DIR / PREREGISTRATION
    m = re.search(r"^Registered: (\S+Z)", path.read_text(encoding="utf-8"), re.MULTILINE)
    if not m:
        raise ValueError(f"{path} states no 'Registered: <UTC time>Z' line")
    return datetime.fromisoformat(m.group(1).replace("Z", "+00:00"))


def registration_problems(records: list[dict], registered) -> list[str]:
    """Why ``records`` break the registration: a run of the governed study (``study`` == :data:`STUDY`) with no
    creation time or one before ``registered``. Empty when every governed run came after the rule."""
    from datetime import datetime

    problems = []
    for r in records:
        if r.get("study") != STUDY:
            continue
        created = r.get("created")
        if created is None:
            problems.append(f"{r.get('key')}: a governed run without a creation time")
        elif datetime.fromisoformat(created) <= registered:
            problems.append(f"{r.get('key')}: made {created}, before the registration ({registered.isoformat()})")
    return problems


# ----------------------------------------------------------------------------- the pre-registered selection

CANDIDATES = (*VARIANTS, "transfer")  # results/preregistration.md: the eight variants and the transfer recipe
SEEDS = (0, 1, 2)  # screening at the first, confirmation at all three
INCUMBENT = "brainnorm"  # the default (recipe ``robust``) when the registration was made: a tie keeps it
FIGSHARE_ITERATIONS = (1, 2, 3, 4, 5)


def transfer_kaggle(seed: int, train: bool = False) -> dict | None:
    """The transfer candidate's Kaggle part at ``seed``: the transfer search's run of the shipped recipe (seed 0,
    ``models/transfer.pt``) or the same run at another seed, from the result cache (``train=True`` trains it, marked
    as governed by the pre-registration)."""
    from brainlib import ablation

    v = next(v for v in ablation.transfer_grid() if v.cfg.train_layers == recipes.train_config("transfer").train_layers)
    threads = ablation.GRID_THREADS["transfer_grid"]
    if train:
        runs = ablation.run_ablation([v], seeds=[seed], threads=threads, progress=True, study=STUDY)
        return runs.iloc[0].to_dict()
    return ablation.cached_run(v, seed, threads)


def candidate_parts(name: str, seed: int) -> dict:
    """What the rule needs of one candidate at one seed, from the cache: Kaggle validation accuracy (None while
    not run) and, per figshare iteration (its test fold), the validation-fold and test-fold accuracy."""
    cfg = None if name == "transfer" else VARIANTS[name][2]
    k = transfer_kaggle(seed) if name == "transfer" else kaggle_part(name, cfg, train=False, seed=seed)
    folds = figshare_part(name, cfg, train=False, seed=seed)
    return {
        "kaggle_val": None if k is None else float(k["val_acc"]),
        "figshare_val": {int(r["fold"]): float(r["val_acc"]) for r in folds},
        "figshare_test": {int(r["fold"]): float(r["accuracy"]) for r in folds},
    }


def selection_score(part: dict | None, iteration: int | None = None) -> float | None:
    """The registered score (%): mean of the Kaggle validation accuracy and the mean figshare validation-fold
    accuracy over the five iterations (``iteration``: that iteration's validation fold only, the nested view that
    keeps its test fold out of the choice); None while a part is missing."""
    if part is None or part.get("kaggle_val") is None:
        return None
    val = part.get("figshare_val", {})
    if iteration is not None:
        if iteration not in val:
            return None
        fig = val[iteration]
    elif len(val) < len(FIGSHARE_ITERATIONS):
        return None
    else:
        fig = float(np.mean([val[k] for k in FIGSHARE_ITERATIONS]))
    return 100 * (part["kaggle_val"] + fig) / 2


def pick_finalists(screening: dict) -> list[str]:
    """Rule 2: the two candidates with the highest screening scores (``screening``: candidate → score, in
    registration order; ties go to the earlier registered)."""
    return sorted(screening, key=lambda c: -screening[c])[:2]


def apply_rule(parts: dict, iteration: int | None = None) -> dict:
    """The registered rule on ``parts`` ((candidate, seed) → :func:`candidate_parts`): screening at seed 0, the
    two best confirmed at every seed, a difference claimed only when all seeds of one beat all of the other, else
    the incumbent stays. ``selected`` is None — the study refuses — while a part the rule needs is missing
    (listed in ``missing``)."""
    screening = {c: selection_score(parts.get((c, SEEDS[0])), iteration) for c in CANDIDATES}
    out = {"screening": screening, "finalists": [], "confirmation": {}, "claimed": False, "selected": None}
    out["missing"] = [f"{c} (seed {SEEDS[0]})" for c, v in screening.items() if v is None]
    if out["missing"]:
        return out
    finalists = pick_finalists(screening)
    conf = {c: [selection_score(parts.get((c, s)), iteration) for s in SEEDS] for c in finalists}
    out["finalists"], out["confirmation"] = finalists, conf
    out["missing"] = [f"{c} (seed {s})" for c in finalists for s, v in zip(SEEDS, conf[c]) if v is None]
    if out["missing"]:
        return out
    out["claimed"], out["selected"] = decide(conf)
    return out


def decide(confirmation: dict) -> tuple[bool, str]:
    """Rules 3–4 on the two finalists' scores at every seed (``confirmation``: finalist → scores): whether a
    difference is claimed (every seed of the higher mean above every seed of the other) and the default it gives
    (the higher mean when claimed, else the incumbent)."""
    best, other = sorted(confirmation, key=lambda c: -float(np.mean(confirmation[c])))
    claimed = min(confirmation[best]) > max(confirmation[other])
    return claimed, best if claimed else INCUMBENT


def nested_estimate(parts: dict) -> pd.DataFrame:
    """Per figshare test fold *k*: the candidate the rule picks from iteration *k*'s validation fold only and its
    test accuracy on fold *k* (mean over :data:`SEEDS`; NaN while the picked candidate lacks a seed there)."""
    rows = []
    for k in FIGSHARE_ITERATIONS:
        r = apply_rule(parts, iteration=k)
        sel = r["selected"]
        tests = [parts.get((sel, s), {}).get("figshare_test", {}).get(k) for s in SEEDS] if sel else []
        acc = 100 * float(np.mean(tests)) if tests and None not in tests else np.nan
        rows.append({"test fold": k, "selected": sel, "claimed": r["claimed"], "test accuracy (%)": acc})
    return pd.DataFrame(rows)


def selection_scores(parts: dict) -> pd.DataFrame:
    """Every cached selection score: one row per candidate, one column per seed (NaN: not run)."""
    t = pd.DataFrame(
        {f"seed {s}": [selection_score(parts.get((c, s))) for c in CANDIDATES] for s in SEEDS},
        index=CANDIDATES,
        dtype=float,
    )
    t.index.name = "candidate"
    return t


def preregistered_selection(write: bool = True) -> dict:
    """The registered selection on the cached runs: the rule's decision, every score, the nested estimate;
    written to ``results/selection_scores.csv`` and ``results/selection_nested.csv`` (full profile, real data)."""
    parts = {(c, s): candidate_parts(c, s) for c in CANDIDATES for s in SEEDS}
    out = apply_rule(parts)
    out["scores"] = selection_scores(parts)
    out["nested"] = nested_estimate(parts)
    if write:
        from brainlib.data import is_synthetic

        studies.write_table(out["scores"].round(4), "selection_scores.csv", synthetic=is_synthetic())
        studies.write_table(out["nested"].round(4), "selection_nested.csv", synthetic=is_synthetic(), index=False)
    return out
