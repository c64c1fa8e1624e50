"""The README's result tables, rendered from the committed results files, so that no number in them is typed by
hand: ``make readme`` rewrites every marked block, and a test fails when a block and its results file disagree.

A block is the text between ``<!-- results:NAME -->`` and ``<!-- /results -->``; :data:`BLOCKS` maps each NAME to
the function that renders it.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import pandas as pd

from brainlib import config, datasets, recipes

README = config.PROJ_ROOT / "README.md"


def _markdown_table(head: list[str], align: str, rows: list[list[str]]) -> str:
    """A Markdown table: header cells, one alignment letter per column (``l`` or ``r``), rows of cell texts."""
    rule = ["---:" if a == "r" else "---" for a in align.split()]
    return "\n".join("| " + " | ".join(cells) + " |" for cells in [head, rule, *rows])


def headline(results: Path | None = None) -> str:
    """The headline table from ``results/headline.csv`` (written by notebooks 06 and 07): Kaggle official and
    leak-free Testing, figshare patient-level, TCGA-LGG AUROC per sequence; the default recipe in bold."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "headline.csv")
    default = recipes.get(recipes.DEFAULT).display
    lines = [
        "| recipe | Kaggle official Testing | Kaggle leak-free Testing | new patients: figshare-cheng, 5 folds "
        "| another hospital: TCGA-LGG AUROC, FLAIR · T1 · T1 + contrast |",  # datasets.TCGA_SEQUENCES, in order
        "| --- | ---: | ---: | ---: | --- |",
    ]
    for _, r in t.iterrows():
        cells = [
            r["recipe"],
            f"{r['Kaggle official (%)']:.1f} %",
            f"{r['Kaggle leak-free (%)']:.1f} %",
            f"{r['figshare patient-level (%)']} %",
        ]
        if r["recipe"] == default:
            cells = [f"**{c}**" for c in cells]
        auroc = " · ".join(f"{r[f'TCGA-LGG AUROC {s}']:.2f}" for s in datasets.TCGA_SEQUENCES)
        lines.append("| " + " | ".join([*cells, auroc]) + " |")
    return "\n".join(lines)


ABLATION_LABELS = {  # variant name in brainlib.ablation.ablation_grid → how the README's table says it
    "seed (Adamax)": "seed recipe (Adamax lr 1e-3, 2 blocks × 3 convs, 1 FC)",
    "Adam": "Adam instead of Adamax",
    "SGD + momentum": "SGD + Nesterov momentum (lr 1e-2)",
    "1 conv / block": "1 conv per block",
    "2 convs / block": "2 convs per block",
    "3 blocks": "3 conv blocks",
    "seed + BN": "batch normalization after every conv",
    "FastNet": "FastNet, its own recipe, same 8 epochs and {size} px",
}


def ablation(results: Path | None = None) -> str:
    """The ablation grid of 02 (mean ± std over seeds, runs that never learned, verdict of the declared rule),
    from ``results/ablation.csv``; the row with the best mean validation accuracy in bold."""
    from brainlib.ablation import ABLATION_SIZE

    t = pd.read_csv((results or config.RESULTS_DIR) / "ablation.csv")
    best = t["validation mean"].idxmax()
    head = ["variant (one change to the seed recipe)", "parameters", "validation", "official Testing"]
    head += ["leak-free Testing", "runs that never learned", "s / epoch", "verdict"]
    rows = []
    for i, r in t.iterrows():
        accs = [
            f"{r[f'{v} mean']:.1f} ± {r[f'{v} std']:.1f}"
            for v in ("validation", "official Testing", "leak-free Testing")
        ]
        if i == best:
            accs = [f"**{a}**" for a in accs]
        label = ABLATION_LABELS.get(r["variant"], r["variant"]).format(size=ABLATION_SIZE)
        never = f"{int(r['never learned'])} of {int(r['seeds'])}"
        rows.append([label, f"{int(r['parameters']):,}", *accs, never, f"{r['s / epoch']:.1f}", r["verdict"]])
    return _markdown_table(head, "l r l l l r r l", rows)


