"""Temperature scaling: fitted on validation only, stored in the checkpoint, applied by predict, evaluate and the
external evaluation; evaluate reports ECE for both Testing views. All data here is SYNTHETIC."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pytest
import torch

from brainlib import cli, datasets, engine, evaluation, recipes

pytestmark = pytest.mark.usefixtures("single_torch_thread")


@pytest.fixture(scope="module")
def trained(synthetic_root):
    sets = [datasets.load_split(s, 64, synthetic_root) for s in ("Training", "Testing")]
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 64, "widths": [8, 16]}, epochs=3, batch_size=8)
    return engine.train(cfg, *sets, progress=False), sets, cfg


def test_fitted_temperature_lowers_validation_nll_and_keeps_predictions(trained):
    run, (train, test), cfg = trained
    t = evaluation.fit_temperature(run.model, test, tta=True)
    assert 0.05 <= t <= 20
    logits = engine.predict_logits(run.model, test.images, tta=True)
    assert logits.shape == (2, len(test), 4)
    y = test.labels.numpy()

    def nll(temp):
        return -np.log(engine.probabilities_from_logits(logits, temp)[np.arange(len(y)), y]).mean()

    assert nll(t) <= nll(1.0) + 1e-9
    scaled = engine.predict_proba(run.model, test.images, tta=True, temperature=t)
    np.testing.assert_allclose(scaled, engine.probabilities_from_logits(logits, t), atol=1e-6)
    plain = engine.predict_proba(run.model, test.images, tta=False, temperature=t)
    np.testing.assert_array_equal(
        plain.argmax(1), engine.predict_proba(run.model, test.images, tta=False).argmax(1)
    )  # one view: the class ranking per image never changes


def _checkpoint(trained, path, **meta):
    run, _, cfg = trained
    engine.atomic_save(engine.checkpoint_dict(run.model, cfg, **meta), path)
    return path


@pytest.mark.parametrize("bad", [0, -1.0, "abc", float("nan"), True])
def test_checkpoint_with_bad_temperature_is_refused(trained, tmp_path, bad):
    path = _checkpoint(trained, tmp_path / "bad.pt", temperature=bad)
    with pytest.raises(engine.CheckpointError, match="temperature"):
        engine.load_checkpoint(path)


def test_predict_applies_the_stored_temperature(trained, tmp_path):
    _, (_, test), _ = trained
    image = test.root / test.paths[0]
    rows = {}
    for t in (1.0, 3.0):
        path = _checkpoint(trained, tmp_path / f"t{t}.pt", temperature=t)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            assert cli.main(["predict", str(image), "--checkpoint", str(path), "--json"]) == 0
        rows[t] = json.loads(out.getvalue())
    assert rows[1.0]["label"] == rows[3.0]["label"]
    assert max(rows[3.0]["probabilities"].values()) < max(rows[1.0]["probabilities"].values())  # softer at T = 3


def test_calibrate_then_evaluate_reports_ece_and_temperature(trained, synthetic_root, tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIB_DATA_DIR", str(synthetic_root))
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    run, _, cfg = trained
    path = _checkpoint(trained, tmp_path / "m.pt", tta=True)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["calibrate", "--checkpoint", str(path), "--json"]) == 0
    t = json.loads(out.getvalue())["temperature"]
    assert engine.read_checkpoint(path)["temperature"] == pytest.approx(t)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert cli.main(["evaluate", "--checkpoint", str(path), "--json"]) == 0
    result = json.loads(out.getvalue())
    assert result["temperature"] == pytest.approx(t)
    assert 0 <= result["ece"] <= 1 and 0 <= result["leak_free"]["ece"] <= 1
    assert torch.load(path, weights_only=True)["temperature"] == pytest.approx(t)
