"""The teaching track's helpers: training statistics (why batch normalisation), their figure, and the Colab stamp.
All data here is SYNTHETIC."""

from __future__ import annotations

import dataclasses
import json

import matplotlib

matplotlib.use("Agg")

import nbformat  # noqa: E402
import pytest  # noqa: E402

from brainlib import colab, datasets, explain, recipes, viz  # noqa: E402


@pytest.fixture(scope="module")
def small_train(synthetic_root):
    return datasets.load_split("Training", 32, synthetic_root)


def test_training_statistics_records_every_conv_and_step(small_train):
    cfg = recipes.train_config("seed", model_kwargs={"input_size": 32}, batch_size=8)
    stats = explain.training_statistics(cfg, small_train, steps=5)
    assert sorted(stats["layer"].unique()) == [1, 2, 3, 4, 5, 6]
    assert sorted(stats["step"].unique()) == [1, 2, 3, 4, 5]  # more steps than one epoch of 24 images holds
    assert stats["zero ReLU outputs"].between(0, 1).all() and (stats["gradient norm"] >= 0).all()
    # the reason for batch normalisation, measured: far larger first-layer gradients at the start
    bn = explain.training_statistics(
        dataclasses.replace(cfg, model_kwargs={"input_size": 32, "batch_norm": True}), small_train, steps=1
    )
    plain_g = stats[(stats["layer"] == 1) & (stats["step"] == 1)]["gradient norm"].item()
    bn_g = bn[bn["layer"] == 1]["gradient norm"].item()
    assert bn_g > 10 * plain_g
    fig = viz.training_statistics_plot({"plain": stats, "BN": bn})
    assert len(fig.axes) == 4 and fig.axes[2].get_yscale() == "log"


def _notebook(path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# 05 · Title"), nbformat.v4.new_code_cell("import brainlib")]
    nbformat.write(nb, path)
    return path


def test_colab_stamp_adds_badge_and_setup_once(tmp_path):
    path = _notebook(tmp_path / "05_inside_the_cnn.ipynb")
    assert colab.stamp(path, "someone/brainlib-workbook")
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.startswith("[![Open In Colab]")
    assert "colab.research.google.com/github/someone/brainlib-workbook/blob/main/notebooks/05_inside_the_cnn" in (
        nb.cells[0].source
    )
    assert nb.cells[1].metadata["tags"] == [colab.SETUP_TAG]
    assert "https://github.com/someone/brainlib-workbook" in nb.cells[1].source
    assert 'if "google.colab" in sys.modules' in nb.cells[1].source  # does nothing outside Colab
    assert not colab.stamp(path, "someone/brainlib-workbook")  # idempotent
    assert colab.stamp(path, "other/fork", branch="dev")  # re-stamping replaces, never duplicates
    nb = nbformat.read(path, as_version=4)
    assert nb.cells[0].source.count("Open In Colab") == 1 and len(nb.cells) == 3
    assert "other/fork/blob/dev" in nb.cells[0].source and "other/fork" in nb.cells[1].source
    compile(nb.cells[1].source, "setup", "exec")  # the set-up cell is valid Python


def test_colab_cli_refuses_a_bad_repository_name(capsys):
    assert colab.main(["not a repo"]) == 2
    assert "OWNER/NAME" in capsys.readouterr().err


def test_every_numbered_notebook_has_goals_runtime_summary_and_solutions():
    root = colab.config.PROJ_ROOT / "notebooks"
    for path in sorted(root.glob("[0-9][0-9]_*.ipynb")):
        cells = json.loads(path.read_text())["cells"]
        text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
        assert "**Learning goals.**" in text and "**Prerequisites.**" in text and "**Run time**" in text, path.name
        assert "{{" not in text, f"{path.name}: a placeholder was left in the prose"
        assert "## Summary" in text and "Exercises" in text, path.name
        assert (root / "solutions" / f"{path.stem}_solutions.ipynb").exists(), path.name
