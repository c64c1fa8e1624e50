"""Command line of the robustness study (brainlib.robustness): train what is missing, collect the table.

python benchmarks/robustness.py --part kaggle             # every variant, Kaggle + TCGA
python benchmarks/robustness.py --part figshare --only mri  # one variant's five figshare folds
python benchmarks/robustness.py --part kaggle --only fast --seeds 1 2  # more seeds of one variant
python benchmarks/robustness.py --table                   # collect the cache into results/robustness.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's brainlib, not an installed one

import pandas as pd  # noqa: E402

from brainlib import robustness  # noqa: E402
from brainlib.robustness import CANDIDATES, VARIANTS, figshare_part, kaggle_part  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["kaggle", "figshare", "all"])
    parser.add_argument(
        "--only", nargs="+", choices=list(CANDIDATES), help="candidates (default: every variant; transfer on request)"
    )
    parser.add_argument("--seeds", nargs="+", type=int, help="seeds to run (default: the recipe's own, 0)")
    parser.add_argument("--table", action="store_true", help="write results/robustness.csv from the cache")
    parser.add_argument(
        "--select", action="store_true", help="apply the registered rule to the cache (results/selection_scores.csv)"
    )
    parser.add_argument(
        "--backfill",
        action="store_true",
        help="add Testing predictions to cached Kaggle runs that predate them",
    )
    args = parser.parse_args()
    if args.backfill:
        for name, seed in [(n, s) for n in args.only or list(VARIANTS) for s in args.seeds or [None]]:
            r = robustness.backfill_predictions(name, seed)
            print(name, "predictions", "added" if "predictions_added" in r else "present", flush=True)
        return
    if args.part is None and not args.table and not args.select:
        args.table = True
    for name, seed in [(n, s) for n in args.only or list(VARIANTS) for s in args.seeds or [None]]:
        if name == "transfer":  # the pretrained candidate: its own Kaggle run and cross-validation
            if args.part in ("kaggle", "all"):
                r = robustness.transfer_kaggle(seed or 0, train=True)
                print(name, f"seed {seed or 0}", "kaggle", {k: r[k] for k in ("val_acc", "official_acc")}, flush=True)
            if args.part in ("figshare", "all"):
                recs = robustness.figshare_part(name, None, seed=seed)
                print(name, f"seed {seed or 0}", "figshare", [round(r["accuracy"], 4) for r in recs], flush=True)
            continue
        cfg = VARIANTS[name][2]
        if args.part in ("kaggle", "all"):
            r = kaggle_part(name, cfg, seed=seed)
            print(
                name,
                f"seed {r['config']['seed']}",
                "kaggle",
                {k: r[k] for k in ("val_acc", "official", "leak_free")},
                {s: round(v["AUROC"], 3) for s, v in r["tcga"].items()},
                flush=True,
            )
        if args.part in ("figshare", "all"):
            recs = figshare_part(name, cfg, seed=seed)
            print(name, f"seed {seed or 0}", "figshare", [round(r["accuracy"], 4) for r in recs], flush=True)
    pd.set_option("display.width", 250)
    if args.table:
        t = robustness.table()
        print(t.to_string(index=False))
    if args.select:
        r = robustness.preregistered_selection()
        print(r["scores"].round(2).to_string())
        print("finalists:", r["finalists"], "confirmation:", r["confirmation"])
        if r["selected"] is None:
            print("no selection: missing", ", ".join(r["missing"]))
        else:
            print("selected:", r["selected"], "(difference claimed)" if r["claimed"] else "(tie: the incumbent stays)")
        print(r["nested"].to_string(index=False))


if __name__ == "__main__":
    sys.exit(main())
