"""The robustness tools: MRI-style intensity augmentation, per-image normalisation inside the head, and
cross-validating a recipe given as a TrainConfig (all on small SYNTHETIC tensors or the figshare fixture)."""

from __future__ import annotations

import pytest
import torch

from brainlib import engine
from brainlib.models import BrainNorm, build_model, count_parameters
from brainlib.transforms import intensity_augment, to_model_input


def head_image(n: int = 4, size: int = 32) -> torch.Tensor:
    """Bright discs (a 'head') on black, with a gradient inside: N×1×size×size in [0, 1]."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    disc = ((yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 3) ** 2).float()
    x = disc * (0.3 + 0.5 * xx / size)
    return x.expand(n, 1, size, size).clone()


def test_intensity_augment_keeps_range_background_and_is_reproducible():
    x = head_image()
    a = intensity_augment(x, generator=torch.Generator().manual_seed(3))
    b = intensity_augment(x, generator=torch.Generator().manual_seed(3))
    assert a.shape == x.shape and torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1
    assert torch.all(a[x <= 0.02] == 0)  # background stays black: no noise, no bias outside the head
    assert not torch.allclose(a, x)
    c = intensity_augment(x, generator=torch.Generator().manual_seed(4))
    assert not torch.equal(a, c)
    # every image gets its own draw
    assert not torch.allclose(a[0], a[1])


def test_intensity_augment_blur_and_low_resolution_smooth_the_image():
    x = head_image(n=2)
    x[:, :, 10:22:2] += 0.1  # stripes: high spatial frequency
    x = x.clamp(0, 1)
    g = torch.Generator().manual_seed(0)
    y = intensity_augment(x, gamma=(1, 1), bias=0, noise=0, blur_p=1.0, lowres_p=1.0, generator=g)

    def roughness(t):
        return (t[..., 1:, :] - t[..., :-1, :]).abs().mean()

    assert roughness(y) < roughness(x)


def test_to_model_input_augmentation_levels():
    x = (head_image() * 255).to(torch.uint8)
    torch.manual_seed(0)
    basic = to_model_input(x, augment=True)
    torch.manual_seed(0)
    assert torch.equal(basic, to_model_input(x, augment="basic"))
    torch.manual_seed(0)
    assert not torch.equal(basic, to_model_input(x, augment="mri"))
    with pytest.raises(ValueError, match="unknown augmentation"):
        to_model_input(x, augment="strong")


def test_brain_norm_removes_brightness_and_contrast_inside_the_head():
    x = to_model_input((head_image(n=1) * 255).round().to(torch.uint8))
    raw = (x * 0.5 + 0.5) * 255
    head = raw > 10
    brighter = raw.clone()
    brighter[head] = raw[head] * 0.6 + 40  # another scanner's gain and offset
    y = (brighter / 255 - 0.5) / 0.5
    norm = BrainNorm()
    a, b = norm(x), norm(y)
    assert torch.allclose(a, b, atol=1e-4)
    assert torch.all(a[~head] == -3.0)
    assert a[head].mean().abs() < 1e-4 and a[head].std() == pytest.approx(1.0, abs=1e-3)


def test_fastnet_input_norm_choice_and_checkpoint_roundtrip(tmp_path):
    plain, normed = build_model("fastnet", input_size=64), build_model("fastnet", input_size=64, input_norm="brain")
    assert count_parameters(plain) == count_parameters(normed)  # parameter-free
    assert isinstance(normed.features[0], BrainNorm)
    with pytest.raises(ValueError, match="input_norm"):
        build_model("fastnet", input_norm="percentile")
    cfg = engine.TrainConfig(model_kwargs={"input_size": 64, "input_norm": "brain"}, augment="mri")
    path = tmp_path / "m.pt"
    engine.atomic_save(engine.checkpoint_dict(normed, cfg), path)
    model, ckpt = engine.load_checkpoint(path)
    assert ckpt["model_kwargs"]["input_norm"] == "brain" and ckpt["train_config"]["augment"] == "mri"
    x = torch.randn(2, 1, 64, 64)
    normed.eval()
    assert torch.allclose(model(x), normed(x))


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


def test_brain_norm_edge_cases_stay_finite():
    norm = BrainNorm()
    empty = torch.full((1, 1, 8, 8), -1.0)  # all background
    assert torch.equal(norm(empty), torch.full_like(empty, -3.0))
    one = empty.clone()
    one[0, 0, 4, 4] = 0.5  # a single head pixel: its own mean, so z = 0
    out = norm(one)
    assert torch.isfinite(out).all() and out[0, 0, 4, 4] == 0


def test_contrast_remap_changes_gray_levels_inside_the_head_only():
    from brainlib.transforms import contrast_remap

    x = head_image(n=8)
    g = torch.Generator().manual_seed(0)
    y = contrast_remap(x, p=1.0, generator=g)
    assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
    assert torch.all(y[x <= 0.02] == 0)  # background stays black
    assert not torch.allclose(y, x)
    # a piecewise-linear curve of the gray level: equal inputs give equal outputs within an image
    row = x[0, 0, 16]
    out = y[0, 0, 16]
    same = row[:, None] == row[None, :]
    assert torch.all((out[:, None] == out[None, :])[same])
    assert torch.equal(contrast_remap(x, p=0.0), x)
    a = contrast_remap(x, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, contrast_remap(x, generator=torch.Generator().manual_seed(5)))


def test_contrast_remap_makes_non_monotone_curves():
    from brainlib.transforms import contrast_remap

    ramp = torch.linspace(0.05, 1, 64).view(1, 1, 1, 64).expand(64, 1, 1, 64).clone()
    y = contrast_remap(ramp, p=1.0, generator=torch.Generator().manual_seed(1))
    steps = y[:, 0, 0, 1:] - y[:, 0, 0, :-1]
    monotone = (steps >= -1e-6).all(dim=1)
    assert monotone.any() and (~monotone).any()  # both kinds of curve are drawn


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
    fake_study(monkeypatch, {"fast": (0.95, 0.999, 0.90, 0.99), "mri+brainnorm": (0.97, 0.90, 0.91, 0.80)})
    t = robustness.table()
    assert robustness.table_path().exists()
    assert robustness.selected(t) == "mri+brainnorm"
    row = t.set_index("variant").loc["mri+brainnorm"]
    assert row["selection score (%)"] == pytest.approx(94.0)
    assert row["figshare mean (%)"] == pytest.approx(80.0) and row["official (%)"] == pytest.approx(90.0)
    assert t.set_index("variant")["selection score (%)"].notna().sum() == 2  # only variants with both parts


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
