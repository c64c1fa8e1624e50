"""The numbers the README's prose quotes outside its rendered tables agree with the committed results files and
shipped checkpoints they come from (the tables themselves: test_readme.py). Each check rebuilds the sentence
from its source, so a rerun that moves a number fails here until the prose is updated."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest

from brainlib import engine

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "results"


def _flat(text: str) -> str:
    """Whitespace collapsed (the README wraps its lines anywhere) and list indentation ignored."""
    return re.sub(r"\s+", " ", text)


@pytest.fixture(scope="module")
def readme() -> str:
    return _flat((ROOT / "README.md").read_text(encoding="utf-8"))


def _metrics(name: str) -> dict:
    return engine.read_checkpoint(ROOT / "models" / f"{name}.pt")["metrics"]


def test_the_quick_recipe_paragraph_quotes_its_checkpoint_and_the_default(readme):
    q, d = _metrics("fastnet_quick"), _metrics("fastnet")
    assert (
        _flat(
            f"{100 * q['accuracy']:.1f} % official and {100 * q['leak_free']['accuracy']:.1f} % leak-free Testing "
            f"accuracy against the default's {100 * d['accuracy']:.1f} % and {100 * d['leak_free']['accuracy']:.1f} %"
        )
        in readme
    )
    assert f"{q['train_seconds']:.0f} s of training and {q['wall_seconds']:.0f} s wall in the committed run" in readme
    search = pd.read_csv(RESULTS / "quick_recipe_search.csv").set_index("variant")
    assert f"{search.loc['fast recipe at 128 px (the quick recipe)', 'train (s)']:.0f} s with one thread" in readme


def test_the_calibration_sentence_quotes_the_default_checkpoint(readme):
    d = _metrics("fastnet")
    assert (
        f"FastNet: T = {d['temperature']:.2f}, ECE after scaling {d['ece']:.3f} official and "
        f"{d['leak_free']['ece']:.3f} leak-free" in readme
    )


def test_the_speed_sentence_quotes_the_predict_timing_file(readme):
    t = pd.read_csv(RESULTS / "predict_timing.csv").set_index("command")
    med = t["median (s)"]
    assert (
        _flat(
            f"{med['brainlib predict --recipe robust']:.2f} s (median of {int(t['runs'].iloc[0])}) with FastNet and "
            f"{med['brainlib predict --recipe transfer']:.2f} s with the pretrained `transfer` checkpoint, where "
            f"importing PyTorch alone takes {med['import torch (no model)']:.2f} s"
        )
        in readme
    )


def test_the_ablation_bullets_quote_the_ablation_table(readme):
    t = pd.read_csv(RESULTS / "ablation.csv").set_index("variant")
    others = t.drop(index="seed (Adamax)")
    assert (others["verdict"] == "not shown").all() and "nothing is shown" in readme
    smallest = others["p adjusted (BH)"].min()
    at_smallest = " and ".join(others.index[others["p adjusted (BH)"].round(3) == round(smallest, 3)])
    assert f"smallest {smallest:.3f}, {at_smallest.replace('SGD + momentum', 'SGD')}" in readme
    bn = t.loc["seed + BN"]
    assert (
        f"batch normalization {bn['Δ validation (pp)']:+.1f} points validation, adjusted p {bn['p adjusted (BH)']:.2f}"
        in readme
    )
    never = t["never learned"].astype(int)
    runs = int(t["seeds"].sum())
    assert (
        f"{never['seed (Adamax)']} in 5 for the seed recipe and for Adam, {never['SGD + momentum']} in 5 with SGD, "
        f"{never['3 blocks']} in 5 with a third block" in readme
    )
    assert never["seed (Adamax)"] == never["Adam"] and (t["seeds"] == 5).all()
    assert never.drop(index=["seed (Adamax)", "Adam", "SGD + momentum", "3 blocks"]).eq(0).all()  # "never with ..."
    assert f"{int(t['peaked at the last epoch'].sum())} of the {runs} runs peaked in their last epoch" in readme


def test_the_audit_prose_quotes_the_audit_file(readme):
    a = json.loads((RESULTS / "audit.json").read_text())
    assert f"one of {a['largest_training_group']:,} images" in readme
    share = 100 * a["validation_images"] / a["training_images"]
    assert f"validation is {a['validation_images']:,} images ({share:.0f} %)" in readme


def test_the_reproduction_paragraph_quotes_the_shipped_checkpoints(readme):
    d, s = _metrics("fastnet"), _metrics("seed")
    assert (
        f"to the image ({100 * d['best_val_acc']:.2f} / {100 * d['accuracy']:.2f} / "
        f"{100 * d['leak_free']['accuracy']:.2f} %), and so did the seed recipe ({100 * s['accuracy']:.2f} / "
        f"{100 * s['leak_free']['accuracy']:.2f} %)" in readme
    )
    assert (
        f"has {100 * d['accuracy']:.2f} % and {100 * d['leak_free']['accuracy']:.2f} % "
        f"({100 * d['best_val_acc']:.2f} %, epoch {d['best_epoch']})" in readme
    )


def test_the_full_size_and_learning_rate_bullets_quote_their_tables(readme):
    t = pd.read_csv(RESULTS / "ablation_224.csv").set_index("variant")
    base, adam, one = (t.loc[v] for v in ("seed recipe, 224 px", "Adam, 224 px", "1 conv / block, 224 px"))
    pm = lambda r: f"{r['validation mean']:.1f} ± {r['validation std']:.1f} %"  # noqa: E731
    k = int(base["seeds"])
    assert (
        _flat(
            f"the seed recipe {pm(base)} validation, Adam {pm(adam)} ({adam['Δ validation (pp)']:+.1f} points, ahead "
            f"in {int(adam['seeds ahead of the baseline'])} of {k} seeds), one conv per block {pm(one)} "
            f"({one['Δ validation (pp)']:+.1f}, ahead in {int(one['seeds ahead of the baseline'])} of {k} seeds): both "
            f"**{adam['verdict']}**"
        )
        in readme
    )
    assert adam["verdict"] == one["verdict"] and t["never learned"].eq(0).all()  # "every 224-px run learned"
    small = pd.read_csv(RESULTS / "ablation.csv").set_index("variant")["Δ validation (pp)"]
    for big, name in ((adam, "Adam"), (one, "1 conv / block")):  # "keep their direction, not their size"
        assert 0 < big["Δ validation (pp)"] < small[name]

    lr = pd.read_csv(RESULTS / "ablation_lr.csv")
    best = lr.loc[lr.groupby("optimizer")["validation mean"].idxmax()].set_index("optimizer")
    assert (best["lr"] == 1e-3).all() and lr["seeds"].eq(3).all()
    assert (
        f"best at 1e-3 (Adamax {best.at['adamax', 'validation mean']:.1f} %, Adam "
        f"{best.at['adam', 'validation mean']:.1f} % validation)" in readme
    )
    at_high = lr[lr["lr"] == 3e-3].set_index("optimizer")["never learned"]
    assert at_high.nunique() == 1 and f"at 3e-3 {int(at_high.iloc[0])} seed of 3 fails to start for each" in readme


def test_the_per_seed_ablation_statements_quote_the_seed_file(readme):
    runs = pd.read_csv(RESULTS / "ablation_seeds.csv")
    by = {v: r.set_index("seed") for v, r in runs.groupby("variant")}
    base, adam = by["seed (Adamax)"], by["Adam"]
    assert (
        f"the baseline's validation accuracy spans {100 * base['val_acc'].min():.1f}–{100 * base['val_acc'].max():.1f} "
        "% over its seeds" in readme
    )
    both = base.index[base["learned"] & adam["learned"].reindex(base.index, fill_value=False)]
    gain = 100 * (adam.loc[both, "val_acc"] - base.loc[both, "val_acc"])
    assert (
        f"where both learned ({len(both)} seeds), Adam's validation accuracy is {gain.min():.1f}–{gain.max():.1f}"
        in readme
    )
    assert (gain > 0).all()  # "above Adamax's"
    t = pd.read_csv(RESULTS / "ablation.csv").set_index("variant")["s / epoch"]
    assert f"at {100 * t['1 conv / block'] / t['seed (Adamax)']:.0f} % of the time per epoch" in readme
    constant = runs.loc[~runs["learned"], "val_acc"].max()  # the largest class's share: a run that never learned
    bn_first = runs.loc[runs["variant"] == "seed + BN", "first_epoch_val_acc"]
    assert (bn_first > constant + 0.005).all()  # "learning from the first epoch in every seed"


def test_the_published_numbers_quoted_in_the_transfer_section_come_from_their_file(readme):
    t = pd.read_csv(RESULTS / "published_figshare.csv")
    pretrained = t.loc[t["pretrained on ImageNet"] == "yes", "accuracy (%)"]
    assert f"The gap to the published {pretrained.min():.0f}–{pretrained.max():.0f} % is not the data" in readme
    patient_level = t[t["protocol"].str.contains("patient-level")]
    above = patient_level[patient_level["accuracy (%)"] > 92]
    assert (above["pretrained on ImageNet"] == "yes").all() and "above 92 % fine-tunes an ImageNet-pretrained" in readme


def test_the_history_of_the_earlier_choice_quotes_the_selection_scores(readme):
    s = pd.read_csv(RESULTS / "selection_scores.csv").set_index("candidate")["seed 0"]
    assert s["fast"] > s["brainnorm"]  # "would pick the fast one"
    assert f"(selection score {s['fast']:.2f} against {s['brainnorm']:.2f} % at seed 0)" in readme
