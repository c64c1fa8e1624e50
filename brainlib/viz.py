"""Figures used by the notebooks and the README; each returns the matplotlib Figure and, given
``save``, writes it to ``figures/<save>.png``."""

from __future__ import annotations

import matplotlib

matplotlib.use(matplotlib.get_backend() if matplotlib.get_backend() != "agg" else "agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from brainlib import config  # noqa: E402


def save_figure(fig, name: str | None) -> None:
    """Write ``fig`` to figures/<name>.png (stable names, committed)."""
    if name:
        config.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
        fig.savefig(config.FIGURES_DIR / f"{name}.png", dpi=110, bbox_inches="tight")


def duplicate_pairs_by_distance(report, distances=(0, 2, 4, 6, 8, 10, 12), per_distance: int = 3, seed: int = 0,
                                save: str | None = None):
    """Testing images beside their nearest Training image, a few examples for each pHash distance."""
    rng = np.random.default_rng(seed)
    pairs = report.pairs()
    fig, axes = plt.subplots(len(distances), 2 * per_distance, figsize=(2 * per_distance * 1.6, len(distances) * 1.75))
    for row, d in enumerate(distances):
        idx = np.flatnonzero(pairs["distance"].to_numpy() == d)
        chosen = rng.choice(idx, size=min(per_distance, len(idx)), replace=False) if len(idx) else []
        for k in range(per_distance):
            a, b = axes[row, 2 * k], axes[row, 2 * k + 1]
            for ax in (a, b):
                ax.set_xticks([])
                ax.set_yticks([])
            if k < len(chosen):
                i = chosen[k]
                a.imshow(report.test.images[i], cmap="gray", vmin=0, vmax=255)
                b.imshow(report.train.images[report.nearest_train[i]], cmap="gray", vmin=0, vmax=255)
                a.set_title(f"Te {pairs.test_label[i][:4]}", fontsize=7)
                b.set_title(f"Tr {pairs.train_label[i][:4]}", fontsize=7)
        axes[row, 0].set_ylabel(f"d = {d}", fontsize=9)
    fig.suptitle("Testing image (left) and its nearest Training image (right) by pHash Hamming distance d", fontsize=9)
    fig.tight_layout()
    save_figure(fig, save)
    return fig
