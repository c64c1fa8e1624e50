"""Command line of the robustness study (brainlib.robustness): train what is missing, collect the table.

python benchmarks/robustness.py --part kaggle             # every variant, Kaggle + TCGA
python benchmarks/robustness.py --part figshare --only mri  # one variant's five figshare folds
python benchmarks/robustness.py --table                   # collect the cache into results/robustness.csv
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's brainlib, not an installed one

import pandas as pd  # noqa: E402

from brainlib import robustness  # noqa: E402
from brainlib.robustness import VARIANTS, figshare_part, kaggle_part  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["kaggle", "figshare", "all"])
    parser.add_argument("--only", nargs="+", choices=list(VARIANTS), help="variants (default: all)")
    parser.add_argument("--table", action="store_true", help="write results/robustness.csv from the cache")
    args = parser.parse_args()
    for name in args.only or list(VARIANTS):
        cfg = VARIANTS[name][2]
        if args.part in ("kaggle", "all"):
            r = kaggle_part(name, cfg)
            print(
                name,
                "kaggle",
                {k: r[k] for k in ("val_acc", "official", "leak_free")},
                {s: round(v["AUROC"], 3) for s, v in r["tcga"].items()},
                flush=True,
            )
        if args.part in ("figshare", "all"):
            recs = figshare_part(name, cfg)
            print(name, "figshare", [round(r["accuracy"], 4) for r in recs], flush=True)
    if args.table or not args.part:
        pd.set_option("display.width", 250)
        t = robustness.table()
        print(t.to_string(index=False))
        print("selected (training data only):", robustness.selected(t))


if __name__ == "__main__":
    sys.exit(main())
