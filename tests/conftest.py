"""Shared fixtures: a small SYNTHETIC phantom dataset and an isolated decode cache."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from brainlib import config
from brainlib.synthetic import write_synthetic_dataset, write_synthetic_figshare, write_synthetic_tcga

SPEC = SimpleNamespace(n_train=6, n_test=3, size=64, seed=0)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Point BRAINLIB_CACHE_DIR at a fresh temporary folder: tests never write into the repository."""
    cache = tmp_path_factory.mktemp("cache")
    monkeypatch.setenv("BRAINLIB_CACHE_DIR", str(cache))
    return cache


@pytest.fixture(scope="session")
def synthetic_spec():
    """How the ``synthetic_root`` dataset was made (images per class per split, image size, seed)."""
    return SPEC


@pytest.fixture(scope="session")
def synthetic_counts():
    """Per-split, per-class image counts of ``synthetic_root`` (the shape fetch/summarize return)."""
    return {
        "Training": dict.fromkeys(config.CLASSES, SPEC.n_train),
        "Testing": dict.fromkeys(config.CLASSES, SPEC.n_test),
    }


@pytest.fixture(scope="session")
def synthetic_root(tmp_path_factory):
    """A tiny SYNTHETIC phantom dataset (6 train + 3 test images per class, 64×64). Treat as read-only."""
    return write_synthetic_dataset(
        tmp_path_factory.mktemp("synthetic"), SPEC.n_train, SPEC.n_test, size=SPEC.size, seed=SPEC.seed
    )


@pytest.fixture(autouse=True)
def repo_paths_in_tmp(tmp_path_factory, monkeypatch):
    """Point every place brainlib may write inside the repository (models/, results/, the committed
    leak-free subset file) at a temporary folder, so no test can touch the working tree."""
    base = tmp_path_factory.mktemp("repo_paths")
    monkeypatch.setattr(config, "MODELS_DIR", base / "models")
    monkeypatch.setattr(config, "RESULTS_DIR", base / "results")
    monkeypatch.setattr(config, "FIGURES_DIR", base / "figures")
    monkeypatch.setattr(config, "RUNS_DIR", base / "runs")
    monkeypatch.setattr(config, "LEAK_FREE_FILE", base / "results" / "leak_free_testing.txt")
    return base


@pytest.fixture(scope="module")
def single_torch_thread():
    """One torch thread for a module's tests: on a busy 2-core machine, thread oversubscription makes small
    CPU training runs several times slower (results are the same)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def figshare_root(tmp_path_factory):
    """A SYNTHETIC figshare-cheng stand-in (5 folds × 3 classes × 2 images, 64 px). Treat as read-only."""
    return write_synthetic_figshare(tmp_path_factory.mktemp("figshare"), per_class_per_fold=2, size=64)


@pytest.fixture(scope="session")
def tcga_root(tmp_path_factory):
    """A SYNTHETIC TCGA-LGG stand-in (4 patients, 64 px). Treat as read-only."""
    root = write_synthetic_tcga(tmp_path_factory.mktemp("tcga"), patients=4, size=64)
    # the release repeats FLAIR where a sequence is missing: imitate that for one patient
    for kind, n in (("tumor", 20), ("no_tumor_slice", 8)):
        (root / "postcontrast" / kind / f"SYNTH_00_{n}.png").write_bytes(
            (root / "flair" / kind / f"SYNTH_00_{n}.png").read_bytes()
        )
    return root
