"""brainlib.readme: the README's result tables are rendered from the committed results files, and a table that
disagrees with its file is caught."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from brainlib import readme

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"  # the committed files (tests redirect config.RESULTS_DIR)


def test_the_committed_readme_tables_agree_with_their_results_files():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "<!-- results:headline -->" in text
    assert readme.stale_blocks(text, RESULTS) == []


def test_a_changed_result_makes_the_readme_stale(tmp_path):
    for name in (
        "headline.csv",
        "testing_subsets.csv",
        "dumb_control.csv",
        "seeds.csv",
        "selection_scores.csv",
        "selection_nested.csv",
        "pointing_game.csv",
        "external_clinical.csv",
        "benchmark.csv",
        "external_tcga_lgg.csv",
        "transfer_targets.csv",
        "audit.json",
        "ct_like_checked.csv",
        "ablation.csv",
    ):
        shutil.copy(RESULTS / name, tmp_path / name)
    (tmp_path / "runs").symlink_to(RESULTS / "runs")  # the result cache, counted by the result-cache block
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    csv = (tmp_path / "headline.csv").read_text()
    (tmp_path / "headline.csv").write_text(csv.replace("98.3219", "97.3219"))
    assert readme.stale_blocks(text, tmp_path) == ["headline"]
    assert "| **97.3 %** |" in readme.render(text, tmp_path)
    import pandas as pd

    scores = pd.read_csv(tmp_path / "selection_scores.csv")
    scores.loc[scores["candidate"] == "brainnorm wide", "seed 2"] = 95.5  # a score the committed file does not have
    scores.to_csv(tmp_path / "selection_scores.csv", index=False)
    assert readme.stale_blocks(text, tmp_path) == ["headline", "selection"]
    assert "| `brainnorm wide` |" in readme.render(text, tmp_path) and "| 95.50 |" in readme.render(text, tmp_path)


def test_an_empty_block_is_filled_and_does_not_swallow_the_next_one():
    text = "a\n<!-- results:audit -->\n<!-- /results -->\nb\n<!-- results:dumb-control -->\nold\n<!-- /results -->\nc"
    assert readme.stale_blocks(text, RESULTS) == ["audit", "dumb-control"]
    out = readme.render(text, RESULTS)
    assert "\nb\n" in out and out.endswith("<!-- /results -->\nc") and "old" not in out
    assert "| Testing: distinct pixel contents / near-duplicate clusters at distance ≤ 8 |" in out
    assert readme.stale_blocks(out, RESULTS) == []


def test_the_audit_table_and_the_transfer_targets_follow_their_files(tmp_path):
    import json

    for name in ("audit.json", "ct_like_checked.csv", "transfer_targets.csv"):
        shutil.copy(RESULTS / name, tmp_path / name)
    a = json.loads((tmp_path / "audit.json").read_text())
    a["testing_near_duplicate_clusters"] += 1
    (tmp_path / "audit.json").write_text(json.dumps(a))
    assert f"/ {a['testing_near_duplicate_clusters']:,} |" in readme.audit(tmp_path)
    import pandas as pd

    t = pd.read_csv(tmp_path / "transfer_targets.csv")
    t.loc[0, "met"] = not t.loc[0, "met"]
    t.to_csv(tmp_path / "transfer_targets.csv", index=False)
    first = readme.transfer_targets(tmp_path).splitlines()[2]
    assert first.endswith("| yes |" if t.loc[0, "met"] else "| no |")


def test_the_result_cache_block_counts_records_runs_and_threads(tmp_path):
    import json

    folder = tmp_path / "runs" / "full" / "some-protocol"
    folder.mkdir(parents=True)
    for i, (key, threads, study) in enumerate([("a", 1, None), ("a", 1, None), ("b", 2, "preregistered selection")]):
        (folder / f"r{i}.json").write_text(json.dumps({"key": key, "threads": threads, "study": study}))
    assert readme.result_cache(tmp_path).splitlines()[2] == "| `some-protocol/` | 3 | 2 | 2 with 1 · 1 with 2 | 1 |"


def test_an_unknown_block_is_an_error():
    with pytest.raises(KeyError, match="no renderer"):
        readme.render("<!-- results:nope -->\nx\n<!-- /results -->\n", RESULTS)


def test_the_patients_and_sources_prose_agrees_with_the_sources_file():
    import pandas as pd

    t = pd.read_csv(RESULTS / "kaggle_sources.csv")
    test = t[t["split"] == "Testing"]
    lf_tumor = test[test["leak_free"] & (test["label"] != "notumor")]
    figshare = lf_tumor[lf_tumor["source"] == "figshare (Cheng et al.)"]
    dropped = int((test["leak_free"] & ~test["stricter"]).sum())
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    sentence = (
        f"Of the {len(lf_tumor)} leak-free tumor images, {len(figshare)} are\nfigshare slices and {dropped} of those "
        f"have such a neighbour in Training, so the stricter subset keeps {int(test['stricter'].sum())} images."
    )
    assert sentence in text
    assert int(test["stricter"].sum()) == int(test["leak_free"].sum()) - dropped


def test_the_selection_block_names_the_finalists_once_screening_is_complete(tmp_path):
    rows = ["candidate,seed 0,seed 1,seed 2", "a,94.0,94.1,93.9", "b,95.0,,", "c,93.0,,"]
    (tmp_path / "selection_scores.csv").write_text("\n".join(rows) + "\n")
    text = readme.selection(tmp_path)
    assert "Screening: 3 of 3 candidates complete at seed 0. Finalists: `b` and `a`;" in text
    assert "confirmation still needs `b` (seed 1), `b` (seed 2)." in text
    (tmp_path / "selection_scores.csv").write_text("\n".join([*rows[:3], "c,,,"]) + "\n")
    assert "Finalists" not in readme.selection(tmp_path)  # screening incomplete: no finalists yet


def test_the_selection_block_states_the_rules_decision_and_the_nested_estimate(tmp_path):
    rows = ["candidate,seed 0,seed 1,seed 2", "brainnorm,94.0,94.1,93.9", "b,95.0,95.2,94.9", "c,94.5,94.4,94.6"]
    (tmp_path / "selection_scores.csv").write_text("\n".join(rows) + "\n")
    text = readme.selection(tmp_path)
    assert "confirmation complete." in text
    assert "every seed of `b` scores above every seed of `c`, so the rule claims a difference and `b` becomes" in text
    assert "Nested estimate" not in text  # not written yet
    rows[2] = "b,95.0,94.6,94.1"  # b's seeds overlap c's: a tie keeps the incumbent
    (tmp_path / "selection_scores.csv").write_text("\n".join(rows) + "\n")
    text = readme.selection(tmp_path)
    assert "Mean score over seeds 94.57 (`b`) against 94.50 (`c`); the seeds overlap (94.10 for `b` against 94.60" in (
        text
    )
    assert "the incumbent `brainnorm` stays the default." in text
    nested = ["test fold,selected,claimed,test accuracy (%)"] + [f"{k},b,True,{90 + k}.0" for k in range(1, 6)]
    (tmp_path / "selection_nested.csv").write_text("\n".join(nested) + "\n")
    text = readme.selection(tmp_path)
    assert "fold 1: `b` 91.0 %; fold 2: `b` 92.0 %" in text and "mean 93.0 %." in text
    nested[3] = "3,c,False,"  # a fold whose choice lacks a seed: shown, and no mean
    (tmp_path / "selection_nested.csv").write_text("\n".join(nested) + "\n")
    text = readme.selection(tmp_path)
    assert "fold 3: `c` not run" in text and "; mean" not in text
