"""Training recipes by name: architecture, model arguments, TrainConfig, and the shipped checkpoint each one owns.

This is the one place that says what a recipe is. The CLI (``train``, ``crossval``, ``evaluate``), the studies,
the benchmark and the notebooks read it; adding a recipe is one entry in :data:`RECIPES`. Only a recipe, run as
it is written (no overrides, full profile, real data), writes its own shipped checkpoint: any other run goes to
``runs/`` (see :func:`output_path`). Torch-free, so ``brainlib --help`` stays fast.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

from brainlib import config


@dataclass
class TrainConfig:
    """Everything that defines a training run (stored in the checkpoint)."""

    model: str = "fastnet"
    model_kwargs: dict = field(default_factory=dict)
    optimizer: str = "adamw"
    lr: float = 3e-3
    weight_decay: float = 0.05
    momentum: float = 0.9
    epochs: int = 30
    batch_size: int = 64
    scheduler: str = "onecycle"  # none | onecycle | cosine
    label_smoothing: float = 0.1
    augment: bool | str = True  # True/"basic", "mri" or "remap" (see brainlib.transforms.to_model_input)
    early_stopping: int | None = None  # patience in epochs; None = off
    seed: int = 0
    tta: bool = False  # average predictions with the horizontally flipped image at test time
    synthetic: bool = False  # trained on the synthetic phantom set (label outputs accordingly)
    # Fine-tuning a pretrained backbone (added later; at their defaults they are left out of as_dict, so the keys
    # and hashes of every run recorded before them are unchanged):
    train_layers: str = "all"  # "head" (linear probe: backbone frozen), "top" (the last half of it too) or "all"
    backbone_lr: float = 1.0  # the backbone's learning rate as a fraction of lr (the head gets lr)
    head_warmup: int = 0  # first epochs that train the head only, before train_layers apply

    def as_dict(self) -> dict:
        """The configuration as stored in checkpoints and hashed into keys: every field, except the fields added
        after the first runs were recorded when they hold their defaults."""
        return without_later_defaults(dataclasses.asdict(self))


def without_later_defaults(cfg: dict) -> dict:
    """A configuration dict without the later-added fields that hold their defaults (see ``TrainConfig.as_dict``;
    also for a dict read back from a record or a checkpoint)."""
    return {k: v for k, v in cfg.items() if not (k in LATER_FIELDS and v == LATER_FIELDS[k])}


LATER_FIELDS = {"train_layers": "all", "backbone_lr": 1.0, "head_warmup": 0}
TRAIN_LAYERS = ("head", "top", "all")


@dataclass(frozen=True)
class Recipe:
    """A named recipe: how to train (``config``, which names the architecture) and the file it ships."""

    name: str
    description: str
    config: TrainConfig
    checkpoint_file: str  # under models/; written only by this recipe run as it is
    label: str = ""  # how tables and figures name it (default: the name)

    @property
    def display(self) -> str:
        return self.label or self.name

    @property
    def architecture(self) -> str:
        return self.config.model

    @property
    def checkpoint(self) -> Path:
        return config.MODELS_DIR / self.checkpoint_file


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "seed",
            "the published recipe: seed CNN at 224 px, Adamax lr 1e-3, 8 epochs, batch 32, no augmentation",
            TrainConfig(
                model="seed",
                optimizer="adamax",
                lr=1e-3,
                weight_decay=0.0,
                epochs=8,
                batch_size=32,
                scheduler="none",
                label_smoothing=0.0,
                augment=False,
            ),
            "seed.pt",
            "seed recipe",
        ),
        Recipe(
            "fast",
            "FastNet at 160 px, AdamW + one-cycle, label smoothing, augmentation, flip TTA (the previous default)",
            TrainConfig(tta=True),
            "fastnet_fast.pt",
            "fast recipe (previous default)",
        ),
        Recipe(
            "robust",
            "the default: the fast recipe + per-image z-score inside the head (BrainNorm) as the first layer",
            TrainConfig(model_kwargs={"input_norm": "brain"}, tta=True),
            "fastnet.pt",
            "default recipe (FastNet)",
        ),
        Recipe(
            "quick",
            "the fast recipe at 128 px, for training live in class (about two thirds of its time)",
            TrainConfig(model_kwargs={"input_size": 128}, tta=True),
            "fastnet_quick.pt",
            "quick recipe",
        ),
        Recipe(
            "probe",
            "linear probe: EfficientNet-Lite0 pretrained on ImageNet, frozen; only a new head trains (160 px)",
            TrainConfig(
                model="efficientnet_lite0",
                model_kwargs={"input_size": 160},
                lr=3e-3,
                epochs=6,
                tta=True,
                train_layers="head",
            ),
            "transfer_probe.pt",
            "linear probe (ImageNet features)",
        ),
        Recipe(
            "transfer",
            "fine-tuning: EfficientNet-Lite0 pretrained on ImageNet, chosen on validation (ablation.transfer_grid)",
            TrainConfig(
                model="efficientnet_lite0",
                model_kwargs={"input_size": 160},
                lr=1e-3,
                epochs=8,
                tta=True,
                train_layers="top",
                head_warmup=1,
            ),
            "transfer.pt",
            "transfer (EfficientNet-Lite0, fine-tuned)",
        ),
    )
}
DEFAULT = "robust"  # `brainlib train`, `evaluate`, `predict` and `crossval` without --recipe


def label(name: str) -> str:
    """How tables and figures name recipe ``name``."""
    return get(name).display


def get(name: str) -> Recipe:
    """The recipe called ``name`` (ValueError naming the choices otherwise)."""
    if name not in RECIPES:
        raise ValueError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def train_config(name: str = DEFAULT, **overrides) -> TrainConfig:
    """A recipe's TrainConfig with fields overridden (``None`` values are ignored; ``model_kwargs`` replace)."""
    return dataclasses.replace(get(name).config, **{k: v for k, v in overrides.items() if v is not None})


