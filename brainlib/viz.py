"""Figures used by the notebooks and the README; each returns the matplotlib Figure and, given
``save``, writes it to ``figures/<save>.png``."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from brainlib import config


def save_figure(fig, name: str | None) -> None:
    """Write ``fig`` to figures/<name>.png (stable names, committed). Only full-profile runs write:
    a smoke run must not replace the committed real-data figures."""
    if name and config.get_profile().name == "full":
        config.FIGURES_DIR.mkdir(parents=True, exist_ok=True)
        fig.savefig(config.FIGURES_DIR / f"{name}.png", dpi=110, bbox_inches="tight")


def duplicate_pairs_by_distance(
    report, distances=(0, 2, 4, 6, 8, 10, 12), per_distance: int = 3, seed: int = 0, save: str | None = None
):
    """Testing images beside their nearest Training image, a few examples for each pHash distance."""
    rng = np.random.default_rng(seed)
    pairs = report.pairs()
    fig, axes = plt.subplots(len(distances), 2 * per_distance, figsize=(2 * per_distance * 1.75, len(distances) * 2.1))
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
                a.set_title(f"Testing\n{pairs.test_label[i]}", fontsize=9)
                b.set_title(f"Training\n{pairs.train_label[i]}", fontsize=9)
        axes[row, 0].set_ylabel(f"d = {d}", fontsize=11)
    fig.suptitle("Testing image (left) and its nearest Training image (right) by pHash Hamming distance d", fontsize=11)
    fig.tight_layout(rect=(0, 0, 1, 0.98))
    save_figure(fig, save)
    return fig


def class_counts(counts: dict, save: str | None = None):
    """Bar chart of images per class for each split (``counts`` as returned by ``data.summarize``)."""
    import pandas as pd

    table = pd.DataFrame(counts).loc[list(config.CLASSES)]
    ax = table.plot.bar(figsize=(7, 3.8), rot=0)
    ax.set(ylabel="images", xlabel="", title="Images per class and split", ylim=(0, table.to_numpy().max() * 1.18))
    for container in ax.containers:
        ax.bar_label(container, fontsize=8)
    ax.legend(loc="upper left", ncols=2, fontsize=8)
    fig = ax.get_figure()
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def sample_grid(imageset, per_class: int = 6, seed: int = 0, save: str | None = None):
    """A few random images of every class (rows)."""
    rng = np.random.default_rng(seed)
    labels = imageset.labels.numpy()
    fig, axes = plt.subplots(len(config.CLASSES), per_class, figsize=(per_class * 1.5, len(config.CLASSES) * 1.6))
    for r, name in enumerate(config.CLASSES):
        idx = rng.choice(np.flatnonzero(labels == r), size=per_class, replace=False)
        for c, i in enumerate(idx):
            ax = axes[r, c]
            ax.imshow(imageset.images[i], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[r, 0].set_ylabel(name, fontsize=10)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def intensity_histograms(imageset, save: str | None = None):
    """Pixel-intensity distribution of each class (all pixels, density, log scale)."""
    labels = imageset.labels.numpy()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    for r, name in enumerate(config.CLASSES):
        pixels = imageset.images[labels == r].numpy().ravel()
        hist = np.bincount(pixels, minlength=256) / len(pixels)
        ax.plot(np.arange(256), hist, label=name)
    ax.set(yscale="log", xlabel="gray level", ylabel="fraction of pixels", title="Intensity histograms per class")
    ax.legend()
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def shortcut_plots(table, save: str | None = None):
    """File mode share and brightness per class: the cues a model could exploit instead of anatomy."""
    import seaborn as sns

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    mode_share = table.assign(rgb=table["mode"] == "RGB").groupby("label")["rgb"].mean().reindex(list(config.CLASSES))
    axes[0].bar(mode_share.index, mode_share.to_numpy(), color="tab:red")
    axes[0].set(ylabel="share of files stored as RGB", title="File colour mode by class", ylim=(0, 1))
    sns.boxplot(data=table, x="label", y="brightness", order=list(config.CLASSES), ax=axes[1])
    axes[1].set(title="Mean brightness by class", xlabel="", ylabel="mean gray level (0–255)")
    sns.boxplot(data=table, x="label", y="file_kb", order=list(config.CLASSES), ax=axes[2])
    axes[2].set(title="File size by class", xlabel="", ylabel="file size (KB)")
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def history_curves(history, title: str = "", save: str | None = None, augmented: bool = True):
    """Loss, accuracy and learning rate per epoch from an ``engine.train`` history (``augmented``: whether
    the training images were augmented, for the legend). A constant learning rate is stated in the title
    instead of drawn as a flat panel."""
    import pandas as pd

    h = pd.DataFrame(history)
    constant_lr = h["lr"].nunique() == 1
    fig, axes = plt.subplots(1, 2 if constant_lr else 3, figsize=(9 if constant_lr else 13, 3.4))
    axes[0].plot(h["epoch"], h["train_loss"], label="train")
    axes[0].plot(h["epoch"], h["val_loss"], label="validation")
    axes[0].set(xlabel="epoch", ylabel="loss", title="Loss")
    axes[1].plot(h["epoch"], h["train_acc"], label="train (augmented)" if augmented else "train")
    axes[1].plot(h["epoch"], h["val_acc"], label="validation")
    axes[1].set(xlabel="epoch", ylabel="accuracy", title="Accuracy")
    if constant_lr:
        title = f"{title} (constant learning rate {h['lr'].iloc[0]:g})"
    else:
        axes[2].plot(h["epoch"], h["lr"])
        axes[2].set(xlabel="epoch", ylabel="learning rate", title="Learning rate (at epoch start)")
    for ax in axes[:2]:
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def confusion(matrix, title: str = "", normalize: bool = False, ax=None, save: str | None = None, classes=None):
    """Heatmap of a confusion matrix (rows: true class, columns: predicted; ``classes`` default CLASSES)."""
    import seaborn as sns

    m = np.asarray(matrix, dtype=float)
    if normalize:
        m = m / np.maximum(m.sum(1, keepdims=True), 1)
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.6, 3.9))
    else:
        fig = ax.get_figure()
    sns.heatmap(
        m,
        annot=True,
        fmt=".2f" if normalize else ".0f",
        cmap="Blues",
        cbar=False,
        ax=ax,
        xticklabels=classes or config.CLASSES,
        yticklabels=classes or config.CLASSES,
    )
    ax.set(xlabel="predicted", ylabel="true", title=title)
    ax.tick_params(axis="y", labelrotation=0)
    ax.tick_params(axis="x", labelrotation=30)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def image_gallery(images, titles, columns: int = 8, title: str = "", save: str | None = None, cmap="gray"):
    """A grid of images (uint8 grayscale or RGB) with one short title each."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 1.75, rows * 2.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, img, t in zip(axes.ravel(), images, titles):
        ax.imshow(img, cmap=cmap if np.ndim(img) == 2 else None, vmin=0, vmax=255)
        ax.set_title(t, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def prediction_titles(labels, probs, idx) -> list[str]:
    """'true / predicted (confidence)' captions for images ``idx``, full class names on two lines."""
    return [
        f"true {config.CLASSES[labels[i]]}\npred {config.CLASSES[probs[i].argmax()]} {probs[i].max():.2f}" for i in idx
    ]


def reliability_diagram(tables: dict, save: str | None = None, title: str = "Reliability diagram", ax=None):
    """Reliability diagrams: ``tables`` maps a name to (ece, table) from ``metrics.calibration``."""
    fig, ax = plt.subplots(figsize=(4.5, 4.2)) if ax is None else (ax.figure, ax)
    ax.plot([0, 1], [0, 1], "k--", lw=1, label="perfect calibration")
    for name, (ece, table) in tables.items():
        ax.plot(table["confidence"], table["accuracy"], marker="o", label=f"{name} (ECE {ece:.3f})")
    ax.set(xlabel="confidence (top class)", ylabel="accuracy", title=title, xlim=(0, 1.02), ylim=(0, 1.02))
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def roc_curves(
    curves: dict,
    title: str = "",
    ax=None,
    save: str | None = None,
    show_auc: bool = True,
    legend_title: str | None = None,
    zoom: float | None = None,
):
    """ROC curves ``{name: (fpr, tpr, auc)}``, e.g. from ``metrics.roc_one_vs_rest`` (on ``ax`` when given);
    ``show_auc`` False when the names already say it."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(4.5, 4.2))
    else:
        fig = ax.get_figure()
    for name, (fpr, tpr, auc) in curves.items():
        ax.plot(fpr, tpr, label=f"{name} (AUC {auc:.3f})" if show_auc else name)
    ax.plot([0, 1], [0, 1], "k--", lw=1)
    ax.set(xlabel="false-positive rate", ylabel="true-positive rate", title=title or "One-vs-rest ROC")
    if zoom:  # near-perfect curves: show the top-left corner, where they differ
        ax.set(xlim=(-0.002, zoom), ylim=(1 - zoom, 1.002), title=f"{ax.get_title()} (top-left corner)")
    ax.legend(fontsize=8, title=legend_title, title_fontsize=8, loc="lower right")
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def ablation_plot(summary, title: str = "", save: str | None = None):
    """Mean ± std accuracy per variant (validation, official and leak-free Testing) from
    ``ablation.ablation_summary``, plus seconds per epoch."""
    views = ("validation", "official Testing", "leak-free Testing")
    fig, axes = plt.subplots(
        1, 2, figsize=(13, 0.45 * len(summary) + 2.2), sharey=True, gridspec_kw={"width_ratios": (3, 1)}
    )
    y = np.arange(len(summary))
    height = 0.8 / len(views)
    for k, view in enumerate(views):
        axes[0].barh(
            y + (k - 1) * height,
            summary[f"{view} mean"],
            height,
            xerr=summary[f"{view} std"].fillna(0),
            label=view,
            capsize=2,
        )
    low = max(0.0, float(np.nanmin([summary[f"{v} mean"].min() for v in views])) - 10)
    axes[0].set(
        xlim=(low, 100),
        xlabel="accuracy (%), mean ± std over seeds",
        yticks=y,
        yticklabels=summary.index,
        title=title or "Ablations",
    )
    axes[0].invert_yaxis()
    axes[0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=len(views), fontsize=8, frameon=False)
    axes[1].barh(y, summary["s / epoch"], color="tab:gray")
    axes[1].set(xlabel="seconds per epoch (median)", title="Training cost")
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def prediction_panel(image_uint8, probs, heatmap, true_label: int | None = None, save: str | None = None):
    """One image, a Grad-CAM heat map of its predicted class, and its class probabilities: drawn from the
    numbers given (compute them with :func:`brainlib.explain.explain_image`)."""
    from brainlib import explain

    image = np.asarray(image_uint8)
    probs = np.asarray(probs, dtype=float)
    predicted = config.CLASSES[int(probs.argmax())]
    fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
    axes[0].imshow(image, cmap="gray", vmin=0, vmax=255)
    axes[0].set_title("image" if true_label is None else f"true: {config.CLASSES[int(true_label)]}")
    axes[1].imshow(explain.overlay(image, np.asarray(heatmap)))
    axes[1].set_title(f"Grad-CAM of '{predicted}'")
    for ax in axes[:2]:
        ax.axis("off")
    axes[2].barh(list(config.CLASSES), probs)
    axes[2].set(xlim=(0, 1), title="probabilities")
    axes[2].invert_yaxis()
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def first_layer_filters(weights, save: str | None = None):
    """Filters (K×h×w, e.g. a first convolution's weights summed over input channels, from
    :func:`brainlib.explain.first_layer_weights`) as pictures on one colour scale."""
    w = np.asarray(weights, dtype=float)
    vmax = float(np.abs(w).max()) or 1.0
    fig, axes = plt.subplots(1, len(w), figsize=(2 * len(w), 2.3), squeeze=False)
    for k, ax in enumerate(axes[0]):
        shown = ax.imshow(w[k], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax.set_title(f"filter {k}")
        ax.axis("off")
    fig.suptitle("First-layer filters (red positive, blue negative)")
    fig.tight_layout()
    fig.colorbar(shown, ax=axes[0].tolist(), shrink=0.8, label="weight")
    save_figure(fig, save)
    return fig


def feature_maps(images_uint8, maps, labels, save: str | None = None):
    """Each image beside its feature maps (N×K×h×w, from :func:`brainlib.explain.feature_maps`), all maps on
    one colour scale so they can be compared."""
    images, maps = np.asarray(images_uint8), np.asarray(maps, dtype=float)
    channels = maps.shape[1]
    fig, axes = plt.subplots(len(images), channels + 1, figsize=(2 * (channels + 1), 2.1 * len(images)), squeeze=False)
    vmax = float(maps.max()) or 1.0
    for r in range(len(images)):
        axes[r, 0].imshow(images[r], cmap="gray", vmin=0, vmax=255)
        axes[r, 0].set_ylabel(config.CLASSES[int(labels[r])])
        for k in range(channels):
            shown = axes[r, k + 1].imshow(maps[r, k], cmap="magma", vmin=0, vmax=vmax)
            if r == 0:
                axes[r, k + 1].set_title(f"filter {k}")
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    if channels:
        fig.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), shrink=0.6, label="activation (after ReLU)")
    save_figure(fig, save)
    return fig


def outlined_gallery(
    images, outlines, titles, columns: int = 6, title: str = "", heatmaps=None, save: str | None = None
):
    """Grayscale images with a red outline of a boolean mask each (tumor box or mask); with ``heatmaps``
    (values in [0, 1], any size) a Grad-CAM overlay is drawn under the outline, with a colour bar."""
    n = len(images)
    rows = max(1, -(-n // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.0, rows * 2.3), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    shown = None
    for i, (ax, img, outline, t) in enumerate(zip(axes.ravel(), images, outlines, titles)):
        ax.imshow(img, cmap="gray", vmin=0, vmax=255)
        if heatmaps is not None:
            size = np.shape(img)[0]
            extent = (-0.5, size - 0.5, size - 0.5, -0.5)
            shown = ax.imshow(heatmaps[i], cmap="jet", alpha=0.4, vmin=0, vmax=1, extent=extent)
        if np.any(outline):
            ax.contour(outline, levels=[0.5], colors="red", linewidths=1.2)
        ax.set_title(t, fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    if shown is not None:
        fig.colorbar(shown, ax=axes.ravel().tolist(), shrink=0.6, label="Grad-CAM (0–1)")
    save_figure(fig, save)
    return fig


def crossval_vs_literature(folds: dict, published, save: str | None = None):
    """Patient-level accuracy (%): each of our models' fold accuracies (dots) with mean ± std, beside the
    published means (diamonds). ``folds`` maps a model name to its fold accuracies in [0, 1];
    ``published`` is a DataFrame with ``method`` and ``accuracy (%)`` columns."""
    names = list(folds) + list(published["method"])
    fig, ax = plt.subplots(figsize=(7.5, 0.55 * len(names) + 1.2))
    for y, accs in enumerate(folds.values()):
        a = 100 * np.asarray(accs)
        ax.scatter(a, np.full(len(a), y), color="C0", alpha=0.6, s=22, label="one test fold" if y == 0 else None)
        sd = a.std(ddof=1) if len(a) > 1 else 0
        ax.errorbar(
            a.mean(),
            y,
            xerr=sd,
            fmt="o",
            color="C3",
            ms=7,
            capsize=4,
            label="mean ± std over folds" if y == 0 else None,
        )
        ax.annotate(
            f"{a.mean():.1f} %", (a.mean(), y), xytext=(0, 8), textcoords="offset points", ha="center", fontsize=8
        )
    for j, (_, row) in enumerate(published.iterrows(), start=len(folds)):
        ax.scatter(
            row["accuracy (%)"], j, marker="D", color="C2", s=40, label="published mean" if j == len(folds) else None
        )
        ax.annotate(
            f"{row['accuracy (%)']:.1f} %",
            (row["accuracy (%)"], j),
            xytext=(0, 8),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(len(names) - 0.4, -0.6)
    ax.set_xlabel("accuracy on figshare-cheng (%); protocols differ, see the table")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def intensity_by_group(groups: dict, threshold: int = 10, title: str = "", save: str | None = None):
    """Gray-level distribution inside the head (pixels above ``threshold``) of each group of uint8 images:
    ``groups`` maps a name to an N×H×W array. Densities on a linear scale, one line per group."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6))
    for name, images in groups.items():
        pixels = np.asarray(images).ravel()
        pixels = pixels[pixels > threshold]
        hist = np.bincount(pixels, minlength=256)[threshold + 1 :] / max(len(pixels), 1)
        median = int(np.median(pixels)) if len(pixels) else 0
        ax.plot(np.arange(threshold + 1, 256), hist, label=f"{name} (median {median})")
    ax.set(
        xlabel=f"gray level (pixels above {threshold}, i.e. inside the head)",
        ylabel="fraction of pixels",
        title=title or "Intensity inside the head",
    )
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def training_statistics_plot(stats: dict, save: str | None = None):
    """Per-step training statistics of several runs (``{label: explain.training_statistics(...)}``): loss, the share
    of zero ReLU outputs in the last convolution, and the weight-gradient norm of the first and last convolution."""
    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for label, table in stats.items():
        first, last = table["layer"].min(), table["layer"].max()
        per_step = table[table["layer"] == last]
        axes[0].plot(per_step["step"], per_step["loss"], label=label)
        axes[1].plot(per_step["step"], 100 * per_step["zero ReLU outputs"], label=label)
        axes[2].plot(per_step["step"], table[table["layer"] == first]["gradient norm"], label=label)
        axes[3].plot(per_step["step"], per_step["gradient norm"], label=label)
    titles = (
        "training loss",
        "zero ReLU outputs, last conv (%)",
        "gradient norm, first conv",
        "gradient norm, last conv",
    )
    for ax, title in zip(axes, titles):
        ax.set(title=title, xlabel="training step (batch)")
    axes[1].set_ylim(0, 100)
    for ax in axes[2:]:
        ax.set_yscale("log")
    axes[0].set_ylabel("cross-entropy")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    save_figure(fig, save)
    return fig


def filter_rows(rows: dict, columns: int = 16, save: str | None = None):
    """First-layer filters of several models, one row of pictures per model (``rows``: name → K×h×w weights, e.g.
    from :func:`brainlib.explain.first_layer_weights`), each filter on its own symmetric colour scale (red positive,
    blue negative, white zero): the shape of a filter is what matters here, not its size. At most ``columns`` per
    row."""
    rows = {name: np.asarray(w, dtype=float)[:columns] for name, w in rows.items()}
    n = max(len(w) for w in rows.values())
    fig, axes = plt.subplots(len(rows), n, figsize=(0.9 * n, 1.35 * len(rows) + 0.4), squeeze=False)
    for r, (name, w) in enumerate(rows.items()):
        for k in range(n):
            ax = axes[r][k]
            ax.axis("off")
            if k < len(w):
                vmax = float(np.abs(w[k]).max()) or 1.0
                ax.imshow(w[k], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        axes[r][0].set_title(name, loc="left", fontsize=10)
    fig.suptitle("First-layer filters, one colour scale per filter (red positive, blue negative)", fontsize=11)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.03, top=0.82, wspace=0.12, hspace=0.55)
    save_figure(fig, save)
    return fig


def filters_beside_initial(trained, initial, save: str | None = None):
    """First-layer filters (K×h×w, e.g. from :func:`brainlib.explain.first_layer_weights`) after training beside
    the same filters at their random initialisation: one column per filter, the two on one symmetric colour scale of
    their own (red positive, blue negative, white zero, a colour bar under each column), each weight written in its
    square when the filters are small, so a reader can see how far every filter moved."""
    trained, initial = np.asarray(trained, dtype=float), np.asarray(initial, dtype=float)
    if trained.shape != initial.shape or trained.ndim != 3:
        raise ValueError(f"expected two K×h×w arrays of one shape, got {trained.shape} and {initial.shape}")
    k, h, w = trained.shape
    fig, axes = plt.subplots(
        2, k, figsize=(max(1.9 * k, 4.0), 4.6), squeeze=False, layout="constrained", gridspec_kw={"hspace": 0.08}
    )
    for col in range(k):
        vmax = float(max(np.abs(trained[col]).max(), np.abs(initial[col]).max())) or 1.0
        for row, (name, weights) in enumerate((("random start", initial), ("trained", trained))):
            ax = axes[row, col]
            shown = ax.imshow(weights[col], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.set_ylabel(name, fontsize=10)
            if row == 0:
                ax.set_title(f"filter {col}", fontsize=10)
            if h * w <= 25:  # small kernels: every weight written in its square
                for (y, x), value in np.ndenumerate(weights[col]):
                    ink = "white" if abs(value) > 0.6 * vmax else "black"
                    text = f"{value:.2f}".replace("-0.00", "0.00")
                    ax.text(x, y, text, ha="center", va="center", fontsize=7, color=ink)
        bar = fig.colorbar(shown, ax=axes[:, col].tolist(), orientation="horizontal", location="bottom", shrink=0.9)
        bar.set_ticks([-vmax, 0, vmax], labels=[f"{-vmax:.2f}", "0", f"{vmax:.2f}"])
        bar.ax.tick_params(labelsize=7)
        bar.set_label("weight", fontsize=8)
    fig.suptitle("First-layer filters at their random start and trained\n(one colour scale per filter)", fontsize=11)
    save_figure(fig, save)
    return fig