def audit(results: Path | None = None) -> str:
    """The leakage audit of the Kaggle set, from ``results/audit.json`` (``brainlib audit``) and the CT slices
    checked by eye, ``results/ct_like_checked.csv`` (01)."""
    import json

    results = results or config.RESULTS_DIR
    a = json.loads((results / "audit.json").read_text(encoding="utf-8"))
    ct = pd.read_csv(results / "ct_like_checked.csv")
    ct = ct[ct["by_eye"] == "CT"].groupby("split").size()
    n = a["testing_images"]
    per_class = ", ".join(f"{c} {v['leak_free']}" for c, v in a["per_class"].items())
    within = a["exact_within"]
    d = a["threshold"]
    rows = [
        [
            "Testing images with a pixel-identical Training image",
            f"{a['exact_cross_test_images']:,} of {n:,} ({100 * a['exact_cross_test_images'] / n:.0f} %)",
        ],
        [
            f"Testing images with an exact or near duplicate in Training (pHash Hamming distance ≤ {d})",
            f"{a['near_cross_test_images']:,} ({100 * a['near_cross_test_images'] / n:.0f} %)",
        ],
        [
            "**leak-free Testing subset** (`results/leak_free_testing.txt`)",
            f"**{a['leak_free_test_images']:,}** ({per_class})",
        ],
        [
            "exact duplicates inside Training / inside Testing",
            f"{within['Training']['images']:,} images in {within['Training']['groups']:,} groups / "
            f"{within['Testing']['images']:,} in {within['Testing']['groups']:,}",
        ],
        ["label conflicts among exact duplicates", f"{sum(a['label_conflicts'].values()):,}"],
        [
            f"validation images with a training-part image within distance {d} "
            "(`validation_images_with_train_neighbour`)",
            f"{a['validation_images_with_train_neighbour']:,} of {a['validation_images']:,}",
        ],
        [
            f"Testing: distinct pixel contents / near-duplicate clusters at distance ≤ {d}",
            f"{a['testing_distinct_images']:,} / {a['testing_near_duplicate_clusters']:,}",
        ],
        [
            "CT slices (not MRI) among the *no tumor* images, flagged by a simple detector and checked by eye",
            f"{ct.get('Training', 0):,} Training, {ct.get('Testing', 0):,} Testing",
        ],
    ]
    return _markdown_table(["", "images"], "l r", rows)


def result_cache(results: Path | None = None) -> str:
    """What the one result cache holds, per protocol folder of ``results/runs/full/``: records, distinct runs (a
    run stored under two names counts once), the torch thread counts they were trained with, and how many were
    trained under the pre-registration."""
    import json
    from collections import Counter

    root = (results or config.RESULTS_DIR) / "runs" / "full"
    rows = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        records = [json.loads(f.read_text(encoding="utf-8")) for f in sorted(folder.glob("*.json"))]
        threads = Counter(r.get("threads") for r in records)
        rows.append(
            [
                f"`{folder.name}/`",
                f"{len(records):,}",
                f"{len({r.get('key') for r in records}):,}",
                " · ".join(f"{threads[t]:,} with {t}" for t in sorted(threads, key=str)),
                f"{sum(r.get('study') == 'preregistered selection' for r in records):,}",
            ]
        )
    head = ["protocol (folder)", "records", "distinct runs", "torch threads", "governed by the pre-registration"]
    return _markdown_table(head, "l r r l r", rows)