def checkpoint(name: str = DEFAULT) -> Path:
    """The shipped checkpoint a recipe owns."""
    return get(name).checkpoint


def shipped_checkpoints() -> dict[Path, str]:
    """Every shipped checkpoint path (resolved) → the recipe that owns it."""
    return {r.checkpoint.resolve(): r.name for r in RECIPES.values()}


def owner(path: str | Path) -> str | None:
    """The recipe whose shipped checkpoint ``path`` is, or None."""
    return shipped_checkpoints().get(Path(path).expanduser().resolve())


def default_recipe(model: str | None) -> str:
    """The recipe ``brainlib train --model MODEL`` uses without ``--recipe``: the first recipe written for that
    architecture (seed → seed, fastnet → robust), else the default."""
    if model is None:
        return DEFAULT
    if get(DEFAULT).architecture == model:
        return DEFAULT
    return next((r.name for r in RECIPES.values() if r.architecture == model), DEFAULT)


def config_hash(cfg: TrainConfig) -> str:
    """Eight hex digits naming a training configuration (file names of runs that are not a shipped recipe)."""
    return hashlib.sha256(json.dumps(cfg.as_dict(), sort_keys=True).encode()).hexdigest()[:8]


def is_exact(name: str, cfg: TrainConfig) -> bool:
    """Whether ``cfg`` is recipe ``name`` as written (the ``synthetic`` flag aside)."""
    return dataclasses.replace(cfg, synthetic=False) == get(name).config


def output_path(name: str, cfg: TrainConfig, profile: str, synthetic: bool) -> Path:
    """Where a training run writes its checkpoint by default: the recipe's shipped file when ``cfg`` is the recipe
    as written, in the full profile, on real data; otherwise a file of its own under ``runs/`` named by recipe,
    architecture, configuration hash and profile (so an interrupted run resumes from the same file)."""
    if is_exact(name, cfg) and profile == "full" and not synthetic:
        return get(name).checkpoint
    parts = [name, cfg.model, config_hash(cfg), profile] + (["synthetic"] if synthetic else [])
    return config.RUNS_DIR / ("-".join(parts) + ".pt")
