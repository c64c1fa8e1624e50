"""brainlib.metrics: cluster bootstrap intervals."""

from __future__ import annotations

import numpy as np
import pytest

from brainlib import metrics


def test_cluster_bootstrap_is_wider_than_image_bootstrap():
    # 20 clusters of 10 identical outcomes: only 20 independent observations, not 200
    y = np.zeros(200, int)
    pred = np.repeat(np.r_[np.zeros(14, int), np.ones(6, int)], 10)
    clusters = np.repeat(np.arange(20), 10)
    lo_i, hi_i = metrics.bootstrap_ci(y, pred, n_boot=400, seed=0)
    lo_c, hi_c = metrics.bootstrap_ci(y, pred, n_boot=400, seed=0, groups=clusters)
    assert lo_c <= 0.7 <= hi_c and lo_i <= 0.7 <= hi_i
    assert (hi_c - lo_c) > 2 * (hi_i - lo_i)
    with pytest.raises(ValueError, match="group ids"):
        metrics.bootstrap_ci(y, pred, groups=clusters[:10])


def test_cluster_bootstrap_of_singletons_equals_image_bootstrap_in_distribution():
    rng = np.random.default_rng(0)
    y, pred = rng.integers(0, 4, 300), rng.integers(0, 4, 300)
    lo_i, hi_i = metrics.bootstrap_ci(y, pred, n_boot=2000, seed=1)
    lo_c, hi_c = metrics.bootstrap_ci(y, pred, n_boot=2000, seed=1, groups=np.arange(300))
    assert abs(lo_i - lo_c) < 0.02 and abs(hi_i - hi_c) < 0.02
