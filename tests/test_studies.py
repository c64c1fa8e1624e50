"""brainlib.studies (the one key, the one result cache, the one summary) and a smoke run of every study definition
(the four ablation grids, cross-validation, both parts of the robustness study, the benchmark script) on SYNTHETIC
data in the smoke profile."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from brainlib import ablation, config, crossval, recipes, robustness, studies
from brainlib.synthetic import write_synthetic_dataset, write_synthetic_figshare, write_synthetic_tcga

REPO = Path(__file__).resolve().parents[1]


# ----------------------------------------------------------------------------- the key and the cache
def _key(**changes):
    parts = {
        "cfg": recipes.train_config("fast"),
        "protocol": studies.KAGGLE_HOLDOUT,
        "data": "abc",
        "split": {"val": ["a.jpg"]},
        "profile": "full",
        "threads": 1,
    }
    parts.update(changes)
    return studies.run_key(**parts)


def test_the_key_changes_with_everything_a_run_depends_on():
    base = _key()
    assert len(base) == 16 and base == _key()
    variants = [
        _key(cfg=recipes.train_config("fast", seed=1)),
        _key(protocol=studies.protocol_name(studies.PATIENT_KFOLD, "figshare-cheng")),
        _key(data="abd"),
        _key(split={"val": ["b.jpg"]}),
        _key(profile="smoke"),
        _key(threads=2),
        _key(evaluation="calibrated"),
    ]
    assert len({base, *variants}) == len(variants) + 1
    # a configuration read back from JSON (lists for tuples) is the same run
    widths = recipes.train_config("fast", model_kwargs={"widths": (8, 16)})
    as_read = json.loads(json.dumps(dataclasses.asdict(widths)))
    assert _key(cfg=widths) == _key(cfg=as_read)


def test_the_key_follows_the_protocol_version(monkeypatch):
    before = _key()
    monkeypatch.setitem(studies.PROTOCOL_VERSIONS, studies.KAGGLE_HOLDOUT, 99)
    assert _key() != before
    with pytest.raises(ValueError, match="unknown protocol"):
        studies.protocol_name("leave-one-out")


def test_the_cache_finds_a_run_by_key_whatever_its_label(tmp_path):
    cache = studies.ResultCache(tmp_path)
    cache.put(studies.KAGGLE_HOLDOUT, "full", "ablation: FastNet, seed 0", {"key": "k1", "val_acc": 0.9})
    assert cache.get(studies.KAGGLE_HOLDOUT, "full", "k1")["val_acc"] == 0.9
    assert cache.get(studies.KAGGLE_HOLDOUT, "smoke", "k1") is None  # profiles apart
    assert cache.get(studies.KAGGLE_HOLDOUT, "full", "k2") is None
    with pytest.warns(UserWarning, match="lacks official"):
        assert cache.get(studies.KAGGLE_HOLDOUT, "full", "k1", required=("official",)) is None
    (path,) = cache.folder(studies.KAGGLE_HOLDOUT, "full").glob("*.json")
    path.write_text("{truncated")
    with pytest.warns(UserWarning, match="unreadable"):
        assert cache.get(studies.KAGGLE_HOLDOUT, "full", "k1") is None


def test_mean_interval_is_the_t_interval_over_runs():
    s = studies.mean_interval([0.9, 0.92, 0.88, 0.91, 0.89])
    assert (
        s["n"] == 5
        and s["mean"] == pytest.approx(0.9)
        and s["std"] == pytest.approx(np.std([0.9, 0.92, 0.88, 0.91, 0.89], ddof=1))
    )
    half = 2.7764451051977987 * s["std"] / np.sqrt(5)  # t(0.975, 4)
    assert s["ci95"] == pytest.approx([0.9 - half, 0.9 + half])
    one = studies.mean_interval([0.5])
    assert one["ci95"] is None and np.isnan(one["std"])


def test_committed_runs_are_found_under_the_keys_the_studies_compute():
    """Every committed record sits in the folder of its protocol and carries the key in its file name."""
    records = list((REPO / "results" / "runs" / "full").glob("*/*.json"))
    if not records:
        pytest.skip("no committed result cache in this checkout")
    for path in records:
        record = json.loads(path.read_text())
        assert path.stem.endswith(record["key"]) and "config" in record and "threads" in record


# ----------------------------------------------------------------------------- every study definition, smoke
@pytest.fixture(scope="module")
def kaggle_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("kaggle"), 14, 3, size=48, seed=5)


@pytest.mark.slow
@pytest.mark.parametrize("grid", ["ablation_grid", "full_size_grid", "design_grid", "learning_rate_grid"])
def test_every_ablation_grid_runs_in_the_smoke_profile(grid, kaggle_root, tmp_path):
    variants = getattr(ablation, grid)()
    runs = ablation.run_ablation(
        variants, seeds=1, root=kaggle_root, profile=config.get_profile("smoke"), cache_dir=tmp_path, progress=False
    )
    assert list(dict.fromkeys(runs["variant"])) == list(dict.fromkeys(v.name for v in variants))
    assert runs["synthetic"].all() and (runs["threads"] == ablation.THREADS).all()
    summary = ablation.ablation_summary(runs)
    assert list(summary.index) == list(dict.fromkeys(v.name for v in variants))


@pytest.mark.slow
def test_both_parts_of_the_robustness_study_run_in_the_smoke_profile(kaggle_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(kaggle_root))
    monkeypatch.setenv("BRAINLIB_FIGSHARE_DIR", str(write_synthetic_figshare(tmp_path / "fs", 2, size=48)))
    monkeypatch.setenv("BRAINLIB_TCGA_DIR", str(write_synthetic_tcga(tmp_path / "tcga", patients=4, size=48)))
    name, (_, _, cfg) = "fast", robustness.VARIANTS["fast"]
    cfg = dataclasses.replace(cfg, model_kwargs={**cfg.model_kwargs, "input_size": 32})
    assert robustness.kaggle_part(name, cfg, train=False) is None
    record = robustness.kaggle_part(name, cfg)
    assert {"val_acc", "official", "leak_free", "tcga"} <= set(record) and record["threads"] == robustness.THREADS
    assert robustness.kaggle_part(name, cfg, train=False)["key"] == record["key"]  # now cached
    folds = robustness.figshare_part(name, cfg)
    assert [f["fold"] for f in folds] == [1, 2, 3, 4, 5]
    assert len(robustness.figshare_part(name, cfg, train=False)) == 5
    assert crossval.summarize(folds)["recipe"] == "fast"
    # another seed: its own records, governed by the pre-registration, Testing kept image by image
    other = robustness.kaggle_part(name, cfg, seed=1)
    assert other["config"]["seed"] == 1 and other["key"] != record["key"] and other["study"] == robustness.STUDY
    assert len(other["predictions"]) == len(other["labels"]) == len(other["leak_free_mask"])
    assert np.mean(np.array(other["predictions"]) == np.array(other["labels"])) == pytest.approx(other["official"])
    seed1 = robustness.figshare_part(name, cfg, seed=1)
    assert [f["config"]["seed"] for f in seed1] == [1] * 5 and all(f["study"] == robustness.STUDY for f in seed1)


@pytest.mark.slow
def test_the_benchmark_script_runs_on_synthetic_data_and_writes_its_own_table(kaggle_root, monkeypatch, capsys):
    import runpy

    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(kaggle_root))
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    committed = REPO / "results" / "benchmark.csv"
    before = committed.read_bytes() if committed.exists() else None
    cached_before = sorted((REPO / "results" / "runs").rglob("*.json"))
    monkeypatch.setattr(sys, "argv", ["benchmark.py", "--recipes", "quick"])
    runpy.run_path(str(REPO / "benchmarks" / "benchmark.py"), run_name="__main__")
    table = config.RESULTS_DIR / "synthetic" / "benchmark.csv"
    assert table.exists()  # the test's results folder, not the repo's
    first = table.read_text()
    records = list((config.RESULTS_DIR / "runs" / "smoke" / "kaggle-holdout").glob("benchmark-quick-*.json"))
    assert len(records) == 1  # the run is a record of the one result cache (the test's, not the repo's)
    assert json.loads(records[0].read_text())["history"]
    runpy.run_path(str(REPO / "benchmarks" / "benchmark.py"), run_name="__main__")  # again: from the cache
    assert "quick (cached)" in capsys.readouterr().out
    assert table.read_text() == first
    assert (committed.read_bytes() if committed.exists() else None) == before
    assert sorted((REPO / "results" / "runs").rglob("*.json")) == cached_before


def test_the_full_profile_result_cache_is_committed_not_git_ignored():
    """results/runs/full is the committed cache (`crossval --json` answers from it on a fresh clone); a pattern
    such as `runs/` in .gitignore once hid it from every commit."""
    import shutil
    import subprocess

    repo = Path(__file__).resolve().parents[1]
    if shutil.which("git") is None or not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    probe = ["results/runs/full/kaggle-holdout/x.json", "results/runs/full/patient-kfold-figshare-cheng/x.json"]
    ignored = subprocess.run(["git", "check-ignore", *probe], cwd=repo, capture_output=True, text=True).stdout.split()
    assert ignored == []
    assert subprocess.run(["git", "check-ignore", "-q", "runs/x.pt"], cwd=repo).returncode == 0  # runs/ stays out
