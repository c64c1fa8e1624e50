"""The recipe registry: what each recipe is, and which run may write which shipped checkpoint (every recipe ×
architecture × profile × data combination, through the CLI, with training replaced by a stub that records
where it would write)."""

from __future__ import annotations

import dataclasses
import itertools
import os
from pathlib import Path

import pytest
from test_cli_contract import run_main  # cli.main with stdout and stderr captured

from brainlib import config, data, evaluation, recipes
from brainlib.models import MODELS, build_model, input_size, unknown_arguments


def test_every_recipe_names_a_known_architecture_and_its_own_shipped_file():
    files = [r.checkpoint_file for r in recipes.RECIPES.values()]
    assert len(set(files)) == len(files)
    for r in recipes.RECIPES.values():
        assert r.architecture in MODELS and not unknown_arguments(r.architecture, r.config.model_kwargs)
        assert r.description and r.checkpoint.parent == config.MODELS_DIR
        assert recipes.owner(r.checkpoint) == r.name
    assert recipes.DEFAULT == "robust" and recipes.checkpoint().name == "fastnet.pt"


def test_recipes_as_published():
    seed, fast, robust, quick = (recipes.train_config(n) for n in ("seed", "fast", "robust", "quick"))
    assert (seed.model, seed.optimizer, seed.lr, seed.epochs, seed.batch_size, seed.augment) == (
        "seed",
        "adamax",
        1e-3,
        8,
        32,
        False,
    )
    assert robust.model_kwargs == {"input_norm": "brain"} and quick.model_kwargs == {"input_size": 128}
    for other in (robust, quick):
        assert dataclasses.replace(other, model_kwargs={}) == fast
    with pytest.raises(ValueError, match="unknown recipe"):
        recipes.get("nope")


def test_input_size_is_read_without_building_the_model():
    for r in recipes.RECIPES.values():
        kwargs = r.config.model_kwargs
        assert input_size(r.architecture, kwargs) == build_model(r.architecture, **kwargs).input_size
    assert input_size("fastnet", {"input_size": 96}) == 96


def test_default_recipe_per_architecture():
    assert recipes.default_recipe(None) == "robust"
    assert recipes.default_recipe("fastnet") == "robust"
    assert recipes.default_recipe("seed") == "seed"
    assert recipes.default_recipe("tumorcnn") == "robust"


@pytest.fixture
def fake_training(monkeypatch):
    """Training replaced by a stub that records the checkpoint path it was given and writes a marker there."""
    calls = []

    def train_and_evaluate(cfg, out, **kwargs):
        calls.append((cfg, Path(out)))
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text("stub")
        m = {"n": 1, "accuracy": 1.0, "macro_f1": 1.0}
        return {**m, "leak_free": dict(m), "synthetic": False}

    monkeypatch.setattr(evaluation, "train_and_evaluate", train_and_evaluate)
    return calls


ARCHITECTURES = (None, "fastnet", "seed", "tumorcnn")
PROFILES = ("full", "smoke")


@pytest.mark.parametrize("recipe, model", list(itertools.product(recipes.RECIPES, ARCHITECTURES)))
@pytest.mark.parametrize("profile", PROFILES)
@pytest.mark.parametrize("synthetic", [False, True])
def test_only_a_recipe_as_written_writes_its_shipped_checkpoint(
    recipe, model, profile, synthetic, fake_training, monkeypatch
):
    monkeypatch.setenv("BRAINLIB_PROFILE", profile)
    monkeypatch.setattr(data, "is_synthetic", lambda root=None: synthetic)
    argv = ["train", "--recipe", recipe] + (["--model", model] if model else [])
    rc, _, err = run_main(argv)
    r = recipes.get(recipe)
    arch = model or r.architecture
    if unknown_arguments(arch, r.config.model_kwargs):
        assert rc == 2 and "does not take" in err and not fake_training
        return
    assert rc == 0, err
    ((cfg, out),) = fake_training
    exact = arch == r.architecture and profile == "full" and not synthetic
    if exact:
        assert out == r.checkpoint
    else:
        assert out.parent == config.RUNS_DIR and recipes.owner(out) is None
    assert not [p for p in config.MODELS_DIR.glob("*.pt") if p != out]  # no other shipped file touched


@pytest.mark.parametrize("owner, recipe", list(itertools.product(recipes.RECIPES, recipes.RECIPES)))
def test_out_pointing_at_a_shipped_checkpoint_is_refused_unless_it_is_that_recipe(
    owner, recipe, fake_training, monkeypatch
):
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    monkeypatch.setattr(data, "is_synthetic", lambda root=None: False)
    rc, _, err = run_main(["train", "--recipe", recipe, "--out", str(recipes.checkpoint(owner))])
    if owner == recipe:
        assert rc == 0, err
    else:
        assert rc == 2 and f"shipped checkpoint of recipe {owner}" in err and not fake_training


def test_smoke_or_changed_settings_never_write_the_shipped_file_even_with_out(fake_training, monkeypatch):
    monkeypatch.setattr(data, "is_synthetic", lambda root=None: False)
    monkeypatch.setenv("BRAINLIB_PROFILE", "full")
    rc, _, err = run_main(["train", "--epochs", "3", "--out", str(recipes.checkpoint())])
    assert rc == 2 and "changed settings" in err
    monkeypatch.setenv("BRAINLIB_PROFILE", "smoke")
    rc, _, err = run_main(["train", "--out", str(recipes.checkpoint())])
    assert rc == 2 and "smoke profile" in err and not fake_training


def test_out_under_a_regular_file_or_unwritable_folder_is_refused_before_training(tmp_path, fake_training):
    afile = tmp_path / "afile"
    afile.write_text("x")
    rc, _, err = run_main(["train", "--out", str(afile / "x.pt")])
    assert rc == 2 and "is a file, not a folder" in err and not fake_training
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        rc, _, err = run_main(["train", "--out", str(locked / "x.pt")])
        assert rc == 2 and "cannot write" in err
