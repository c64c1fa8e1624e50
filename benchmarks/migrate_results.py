"""One-off: re-key the result caches of the earlier key schemes (results/ablation, results/crossval,
results/robustness/{kaggle,crossval}) into the study layer's one result cache (results/runs), without retraining.

Each legacy record is first checked against its old key recomputed on the current data (so only records of this
data are carried over), then stored under the new key with the thread count it was trained with. Records whose
old key does not match are reported and left out.

    python benchmarks/migrate_results.py            # dry run: what would be migrated
    python benchmarks/migrate_results.py --write    # write results/runs/full/... and report
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's brainlib, not an installed one

from brainlib import ablation, config, crossval, datasets, evaluation, robustness, studies  # noqa: E402
from brainlib.data import DECODER_VERSION  # noqa: E402
from brainlib.recipes import TrainConfig  # noqa: E402

RESULTS = config.RESULTS_DIR


def _sha(blob: dict, n: int) -> str:
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()[:n]


def _threads(record: dict) -> int:
    return int(record.get("threads") or record["environment"]["threads"])


def migrate(write: bool) -> list[dict]:
    profile = config.get_profile("full")
    cache = studies.ResultCache()
    report = []

    # patient-level folds (cross-validation and the robustness study's figshare part)
    spec = datasets.get("figshare-cheng")
    table = spec.table()
    fingerprint = datasets.content_fingerprint(spec.root(), list(table["path"]))
    for folder in (RESULTS / "crossval" / "full", RESULTS / "robustness" / "crossval" / "full"):
        for path in sorted(folder.glob("*.json")):
            r = json.loads(path.read_text())
            old = _sha(
                {
                    "cfg": r["config"],
                    "dataset": "figshare-cheng",
                    "data": fingerprint,
                    "folds": table["fold"].tolist(),
                    "test_fold": r["fold"],
                    "decoder": DECODER_VERSION,
                    "profile": "full",
                    "version": 2,
                },
                16,
            )
            label = f"{r.get('recipe') or r.get('model')}-fold{r['fold']}"
            entry = {"from": str(path.relative_to(RESULTS)), "threads": _threads(r), "label": label}
            if old != r["key"]:
                report.append({**entry, "status": "old key does not match the current data: left out"})
                continue
            cfg = TrainConfig(**r["config"])
            new = crossval._run_key(cfg, "figshare-cheng", fingerprint, table, r["fold"], profile, _threads(r))
            report.append({**entry, "status": "migrated", "key": new})
            if write:
                cache.put(crossval.protocol("figshare-cheng"), "full", label, {**r, "key": new, "legacy_key": old})

    # Kaggle hold-out runs (the ablation grids)
    prepared: dict[int, evaluation.PreparedData] = {}
    for path in sorted((RESULTS / "ablation" / "full").glob("*.json")):
        r = json.loads(path.read_text())
        cfg = TrainConfig(**r["config"]) if "config" in r else None
        if cfg is None:  # ablation records keep their configuration in the key only: rebuild it from the grid
            cfg = _ablation_config(r)
        size = evaluation.model_size(cfg)
        d = prepared.setdefault(size, evaluation.prepare_data(size, profile=profile))
        fp, split = evaluation.holdout_identity(d)
        old = _sha(
            {
                "cfg": cfg.as_dict(),  # the fields the legacy records knew
                "data": fp,
                "val": split["val"],
                "leak_free": split["leak_free"],
                "decoder": DECODER_VERSION,
                "profile": "full",
                "version": 1,
            },
            16,
        )
        label = f"{r['variant']}-seed{r['seed']}"
        entry = {"from": str(path.relative_to(RESULTS)), "threads": _threads(r), "label": label}
        if old != r["key"]:
            report.append({**entry, "status": "old key does not match the current data: left out"})
            continue
        new = ablation._run_key(cfg, d, profile, _threads(r))
        report.append({**entry, "status": "migrated", "key": new})
        if write:
            record = {**r, "key": new, "legacy_key": old, "config": cfg.as_dict()}
            cache.put(studies.KAGGLE_HOLDOUT, "full", label, record)

    # the robustness study's Kaggle part (its old key held no data fingerprint: checked by configuration only)
    for path in sorted((RESULTS / "robustness" / "kaggle" / "full").glob("*.json")):
        r = json.loads(path.read_text())
        old = _sha({"cfg": r["config"], "part": "kaggle", "decoder": DECODER_VERSION}, 12)
        label = f"robustness-{robustness.slug(r['variant'])}"
        entry = {"from": str(path.relative_to(RESULTS)), "threads": _threads(r), "label": label}
        if old != r["key"]:
            report.append({**entry, "status": "old key does not match: left out"})
            continue
        cfg = TrainConfig(**r["config"])
        new = robustness._kaggle_key(cfg, "full", _threads(r))
        report.append({**entry, "status": "migrated", "key": new})
        if write:
            cache.put(
                studies.KAGGLE_HOLDOUT, "full", label, {**r, "key": new, "legacy_key": old, "threads": _threads(r)}
            )
    return report


def _ablation_config(record: dict) -> TrainConfig:
    grids = [ablation.ablation_grid(), ablation.full_size_grid(), ablation.design_grid(), ablation.learning_rate_grid()]
    renamed = {"FastNet default recipe": "fast recipe"}  # the full-size grid's fast-recipe variant, renamed since
    name = renamed.get(record["variant"], record["variant"])
    for grid in grids:
        for v in grid:
            if v.name == name:
                return dataclasses.replace(v.cfg, seed=record["seed"])
    raise KeyError(f"variant {record['variant']!r} is in no grid")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="write the migrated records (default: dry run)")
    args = parser.parse_args()
    report = migrate(args.write)
    for r in report:
        print(f"{r['status']:10s} {r['threads']} thread(s)  {r['label']:40s} {r['from']}")
    migrated = [r for r in report if r["status"] == "migrated"]
    print(f"{len(migrated)} of {len(report)} records migrated ({len({r['key'] for r in migrated})} distinct runs)")


if __name__ == "__main__":
    main()
