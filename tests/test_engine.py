"""brainlib.engine (training, determinism, checkpoints, resume, devices), transforms.augment_batch and brainlib.metrics,
on the tiny SYNTHETIC phantom fixture (64-pixel images, small models, CPU)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from test_transforms import head_image
from torch import nn

from brainlib import __version__, config, datasets, engine, recipes
from brainlib.datasets import load_split
from brainlib.engine import CheckpointError, TrainConfig
from brainlib.metrics import bootstrap_ci, classification_metrics
from brainlib.models import build_model
from brainlib.transforms import augment_batch

pytestmark = pytest.mark.usefixtures("single_torch_thread")

SIZE = 64
HISTORY_COLUMNS = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s"]
REPEATABLE = ["epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr"]  # not the timings


def small_cfg(**kw) -> TrainConfig:
    # batch 8 → 3 steps per epoch (2 epochs × 2 steps would hit the OneCycleLR bug tested below)
    base = {
        "model": "fastnet",
        "model_kwargs": {"input_size": SIZE, "widths": [8, 16, 32]},
        "epochs": 2,
        "batch_size": 8,
    }
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def sets(synthetic_root, tmp_path_factory):
    """Training (24 images) as train set and Testing (12) as validation set, 64×64."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINLIB_CACHE_DIR", str(tmp_path_factory.mktemp("engine_cache")))
        return load_split("Training", SIZE, synthetic_root), load_split("Testing", SIZE, synthetic_root)


@pytest.fixture(scope="module")
def trained(sets, tmp_path_factory):
    """One 2-epoch run with a checkpoint: (model, history, checkpoint path)."""
    out = tmp_path_factory.mktemp("trained") / "model.pt"
    model, hist = engine.train(small_cfg(), *sets, out=out, progress=False)
    return model, hist, out


