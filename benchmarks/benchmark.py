"""Seed recipe vs the default (robust) recipe, trained back to back on this machine in one invocation.

Each recipe runs in its own child process (so peak memory is its own), trains with its default
settings on the same group-aware train/validation split, and is evaluated on the official Testing
split and its leak-free subset. Writes results/benchmark.csv and figures/benchmark.png.

The benchmark is a study like the others: each recipe's run is one record of the one result cache
(brainlib.studies, protocol kaggle-holdout, 2 torch threads), holding its per-epoch times, inference speed
and peak memory beside its accuracies, so a rerun redraws the table and the figure from the committed
records instead of retraining. Its times are those of the machine that trained it (the record says which);
--force retrains, to time this machine.

    python benchmarks/benchmark.py                 # both recipes, full profile (from the cache when there)
    python benchmarks/benchmark.py --force         # retrain both here (back to back: the ratio is the number)
    python benchmarks/benchmark.py --save-models   # retrain and also write each recipe's own checkpoint (models/
                                                   # in the full profile on real data, runs/ otherwise)

A smoke-profile or synthetic run writes its table under results/<profile>/ (or results/synthetic/), never over
the committed results/benchmark.csv.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's brainlib, not an installed one

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from brainlib import config, engine, evaluation, recipes, studies, sweep  # noqa: E402
from brainlib.data import is_synthetic  # noqa: E402
from brainlib.models import build_model, count_parameters  # noqa: E402

COMPARED = ("seed", recipes.DEFAULT)  # the published recipe and the default
TARGETS = (0.75, 0.90)  # time-to-accuracy: training seconds until validation accuracy first reaches each
THREADS = 2  # torch threads per run (fixed: part of every record's key)
EVALUATION = "benchmark: per-epoch times, inference speed, peak memory"  # what a record holds beyond the protocol
RECORD_FIELDS = ("history", "train_images_per_s", "inference_images_per_s", "test_accuracy", "leak_free_accuracy")


def run_key(name: str) -> str:
    """The recipe's benchmark run in the one result cache: its configuration on the data and split it trains on."""
    profile = config.get_profile()
    cfg = recipes.train_config(name)
    data = evaluation.prepare_data(evaluation.model_size(cfg), profile=profile)
    fingerprint, split = evaluation.holdout_identity(data)
    cfg = dataclasses.replace(cfg, synthetic=data.synthetic)
    return studies.run_key(cfg, studies.KAGGLE_HOLDOUT, fingerprint, split, profile.name, THREADS, EVALUATION)


def cached_or_run(name: str, save: bool, force: bool) -> dict:
    """The recipe's record from the cache, or trained now (``force`` or ``save``: always) and stored."""
    profile = config.get_profile().name
    cache = studies.ResultCache()
    key = run_key(name)
    if not (force or save):
        record = cache.get(studies.KAGGLE_HOLDOUT, profile, key, RECORD_FIELDS)
        if record is not None:
            return {**record, "cached": True}
    cache.check_writable(studies.KAGGLE_HOLDOUT, profile)  # refused before anything trains
    with sweep.torch_threads(THREADS):
        record = {"key": key, "config": recipes.train_config(name).as_dict(), "threads": THREADS, **run_one(name, save)}
    cache.put(studies.KAGGLE_HOLDOUT, profile, f"benchmark-{name}", record)
    return {**record, "cached": False}


def run_one(name: str, save: bool) -> dict:
    cfg = recipes.train_config(name)
    out = recipes.output_path(name, cfg, config.get_profile().name, is_synthetic()) if save else None
    t0 = time.perf_counter()
    result = evaluation.train_and_evaluate(cfg, out=out, progress=False)
    wall = time.perf_counter() - t0
    hist = pd.DataFrame(result["history"])
    elapsed = hist["seconds"].cumsum()
    to_acc = {}
    for target in TARGETS:
        reached = hist.index[hist["val_acc"] >= target]
        to_acc[f"seconds_to_val_acc_{target:.2f}"] = float(elapsed[reached[0]]) if len(reached) else float("nan")
    net = build_model(cfg.model, **cfg.model_kwargs)
    data = evaluation.prepare_data(net.input_size)
    model_eval, _ = engine.load_checkpoint(out) if out else (None, None)
    if model_eval is None:  # evaluate speed on a fresh network of the same shape (speed only)
        model_eval = net.eval()
    times = []
    for _ in range(3):
        t = time.perf_counter()
        engine.predict_proba(model_eval, data.test.images, tta=cfg.tta)
        times.append(time.perf_counter() - t)
    return {
        "recipe": name,
        "parameters": count_parameters(net),
        "input": f"{net.in_channels}×{net.input_size}×{net.input_size}",
        "epochs": len(hist),
        "train_images_per_s": float(np.median(hist["images_per_s"])),
        "train_seconds": float(hist["seconds"].sum()),
        "wall_seconds": round(wall, 1),
        **to_acc,
        "inference_images_per_s": len(data.test) / float(np.median(times)),
        "best_val_acc": result["best_val_acc"],
        "test_accuracy": result["accuracy"],
        "test_macro_f1": result["macro_f1"],
        "leak_free_accuracy": result["leak_free"]["accuracy"],
        "test_accuracy_ci95": result["accuracy_ci95"],
        "leak_free_accuracy_ci95": result["leak_free"]["accuracy_ci95"],
        "leak_free_macro_f1": result["leak_free"]["macro_f1"],
        "leak_free_n": result["leak_free"]["n"],
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
        "environment": result["environment"],
        "history": result["history"],
    }


