"""brainlib.datasets: the registry, each dataset's index and its checks, loading, the content fingerprint (on
SYNTHETIC stand-ins of the layouts; fetchers, cross-validation and the external report have their own files)."""

from __future__ import annotations

import contextlib
import io

import pandas as pd
import pytest

from brainlib import cli, config, datasets, external
from brainlib.data import DataError

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = cli.main(argv)
    return rc, out.getvalue(), err.getvalue()


# ----------------------------------------------------------------------------- registry and layouts
def test_registry_lists_the_three_datasets_with_env_vars():
    assert set(datasets.DATASETS) == {"brain-tumor-mri", "figshare-cheng", "tcga-lgg"}
    assert datasets.get("brain-tumor-mri").env_var == "BRAINLIB_DATA_DIR"
    with pytest.raises(DataError, match="unknown dataset"):
        datasets.get("mnist")


def test_root_from_env_and_override(monkeypatch, tmp_path):
    spec = datasets.get("figshare-cheng")
    monkeypatch.setenv("BRAINLIB_FIGSHARE_DIR", str(tmp_path / "a"))
    assert spec.root() == tmp_path / "a"
    assert spec.root(tmp_path / "b") == tmp_path / "b"
    monkeypatch.delenv("BRAINLIB_FIGSHARE_DIR")
    assert spec.root() == config.PROJ_ROOT / "data" / "figshare-cheng"


def test_figshare_index_and_load(figshare_root):
    table = datasets.get("figshare-cheng").table(figshare_root)
    assert len(table) == 30 and sorted(table["fold"].unique()) == [1, 2, 3, 4, 5]
    assert {"x_center", "width", "index"} <= set(table.columns)
    data = datasets.load("figshare-cheng", 32, figshare_root)
    assert data.images.images.shape == (30, 32, 32)
    assert [datasets.FIGSHARE_CLASSES[y] for y in data.images.labels.tolist()] == list(data.table["label"])


def test_figshare_missing_images_are_skipped_with_a_warning(figshare_root, tmp_path):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    (root / "images" / "glioma" / "1.jpg").unlink()
    with pytest.warns(UserWarning, match="1 images listed in folds.csv are missing"):
        table = datasets.get("figshare-cheng").table(root)
    assert len(table) == 29


@pytest.mark.parametrize("breakage", ["no_images", "no_folds", "bad_columns", "unknown_class", "missing_folder"])
def test_figshare_wrong_layout_is_a_one_line_error(figshare_root, tmp_path, breakage):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    if breakage == "no_images":
        shutil.rmtree(root / "images")
    elif breakage == "no_folds":
        (root / "folds.csv").unlink()
    elif breakage == "bad_columns":
        (root / "folds.csv").write_text("a,b\n1,2\n")
    elif breakage == "unknown_class":
        (root / "images" / "glioma").rename(root / "images" / "astrocytoma")
        t = pd.read_csv(root / "folds.csv")
        t.loc[t["label"] == "glioma", "label"] = "astrocytoma"
        t.to_csv(root / "folds.csv", index=False)
    else:
        root = tmp_path / "nothing"
    with pytest.raises(DataError) as e:
        datasets.get("figshare-cheng").table(root)
    assert "\n" not in str(e.value)


def test_tcga_index_and_repeated_flair(tcga_root):
    table = datasets.get("tcga-lgg").table(tcga_root)
    assert len(table) == 4 * 2 * 3 and set(table["sequence"]) == set(datasets.TCGA_SEQUENCES)
    data = datasets.load("tcga-lgg", 32, tcga_root)
    repeats = external.repeats_other_sequence(data)
    flagged = data.table[repeats]
    assert set(flagged["sequence"]) == {"postcontrast"} and set(flagged["patient"]) == {"SYNTH_00"}


def test_content_fingerprint_sees_same_size_replacements(figshare_root, tmp_path):
    import shutil

    root = shutil.copytree(figshare_root, tmp_path / "copy")
    paths = list(datasets.get("figshare-cheng").table(root)["path"])
    before = datasets.content_fingerprint(root, paths)
    f = root / paths[0]
    raw = bytearray(f.read_bytes())
    raw[-3] ^= 0xFF  # same size, other bytes
    f.write_bytes(bytes(raw))
    assert datasets.content_fingerprint(root, paths) != before


# ----------------------------------------------------------------------------- pointing game


# ----------------------------------------------------------------------------- cross-validation


# ----------------------------------------------------------------------------- external shift


# ----------------------------------------------------------------------------- fetch