def assert_same_weights(a: nn.Module | dict, b: nn.Module | dict) -> None:
    sa = a.state_dict() if isinstance(a, nn.Module) else a
    sb = b.state_dict() if isinstance(b, nn.Module) else b
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def assert_same_history(a: pd.DataFrame, b: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(
        a[REPEATABLE].reset_index(drop=True), b[REPEATABLE].reset_index(drop=True), check_exact=True
    )


# ----------------------------------------------------------------------------- training
def test_train_returns_model_and_history(trained, sets):
    model, hist, _ = trained
    assert isinstance(model, nn.Module) and not model.training
    assert list(hist.columns) == HISTORY_COLUMNS
    assert hist["epoch"].tolist() == [1, 2]
    assert np.isfinite(hist[["train_loss", "val_loss"]].to_numpy()).all()
    assert hist[["train_acc", "val_acc"]].stack().between(0, 1).all()
    assert (hist["seconds"] > 0).all() and (hist["images_per_s"] > 0).all()
    assert (hist["lr"] > 0).all()


def test_train_same_seed_is_deterministic(trained, sets):
    model, hist, _ = trained
    model2, hist2 = engine.train(small_cfg(), *sets, progress=False)
    assert_same_history(hist, hist2)
    assert_same_weights(model, model2)


def test_train_other_seed_gives_other_weights(trained, sets):
    model, _, _ = trained
    other, _ = engine.train(small_cfg(seed=1), *sets, progress=False)
    sa, sb = model.state_dict(), other.state_dict()
    assert any(not torch.equal(sa[k], sb[k]) for k in sa if sa[k].is_floating_point())


def test_train_rejects_wrong_image_size(sets):
    with pytest.raises(ValueError, match="64px"):
        engine.train(small_cfg(model_kwargs={"input_size": 32, "widths": [8, 16]}), *sets, progress=False)


def test_train_without_out_writes_nothing(sets, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    engine.train(small_cfg(epochs=1), *sets, progress=False)
    assert list(tmp_path.iterdir()) == []


def test_recipe():
    seed = recipes.train_config("seed", epochs=3, lr=None)
    assert (seed.model, seed.optimizer, seed.epochs, seed.lr) == ("seed", "adamax", 3, 1e-3)
    fast = recipes.train_config("fast")
    assert fast == TrainConfig(tta=True) and (fast.model, fast.tta) == ("fastnet", True)
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.train_config("nope")


# ----------------------------------------------------------------------------- checkpoints
def test_checkpoint_contents(trained, sets):
    model, hist, out = trained
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    for key in (
        "format",
        "model_name",
        "model_kwargs",
        "classes",
        "preprocessing",
        "train_config",
        "state_dict",
        "brainlib_version",
        "data_fingerprint",
    ):
        assert key in ckpt, key
    assert ckpt["format"] == engine.CHECKPOINT_FORMAT
    assert ckpt["model_name"] == "fastnet"
    assert ckpt["model_kwargs"] == {"input_size": SIZE, "widths": [8, 16, 32]}
    assert ckpt["classes"] == list(config.CLASSES)
    pre = ckpt["preprocessing"]
    assert (pre["size"], pre["channels"]) == (SIZE, 1)
    assert isinstance(pre["mean"], float) and isinstance(pre["std"], float)
    assert ckpt["train_config"] == small_cfg().as_dict()  # as hashed into keys
    assert ckpt["brainlib_version"] == __version__
    assert ckpt["data_fingerprint"] == sets[0].fingerprint
    assert [h["epoch"] for h in ckpt["history"]] == [1, 2]
    assert ckpt["best_epoch"] == int(hist["val_acc"].idxmax()) + 1
    assert_same_weights(ckpt["state_dict"], model)
    assert not Path(f"{out}.resume").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == ["model.pt"]  # no temp or resume files left


def test_load_checkpoint_predicts_like_trained_model(trained, sets):
    model, _, out = trained
    loaded, ckpt = engine.load_checkpoint(out)
    assert not loaded.training
    assert type(loaded).__name__ == "FastNet" and loaded.input_size == SIZE
    images = sets[1].images
    p_trained = engine.predict_proba(model, images)
    p_loaded = engine.predict_proba(loaded, images)
    np.testing.assert_allclose(p_loaded, p_trained, atol=1e-5)
    assert (p_loaded.argmax(1) == p_trained.argmax(1)).all()


def _bad_checkpoint(kind: str, tmp_path: Path, good: Path) -> Path:
    p = tmp_path / f"{kind}.pt"
    if kind == "missing":
        return tmp_path / "nowhere.pt"
    if kind == "directory":
        p.mkdir()
    elif kind == "text":
        p.write_text("this is not a checkpoint\nsecond line\n")
    elif kind == "empty":
        p.touch()
    elif kind == "truncated":
        raw = good.read_bytes()
        p.write_bytes(raw[: len(raw) // 2])
    elif kind == "foreign_dict":
        torch.save({"model": {"w": torch.zeros(2)}, "epoch": 3}, p)
    elif kind == "pickled_module":
        torch.save(nn.Linear(2, 2), p)
    elif kind == "other_classes":
        ckpt = torch.load(good, weights_only=True)
        ckpt["classes"] = ["cat", "dog"]
        torch.save(ckpt, p)
    elif kind == "reordered_classes":
        ckpt = torch.load(good, weights_only=True)
        ckpt["classes"] = list(reversed(config.CLASSES))
        torch.save(ckpt, p)
    elif kind == "wrong_weights":
        ckpt = torch.load(good, weights_only=True)
        ckpt["model_kwargs"] = {"input_size": SIZE, "widths": [4, 8]}
        torch.save(ckpt, p)
    else:
        raise AssertionError(kind)
    return p


BAD_KINDS = [
    "missing",
    "directory",
    "text",
    "empty",
    "truncated",
    "foreign_dict",
    "pickled_module",
    "other_classes",
    "reordered_classes",
    "wrong_weights",
]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_bad_checkpoint_raises_one_line_checkpoint_error(kind, trained, tmp_path):
    path = _bad_checkpoint(kind, tmp_path, trained[2])
    with pytest.raises(CheckpointError) as exc:
        engine.load_checkpoint(path)
    msg = str(exc.value)
    assert "\n" not in msg and str(path) in msg
    if kind in ("other_classes", "reordered_classes"):
        assert "classes" in msg
    if kind == "wrong_weights":
        assert "do not fit" in msg


@pytest.mark.parametrize(
    "kind",
    [
        "unknown_model",
        "no_state_dict",
    ],
)
def test_checkpoint_claiming_our_format_but_unusable(kind, trained, tmp_path):
    ckpt = torch.load(trained[2], weights_only=True)
    if kind == "unknown_model":
        ckpt["model_name"] = "resnet_from_a_newer_brainlib"
    else:
        del ckpt["state_dict"]
    path = tmp_path / f"{kind}.pt"
    torch.save(ckpt, path)
    with pytest.raises(CheckpointError) as exc:
        engine.load_checkpoint(path)
    assert "\n" not in str(exc.value)


def test_atomic_save_leaves_no_temp_files(tmp_path):
    path = tmp_path / "sub" / "obj.pt"
    engine.atomic_save({"a": torch.arange(3)}, path)
    engine.atomic_save({"a": torch.arange(4)}, path)  # overwrite
    assert sorted(p.name for p in path.parent.iterdir()) == ["obj.pt"]
    assert torch.equal(torch.load(path, weights_only=True)["a"], torch.arange(4))


def test_atomic_save_failure_keeps_old_file(tmp_path):
    path = tmp_path / "obj.pt"
    engine.atomic_save({"a": 1}, path)
    before = path.read_bytes()
    with pytest.raises(Exception):  # noqa: B017 — whatever pickling raises for a lambda
        engine.atomic_save({"f": lambda: 0}, path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["obj.pt"]


# ----------------------------------------------------------------------------- interrupted training
class _InterruptingLoader:
    """Yields ``after`` batches of ``loader``, then raises KeyboardInterrupt (like Ctrl-C mid-epoch)."""

    def __init__(self, loader, after: int):
        self.loader, self.after = loader, after

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        for i, batch in enumerate(self.loader):
            if i == self.after:
                raise KeyboardInterrupt
            yield batch


def interrupt_during_epoch(monkeypatch, epoch: int) -> None:
    """Make the training pass of ``epoch`` raise KeyboardInterrupt after its first batch was applied."""
    real = engine.run_epoch

    def run_epoch(model, loader, loss_fn, optimizer=None, *args, desc="", **kwargs):
        if optimizer is not None and desc.startswith(f"epoch {epoch}/"):
            loader = _InterruptingLoader(loader, after=1)
        return real(model, loader, loss_fn, optimizer, *args, desc=desc, **kwargs)

    monkeypatch.setattr(engine, "run_epoch", run_epoch)


@pytest.fixture(scope="module")
def uninterrupted(sets):
    return tuple(engine.train(small_cfg(epochs=3), *sets, progress=False))


def test_interrupted_training_resumes_to_the_same_result(sets, uninterrupted, tmp_path, monkeypatch, capsys):
    cfg = small_cfg(epochs=3)
    out = tmp_path / "run.pt"
    resume = Path(f"{out}.resume")
    with monkeypatch.context() as mp:
        interrupt_during_epoch(mp, 2)
        with pytest.raises(KeyboardInterrupt):
            engine.train(cfg, *sets, out=out, progress=False)
    assert not out.exists()  # never a half-written checkpoint
    assert resume.exists()
    state = torch.load(resume, weights_only=True)
    assert [h["epoch"] for h in state["history"]] == [1]

    model, hist = engine.train(cfg, *sets, out=out, progress=True)
    assert "resuming from epoch 2" in capsys.readouterr().out
    assert hist["epoch"].tolist() == [1, 2, 3]
    ref_model, ref_hist = uninterrupted
    assert_same_history(hist, ref_hist)
    assert_same_weights(model, ref_model)
    assert out.exists() and not resume.exists()
    assert_same_weights(torch.load(out, weights_only=True)["state_dict"], ref_model)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt"]


def test_interruption_keeps_the_old_complete_checkpoint(sets, trained, tmp_path, monkeypatch):
    out = tmp_path / "run.pt"
    out.write_bytes(trained[2].read_bytes())  # a complete checkpoint from an earlier run
    before = out.read_bytes()
    interrupt_during_epoch(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        engine.train(small_cfg(epochs=3), *sets, out=out, progress=False)
    assert out.read_bytes() == before
    engine.load_checkpoint(out)  # still loads
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.pt", "run.pt.resume"]


def test_resume_false_restarts_cleanly(sets, uninterrupted, tmp_path, monkeypatch, capsys):
    cfg = small_cfg(epochs=3)
    out = tmp_path / "run.pt"
    with monkeypatch.context() as mp:
        interrupt_during_epoch(mp, 2)
        with pytest.raises(KeyboardInterrupt):
            engine.train(cfg, *sets, out=out, progress=False)
    assert Path(f"{out}.resume").exists()
    model, hist = engine.train(cfg, *sets, out=out, progress=True, resume=False)
    assert "resuming" not in capsys.readouterr().out
    assert hist["epoch"].tolist() == [1, 2, 3]
    assert_same_history(hist, uninterrupted[1])
    assert_same_weights(model, uninterrupted[0])
    assert not Path(f"{out}.resume").exists()


def test_resume_state_of_another_config_is_ignored(sets, tmp_path, monkeypatch):
    out = tmp_path / "run.pt"
    with monkeypatch.context() as mp:
        interrupt_during_epoch(mp, 2)
        with pytest.raises(KeyboardInterrupt):
            engine.train(small_cfg(epochs=3), *sets, out=out, progress=False)
    other = small_cfg(epochs=2, lr=1e-3)
    model, hist = engine.train(other, *sets, out=out, progress=False)
    assert hist["epoch"].tolist() == [1, 2]
    fresh, fresh_hist = engine.train(other, *sets, progress=False)
    assert_same_history(hist, fresh_hist)
    assert_same_weights(model, fresh)


def test_resume_with_early_stopping_matches_uninterrupted(sets, tmp_path, monkeypatch):
    # lr 0 and no BatchNorm: the model never changes, so validation accuracy never improves after epoch 1;
    # with patience 1 an uninterrupted run stops after epoch 3.
    cfg = TrainConfig(
        model="tumorcnn",
        model_kwargs={"in_channels": 1, "input_size": SIZE, "blocks": 2, "convs_per_block": 1, "width": 4},
        optimizer="sgd",
        lr=0.0,
        epochs=6,
        batch_size=16,
        scheduler="none",
        augment=False,
        early_stopping=1,
    )
    _, ref = engine.train(cfg, *sets, progress=False)
    assert ref["epoch"].tolist() == [1, 2, 3]
    out = tmp_path / "run.pt"
    with monkeypatch.context() as mp:
        interrupt_during_epoch(mp, 3)
        with pytest.raises(KeyboardInterrupt):
            engine.train(cfg, *sets, out=out, progress=False)
    _, hist = engine.train(cfg, *sets, out=out, progress=False)
    assert hist["epoch"].tolist() == ref["epoch"].tolist()


# ----------------------------------------------------------------------------- optimizers and schedulers
@pytest.mark.parametrize(
    "name, cls",
    [
        ("sgd", torch.optim.SGD),
        ("adam", torch.optim.Adam),
        ("adamw", torch.optim.AdamW),
        ("adamax", torch.optim.Adamax),
        ("AdamW", torch.optim.AdamW),
    ],
)
def test_make_optimizer(name, cls):
    opt = engine.make_optimizer(name, nn.Linear(3, 2).parameters(), lr=0.01, weight_decay=1e-4, momentum=0.8)
    assert type(opt) is cls
    group = opt.param_groups[0]
    assert group["lr"] == 0.01 and group["weight_decay"] == 1e-4
    if cls is torch.optim.SGD:
        assert group["momentum"] == 0.8 and group["nesterov"]


def test_make_optimizer_unknown_name():
    with pytest.raises(ValueError, match="unknown optimizer"):
        engine.make_optimizer("rmsprop", nn.Linear(3, 2).parameters(), lr=0.01)


def test_make_scheduler():
    def opt():
        return torch.optim.SGD(nn.Linear(3, 2).parameters(), lr=0.1)

    assert engine.make_scheduler("none", opt(), 0.1, epochs=2, steps_per_epoch=5) is None
    onecycle = engine.make_scheduler("onecycle", opt(), 0.1, epochs=2, steps_per_epoch=5)
    assert isinstance(onecycle, torch.optim.lr_scheduler.OneCycleLR) and onecycle.total_steps == 10
    o = opt()
    cosine = engine.make_scheduler("cosine", o, 0.1, epochs=2, steps_per_epoch=5)
    assert isinstance(cosine, torch.optim.lr_scheduler.CosineAnnealingLR) and cosine.T_max == 10
    for _ in range(10):
        o.step()
        cosine.step()
    assert o.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="unknown scheduler"):
        engine.make_scheduler("step", opt(), 0.1, epochs=2, steps_per_epoch=5)


def test_onecycle_with_four_steps_in_total(sets):
    _, hist = engine.train(small_cfg(epochs=2, batch_size=16), *sets, progress=False)  # 24 images: 2 × 2 steps
    assert len(hist) == 2


@pytest.mark.parametrize("optimizer, scheduler", [("sgd", "cosine"), ("adamax", "none")])
def test_train_with_other_optimizers_and_schedulers(sets, optimizer, scheduler):
    _, hist = engine.train(
        small_cfg(epochs=1, optimizer=optimizer, scheduler=scheduler, augment=False), *sets, progress=False
    )
    assert len(hist) == 1 and np.isfinite(hist["train_loss"]).all()


# ----------------------------------------------------------------------------- inference
def test_predict_proba_rows_sum_to_one(trained, sets):
    model = trained[0]
    images = sets[1].images
    p = engine.predict_proba(model, images, batch_size=5)
    assert p.shape == (len(images), len(config.CLASSES))
    np.testing.assert_allclose(p.sum(1), 1.0, atol=1e-5)
    assert (p >= 0).all()
    np.testing.assert_allclose(p, engine.predict_proba(model, images), atol=1e-6)  # batching does not matter
    tta = engine.predict_proba(model, images, tta=True)
    assert tta.shape == p.shape
    np.testing.assert_allclose(tta.sum(1), 1.0, atol=1e-5)
    empty = engine.predict_proba(model, images[:0])
    assert empty.shape == (0, len(config.CLASSES))


def test_train_returns_one_result_object(sets):
    run = engine.train(small_cfg(epochs=2), *sets, progress=False)
    assert isinstance(run, engine.TrainResult)
    assert run.best_epoch == int(run.history["val_acc"].idxmax()) + 1
    assert run.best_val_acc == run.history["val_acc"].max()
    assert run.device == "cpu" and run.resumed_at == 1 and not run.model.training
    assert run.train_seconds == pytest.approx(run.history["seconds"].sum())


# ----------------------------------------------------------------------------- augmentation
def test_augment_batch_shape_range_determinism():
    torch.manual_seed(123)
    x = torch.rand(6, 1, 32, 32)
    torch.manual_seed(0)
    a = augment_batch(x)
    torch.manual_seed(0)
    b = augment_batch(x)
    assert a.shape == x.shape and a.dtype == x.dtype
    assert a.min() >= 0 and a.max() <= 1
    assert torch.equal(a, b)
    torch.manual_seed(1)
    assert not torch.equal(a, augment_batch(x))
    assert not torch.equal(a, x)
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(augment_batch(x, generator=g1), augment_batch(x, generator=g2))
    three = augment_batch(torch.rand(2, 3, 16, 16))
    assert three.shape == (2, 3, 16, 16)


def test_augment_batch_identity_when_disabled():
    x = torch.rand(3, 1, 16, 16)
    # no rotation/shift/zoom/brightness/contrast: only the random flip remains
    y = augment_batch(x, rotate=0.0, translate=0.0, scale=(1.0, 1.0), brightness=0.0, contrast=0.0)
    for xi, yi in zip(x, y):
        assert torch.allclose(yi, xi, atol=1e-5) or torch.allclose(yi, torch.flip(xi, dims=[2]), atol=1e-5)


# ----------------------------------------------------------------------------- metrics
def test_classification_metrics_known_example():
    y_true = [0, 0, 1, 1, 2, 3]
    y_pred = [0, 1, 1, 1, 2, 2]
    m = classification_metrics(y_true, y_pred)
    assert m["n"] == 6
    assert m["accuracy"] == pytest.approx(4 / 6)
    # F1 per class: 2/3, 0.8, 2/3, 0
    assert m["macro_f1"] == pytest.approx((2 / 3 + 0.8 + 2 / 3 + 0) / 4)
    assert m["confusion_matrix"] == [[1, 1, 0, 0], [0, 2, 0, 0], [0, 0, 1, 0], [0, 0, 1, 0]]
    assert list(m["per_class"]) == list(config.CLASSES)
    g = m["per_class"]["glioma"]
    assert (g["precision"], g["recall"], g["support"]) == (1.0, 0.5, 2)
    assert g["f1"] == pytest.approx(2 / 3)
    assert m["per_class"]["meningioma"]["precision"] == pytest.approx(2 / 3)
    assert m["per_class"]["pituitary"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}


def test_classification_metrics_empty():
    m = classification_metrics([], [])
    assert m["n"] == 0 and np.isnan(m["accuracy"])
    assert m["confusion_matrix"] == [[0] * 4 for _ in range(4)]


def _example(n=80, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, 4, n))
    return y, pred


@pytest.mark.parametrize("metric", ["accuracy", "macro_f1"])
def test_bootstrap_ci_contains_point_and_is_deterministic(metric):
    y, pred = _example()
    point = classification_metrics(y, pred)[metric]
    lo, hi = bootstrap_ci(y, pred, metric, n_boot=100, seed=3)
    assert lo <= point <= hi and lo < hi
    assert (lo, hi) == bootstrap_ci(y, pred, metric, n_boot=100, seed=3)
    assert (lo, hi) != bootstrap_ci(y, pred, metric, n_boot=100, seed=4)
    lo50, hi50 = bootstrap_ci(y, pred, metric, n_boot=100, seed=3, level=0.5)
    assert lo <= lo50 <= hi50 <= hi


def test_bootstrap_ci_unknown_metric():
    with pytest.raises(ValueError, match="unknown metric"):
        bootstrap_ci([0, 1], [0, 1], "auc")


def test_bootstrap_macro_f1_consistent_when_last_class_absent():
    # e.g. a leak-free subset without pituitary images, all predicted right: macro-F1 0.75 (pituitary F1 = 0),
    # but every resample has classes 0..2 only, so the bootstrap interval is (1.0, 1.0)
    y = np.repeat([0, 1, 2], 30)
    point = classification_metrics(y, y)["macro_f1"]
    lo, hi = bootstrap_ci(y, y, "macro_f1", n_boot=50, seed=0)
    assert lo <= point <= hi


def test_training_passes_the_augmentation_level_through(monkeypatch):
    """engine.run_epoch must hand "mri"/"remap" to the input conversion when training (not just True), and
    never augment when evaluating."""
    from brainlib import transforms as data_module

    seen = []
    real = data_module.to_model_input

    def spy(images, channels=1, augment=False):
        seen.append(augment)
        return real(images, channels, augment=augment)

    monkeypatch.setattr(engine, "to_model_input", spy)
    model = build_model("fastnet", input_size=32, widths=(8, 16))
    images = (head_image(n=8) * 255).to(torch.uint8)[:, 0]
    loader = [(images, torch.tensor([0, 1, 2, 3] * 2))]
    loss = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for level in ("mri", "remap", True):
        seen.clear()
        engine.run_epoch(model, loader, loss, optimizer=opt, augment=level, progress=False)
        assert seen == [level]
        seen.clear()
        engine.run_epoch(model, loader, loss, augment=level, progress=False)  # evaluation
        assert seen == [False]


def test_checkpoint_with_an_overlong_string_argument_is_refused(tmp_path):
    model = build_model("fastnet", input_size=64)
    ckpt = engine.checkpoint_dict(model, engine.TrainConfig(model_kwargs={"input_size": 64}))
    ckpt["model_kwargs"]["input_norm"] = "x" * 100
    engine.atomic_save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(engine.CheckpointError, match="input_norm"):
        engine.load_checkpoint(tmp_path / "bad.pt")
    ckpt["model_kwargs"]["input_norm"] = "zscore"
    engine.atomic_save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(engine.CheckpointError, match="input_norm"):
        engine.load_checkpoint(tmp_path / "bad.pt")
    ckpt["model_kwargs"]["input_norm"] = "brain"
    ckpt["model_kwargs"]["input_size"] = "64"  # a string where a number belongs
    engine.atomic_save(ckpt, tmp_path / "bad.pt")
    with pytest.raises(engine.CheckpointError, match="input_size"):
        engine.load_checkpoint(tmp_path / "bad.pt")


def test_auto_device_and_cpu_results_unchanged(synthetic_root, monkeypatch):

    assert config.get_device("cpu").type == "cpu"
    monkeypatch.setenv("BRAINLIB_DEVICE", "cpu")
    assert config.get_device().type == "cpu"
    sets = [datasets.load_split(s, 64, synthetic_root) for s in ("Training", "Testing")]
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 64, "widths": [8, 16]}, epochs=1, batch_size=8)
    a = engine.train(cfg, *sets, progress=False, device="cpu")
    monkeypatch.delenv("BRAINLIB_DEVICE")
    b = engine.train(cfg, *sets, progress=False)  # auto: cpu here
    assert a.device == "cpu"
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_training_and_prediction(synthetic_root):  # pragma: no cover - runs on GPU machines only

    sets = [datasets.load_split(s, 64, synthetic_root) for s in ("Training", "Testing")]
    cfg = recipes.train_config("fast", model_kwargs={"input_size": 64, "widths": [8, 16]}, epochs=1, batch_size=8)
    run = engine.train(cfg, *sets, progress=False, device="cuda")
    assert run.device.startswith("cuda") and next(run.model.parameters()).is_cuda
    probs = engine.predict_proba(run.model, sets[1].images)
    assert probs.shape == (len(sets[1]), 4) and np.isfinite(probs).all()