def plot(rows: list[dict]) -> None:
    import matplotlib.pyplot as plt

    from brainlib.viz import save_figure

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    for r in rows:
        h = pd.DataFrame(r["history"])
        axes[0].plot(h["seconds"].cumsum() / 60, h["val_acc"], marker="o", label=r["recipe"])
    axes[0].set(xlabel="training time (min)", ylabel="validation accuracy", title="Accuracy vs training time")
    axes[0].legend()
    names = [r["recipe"] for r in rows]
    axes[1].bar(names, [r["train_images_per_s"] for r in rows], color=["tab:gray", "tab:blue"][: len(rows)])
    axes[1].set(ylabel="images / s", title="Training throughput (median epoch)")
    x = np.arange(len(rows))
    for k, (key, label) in enumerate((("test", "official Testing"), ("leak_free", "leak-free Testing"))):
        acc = np.array([100 * r[f"{key}_accuracy"] for r in rows])
        ci = np.array([r.get(f"{key}_accuracy_ci95", (np.nan, np.nan)) for r in rows], dtype=float) * 100
        err = np.abs(ci.T - acc) if np.isfinite(ci).all() else None
        bars = axes[2].bar(x + (k - 0.5) * 0.4, acc, 0.4, yerr=err, capsize=3, label=label)
        axes[2].bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    axes[2].set(
        xticks=x,
        xticklabels=names,
        ylim=(0, 109),
        ylabel="accuracy (%)",
        title="Testing accuracy (95 % CI over clusters)",
    )
    axes[2].legend(loc="lower center", fontsize=8, ncol=2)
    fig.tight_layout()
    save_figure(fig, "benchmark")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", nargs="+", default=list(COMPARED), choices=list(recipes.RECIPES))
    parser.add_argument("--save-models", action="store_true", help="retrain and write each recipe's checkpoint")
    parser.add_argument("--force", action="store_true", help="retrain even when the cache holds the run")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # child mode: run one recipe, print JSON
    parser.add_argument("--results-dir", help=argparse.SUPPRESS)  # child mode: the parent's results folder
    args = parser.parse_args()
    if args.one:
        if args.results_dir:
            config.RESULTS_DIR = Path(args.results_dir)
        print("BENCHMARK-JSON " + json.dumps(cached_or_run(args.one, args.save_models, args.force)))
        return
    rows = []
    for name in args.recipes:
        cmd = [sys.executable, __file__, "--one", name, "--results-dir", str(config.RESULTS_DIR)]
        cmd += ["--save-models"] * args.save_models + ["--force"] * args.force
        out = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True).stdout  # stderr: the child's own
        row = json.loads(out.split("BENCHMARK-JSON ", 1)[1])
        print(
            f"{name} ({'cached' if row['cached'] else 'trained now'}): {row['train_images_per_s']:.0f} img/s "
            f"train, {row['train_seconds'] / 60:.1f} min, official {row['test_accuracy']:.4f}, "
            f"leak-free {row['leak_free_accuracy']:.4f}",
            flush=True,
        )
        rows.append(row)
    shown = ("key", "config", "environment", "history", "cached")
    table = pd.DataFrame(
        [
            {
                k: (" – ".join(f"{x:.4f}" for x in v) if k.endswith("_ci95") else v)
                for k, v in r.items()
                if k not in shown
            }
            for r in rows
        ]
    )
    if len(rows) == 2:
        table["train_throughput_vs_seed"] = table["train_images_per_s"] / table["train_images_per_s"].iloc[0]
    path = studies.write_table(table, "benchmark.csv", synthetic=is_synthetic(), index=False, float_format="%.4f")
    if path.parent == config.RESULTS_DIR:  # the committed figure follows the committed table only
        plot(rows)
    print(table.drop(columns=["torch_threads"]).T.to_string())


if __name__ == "__main__":
    main()
