"""brainlib.sweep: sweeps on local processes and on a Dask cluster give the sequential results (SYNTHETIC data)."""

from __future__ import annotations

import pandas as pd
import pytest
from test_ablation import _tiny_grid  # the same two-variant grid as the ablation tests

from brainlib import ablation, config, crossval, sweep
from brainlib.synthetic import write_synthetic_dataset, write_synthetic_figshare


@pytest.fixture(scope="module")
def sweep_root(tmp_path_factory):
    return write_synthetic_dataset(tmp_path_factory.mktemp("sweep"), 14, 3, size=48, seed=2)


@pytest.fixture(scope="module")
def synthetic_figshare(tmp_path_factory):
    return write_synthetic_figshare(tmp_path_factory.mktemp("figshare"), per_class_per_fold=2, size=64)


def _comparable(runs: pd.DataFrame) -> pd.DataFrame:
    timing = ["seconds_per_epoch", "train_seconds", "history", "environment", "threads", "created"]  # when and how fast
    return runs.drop(columns=[c for c in timing if c in runs]).reset_index(drop=True)


@pytest.mark.slow
def test_ablation_on_local_processes_matches_sequential(sweep_root, tmp_path):
    smoke = config.get_profile("smoke")
    seq = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=sweep_root, profile=smoke, cache_dir=tmp_path / "a", progress=False, threads=1
    )
    par = ablation.run_ablation(
        _tiny_grid(),
        seeds=2,
        root=sweep_root,
        profile=smoke,
        cache_dir=tmp_path / "b",
        progress=False,
        workers=2,
        threads=1,
    )
    pd.testing.assert_frame_equal(_comparable(seq), _comparable(par))
    assert sorted(p.name for p in (tmp_path / "a" / "smoke" / "kaggle-holdout").iterdir()) == sorted(
        p.name for p in (tmp_path / "b" / "smoke" / "kaggle-holdout").iterdir()
    )


@pytest.mark.slow
def test_ablation_and_crossval_on_a_dask_cluster(sweep_root, synthetic_figshare, tmp_path):
    distributed = pytest.importorskip("distributed")
    smoke = config.get_profile("smoke")
    seq = ablation.run_ablation(
        _tiny_grid(), seeds=2, root=sweep_root, profile=smoke, cache_dir=tmp_path / "seq", progress=False, threads=1
    )
    cv_seq = crossval.run_crossval(
        "figshare-cheng",
        "seed",
        root=synthetic_figshare,
        profile=smoke,
        cache_dir=tmp_path / "cvseq",
        progress=False,
        threads=1,
    )
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as lc:
        dask_runs = ablation.run_ablation(
            _tiny_grid(),
            seeds=2,
            root=sweep_root,
            profile=smoke,
            cache_dir=tmp_path / "dask",
            progress=False,
            scheduler=lc.scheduler_address,
            threads=1,
        )
        cv_dask = crossval.run_crossval(
            "figshare-cheng",
            "seed",
            root=synthetic_figshare,
            profile=smoke,
            cache_dir=tmp_path / "cvdask",
            progress=False,
            scheduler=lc.scheduler_address,
            threads=1,
        )
        # the same sweep again on the cluster: everything from the shared cache, nothing retrained
        again = ablation.run_ablation(
            _tiny_grid(),
            seeds=2,
            root=sweep_root,
            profile=smoke,
            cache_dir=tmp_path / "dask",
            progress=False,
            scheduler=lc.scheduler_address,
        )
    pd.testing.assert_frame_equal(_comparable(seq), _comparable(dask_runs))
    pd.testing.assert_frame_equal(_comparable(dask_runs), _comparable(again))
    assert len(list((tmp_path / "dask" / "smoke" / "kaggle-holdout").glob("*.json"))) == 4
    assert not list((tmp_path / "dask" / "smoke" / "kaggle-holdout").glob(".*tmp"))  # no temporary file left behind
    for a, b in zip(cv_seq, cv_dask):
        assert (a["fold"], a["predictions"], a["accuracy"]) == (b["fold"], b["predictions"], b["accuracy"])


def test_unreachable_scheduler_is_bad_input():
    pytest.importorskip("distributed")
    with (
        pytest.raises(sweep.SweepError, match="cannot connect"),
        sweep.executor(scheduler="tcp://127.0.0.1:9"),
    ):
        pass
