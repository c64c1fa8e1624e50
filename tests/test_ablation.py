"""The ablation grid, its on-disk results cache and the significance tests (SYNTHETIC data)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from brainlib import ablation, config, engine, evaluation, recipes
from brainlib.models import build_model, count_parameters
from brainlib.synthetic import write_synthetic_dataset

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_grid_changes_one_thing_per_variant():
    grid = ablation.ablation_grid()
    names = [v.name for v in grid]
    assert len(names) == len(set(names)) == 10
    base = grid[0].cfg
    assert grid[0].group == "baseline"
    assert dataclasses.replace(base, model_kwargs={}) == recipes.train_config("seed")  # the seed recipe, only smaller
    assert base.model_kwargs == {"input_size": ablation.ABLATION_SIZE}
    for v in grid[1:]:
        if v.group == "fast model":
            assert v.cfg.model == "fastnet" and v.cfg.epochs == base.epochs
            continue
        changed = {f.name for f in dataclasses.fields(base) if getattr(base, f.name) != getattr(v.cfg, f.name)}
        if v.group == "optimizer":
            assert changed <= {"optimizer", "lr"} and "optimizer" in changed
        else:
            assert changed == {"model_kwargs"}
            extra = set(v.cfg.model_kwargs) - {"input_size"}
            assert len(extra) == 1


def test_grid_variants_build_with_expected_shapes():
    for v in ablation.ablation_grid(size=112):
        model = build_model(v.cfg.model, **v.cfg.model_kwargs)
        assert model.input_size == 112
        assert count_parameters(model) > 0
    seed112 = build_model("seed", input_size=112)
    assert seed112.classifier[-1].in_features == 4 * 28 * 28


def _tiny_grid():
    base = recipes.train_config("seed", model_kwargs={"input_size": 32}, batch_size=8)
    return [
        ablation.Variant("tiny base", "baseline", base),
        ablation.Variant("tiny adam", "optimizer", dataclasses.replace(base, optimizer="adam")),
    ]


@pytest.fixture(scope="module")
def ablation_root(tmp_path_factory):
    """SYNTHETIC phantoms, enough per class for a group-aware validation split."""
    return write_synthetic_dataset(tmp_path_factory.mktemp("ablation"), 14, 3, size=48, seed=2)


def test_run_ablation_caches_and_forces(ablation_root, tmp_path, monkeypatch):
    synthetic_root = ablation_root
    smoke = config.get_profile("smoke")
    runs = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=synthetic_root, profile=smoke, cache_dir=tmp_path, progress=False
    )
    assert list(runs["variant"]) == ["tiny base", "tiny base", "tiny adam", "tiny adam"]
    assert list(runs["seed"]) == [0, 1, 0, 1]
    assert runs["synthetic"].all()
    assert len(list((tmp_path / "smoke" / "kaggle-holdout").glob("*.json"))) == 4
    n_test = len(runs.iloc[0]["labels"])
    assert all(len(p) == n_test for p in runs["predictions"])
    acc = [(np.array(r.predictions) == np.array(r.labels)).mean() for r in runs.itertuples()]
    assert np.allclose(acc, runs["official_acc"])

    calls = []
    real_train = engine.train

    def counting_train(*a, **k):
        calls.append(a[0])
        return real_train(*a, **k)

    monkeypatch.setattr(engine, "train", counting_train)
    again = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=synthetic_root, profile=smoke, cache_dir=tmp_path, progress=False
    )
    assert calls == []  # everything came from the cache
    pd.testing.assert_frame_equal(again, runs)
    base = _tiny_grid()[0]
    kw = {"root": synthetic_root, "profile": smoke, "cache_dir": tmp_path}
    assert ablation.cached_run(base, 1, **kw)["key"] == runs.iloc[1]["key"]  # looked up, not trained
    assert ablation.cached_run(base, 7, **kw) is None and calls == []
    assert "study" not in runs.iloc[0] or pd.isna(runs.iloc[0]["study"])

    changed = _tiny_grid()
    changed[1] = dataclasses.replace(changed[1], cfg=dataclasses.replace(changed[1].cfg, lr=3e-3))
    ablation.run_ablation(changed, seeds=2, root=synthetic_root, profile=smoke, cache_dir=tmp_path, progress=False)
    assert [c.lr for c in calls] == [3e-3, 3e-3]  # only the changed variant was retrained

    # the old learning rate's results are kept, not overwritten
    assert len(list((tmp_path / "smoke" / "kaggle-holdout").glob("*.json"))) == 6

    calls.clear()
    first = min((tmp_path / "smoke" / "kaggle-holdout").glob("tiny-base-seed0-*.json"))
    before = first.stat().st_mtime_ns
    ablation.run_ablation(
        _tiny_grid()[:1], seeds=1, root=synthetic_root, profile=smoke, cache_dir=tmp_path, force=True, progress=False
    )
    assert len(calls) == 1
    assert first.stat().st_mtime_ns != before  # rewritten


def test_cache_depends_on_profile_data_and_protocol(ablation_root, tmp_path, monkeypatch):
    smoke = config.get_profile("smoke")
    grid = _tiny_grid()[:1]
    kw = dict(seeds=1, cache_dir=tmp_path, progress=False)
    ablation.run_ablation(grid, root=ablation_root, profile=smoke, **kw)

    calls = []
    real_train = engine.train
    monkeypatch.setattr(engine, "train", lambda *a, **k: calls.append(1) or real_train(*a, **k))
    other_profile = dataclasses.replace(smoke, name="smoke-copy")
    ablation.run_ablation(grid, root=ablation_root, profile=other_profile, **kw)
    assert len(calls) == 1 and (tmp_path / "smoke-copy").is_dir()

    other_data = write_synthetic_dataset(tmp_path / "other", 14, 3, size=48, seed=3)
    ablation.run_ablation(grid, root=other_data, profile=smoke, **kw)
    assert len(calls) == 2

    from brainlib import studies

    versions = {**studies.PROTOCOL_VERSIONS, studies.KAGGLE_HOLDOUT: studies.PROTOCOL_VERSIONS["kaggle-holdout"] + 1}
    monkeypatch.setattr(studies, "PROTOCOL_VERSIONS", versions)
    ablation.run_ablation(grid, root=ablation_root, profile=smoke, **kw)
    assert len(calls) == 3
    assert len(list((tmp_path / "smoke" / "kaggle-holdout").glob("*.json"))) == 3

    ablation.run_ablation(grid, root=ablation_root, profile=smoke, **{**kw, "threads": 2})  # another thread count
    assert len(calls) == 4


def test_cached_rows_take_the_current_names(ablation_root, tmp_path):
    smoke = config.get_profile("smoke")
    grid = _tiny_grid()[:1]
    ablation.run_ablation(grid, seeds=1, root=ablation_root, profile=smoke, cache_dir=tmp_path, progress=False)
    renamed = [dataclasses.replace(grid[0], group="renamed group")]
    runs = ablation.run_ablation(
        renamed, seeds=1, root=ablation_root, profile=smoke, cache_dir=tmp_path, progress=False
    )
    assert list(runs["group"]) == ["renamed group"]


def _fake_runs():
    y = np.array([0, 1, 2, 3] * 5)
    lf = np.arange(len(y)) < 8
    rows = []
    for seed, (va, vb) in enumerate([(0.80, 0.90), (0.82, 0.91), (0.78, 0.90)]):
        pa = y.copy()
        pa[:6] = (pa[:6] + 1) % 4  # a wrong on 6 images
        pb = y.copy()
        for name, val, pred in (("A", va, pa), ("B", vb, pb)):
            rows.append(
                {
                    "variant": name,
                    "group": name,
                    "seed": seed,
                    "val_acc": val,
                    "official_acc": float((pred == y).mean()),
                    "leak_free_acc": float((pred == y)[lf].mean()),
                    "parameters": 10,
                    "seconds_per_epoch": 1.0 + seed,
                    "epochs": 8,
                    "best_epoch": 8 if (name, seed) == ("A", 0) else 5,
                    "predictions": pred.tolist(),
                    "labels": y.tolist(),
                    "leak_free": lf.tolist(),
                }
            )
    return pd.DataFrame(rows)


def test_summary_mean_and_std():
    s = ablation.ablation_summary(_fake_runs())
    assert list(s.index) == ["A", "B"]
    assert s.loc["A", "validation mean"] == pytest.approx(80.0)
    assert s.loc["A", "validation std"] == pytest.approx(2.0)
    assert s.loc["B", "official Testing mean"] == pytest.approx(100.0)
    assert s.loc["A", "official Testing mean"] == pytest.approx(70.0)
    assert s.loc["A", "s / epoch"] == 2.0 and s.loc["A", "seeds"] == 3


def test_mcnemar_exact():
    a = np.array([True] * 10 + [False] * 5)
    assert ablation.mcnemar_p(a, a) == 1.0
    b = np.ones(15, bool)  # b right on the 5 that a gets wrong, never the other way round
    assert ablation.mcnemar_p(a, b) == pytest.approx(2 * 0.5**5)
    assert ablation.mcnemar_p(b, a) == pytest.approx(2 * 0.5**5)
    c = np.array([True] * 2 + [False] * 5 + [True] * 8)  # 2 right only here, 5 right only in d
    d = np.array([False] * 2 + [True] * 5 + [True] * 8)
    assert ablation.mcnemar_p(c, d) == pytest.approx(58 / 128)  # 2 · P(X ≤ 2), X ~ Binomial(7, 1/2)


def test_compare_variants():
    c = ablation.compare_variants(_fake_runs(), "A", "B")
    assert c["seeds"] == 3
    assert c["Δ validation (pp)"] == pytest.approx(10.333, abs=1e-3)
    assert c["Δ official (pp)"] == pytest.approx(30.0)
    assert c["p paired t (validation)"] < 0.01
    assert c["max McNemar p (official)"] == pytest.approx(2 * 0.5**6)  # 6 discordant pairs, all one way
    assert c["max McNemar p (leak-free)"] == pytest.approx(2 * 0.5**6)
    table = ablation.ablation_comparisons(_fake_runs(), baseline="A")
    assert list(table.index) == ["B vs A"]


def test_results_table_counts_runs_that_never_learned_and_carries_the_verdict():
    runs = _fake_runs()
    table = ablation.results_table(runs, ablation.ablation_comparisons(runs, baseline="A"), majority=0.80, baseline="A")
    assert list(table.index) == ["A", "B"]
    assert table.loc["A", "never learned"] == 2 and table.loc["B", "never learned"] == 0  # 0.80 and 0.78 ≤ 0.805
    assert table.loc["A", "verdict"] == "baseline" and table.loc["B", "verdict"] == "better"
    assert table.loc["B", "validation mean"] == pytest.approx(100 * (0.90 + 0.91 + 0.90) / 3)
    assert table.loc["B", "Δ validation (pp)"] == pytest.approx(10.333, abs=1e-3)
    assert table.loc["A", "peaked at the last epoch"] == 1 and table.loc["B", "peaked at the last epoch"] == 0
    assert np.isnan(table.loc["A", "p adjusted (BH)"]) and table.loc["B", "p adjusted (BH)"] < 0.05
    assert table.loc["A", "seeds ahead of the baseline"] == 0 and table.loc["B", "seeds ahead of the baseline"] == 3
    lower = runs.copy()
    lower.loc[(lower["variant"] == "B") & (lower["seed"] == 1), "val_acc"] = 0.10
    check = ablation.results_table(lower, None, majority=0.80, baseline="A")  # a descriptive check: no verdict
    assert check.loc["B", "seeds ahead of the baseline"] == 2
    assert "verdict" not in check and "p adjusted (BH)" not in check


def test_comparison_verdicts():
    table = ablation.ablation_comparisons(_fake_runs(), baseline="A")
    assert table.loc["B vs A", "verdict (validation)"] == "better"
    assert table.loc["B vs A", "p adjusted (BH)"] == pytest.approx(table.loc["B vs A", "p paired t (validation)"])
    assert ablation.ablation_comparisons(_fake_runs(), baseline="B").loc["A vs B", "verdict (validation)"] == "worse"
    one_seed = _fake_runs().query("seed == 0")
    assert ablation.ablation_comparisons(one_seed, baseline="A").loc["B vs A", "verdict (validation)"] == "n/a (1 seed)"
    with pytest.raises(ValueError, match="baseline"):
        ablation.ablation_comparisons(_fake_runs(), baseline="nope")
    same = _fake_runs()
    same.loc[same["variant"] == "B", "val_acc"] = [0.81, 0.80, 0.79]
    assert ablation.ablation_comparisons(same, baseline="A").loc["B vs A", "verdict (validation)"] == "not shown"


def test_benjamini_hochberg_across_variants():
    runs = _fake_runs()
    c = runs[runs["variant"] == "B"].copy()
    c["variant"] = "C"
    c["val_acc"] = [0.81, 0.83, 0.775]  # a small, noisy improvement
    table = ablation.ablation_comparisons(pd.concat([runs, c]), baseline="A")
    raw, adj = table["p paired t (validation)"], table["p adjusted (BH)"]
    assert (adj >= raw - 1e-12).all()
    assert table.loc["C vs A", "verdict (validation)"] == "not shown"


def test_compare_rejects_mismatched_runs():
    runs = _fake_runs()
    runs["labels"] = [lab if v == "A" else list(range(len(lab))) for v, lab in zip(runs["variant"], runs["labels"])]
    with pytest.raises(ValueError, match="different images"):
        ablation.compare_variants(runs, "A", "B")
    with pytest.raises(ValueError, match="no runs"):
        ablation.compare_variants(_fake_runs(), "A", "Z")


def test_metrics_table_rows_and_intervals():
    y = np.array([0, 1, 2, 3] * 10)
    pred = y.copy()
    pred[:4] = (pred[:4] + 1) % 4
    lf = np.arange(len(y)) >= 20
    report = evaluation.report_from_predictions(y, pred, lf)
    table = evaluation.metrics_table({"official": report, "leak-free": report["leak_free"]})
    assert list(table["Testing view"]) == ["official", "leak-free"]
    assert list(table["images"]) == [40, 20]
    assert list(table["accuracy"]) == [0.9, 1.0]
    lo, hi = (float(x) for x in table.loc[0, "accuracy 95% CI"].split("–"))
    assert lo <= 0.9 <= hi
    assert table.loc[1, "accuracy 95% CI"] == "1.0000–1.0000"
