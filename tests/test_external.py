"""brainlib.external: predictions on TCGA-LGG, AUROC with a patient bootstrap (SYNTHETIC stand-in)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlib import config, datasets, engine, external, recipes

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory):
    """An untrained FastNet saved as a brainlib checkpoint (the report's plumbing, not its numbers)."""
    config.seed_everything(0)
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 32})
    model = engine.build_model(cfg.model, **cfg.model_kwargs)
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    engine.atomic_save(engine.checkpoint_dict(model, cfg, tta=True), path)
    return path


def test_external_report(tcga_root, tiny_checkpoint):
    preds = external.predict_external(tiny_checkpoint, root=tcga_root)
    t = preds.table
    assert np.allclose(t[[f"p_{c}" for c in config.CLASSES]].sum(1), 1, atol=1e-5)
    assert np.allclose(t["p_tumor"], 1 - t["p_notumor"])
    table = external.auroc_by_sequence(t, n_boot=50)
    assert list(table.index) == list(datasets.TCGA_SEQUENCES)
    assert table.loc["flair", "patients"] == 4 and table.loc["postcontrast", "patients"] == 3  # repeat dropped
    assert ((table["AUROC"] >= 0) & (table["AUROC"] <= 1)).all()
    dist = external.predicted_distribution(t)
    assert dist.to_numpy().sum() == len(t) - t["repeats_flair"].sum()
    pg = external.mask_pointing(preds)
    assert pg.loc["flair", "tumor slices"] == 4 and 0 <= pg.loc["flair", "Grad-CAM hit rate"] <= 1


def test_patient_bootstrap_resamples_patients():
    t = pd.DataFrame(
        {"patient": ["a", "a", "b", "b", "c", "c"], "tumor": [1, 0] * 3, "p_tumor": [0.9, 0.1, 0.8, 0.2, 0.4, 0.6]}
    )
    auc, lo, hi = external.patient_bootstrap_auroc(t, n_boot=200)
    assert auc == pytest.approx(8 / 9) and lo <= auc <= hi


def test_clinical_view_counts_missed_tumors_and_reads_the_roc_curve():
    """Ten patients with a tumor and a tumor-free slice: P(tumor) ranks nine tumors above every tumor-free slice,
    one tumor below them all; the model's own call misses two tumors and flags one tumor-free slice."""
    rows = []
    for i in range(10):
        p_tumor = 0.9 - 0.01 * i if i < 9 else 0.05
        rows.append({"patient": f"p{i}", "kind": "tumor", "tumor": 1, "p_notumor": 1 - p_tumor})
        rows.append({"patient": f"p{i}", "kind": "no_tumor_slice", "tumor": 0, "p_notumor": 0.9 - 0.02 * i})
    t = pd.DataFrame(rows).assign(sequence="flair", repeats_flair=False)
    t["predicted"] = np.where(1 - t["p_notumor"] >= 0.5, "glioma", "notumor")
    t.loc[t["patient"].eq("p8") & t["tumor"].eq(1), "predicted"] = "notumor"  # a second miss at the model's call
    view = external.clinical_view(t)
    row = view.loc["flair"]
    assert row["tumor slices"] == 10 and row["tumor-free slices"] == 10
    assert row["missed tumors"] == 2 and row["sensitivity"] == pytest.approx(0.8)
    assert row["specificity"] == pytest.approx(1.0)
    assert row["sensitivity at 90% specificity"] == pytest.approx(0.9)
    assert 0 <= row["ECE (tumor vs no tumor)"] <= 1
