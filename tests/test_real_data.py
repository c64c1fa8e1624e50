"""Checks on the real dataset and the shipped checkpoints; skipped when the data are not present."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from brainlib import audit, config, data, datasets, evaluation, recipes

REPO = Path(__file__).resolve().parents[1]
SHIPPED = {
    "fastnet": REPO / "models" / "fastnet.pt",
    "fastnet_fast": REPO / "models" / "fastnet_fast.pt",
    "seed": REPO / "models" / "seed.pt",
}


def real_root() -> Path | None:
    root = config.data_dir()
    try:
        data.validate_layout(root)
    except data.DataError:
        return None
    return None if data.is_synthetic(root) else root


needs_data = pytest.mark.skipif(real_root() is None, reason="real dataset not present (set BRAINLIB_DATA_DIR)")


@pytest.mark.parametrize("name", list(SHIPPED))
def test_shipped_checkpoint_is_small_and_weights_only(name):
    path = SHIPPED[name]
    assert path.stat().st_size < 10 * 2**20
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert ckpt["model_name"] == name.split("_")[0] and ckpt["classes"] == list(config.CLASSES)
    assert ckpt["profile"] == "full" and not ckpt["train_config"]["synthetic"]
    assert "leak_free" in ckpt["metrics"]


def test_shipped_default_is_the_robust_recipe():
    cfg = torch.load(SHIPPED["fastnet"], map_location="cpu", weights_only=True)["train_config"]
    robust = recipes.train_config("robust").as_dict()
    assert {k: v for k, v in cfg.items() if k != "synthetic"} == {k: v for k, v in robust.items() if k != "synthetic"}
    fast = torch.load(SHIPPED["fastnet_fast"], map_location="cpu", weights_only=True)["train_config"]
    assert fast["model_kwargs"] == {} and fast["augment"] is True


@pytest.mark.slow
@needs_data
def test_committed_leak_free_file_matches_the_data():
    header, paths = audit.read_leak_free(REPO / "results" / "leak_free_testing.txt")
    train = datasets.load_split("Training", 224, real_root())
    test = datasets.load_split("Testing", 224, real_root())
    assert header["fingerprint"] == audit.combined_fingerprint(train, test)
    assert header["pixels"] == audit.content_key(train, test)  # what leak_free_mask matches on
    assert set(paths) <= set(test.paths) and len(paths) == int(header.get("count", len(paths)))


@needs_data
def test_predict_real_testing_image_with_shipped_checkpoint():
    image = sorted((real_root() / "Testing" / "pituitary").glob("*.jpg"))[0]
    out = subprocess.run(
        [sys.executable, "-m", "brainlib", "predict", str(image), "--json", "--checkpoint", str(SHIPPED["fastnet"])],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    row = json.loads(out.stdout.strip().splitlines()[0])
    assert set(row["probabilities"]) == set(config.CLASSES)
    assert abs(sum(row["probabilities"].values()) - 1) < 1e-4
    assert row["label"] in config.CLASSES


@pytest.mark.slow
@needs_data
def test_shipped_checkpoint_reproduces_its_recorded_metrics(monkeypatch):
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    ckpt = torch.load(SHIPPED["fastnet"], map_location="cpu", weights_only=True)
    result = evaluation.evaluate_checkpoint(SHIPPED["fastnet"], root=real_root())
    assert result["n"] == ckpt["metrics"]["n"]
    assert result["accuracy"] == pytest.approx(ckpt["metrics"]["accuracy"], abs=1e-9)
    assert result["leak_free"]["accuracy"] == pytest.approx(ckpt["metrics"]["leak_free"]["accuracy"], abs=1e-9)
