"""brainlib.report: the seed table (every headline recipe over seeds) from cached runs (stand-ins here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlib import config, crossval, report


def test_spread_formats_mean_std_and_count():
    assert report.spread([0.9, 0.92, 0.94]) == "92.0 ± 2.0 (n=3)"
    assert report.spread([0.5]) == "50.0 (n=1)"
    assert report.spread([]) == "—"


def test_seed_table_scores_the_stricter_subset_from_predictions_and_averages_figshare_per_seed(monkeypatch):
    labels = [0, 1, 2, 3]
    sources = pd.DataFrame(
        {
            "split": ["Training"] + ["Testing"] * 4,
            "label": ["glioma"] + [config.CLASSES[i] for i in labels],
            "stricter": [np.nan, True, True, False, False],
        }
    )
    runs = {
        0: {"val_acc": 0.9, "official": 0.75, "leak_free": 0.5, "predictions": None, "labels": None},
        1: {"val_acc": 0.8, "official": 0.5, "leak_free": 0.5, "predictions": [0, 0, 2, 3], "labels": labels},
        2: {"val_acc": 0.7, "official": 0.25, "leak_free": 0.5, "predictions": [0, 1, 0, 0], "labels": labels},
    }
    monkeypatch.setattr(report, "kaggle_seed_runs", lambda name, seeds: runs)
    monkeypatch.setattr(report, "shipped_draw", lambda name, runs: "the seed 1 run")
    folds = [
        {"fold": k, "accuracy": 0.8 + 0.1 * s, "config": {"seed": s}, "n": 10, "labels": [0], "predictions": [0]}
        for s in (0, 1)
        for k in range(1, 6)
    ] + [{"fold": 1, "accuracy": 0.1, "config": {"seed": 2}, "n": 10, "labels": [0], "predictions": [0]}]
    monkeypatch.setattr(crossval, "run_crossval", lambda **kw: folds)
    monkeypatch.setattr(
        crossval,
        "summarize",
        lambda recs: {
            "per_seed": {
                s: float(np.mean([r["accuracy"] for r in recs if r["config"]["seed"] == s])) for s in (0, 1, 2)
            }
        },
    )
    t = report.seed_table(names=("fast",), sources=sources)
    row = t.iloc[0]
    assert row["Kaggle seeds"] == "0, 1, 2" and row["official (%)"] == "50.0 ± 25.0 (n=3)"
    assert row["stricter (%)"] == "75.0 ± 35.4 (n=2)"  # seed 1: 1 of 2 stricter images right, seed 2: 2 of 2
    assert row["figshare seeds"] == "0, 1"  # seed 2 has one fold of five: not a cross-validation yet
    assert row["figshare patient-level (%)"] == "85.0 ± 7.1 (n=2)"
    bad = {1: {**runs[1], "labels": [3, 2, 1, 0]}}
    monkeypatch.setattr(report, "kaggle_seed_runs", lambda name, seeds: bad)
    with pytest.raises(ValueError, match="not the ones"):
        report.seed_table(names=("fast",), sources=sources)


def test_shipped_draw_names_the_seed_whose_run_the_checkpoint_is(monkeypatch, tmp_path):
    from brainlib import engine, recipes

    ckpt = tmp_path / "model.pt"
    ckpt.write_bytes(b"x")
    monkeypatch.setattr(recipes.Recipe, "checkpoint", property(lambda self: ckpt))
    monkeypatch.setattr(
        engine, "read_checkpoint", lambda p: {"metrics": {"accuracy": 0.5, "leak_free": {"accuracy": 0.25}}}
    )
    runs = {0: {"official": 0.5, "leak_free": 0.5}, 1: {"official": 0.5, "leak_free": 0.25}}
    assert report.shipped_draw("fast", runs) == "the seed 1 run"
    assert report.shipped_draw("fast", {0: runs[0]}) == "another run (50.0 / 25.0 %)"
    ckpt.unlink()
    assert report.shipped_draw("fast", runs) == "not shipped"
