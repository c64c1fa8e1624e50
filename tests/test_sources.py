"""brainlib.sources: Kaggle images traced to figshare slices by pHash, and the stricter Testing subset that drops a
figshare slice whose same-patient neighbours (same fold and class, nearby index) are in Training. SYNTHETIC images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import torch

from brainlib import datasets, sources
from brainlib.data import ImageSet


def _images(arrays, labels, names):
    return ImageSet(torch.from_numpy(np.stack(arrays)), torch.tensor(labels), names, Path("."), "synthetic")


def _blob(seed):
    """A smooth random 224-px image (pHash sees its layout, not its noise)."""
    g = np.random.default_rng(seed).normal(size=(7, 7))
    img = np.kron(g, np.ones((32, 32)))
    return ((img - img.min()) / (np.ptp(img) + 1e-9) * 255).astype(np.uint8)


def test_a_kaggle_image_is_traced_to_its_figshare_slice_of_the_same_class_only(single_torch_thread):
    fig_arrays = [_blob(s) for s in range(4)]
    table = pd.DataFrame(
        {
            "path": [f"f{i}.jpg" for i in range(4)],
            "label": ["glioma", "glioma", "pituitary", "pituitary"],
            "fold": [1, 1, 2, 2],
            "index": [10, 11, 20, 21],
        }
    )
    figshare = datasets.LabeledImages(None, _images(fig_arrays, [0, 0, 2, 2], list(table["path"])), table)
    # Kaggle classes: glioma 0, meningioma 1, notumor 2, pituitary 3
    kaggle = _images([fig_arrays[1], fig_arrays[2], fig_arrays[3], _blob(99)], [0, 3, 2, 0], ["a", "b", "c", "d"])
    m = sources.figshare_matches(kaggle, figshare).set_index("path")
    assert m.loc["a", "source"] == sources.FIGSHARE and m.loc["a", "figshare_index"] == 11
    assert m.loc["b", "source"] == sources.FIGSHARE and m.loc["b", "fold"] == 2
    assert m.loc["c", "source"] == sources.OTHER  # no-tumor: no figshare counterpart, whatever its pixels
    assert m.loc["d", "source"] == sources.OTHER and m.loc["d", "figshare_index"] == -1


def test_a_testing_slice_with_a_training_neighbour_of_its_patient_is_dropped():
    f = sources.FIGSHARE
    train = pd.DataFrame(
        {
            "source": [f, f, f, sources.OTHER],
            "fold": [1, 2, 1, -1],
            "label": ["glioma", "glioma", "meningioma", "glioma"],
            "figshare_index": [100, 205, 300, -1],
        }
    )
    test = pd.DataFrame(
        {
            "source": [f, f, f, f, sources.OTHER],
            "fold": [1, 1, 1, 2, -1],
            "label": ["glioma", "glioma", "glioma", "glioma", "glioma"],
            "figshare_index": [101, 103, 104, 204, -1],
        }
    )
    # 101 and 103 are within 3 of Training's 100 (fold 1); 104 is not; 204 is next to Training's 205 (fold 2);
    # Training's meningioma 300 and the untraced images count for nothing
    assert sources.neighbour_in_training(test, train, window=3).tolist() == [True, True, False, True, False]
    assert sources.neighbour_in_training(test, train, window=1).tolist() == [True, False, False, True, False]
    test.loc[0, "fold"] = 2  # another fold is another patient
    assert not sources.neighbour_in_training(test, train, window=3)[0]


def test_the_border_control_sees_only_the_frame():
    img = np.zeros((2, 224, 224), dtype=np.uint8)
    img[1, 16:-16, 16:-16] = 255  # a bright centre: invisible to the border control
    b = sources.border_pixels(img)
    assert b.shape == (2, 4 * 2 * 28) and np.array_equal(b[0], b[1])
    img[1, :8, :8] = 80
    assert sources.border_pixels(img)[1].max() == 80
    stats = sources.image_statistics(img)
    assert stats.shape == (2, 11) and stats[1, 0] > stats[0, 0]  # whole-image statistics do see the centre


def test_the_stricter_mask_reads_the_sources_table_by_path(tmp_path):
    import io

    table = pd.DataFrame(
        {
            "split": ["Training", "Testing", "Testing", "Testing"],
            "path": ["Training/glioma/a.jpg", "Testing/glioma/b.jpg", "Testing/glioma/c.jpg", "Testing/notumor/d.jpg"],
            "stricter": [None, True, False, True],
        }
    )
    table = pd.read_csv(io.StringIO(table.to_csv(index=False)))  # as the committed file reads back
    paths = ["Testing/notumor/d.jpg", "Testing/glioma/c.jpg", "Testing/glioma/b.jpg", "Testing/glioma/unlisted.jpg"]
    assert sources.stricter_mask(paths, table).tolist() == [True, False, True, False]
