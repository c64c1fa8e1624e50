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
