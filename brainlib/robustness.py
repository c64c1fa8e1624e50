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
    # Not run yet; built on the selected variant (BrainNorm), since intensity augmentation lost on validation.
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


def kaggle_part(name: str, cfg: engine.TrainConfig, train: bool = True, threads: int = THREADS) -> dict | None:
    """Train on Kaggle, score Testing (official, leak-free, with and without flip TTA) and TCGA-LGG; cached in
    the one result cache (``train=False``: the cached record or None)."""
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
    }
    cache.put(studies.KAGGLE_HOLDOUT, profile, f"robustness-{slug(name)}", record)
    return record


def figshare_part(name: str, cfg: engine.TrainConfig, train: bool = True) -> list[dict]:
    """The variant's five patient-level folds on figshare-cheng, through cross-validation's cached runner (a run
    the cross-validation study already has is not trained again; a fold trained now is marked as governed by the
    pre-registration)."""
    return crossval.run_crossval("figshare-cheng", slug(name), cfg=cfg, train=train, progress=train, study=STUDY)


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
