"""brainlib.crossval: the patient-level protocol, its cached runs, summaries and the CLI (SYNTHETIC stand-in)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_cli_contract import run_main  # cli.main with stdout and stderr captured

from brainlib import config, crossval, datasets, engine, recipes

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_fold_plan_validation_is_the_next_fold():
    assert crossval.fold_plan([1, 2, 3, 4, 5], 5) == ([2, 3, 4], 1)
    assert crossval.fold_plan([1, 2, 3, 4, 5], 2) == ([1, 4, 5], 3)
    with pytest.raises(ValueError):
        crossval.fold_plan([1, 2, 3], 4)


def test_summary_interval_is_over_folds():
    recs = [
        {
            "model": "m",
            "dataset": "d",
            "fold": k,
            "n": 10,
            "accuracy": a,
            "macro_f1": a,
            "val_fold": 1,
            "best_epoch": 1,
            "val_acc": 0.5,
            "per_class_recall": {},
            "confusion_matrix": [[int(10 * a), 10 - int(10 * a)], [0, 0]],
            "train_seconds": 1.0,
            "wall_seconds": 1.0,
            "classes": ["a", "b"],
        }
        for k, a in enumerate([0.8, 0.9, 1.0], 1)
    ]
    s = crossval.summarize(recs)
    from scipy import stats

    half = stats.t.ppf(0.975, 2) * 0.1 / np.sqrt(3)
    assert s["mean_accuracy"] == pytest.approx(0.9) and s["std_accuracy"] == pytest.approx(0.1)
    assert s["accuracy_ci95"] == pytest.approx([0.9 - half, 0.9 + half])
    assert s["pooled_confusion_matrix"] == [[27, 3], [0, 0]]


def test_crossval_trains_caches_and_reuses(figshare_root, tmp_path, monkeypatch):
    profile = config.get_profile("smoke")
    cache = tmp_path / "cv"
    first = crossval.run_crossval(
        "figshare-cheng", "robust", [1, 2], root=figshare_root, profile=profile, cache_dir=cache, progress=False
    )
    assert [r["fold"] for r in first] == [1, 2] and all(r.get("trained_now") for r in first)
    for r in first:
        assert r["val_fold"] not in (r["fold"], *r["train_folds"])
        assert r["n"] == len(r["labels"]) == len(r["pointing"]["peak"]) == len(r["pointing"]["energy_fine"])
    assert len(list((cache / "smoke" / "patient-kfold-figshare-cheng").glob("robust-fold*.json"))) == 2

    def no_training(*a, **k):
        raise AssertionError("a cached fold was retrained")

    monkeypatch.setattr(engine, "train", no_training)
    again = crossval.run_crossval(
        "figshare-cheng", "robust", [1, 2], root=figshare_root, profile=profile, cache_dir=cache, progress=False
    )
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in first]
    assert not any(r.get("trained_now") for r in again)


def test_crossval_cache_key_follows_recipe_and_data(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    table = crossval._subsample(datasets.get("figshare-cheng").table(figshare_root), profile)
    fp = datasets.content_fingerprint(figshare_root, list(table["path"]))
    a = crossval.cv_recipe("robust", 3)
    key = crossval._run_key(a, "figshare-cheng", fp, table, 1, profile)
    assert crossval._run_key(crossval.cv_recipe("seed", 3), "figshare-cheng", fp, table, 1, profile) != key
    assert crossval._run_key(a, "figshare-cheng", "other", table, 1, profile) != key
    assert crossval._run_key(a, "figshare-cheng", fp, table, 2, profile) != key


def test_crossval_trains_a_given_recipe(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    cfg = recipes.train_config("fast", augment="mri", model_kwargs={"input_size": 64})
    recs = crossval.run_crossval(
        "figshare-cheng",
        "variant",
        [2],
        root=figshare_root,
        profile=profile,
        cache_dir=tmp_path,
        cfg=cfg,
        progress=False,
    )
    assert recs[0]["config"]["augment"] == "mri"
    assert recs[0]["config"]["model_kwargs"] == {"input_size": 64, "num_classes": 3}
    assert np.asarray(recs[0]["probabilities"]).shape[1] == 3
    assert len(list((tmp_path / "smoke" / "patient-kfold-figshare-cheng").glob("variant-fold2-*.json"))) == 1


def test_crossval_seed_model_has_three_outputs(figshare_root, tmp_path):
    recs = crossval.run_crossval(
        "figshare-cheng",
        "seed",
        [3],
        root=figshare_root,
        profile=config.get_profile("smoke"),
        cache_dir=tmp_path,
        progress=False,
    )
    assert recs[0]["config"]["model"] == "seed" and np.asarray(recs[0]["probabilities"]).shape[1] == 3


def test_cli_crossval_json(figshare_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setattr(config, "RESULTS_DIR", tmp_path / "results")
    rc, out, err = run_main(["crossval", "--data", str(figshare_root), "--folds", "1,2", "--json"])
    assert rc == 0, err
    result = json.loads(out)
    assert result["recipe"] == "robust" and result["trained_now"] == 2
    assert [f["fold"] for f in result["folds"]] == [1, 2]
    assert {"n", "accuracy", "macro_f1"} <= set(result["folds"][0])
    assert {"mean_accuracy", "std_accuracy", "pointing_game"} <= set(result)
    rc, out, _ = run_main(["crossval", "--data", str(figshare_root), "--folds", "1,2", "--json"])
    assert rc == 0 and json.loads(out)["trained_now"] == 0


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--folds", "9"], "no fold"),
        (["--model", "bogus"], "unknown model"),
        (["--dataset", "tcga-lgg"], "no patient-level folds"),
        (["--dataset", "nope"], "unknown dataset"),
    ],
)
def test_cli_crossval_bad_input_exits_2(figshare_root, tcga_root, tmp_path, monkeypatch, argv, message):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setenv("BRAINLIB_TCGA_DIR", str(tcga_root))
    rc, out, err = run_main(["crossval", "--data", str(figshare_root), *argv])
    assert rc == 2 and message in err and len(err.strip().splitlines()) == 1


def test_cli_crossval_missing_folder_exits_2(tmp_path):
    rc, _, err = run_main(["crossval", "--data", str(tmp_path / "none")])
    assert rc == 2 and "does not exist" in err


def test_checkpoint_classes_unchanged_by_three_class_heads():
    model = engine.build_model("fastnet", num_classes=3)
    assert model(torch.zeros(1, 1, 160, 160)).shape == (1, 3)


def test_repeated_crossval_trains_every_fold_per_seed_and_summarizes_over_seeds(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    cache = tmp_path / "cv"
    recs = crossval.run_crossval(
        "figshare-cheng",
        "fast",
        [1, 2],
        root=figshare_root,
        profile=profile,
        cache_dir=cache,
        progress=False,
        seeds=[0, 1],
    )
    assert [(r["config"]["seed"], r["fold"]) for r in recs] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert len({r["key"] for r in recs}) == 4
    names = sorted(p.name.split("-")[:3] == ["fast", "fold1", "seed1"] for p in cache.rglob("*.json"))
    assert names.count(True) == 1  # seed 0 keeps the file names of a single-seed run; other seeds are named
    s = crossval.summarize(recs)
    assert s["seeds"] == [0, 1] and [f["seed"] for f in s["folds"]] == [0, 0, 1, 1]
    per_seed = [np.mean([r["accuracy"] for r in recs if r["config"]["seed"] == k]) for k in (0, 1)]
    assert list(s["per_seed"].values()) == pytest.approx(per_seed)
    assert s["seed_spread"]["n"] == 2 and s["seed_spread"]["mean"] == pytest.approx(np.mean(per_seed))
    fold_means = [np.mean([r["accuracy"] for r in recs if r["fold"] == k]) for k in sorted(s["fold_means"])]
    assert list(s["fold_means"].values()) == pytest.approx(fold_means)
    assert s["fold_interval"]["n"] == len(fold_means)  # folds, not fold × seed runs, are the units
    single = crossval.run_crossval(
        "figshare-cheng",
        "fast",
        [1, 2],
        root=figshare_root,
        profile=profile,
        cache_dir=cache,
        progress=False,
        train=False,
    )
    assert [r["key"] for r in single] == [r["key"] for r in recs[:2]]  # seed 0 is the recipe's own run


def test_the_folds_table_shows_a_folds_mean_over_its_seeds():
    summary = {
        "folds": [
            {"fold": 1, "n": 10, "accuracy": 0.8},
            {"fold": 1, "n": 10, "accuracy": 0.9},
            {"fold": 2, "n": 5, "accuracy": 0.7},
        ],
        "mean_accuracy": 0.8,
        "std_accuracy": 0.1,
    }
    t = crossval.folds_table({"m": summary})
    assert t.loc["fold 1 (n=10)", "m"] == 85.0 and t.loc["fold 2 (n=5)", "m"] == 70.0
    assert t.loc["mean", "m"] == 80.0


def test_a_fold_trained_for_a_study_records_it_and_a_cached_one_keeps_its_own(figshare_root, tmp_path):
    profile = config.get_profile("smoke")
    cache = tmp_path / "cv"
    kw = dict(root=figshare_root, profile=profile, cache_dir=cache, progress=False)
    plain = crossval.run_crossval("figshare-cheng", "robust", [1], **kw)
    governed = crossval.run_crossval("figshare-cheng", "robust", [1, 2], study="a registered study", **kw)
    assert "study" not in plain[0] and "study" not in governed[0]  # fold 1 came from the cache
    assert governed[1]["study"] == "a registered study" and "created" in governed[1]


def test_pointing_summary_counts_15_pixels_of_the_original_and_the_relative_view():
    """Three correct images with a peak 0, 20 and 30 px (of a 512-px original) right of their box: inside for the
    first; within 15 px of the original for the first only; within 15/224 of the side (34 px) for all three."""
    box = [0.5, 0.5, 0.2, 0.2]  # x 0.4-0.6
    peaks = [[0.5, 0.5], [0.5, 0.6 + 20 / 512], [0.5, 0.6 + 30 / 512]]
    p = {"boxes": [box] * 3, "peak": peaks, "energy": [0.5] * 3, "cam_size": 5, "cam_size_fine": 10}
    p |= {"peak_fine": peaks, "energy_fine": [0.5] * 3}
    p |= {"centre_prior_peak": [0.5, 0.5], "centre_prior_energy": [0.1] * 3}
    p |= {"box_prior_peak": [0.5, 0.5], "box_prior_energy": [0.1] * 3}
    record = {"dataset": "figshare-cheng", "fold": 1, "labels": [0, 1, 2], "predictions": [0, 1, 2], "pointing": p}
    s = crossval.pointing_summary([record])
    assert s["original_size"] == 512 and s["tolerance_15px"] == pytest.approx(15 / 512)
    g = s["gradcam"]
    assert g["hit_rate"] == pytest.approx(1 / 3) and g["hit_rate_15px"] == pytest.approx(1 / 3)
    assert g["hit_rate_tolerant"] == pytest.approx(1.0)
    s = crossval.pointing_summary([record], original_size=128)  # 15 px of 128: 0.117 of the side
    assert s["gradcam"]["hit_rate_15px"] == pytest.approx(1.0)
