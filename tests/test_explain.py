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


def test_pointing_with_a_tolerance_counts_peaks_near_the_mask():
    maps = np.zeros((2, 20, 20))
    maps[0, 10, 14] = 1.0  # 4 px right of the mask pixel
    maps[1, 0, 0] = 1.0  # far away
    masks = np.zeros((2, 20, 20), bool)
    masks[:, 10, 10] = True
    assert explain.pointing(maps, masks)[0].tolist() == [False, False]
    assert explain.pointing(maps, masks, tolerance=3.9)[0].tolist() == [False, False]
    assert explain.pointing(maps, masks, tolerance=4)[0].tolist() == [True, False]


def test_gradcam_sanity_check_sees_randomised_weights():
    """The model-randomisation test: a trained-looking model's maps against re-initialised copies; the copies'
    weights differ where the scope says, and the table reports every scope."""
    import torch

    from brainlib import config
    from brainlib.models import build_model

    config.seed_everything(0)
    model = build_model("fastnet", input_size=32).eval()
    head = explain.randomized_copy(model, "classifier", seed=1)
    every = explain.randomized_copy(model, "all", seed=1)
    same = lambda a, b: all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters()))  # noqa: E731
    assert same(model.features, head.features) and not same(model.classifier, head.classifier)
    assert not same(model.features, every.features)
    with pytest.raises(ValueError, match="unknown scope"):
        explain.randomized_copy(model, "middle")
    images = torch.randint(0, 256, (6, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    t = explain.sanity_check(model, images, [0, 1, 2, 3, 0, 1])
    assert list(t.index) == list(explain.SANITY_SCOPES.values()) and (t["images"] == 6).all()
    assert ((t["median rank correlation"] >= -1) & (t["median rank correlation"] <= 1)).all()
    assert t.loc["every layer", "median rank correlation"] < 0.99  # new weights, new maps


def test_template_similarity_names_textbook_filters():
    t = explain.FILTER_TEMPLATES
    weights = np.stack([3 * t["vertical edge"], -t["spot"], np.zeros((3, 3))])
    sim = explain.template_similarity(weights)
    assert list(sim.index) == ["filter 0", "filter 1", "filter 2"]
    assert sim.loc["filter 0", "vertical edge"] == pytest.approx(1.0)
    assert sim.loc["filter 0", "horizontal edge"] == pytest.approx(0.0)  # Sobel x and y are orthogonal
    assert sim.loc["filter 1", "spot"] == pytest.approx(-1.0)  # a dark spot: the negative of the pattern
    assert (sim.loc["filter 2"] == 0).all()  # an all-zero filter resembles nothing
    with pytest.raises(ValueError, match="3×3"):
        explain.template_similarity(np.zeros((2, 4, 4)))
