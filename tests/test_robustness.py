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


# ----------------------------------------------------------------------------- the pre-registered rule


def parts_for(scores: dict, seeds=(0, 1, 2), fig_val=None, fig_test=0.9) -> dict:
    """(candidate, seed) → parts where the Kaggle validation accuracy is ``scores[candidate][seed]`` and every
    figshare validation fold equals it too (so the selection score is that number, in %)."""
    parts = {}
    for c, per_seed in scores.items():
        for s in seeds:
            if s >= len(per_seed) or per_seed[s] is None:
                continue
            v = per_seed[s]
            val = fig_val(c, s) if fig_val else {k: v for k in range(1, 6)}
            parts[(c, s)] = {"kaggle_val": v, "figshare_val": val, "figshare_test": {k: fig_test for k in range(1, 6)}}
    return parts


def screening_only(best: dict) -> dict:
    from brainlib import robustness

    return {c: [best.get(c, 0.90)] for c in robustness.CANDIDATES}


def test_the_rule_claims_a_difference_only_when_every_seed_of_one_beats_every_seed_of_the_other():
    from brainlib import robustness

    scores = screening_only({"mri": 0.96, "transfer": 0.95})
    scores["mri"] += [0.97, 0.96]
    scores["transfer"] += [0.94, 0.945]
    r = robustness.apply_rule(parts_for(scores))
    assert r["finalists"] == ["mri", "transfer"] and r["missing"] == []
    assert r["claimed"] and r["selected"] == "mri"
    assert r["screening"]["mri"] == pytest.approx(96.0)
    # overlapping seeds: a tie, and a tie keeps the incumbent even when it is no finalist
    scores["transfer"] = [0.95, 0.965, 0.94]
    r = robustness.apply_rule(parts_for(scores))
    assert not r["claimed"] and r["selected"] == robustness.INCUMBENT


def test_the_rule_refuses_while_a_finalist_lacks_a_seed_or_a_candidate_its_screening_run():
    from brainlib import robustness

    scores = screening_only({"mri": 0.96, "transfer": 0.95})
    scores["mri"] += [0.97, 0.96]
    r = robustness.apply_rule(parts_for(scores))
    assert r["selected"] is None and r["missing"] == ["transfer (seed 1)", "transfer (seed 2)"]
    parts = parts_for(scores)
    del parts[("brainnorm wide", 0)]["figshare_val"][3]  # four of five figshare iterations: no score
    r = robustness.apply_rule(parts)
    assert r["selected"] is None and r["missing"] == ["brainnorm wide (seed 0)"]


def test_the_nested_estimate_chooses_each_test_fold_without_it():
    from brainlib import robustness

    # on iteration 2's validation fold "fast" is best, elsewhere "mri"; both are finalists with clear margins
    scores = screening_only({"mri": 0.96, "fast": 0.95})
    scores["mri"] += [0.96, 0.96]
    scores["fast"] += [0.95, 0.95]

    def fig_val(c, s):
        base = {"mri": 0.96, "fast": 0.95}.get(c, 0.90)
        return {k: (0.99 if c == "fast" and k == 2 else base) for k in range(1, 6)}

    parts = parts_for(scores, fig_val=fig_val)
    for s in (0, 1, 2):
        parts[("fast", s)]["figshare_test"] = {k: 0.80 for k in range(1, 6)}
    nested = robustness.nested_estimate(parts).set_index("test fold")
    assert nested.loc[2, "selected"] == "fast" and nested.loc[2, "test accuracy (%)"] == pytest.approx(80.0)
    assert (nested.drop(index=2)["selected"] == "mri").all()
    assert nested.drop(index=2)["test accuracy (%)"].eq(90.0).all()
    assert robustness.apply_rule(parts)["selected"] == "mri"  # the whole-study choice uses every iteration


def test_decide_claims_only_when_every_seed_of_one_beats_every_seed_of_the_other():
    from brainlib import robustness

    assert robustness.decide({"a": [95.0, 95.1, 95.2], "b": [94.0, 94.9, 94.95]}) == (True, "a")
    assert robustness.decide({"a": [95.0, 95.1, 95.2], "b": [94.0, 94.9, 95.0]}) == (False, robustness.INCUMBENT)
    assert robustness.decide({"a": [93.0, 93.0, 93.0], "b": [94.0, 94.0, 94.0]}) == (True, "b")
