"""brainlib.explain: Grad-CAM stages and the localisation geometry (tumor boxes, pointing game, priors)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from brainlib import explain

pytestmark = pytest.mark.usefixtures("single_torch_thread")


def test_pointing_hits_and_energy():
    maps = np.zeros((2, 10, 10))
    maps[0, 2, 2] = 1.0  # peak inside
    maps[1, 8, 8] = 1.0  # peak outside
    maps[1, 2, 3] = 0.5
    masks = np.zeros((2, 10, 10), bool)
    masks[:, 1:4, 1:4] = True
    hit, energy = explain.pointing(maps, masks)
    assert hit.tolist() == [True, False]
    assert energy == pytest.approx([1.0, 0.5 / 1.5])


def test_peaks_and_distance_to_box():
    maps = np.zeros((1, 4, 8))
    maps[0, 1, 6] = 1
    assert explain.peaks(maps).tolist() == [[1.5 / 4, 6.5 / 8]]
    boxes = np.array([[0.5, 0.5, 0.2, 0.2]] * 3)  # x 0.4-0.6, y 0.4-0.6
    points = np.array([[0.5, 0.5], [0.5, 0.7], [0.9, 0.9]])  # inside, 0.1 right, (0.3, 0.3) diagonal
    assert explain.distance_to_box(points, boxes) == pytest.approx([0, 0.1, np.hypot(0.3, 0.3)])


def test_gradcam_stages_of_both_models():
    from brainlib import explain
    from brainlib.models import build_model

    fast, seed = build_model("fastnet"), build_model("seed")
    assert explain.cam_grid(fast, -1, 160) == 5 and explain.cam_grid(fast, -2, 160) == 10
    assert explain.cam_grid(seed, -1, 224) == 112 and explain.cam_grid(seed, -2, 224) == 224
    assert explain.target_layer(seed, -2) is not explain.target_layer(seed, -1)


def test_box_masks_and_centred_prior():
    table = pd.DataFrame({"x_center": [0.5], "y_center": [0.25], "width": [0.5], "height": [0.5]})
    m = explain.box_masks(table, 8)[0]
    assert m.sum() == 16 and m[0:4, 2:6].all()
    prior = explain.centred_prior(9)
    assert np.unravel_index(prior.argmax(), prior.shape) == (4, 4)
