"""The study layer's cache: one key scheme and one result cache for every run of every study.

A study (the ablation grids, patient-level cross-validation, the robustness study, the benchmark) is recipes × a
protocol × seeds. Every run it trains is stored once, as one JSON record under
``results/runs/<profile>/<protocol>/<label>-<key>.json``, written atomically. The key (:func:`run_key`) hashes
everything the run depends on: the recipe's TrainConfig, the protocol and its version, the data fingerprint, the
split or fold assignment, the decoder, the profile and the torch thread count (results are bit-identical only at the
same thread count, so each study fixes it). The label only names the file: a run two studies share is trained once
and found by either. A record carries its config and environment, so it can be re-keyed instead of retrained when
the key scheme changes. Summaries over seeds or folds are computed in one place (:func:`mean_interval`).
"""

from __future__ import annotations

import hashlib
import json
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

from brainlib import config
from brainlib.files import atomic_write_text, unwritable
from brainlib.recipes import TrainConfig, without_later_defaults

KAGGLE_HOLDOUT = "kaggle-holdout"  # train on Kaggle Training's train part, epoch on its validation part, score Testing
PATIENT_KFOLD = "patient-kfold"  # train on k-2 patient-level folds, epoch on the next, score the held-out fold
PROTOCOL_VERSIONS = {KAGGLE_HOLDOUT: 1, PATIENT_KFOLD: 2}  # bump to retrain a protocol's runs


def protocol_name(kind: str, dataset: str | None = None) -> str:
    """``kaggle-holdout`` or ``patient-kfold(<dataset>)``: how a protocol is named in keys and folders."""
    if kind not in PROTOCOL_VERSIONS:
        raise ValueError(f"unknown protocol {kind!r}; choose one of {', '.join(PROTOCOL_VERSIONS)}")
    return kind if dataset is None else f"{kind}({dataset})"


def run_key(
    cfg: TrainConfig | dict,
    protocol: str,
    data: str,
    split,
    profile: str,
    threads: int,
    evaluation: str = "basic",
) -> str:
    """The one cache key of a run: sixteen hex digits of a hash over the recipe configuration, the protocol and its
    version, the data fingerprint, the split or fold assignment, the decoder, the profile, the torch thread count
    and what the record evaluates beyond the protocol (``evaluation``, e.g. an external test set)."""
    from brainlib.data import DECODER_VERSION

    kind = protocol.split("(")[0]
    blob = json.dumps(
        {
            "cfg": without_later_defaults(cfg) if isinstance(cfg, dict) else cfg.as_dict(),
            "protocol": protocol,
            "version": PROTOCOL_VERSIONS[kind],
            "data": data,
            "split": hashlib.sha256(json.dumps(split, sort_keys=True).encode()).hexdigest(),
            "decoder": DECODER_VERSION,
            "profile": profile,
            "threads": int(threads),
            "evaluation": evaluation,
        },
        sort_keys=True,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def slug(text: str) -> str:
    """A label as it appears in file names."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "run"


@dataclass(frozen=True)
class ResultCache:
    """The one result cache: a record per run, found by its key whatever label it was stored under."""

    root: Path | None = None  # default: results/runs (read when used, so tests can move RESULTS_DIR)

    @property
    def base(self) -> Path:
        return Path(self.root) if self.root is not None else config.RESULTS_DIR / "runs"

    def folder(self, protocol: str, profile: str) -> Path:
        return self.base / profile / slug(protocol)

    def path(self, protocol: str, profile: str, label: str, key: str) -> Path:
        return self.folder(protocol, profile) / f"{slug(label)}-{key}.json"

    def get(self, protocol: str, profile: str, key: str, required: tuple[str, ...] = ()) -> dict | None:
        """The record with ``key``, or None when there is none, or it is unreadable or lacks a ``required`` field
        (both reported: the run is then trained again)."""
        for path in sorted(self.folder(protocol, profile).glob(f"*-{key}.json")):
            try:
                record = json.loads(path.read_text())
            except (OSError, ValueError):
                warnings.warn(f"cached result {path} is unreadable (truncated or corrupt); recomputing", stacklevel=2)
                continue
            if not isinstance(record, dict) or record.get("key") != key:
                continue
            missing = [f for f in required if f not in record]
            if missing:
                warnings.warn(f"cached result {path} lacks {', '.join(missing)}; recomputing it", stacklevel=2)
                continue
            return record
        return None

    def put(self, protocol: str, profile: str, label: str, record: dict) -> Path:
        """Store ``record`` (which holds its ``key``) atomically, stamped with when it was made (``created``, UTC,
        unless it has one: what a pre-registration's dates are checked against); returns its path."""
        from datetime import datetime, timezone

        record.setdefault("created", datetime.now(timezone.utc).isoformat(timespec="seconds"))
        path = self.path(protocol, profile, label, record["key"])
        atomic_write_text(path, json.dumps(record))
        return path

    def check_writable(self, protocol: str, profile: str) -> None:
        """Refuse (bad input) a cache folder that cannot be written, before anything trains."""
        from brainlib.errors import DataError

        folder = self.folder(protocol, profile)
        problem = unwritable(folder / "record.json")
        if problem:
            raise DataError(f"cannot write results into {folder}: {problem}")


def write_table(table, name: str, synthetic: bool = False, **to_csv) -> Path:
    """Write a results table (a DataFrame) as CSV, atomically, where :func:`brainlib.config.results_file` says:
    the committed ``results/<name>`` for a full-profile run on real data, a folder of its own otherwise."""
    path = config.results_file(name, synthetic=synthetic)
    atomic_write_text(path, table.to_csv(**to_csv))
    return path


def mean_interval(values, confidence: float = 0.95) -> dict:
    """Mean, sample standard deviation and Student-t interval of the mean over runs (seeds or folds): the one
    summary every study reports (std and interval NaN/None below two runs)."""
    import numpy as np
    from scipy import stats

    v = np.asarray(values, dtype=float)
    k = len(v)
    mean = float(v.mean()) if k else float("nan")
    sd = float(v.std(ddof=1)) if k > 1 else float("nan")
    half = float(stats.t.ppf(0.5 + confidence / 2, k - 1) * sd / np.sqrt(k)) if k > 1 else float("nan")
    return {"n": k, "mean": mean, "std": sd, "ci95": [mean - half, mean + half] if k > 1 else None}
