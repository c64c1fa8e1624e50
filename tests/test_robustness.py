"""brainlib.robustness: the study's table from whatever of its parts is cached, and its selection rule (training
data only; a variant without both parts is no candidate)."""

from __future__ import annotations

import pytest


def fake_study(monkeypatch, names_scores: dict, folds: int = 5) -> None:
    """Cached parts for the robustness table, served by stand-ins of the two cache readers: name → (Kaggle val,
    official, figshare val folds, figshare test); other variants have nothing cached."""
    from brainlib import robustness

    def kaggle_part(name, cfg, train=True, threads=None):
        if name not in names_scores:
            return None
        val, official, _, _ = names_scores[name]
        return {
            "val_acc": val,
            "official": official,
            "leak_free": official,
            "official_no_tta": official,
            "leak_free_no_tta": official,
            "ece": 0.01,
            "leak_free_ece": 0.02,
            "train_seconds": 1.0,
            "tcga": {"flair": {"AUROC": 0.7}},
        }

    def figshare_part(name, cfg, train=True):
        if name not in names_scores:
            return []
        _, _, fval, ftest = names_scores[name]
        return [{"fold": k, "accuracy": ftest, "val_acc": fval, "train_seconds": 2.0} for k in range(1, folds + 1)]

    monkeypatch.setattr(robustness, "kaggle_part", kaggle_part)
    monkeypatch.setattr(robustness, "figshare_part", figshare_part)


def test_robustness_selection_uses_training_data_only(monkeypatch):
    from brainlib import robustness

    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    # "fast" scores best on every test view, "mri+brainnorm" on validation: the rule must pick the latter
    scores = {name: (0.93, 0.95, 0.88, 0.90) for name in robustness.VARIANTS}
    scores.update({"fast": (0.95, 0.999, 0.90, 0.99), "mri+brainnorm": (0.97, 0.90, 0.91, 0.80)})
    fake_study(monkeypatch, scores)
    t = robustness.table()
    assert robustness.table_path().exists()
    assert robustness.missing_parts(t) == []
    assert robustness.selected(t) == "mri+brainnorm"
    row = t.set_index("variant").loc["mri+brainnorm"]
    assert row["selection score (%)"] == pytest.approx(94.0)
    assert row["figshare mean (%)"] == pytest.approx(80.0) and row["official (%)"] == pytest.approx(90.0)


def test_the_study_refuses_to_select_while_a_variant_lacks_a_part(monkeypatch):
    from brainlib import robustness

    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    scores = {name: (0.93, 0.95, 0.88, 0.90) for name in robustness.VARIANTS if name != "brainnorm wide"}
    fake_study(monkeypatch, scores)
    t = robustness.table(write=False)
    assert robustness.missing_parts(t) == ["brainnorm wide"]
    assert robustness.selected(t) is None


def test_a_variant_with_an_incomplete_figshare_part_is_no_candidate(monkeypatch):
    from brainlib import robustness

    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    fake_study(monkeypatch, {"mri": (0.97, 0.9, 0.9, 0.9)}, folds=4)
    t = robustness.table(write=False).set_index("variant")
    assert "figshare mean (%)" not in t or pd_isna(t.loc["mri", "figshare mean (%)"])  # 4 folds are not 5
    assert robustness.selected(robustness.table(write=False)) is None


def pd_isna(v) -> bool:
    import pandas as pd

    return bool(pd.isna(v))