def transfer_targets(results: Path | None = None) -> str:
    """The transfer recipe against its targets, from ``results/transfer_targets.csv`` (notebook 07, or
    ``python -m brainlib.report``)."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "transfer_targets.csv")
    rows = [[r["target"], r["measured"], "yes" if r["met"] else "no"] for _, r in t.iterrows()]
    return _markdown_table(["target", "measured", "met?"], "l l l", rows)


def testing_subsets(results: Path | None = None) -> str:
    """Accuracy of each shipped checkpoint on official, leak-free and stricter Testing and on the Testing tumor
    images of each source, from ``results/testing_subsets.csv`` (``python -m brainlib.sources``)."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "testing_subsets.csv")
    views = ["official", "leak-free", "stricter"]
    srcs = [c[: -len(" (%)")] for c in t.columns if c.startswith("tumor images from") and c.endswith(" (%)")]
    first = t.iloc[0]
    head = [f"{v} (n = {int(first[f'{v} n'])}), 95 % CI" for v in views]
    head += [f"{s} (n = {int(first[f'{s} n'])})" for s in srcs]
    lines = ["| recipe | " + " | ".join(head) + " |", "| --- |" + " ---: |" * len(head)]
    for _, r in t.iterrows():
        cells = [f"{r[f'{v} (%)']:.1f} % ({r[f'{v} 95% CI']})" for v in views]
        cells += [f"{r[f'{s} (%)']:.1f} %" for s in srcs]
        lines.append(f"| {r['recipe']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def dumb_control(results: Path | None = None) -> str:
    """The dumb control's accuracy on the three views of Testing, from ``results/dumb_control.csv``."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "dumb_control.csv")
    views = ["official", "leak-free", "stricter"]
    lines = ["| classifier that sees no tumor | " + " | ".join(f"{v} Testing" for v in views) + " |"]
    lines.append("| --- |" + " ---: |" * len(views))
    for _, r in t.iterrows():
        lines.append(f"| {r['control']} | " + " | ".join(f"{r[f'{v} (%)']:.1f} %" for v in views) + " |")
    return "\n".join(lines)


def seeds(results: Path | None = None) -> str:
    """Each headline recipe over seeds (mean ± std, number of seeds), from ``results/seeds.csv``."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "seeds.csv")
    cols = ["Kaggle validation (%)", "official (%)", "leak-free (%)", "stricter (%)", "figshare patient-level (%)"]
    lines = [
        "| recipe | Kaggle validation | official Testing | leak-free Testing | stricter Testing "
        "| new patients: figshare-cheng (mean of 5 folds per seed) |",
        "| --- |" + " ---: |" * len(cols) + " --- |",
    ]
    lines[0] += " shipped checkpoint (official / leak-free) |"
    for _, r in t.iterrows():
        cells = [str(r[c]).replace(" (n=", " % (n=") if str(r[c]) != "—" else "—" for c in cols]
        lines.append(f"| {r['recipe']} | " + " | ".join([*cells, str(r["shipped checkpoint"])]) + " |")
    return "\n".join(lines)


def selection(results: Path | None = None) -> str:
    """The registered selection's scores (%) per candidate and seed, from ``results/selection_scores.csv``
    (``python benchmarks/robustness.py --select``); "not run" where a part is missing."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "selection_scores.csv")
    seeds = [c for c in t.columns if c.startswith("seed ")]
    lines = ["| candidate | " + " | ".join(f"score, {s}" for s in seeds) + " |", "| --- |" + " ---: |" * len(seeds)]
    for _, r in t.iterrows():
        cells = ["not run" if pd.isna(r[s]) else f"{r[s]:.2f}" for s in seeds]
        lines.append(f"| `{r['candidate']}` | " + " | ".join(cells) + " |")
    screened = int(t[seeds[0]].notna().sum())
    lines.append("")
    lines.append(f"Screening: {screened} of {len(t)} candidates complete at seed {seeds[0].split()[1]}.")
    if screened == len(t):  # the registered rule's finalists (rows are in registration order)
        from brainlib.robustness import pick_finalists

        top = t.set_index("candidate").loc[pick_finalists(dict(zip(t["candidate"], t[seeds[0]])))]
        missing = [f"`{c}` ({s})" for c in top.index for s in seeds[1:] if pd.isna(top.at[c, s])]
        lines[-1] += (
            " Finalists: "
            + " and ".join(f"`{c}`" for c in top.index)
            + "; "
            + ("confirmation still needs " + ", ".join(missing) + "." if missing else "confirmation complete.")
        )
        if not missing:
            lines.append("")
            lines.append(_verdict(top[seeds], results))
    return "\n".join(lines)


def _verdict(confirmation: pd.DataFrame, results: Path | None) -> str:
    """The registered rule's decision on the two finalists' scores at every seed, and the nested estimate for new
    patients (``results/selection_nested.csv``) where it has been written."""
    from brainlib.robustness import INCUMBENT, decide

    conf = {c: [float(v) for v in r] for c, r in confirmation.iterrows()}
    claimed, default = decide(conf)
    means = {c: sum(v) / len(v) for c, v in conf.items()}
    best, other = sorted(conf, key=lambda c: -means[c])
    text = (
        f"**Decision.** Mean score over seeds {means[best]:.2f} (`{best}`) against {means[other]:.2f} (`{other}`); "
        + (
            f"every seed of `{best}` scores above every seed of `{other}`, so the rule claims a difference and "
            f"`{default}` becomes the default."
            if claimed
            else f"the seeds overlap ({min(conf[best]):.2f} for `{best}` against {max(conf[other]):.2f} for "
            f"`{other}`), so the two are tied and the incumbent `{INCUMBENT}` stays the default."
        )
    )
    path = (results or config.RESULTS_DIR) / "selection_nested.csv"
    if path.exists():
        n = pd.read_csv(path)
        folds = [
            f"fold {int(r['test fold'])}: `{r['selected']}` "
            + ("not run" if pd.isna(r["test accuracy (%)"]) else f"{r['test accuracy (%)']:.1f} %")
            for _, r in n.iterrows()
            if isinstance(r["selected"], str)
        ]
        acc = n["test accuracy (%)"]
        text += (
            " Nested estimate for new patients (each figshare test fold scored by the candidate the rule picks "
            "without it, mean over seeds): "
            + ("; ".join(folds) if folds else "the rule cannot choose on any fold yet")
            + (f"; mean {acc.mean():.1f} %." if len(folds) == len(n) and acc.notna().all() else ".")
        )
    return text


def pointing_game(results: Path | None = None) -> str:
    """The pointing game of each cross-validated recipe and of the model-free priors, from
    ``results/pointing_game.csv``."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "pointing_game.csv")
    views = ["peak in box", "within 15 px of the original", "within 15/224 of the side", "CAM energy in box"]
    lines = ["| model | heat map | correct test images | " + " | ".join(views) + " |", "| --- | --- |" + " ---: |" * 5]
    for _, r in t.iterrows():
        cells = [f"{100 * r[v]:.1f} %" for v in views]
        lines.append(f"| {r['model']} | {r['heat map']} | {int(r['images'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def external_clinical(results: Path | None = None) -> str:
    """TCGA-LGG read clinically, per model and sequence, from ``results/external_clinical.csv``."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "external_clinical.csv")
    spec = next(c for c in t.columns if c.startswith("sensitivity at"))
    head = [
        "model",
        "sequence",
        "tumors missed (own call)",
        "sensitivity · specificity (own call)",
        spec,
        "ECE of P(tumor)",
    ]
    rows = [
        [
            r["model"],
            r["sequence"],
            f"{int(r['missed tumors'])} of {int(r['tumor slices'])}",
            f"{r['sensitivity']:.2f} · {r['specificity']:.2f}",
            f"{100 * r[spec]:.0f} %",
            f"{r['ECE (tumor vs no tumor)']:.2f}",
        ]
        for _, r in t.iterrows()
    ]
    return _markdown_table(head, "l l r r r r", rows)


def benchmark(results: Path | None = None) -> str:
    """The seed recipe against the default, one invocation of ``benchmarks/benchmark.py``, from
    ``results/benchmark.csv``: the table and what it says about speed."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "benchmark.csv").set_index("recipe")
    shipped = {
        "seed": "seed recipe (`models/seed.pt`)",
        recipes.DEFAULT: "**FastNet, default recipe** (`models/fastnet.pt`)",
    }
    lines = [
        f"| model (checkpoint) | input | parameters | official Testing (n = 1,311) accuracy · macro-F1 "
        f"| leak-free Testing (n = {int(t['leak_free_n'].iloc[0])}) accuracy · macro-F1 | training time "
        "| training images/s |",
        "| --- | --- | ---: | --- | --- | ---: | ---: |",
    ]
    for name, r in t.iterrows():
        ci, lf_ci = (
            "–".join(f"{float(v):.3f}" for v in str(r[c]).split("–"))
            for c in ("test_accuracy_ci95", "leak_free_accuracy_ci95")
        )
        speed = f"{r['train_images_per_s']:.0f}"
        if name != "seed":
            speed += f" ({r['train_throughput_vs_seed']:.1f}×)"
        lines.append(
            f"| {shipped.get(name, name)} | {r['input']} | {int(r['parameters']):,} "
            f"| {r['test_accuracy']:.3f} (95 % CI {ci}) · {r['test_macro_f1']:.3f} "
            f"| {r['leak_free_accuracy']:.3f} ({lf_ci}) · {r['leak_free_macro_f1']:.3f} "
            f"| {r['train_seconds'] / 60:.1f} min ({int(r['epochs'])} epochs) | {speed} |"
        )
    seed, fast = t.loc["seed"], t.loc[recipes.DEFAULT]
    never = (
        "the seed never does"
        if pd.isna(seed["seconds_to_val_acc_0.90"])
        else f"seed: {seed['seconds_to_val_acc_0.90']:.0f} s"
    )
    lines += [
        "",
        "* The seed's published claim of ~95 % does not reproduce: its recipe reaches "
        f"{100 * seed['test_accuracy']:.1f} % on the official split (its own published weights are reported at "
        "about 85 %) and "
        f"{100 * seed['leak_free_accuracy']:.1f} % on the leak-free subset.",
        f"* FastNet reaches its first 75 % validation accuracy in {fast['seconds_to_val_acc_0.75']:.0f} s of training "
        f"(seed: {seed['seconds_to_val_acc_0.75']:.0f} s) and 90 % in {fast['seconds_to_val_acc_0.90']:.0f} s "
        f"({never}); "
        f"it predicts {fast['inference_images_per_s']:.0f} images/s (seed: {seed['inference_images_per_s']:.0f}). "
        f"Peak memory: {fast['peak_rss_mb'] / 1024:.1f} GB (seed: {seed['peak_rss_mb'] / 1024:.1f} GB, its 224×224×4 "
        "activations).",
    ]
    return "\n".join(lines)


def external_auroc(results: Path | None = None) -> str:
    """The shipped checkpoints on TCGA-LGG: AUROC of 1 − P(no tumor) per sequence with its patient-bootstrap
    interval, and how often tumor slices are called glioma, from ``results/external_tcga_lgg.csv``."""
    t = pd.read_csv((results or config.RESULTS_DIR) / "external_tcga_lgg.csv")
    head = [
        "checkpoint",
        "sequence",
        "patients",
        "AUROC (95 % CI over patients)",
        "tumor slices called glioma",
        "tumor slices called a tumor",
        "tumor-free slices called no tumor",
    ]
    rows = [
        [
            r["model"],
            r["sequence"],
            f"{int(r['patients'])}",
            f"{r['AUROC']:.2f} ({r['CI low']:.2f}–{r['CI high']:.2f})",
            *(
                f"{100 * r[c]:.0f} %"
                for c in (
                    "tumor slices called glioma",
                    "tumor slices called a tumor",
                    "tumor-free slices called notumor",
                )
            ),
        ]
        for _, r in t.iterrows()
    ]
    return _markdown_table(head, "l l r l r r r", rows)


BLOCKS = {
    "external-auroc": external_auroc,
    "benchmark": benchmark,
    "headline": headline,
    "result-cache": result_cache,
    "ablation": ablation,
    "audit": audit,
    "transfer-targets": transfer_targets,
    "testing-subsets": testing_subsets,
    "dumb-control": dumb_control,
    "seeds": seeds,
    "selection": selection,
    "pointing-game": pointing_game,
    "external-clinical": external_clinical,
}
# a block's body may be empty (a new block before its first rendering): it never runs into the next block
_BLOCK = re.compile(
    r"(<!-- results:(?P<name>[\w-]+) -->\n)(?P<body>(?:(?!<!-- results:).)*?)\n?(<!-- /results -->)", re.DOTALL
)


def render(text: str, results: Path | None = None) -> str:
    """``text`` with every marked block rendered afresh from the results files (an unknown block name is an
    error)."""

    def block(m: re.Match) -> str:
        name = m.group("name")
        if name not in BLOCKS:
            raise KeyError(f"README block {name!r} has no renderer; known: {', '.join(BLOCKS)}")
        return m.group(1) + BLOCKS[name](results) + "\n" + m.group(4)

    return _BLOCK.sub(block, text)


def stale_blocks(text: str, results: Path | None = None) -> list[str]:
    """The names of the blocks of ``text`` that differ from their results files."""
    fresh = {m.group("name"): m.group("body") for m in _BLOCK.finditer(render(text, results))}
    return [m.group("name") for m in _BLOCK.finditer(text) if m.group("body") != fresh[m.group("name")]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Render the README's result tables from results/.")
    parser.add_argument("--check", action="store_true", help="only report stale tables (exit 1 if any)")
    args = parser.parse_args(argv)
    text = README.read_text(encoding="utf-8")
    if args.check:
        stale = stale_blocks(text)
        for name in stale:
            print(f"README table {name!r} disagrees with its results file: run make readme", file=sys.stderr)
        return 1 if stale else 0
    new = render(text)
    if new != text:
        from brainlib.files import atomic_write_text

        atomic_write_text(README, new)
    print(f"README: {len(_BLOCK.findall(text))} table(s) rendered from results/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
