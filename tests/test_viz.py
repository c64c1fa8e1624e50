"""Figures: each helper draws on a headless backend and writes only in the full profile."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from brainlib import config, explain, viz  # noqa: E402
from brainlib.models import build_model  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    matplotlib.pyplot.close("all")


def _images(n: int, size: int) -> torch.Tensor:
    return torch.randint(0, 256, (n, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)


def test_ablation_plot_bars_and_error_bars():
    views = ("validation", "official Testing", "leak-free Testing")
    summary = pd.DataFrame(
        {
            **{f"{v} mean": [80.0, 90.0] for v in views},
            **{f"{v} std": [2.0, np.nan] for v in views},
            "s / epoch": [10.0, 5.0],
        },
        index=["A", "B"],
    )
    fig = viz.ablation_plot(summary, title="t")
    acc, cost = fig.axes
    assert [t.get_text() for t in acc.get_yticklabels()] == ["A", "B"]
    assert len(acc.patches) == 6 and len(cost.patches) == 2
    assert acc.patches[0].get_width() == 80.0


def test_prediction_panel_titles_the_predicted_class():
    torch.manual_seed(0)
    model = build_model("fastnet", input_size=64).eval()
    image = _images(1, 64)[0]
    probs, heat = explain.explain_image(model, image)
    assert heat.shape == (64, 64) and probs.shape == (4,)
    fig = viz.prediction_panel(image, probs, heat, true_label=2)
    probs_ax = fig.axes[2]
    assert fig.axes[0].get_title() == "true: notumor"
    widths = [p.get_width() for p in probs_ax.patches]
    assert len(widths) == 4 and sum(widths) == pytest.approx(1.0, abs=1e-5)
    predicted = config.CLASSES[int(np.argmax(widths))]
    assert fig.axes[1].get_title() == f"Grad-CAM of '{predicted}'"


def test_filters_and_feature_maps_shapes():
    model = build_model("seed", input_size=32)
    assert len(viz.first_layer_filters(explain.first_layer_weights(model)).axes) == 4 + 1  # 4 filters, colour bar
    maps = explain.feature_maps(model, _images(2, 32))
    assert maps.shape == (2, 4, 32, 32) and (maps >= 0).all()  # conv + ReLU
    fig = viz.feature_maps(_images(2, 32), maps, [0, 3])
    assert len(fig.axes) == 2 * 5 + 1  # image + 4 maps per row, one shared colour bar
    assert fig.axes[5].get_ylabel() == "pituitary"
    assert not model.training


def test_figures_written_only_in_full_profile(monkeypatch, tmp_path):
    monkeypatch.setattr(config, "FIGURES_DIR", tmp_path)
    fig = viz.first_layer_filters(explain.first_layer_weights(build_model("seed", input_size=32)))
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    viz.save_figure(fig, "x")
    assert not (tmp_path / "x.png").exists()
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    viz.save_figure(fig, "x")
    assert (tmp_path / "x.png").stat().st_size > 0
