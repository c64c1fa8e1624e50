"""Figures: each helper draws on a headless backend and writes only in the full profile."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from brainlib import config, explain, viz, workbook  # noqa: E402
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


def test_filters_beside_initial_share_one_scale_per_filter():
    trained = np.stack([np.full((3, 3), 0.5), -np.eye(3)])
    initial = np.stack([np.full((3, 3), -0.25), np.eye(3) * 2])
    fig = viz.filters_beside_initial(trained, initial)
    pictures = [ax for ax in fig.axes if ax.images]
    assert len(pictures) == 2 * 2 and len(fig.axes) == 2 * 2 + 2  # two rows of filters, one colour bar per filter
    for col, vmax in enumerate((0.5, 2.0)):  # the larger |weight| of the filter's two versions
        for row in range(2):
            assert pictures[2 * row + col].images[0].get_clim() == (-vmax, vmax)
    assert pictures[0].get_ylabel() == "random start" and pictures[2].get_ylabel() == "trained"
    with pytest.raises(ValueError, match="one shape"):
        viz.filters_beside_initial(trained, initial[:1])


def _timed_notebook(path, durations):
    import nbformat

    nb = nbformat.v4.new_notebook()
    setup = nbformat.v4.new_code_cell("print('profile: full')")
    setup.outputs = [nbformat.v4.new_output("stream", name="stdout", text="profile: full | device: cpu\n")]
    nb.cells = [
        nbformat.v4.new_markdown_cell("# 05 · Title"),
        setup,
        nbformat.v4.new_markdown_cell("## 1. First\n\ntext\n### a subsection, not a section"),
        nbformat.v4.new_code_cell("a = 1"),
        nbformat.v4.new_code_cell("b = 2"),
        nbformat.v4.new_markdown_cell("text, then a heading inside the cell\n\n## 2. Second"),
        nbformat.v4.new_code_cell("c = 3"),
        nbformat.v4.new_markdown_cell("## Exercises"),
    ]
    for cell, seconds in zip([c for c in nb.cells if c.cell_type == "code"], durations):
        if seconds is not None:
            cell.metadata["papermill"] = {"duration": seconds, "status": "completed"}
    nbformat.write(nb, path)
    return path


def test_section_times_read_papermill_durations(tmp_path):
    times = workbook.section_times(_timed_notebook(tmp_path / "nb.ipynb", [1.0, 2.0, 3.5, None]))
    assert list(times.index) == [workbook.SETUP_SECTION, "1. First", "2. Second", "Exercises"]
    assert times["seconds"].iloc[:2].tolist() == [1.0, 5.5]
    assert np.isnan(times.loc["2. Second", "seconds"])  # code that was never timed
    assert times.loc["Exercises", "seconds"] == 0 and times.loc["Exercises", "code cells"] == 0
    assert times.attrs["run"] == "profile: full | device: cpu"
    missing = workbook.section_times(tmp_path / "no such notebook.ipynb")  # e.g. opened outside the repository
    assert list(missing.index) == [workbook.SETUP_SECTION] and missing.attrs["run"] is None


def test_lesson_plan_fits_its_lessons_and_times_them(tmp_path):
    times = workbook.section_times(_timed_notebook(tmp_path / "nb.ipynb", [1.0, 2.0, 3.5, 0.2]))
    plan = [
        (1, 10, [workbook.SETUP_SECTION, "1"], "run it"),
        (2, 30, ["2"], "discuss"),
        (2, 5, ["Exercises"], "hand out 1"),
    ]
    text = workbook.lesson_plan(plan, times, lesson_minutes=45)
    assert "**Lesson 1** (10 of 45 minutes)" in text and "**Lesson 2** (35 of 45 minutes)" in text
    assert "| 0–10 | set-up · *1. First* | 6.5 s | run it |" in text
    assert "| 30–35 | *Exercises* | — | hand out 1 |" in text
    assert "above *2. Second*" in text and "6.5 s of cell time" in text  # lesson 2 starts in a fresh kernel
    assert "Not in the plan" not in text
    assert "Not in the plan: *2. Second*" in workbook.lesson_plan(plan[:1], times)
    partly = workbook.section_times(_timed_notebook(tmp_path / "partly.ipynb", [1.0, 2.0, None, None]))
    assert "| 3.0 s (part not recorded) |" in workbook.lesson_plan(plan, partly)  # a new cell, not run yet
    untimed = workbook.section_times(_timed_notebook(tmp_path / "untimed.ipynb", [None] * 4))
    assert "not recorded" in workbook.lesson_plan(plan, untimed)
    with pytest.raises(ValueError, match="more than 45"):
        workbook.lesson_plan([(1, 50, ["1"], "too long")], times)
    with pytest.raises(ValueError, match="does not have"):
        workbook.lesson_plan([(1, 5, ["9"], "no such section")], times)
