"""Tables the notebooks and the README show, built from what the studies stored (shipped checkpoints' metrics,
the result cache, external predictions): one definition, so no notebook assembles them by hand."""

from __future__ import annotations

import pandas as pd

from brainlib import recipes

HEADLINE_RECIPES = ("robust", "fast", "seed", "transfer")  # the rows of the headline table, in order


def headline_row(
    name: str,
    crossval_summary: dict | None = None,
    external_auroc: pd.DataFrame | None = None,
    checkpoint=None,
) -> dict:
    """One recipe's row: Kaggle official and leak-free Testing accuracy (its checkpoint's stored metrics; default the
    recipe's shipped one), figshare patient-level cross-validation (mean ± std over folds, from the result cache) and
    TCGA-LGG AUROC per sequence. ``crossval_summary`` / ``external_auroc``: already computed ones (else computed
    here)."""
    from brainlib import crossval, datasets, engine, external

    recipe = recipes.get(name)
    checkpoint = checkpoint or recipe.checkpoint
    metrics = engine.read_checkpoint(checkpoint)["metrics"]
    s = crossval_summary or crossval.summarize(crossval.run_crossval(recipe=name, progress=False))
    auroc = external_auroc
    if auroc is None:
        auroc = external.auroc_by_sequence(external.predict_external(checkpoint).table)
    row = {
        "recipe": recipe.display,
        "Kaggle official (%)": 100 * metrics["accuracy"],
        "Kaggle leak-free (%)": 100 * metrics["leak_free"]["accuracy"],
        "figshare patient-level (%)": f"{100 * s['mean_accuracy']:.1f} ± {100 * s['std_accuracy']:.1f}",
    }
    for seq in datasets.TCGA_SEQUENCES:
        row[f"TCGA-LGG AUROC {seq}"] = auroc.loc[seq, "AUROC"]
    return row


def headline_table(
    names=HEADLINE_RECIPES,
    crossval_summaries: dict | None = None,
    external_aurocs: dict | None = None,
    checkpoints: dict | None = None,
) -> pd.DataFrame:
    """The headline table, one row per recipe in ``names``; the optional dicts are keyed by recipe label
    (``checkpoints``: a checkpoint other than the recipe's shipped one, e.g. a smoke run's)."""
    crossval_summaries, external_aurocs = crossval_summaries or {}, external_aurocs or {}
    checkpoints = checkpoints or {}
    rows = [
        headline_row(
            n,
            crossval_summaries.get(recipes.label(n)),
            external_aurocs.get(recipes.label(n)),
            checkpoints.get(recipes.label(n)),
        )
        for n in names
    ]
    return pd.DataFrame(rows).set_index("recipe")
